import { afterEach, describe, expect, it } from 'vitest';
import {
  SfnBackendError,
  TASK_TOKEN_PLACEHOLDER,
  type TaskHandler,
  WorkflowEngine,
} from '../../../local/runtime/workflow/index.js';
import { fnArn, historyTypes, NamedError, placeholder, until } from './harness.js';

/** AwaitApproval as the deployer uses it: a callback Task with a heartbeat and a timeout. */
const APPROVAL = JSON.stringify(
  {
    StartAt: 'AwaitApproval',
    States: {
      AwaitApproval: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: {
          FunctionName: placeholder('ApprovalFunctionArn'),
          Payload: {
            'token.$': '$$.Task.Token',
            'link.$': "States.Format('https://approve.example/?token={}', $$.Task.Token)",
            'deployment.$': '$.deployment',
          },
        },
        TimeoutSeconds: '__TIMEOUT__',
        HeartbeatSeconds: '__HEARTBEAT__',
        ResultPath: '$.approval',
        Catch: [
          {
            Comment: 'Rejected by a person',
            ErrorEquals: ['Rejected'],
            ResultPath: '$.rejection',
            Next: 'RolledBack',
          },
          {
            Comment: 'Must not see a timeout',
            ErrorEquals: ['States.TaskFailed'],
            ResultPath: '$.failed',
            Next: 'WrongCatcher',
          },
          {
            Comment: 'Nobody answered in time',
            ErrorEquals: ['States.Timeout'],
            ResultPath: '$.timeout',
            Next: 'TimedOut',
          },
        ],
        Next: 'Approved',
      },
      Approved: { Type: 'Succeed' },
      RolledBack: { Type: 'Succeed' },
      TimedOut: { Type: 'Succeed' },
      WrongCatcher: { Type: 'Fail', Error: 'WrongCatcher' },
    },
  },
  null,
  2,
)
  // numbers substituted outside JSON strings, like a CloudFormation DefinitionSubstitution
  .replace('"__TIMEOUT__"', placeholder('ApprovalTimeoutSeconds'))
  .replace('"__HEARTBEAT__"', placeholder('ApprovalHeartbeatSeconds'));

let engine: WorkflowEngine;
afterEach(async () => {
  await engine?.close();
});

async function startApproval(timeoutSeconds: number, heartbeatSeconds: number, handler?: TaskHandler) {
  engine = new WorkflowEngine();
  const payloads: Array<{ token: string; link: string; deployment: string }> = [];
  const { stateMachineArn } = await engine.registerStateMachine({
    name: 'approval',
    definition: APPROVAL,
    substitutions: {
      ApprovalFunctionArn: fnArn('request-approval'),
      ApprovalTimeoutSeconds: timeoutSeconds,
      ApprovalHeartbeatSeconds: heartbeatSeconds,
    },
    handlers: {
      'request-approval': async (event, context) => {
        payloads.push(event as (typeof payloads)[number]);
        return handler?.(event, context) ?? { notified: true };
      },
    },
  });
  const { executionArn } = await engine.startExecution({
    stateMachineArn,
    input: '{"deployment":"demo-v2"}',
  });
  await until(() => payloads.length > 0, 5_000, 'the approval request');
  const token = payloads[0]?.token as string;
  return { executionArn, token, payloads };
}

const output = async (executionArn: string) => {
  const result = await engine.waitForExecution(executionArn, 10_000);
  return { result, data: JSON.parse(result.output ?? 'null') as Record<string, Record<string, unknown>> };
};

const backendError = async (call: Promise<unknown>) => {
  try {
    await call;
  } catch (err) {
    expect(err).toBeInstanceOf(SfnBackendError);
    return (err as SfnBackendError).type;
  }
  return 'no error';
};

describe('callback Tasks (.waitForTaskToken) with the token broker', () => {
  it('hands the handler a fresh token and resumes on SendTaskSuccess', async () => {
    const { executionArn, token, payloads } = await startApproval(30, 10);

    await engine.sendTaskSuccess({ taskToken: token, output: '{"approver":"alice"}' });
    const { result, data } = await output(executionArn);

    expect(token).not.toContain(TASK_TOKEN_PLACEHOLDER);
    expect(payloads[0]).toEqual({
      token,
      link: `https://approve.example/?token=${token}`,
      deployment: 'demo-v2',
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(data.approval).toEqual({ approver: 'alice' });
    expect(await historyTypes(engine, executionArn)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskSucceeded',
      'TaskStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    // the token is closed: a second answer is late
    expect(await backendError(engine.sendTaskSuccess({ taskToken: token, output: '{}' }))).toBe(
      'TaskTimedOut',
    );
  });

  it('routes SendTaskFailure to the catcher of its error name', async () => {
    const { executionArn, token } = await startApproval(30, 10);

    await engine.sendTaskFailure({ taskToken: token, error: 'Rejected', cause: 'canary looks slow' });
    const { result, data } = await output(executionArn);

    expect(result.status).toBe('SUCCEEDED');
    expect(data.rejection).toEqual({ Error: 'Rejected', Cause: 'canary looks slow' });
  });

  it('fails the Task with States.Timeout when heartbeats stop, which States.TaskFailed does not catch', async () => {
    const started = Date.now();
    const { executionArn, token } = await startApproval(30, 1);
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await engine.sendTaskHeartbeat({ taskToken: token });
    }

    const { result, data } = await output(executionArn);

    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(result.status).toBe('SUCCEEDED');
    expect(data.timeout).toMatchObject({ Error: 'States.Timeout' });
    expect(data.failed).toBeUndefined();
    expect(await historyTypes(engine, executionArn)).toContain('TaskTimedOut');
    expect(await backendError(engine.sendTaskSuccess({ taskToken: token, output: '{}' }))).toBe(
      'TaskTimedOut',
    );
  });

  it('times out at TimeoutSeconds however many heartbeats arrive, then answers late callers TaskTimedOut', async () => {
    const started = Date.now();
    const { executionArn, token } = await startApproval(2, 1);
    const beat = setInterval(() => {
      engine.sendTaskHeartbeat({ taskToken: token }).catch(() => {});
    }, 200);

    const { data } = await output(executionArn);
    clearInterval(beat);

    expect(Date.now() - started).toBeGreaterThanOrEqual(1_950);
    expect(data.timeout).toMatchObject({ Error: 'States.Timeout' });
    expect(await backendError(engine.sendTaskHeartbeat({ taskToken: token }))).toBe('TaskTimedOut');
    expect(await backendError(engine.sendTaskFailure({ taskToken: token, error: 'Rejected' }))).toBe(
      'TaskTimedOut',
    );
  });

  it('answers unknown, malformed and bad-output calls like the service', async () => {
    const { token } = await startApproval(30, 10);
    const unknown = `AQB${'A'.repeat(64)}`;

    expect(await backendError(engine.sendTaskSuccess({ taskToken: unknown, output: '{}' }))).toBe(
      'TaskDoesNotExist',
    );
    expect(await backendError(engine.sendTaskSuccess({ taskToken: 'not-a-token', output: '{}' }))).toBe(
      'InvalidToken',
    );
    expect(await backendError(engine.sendTaskSuccess({ taskToken: token, output: '{nope' }))).toBe(
      'InvalidOutput',
    );
    expect(await backendError(engine.sendTaskHeartbeat({ taskToken: '' }))).toBe('ValidationException');
  });

  it('fails the Task when the function itself fails, with its error name', async () => {
    const { executionArn } = await startApproval(30, 10, async () => {
      throw new NamedError('Rejected', 'no approvers configured');
    });

    const { data } = await output(executionArn);

    expect(data.rejection?.Error).toBe('Rejected');
    expect(JSON.parse(data.rejection?.Cause as string)).toMatchObject({
      errorMessage: 'no approvers configured',
    });
  });

  it('resolves TimeoutSecondsPath and HeartbeatSecondsPath against the state input, not the Parameters', async () => {
    engine = new WorkflowEngine();
    const events: unknown[] = [];
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'dynamic-timeouts',
      definition: JSON.stringify({
        StartAt: 'RequestApproval',
        States: {
          RequestApproval: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
            Parameters: {
              FunctionName: fnArn('request-approval'),
              Payload: {
                'taskToken.$': '$$.Task.Token',
                'timeoutSeconds.$': '$.plan.promotion.approvalTimeoutSeconds',
              },
            },
            TimeoutSecondsPath: '$.plan.promotion.approvalTimeoutSeconds',
            HeartbeatSecondsPath: '$.plan.promotion.heartbeatSeconds',
            Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.timeout', Next: 'TimedOut' }],
            End: true,
          },
          TimedOut: { Type: 'Succeed' },
        },
      }),
      handlers: {
        'request-approval': async (event) => {
          events.push(event);
          return {};
        },
      },
    });
    const started = Date.now();

    const { executionArn } = await engine.startExecution({
      stateMachineArn,
      input: JSON.stringify({ plan: { promotion: { approvalTimeoutSeconds: 5, heartbeatSeconds: 1 } } }),
    });
    const result = await engine.waitForExecution(executionArn);
    const { events: history } = await engine.getExecutionHistory({ executionArn });
    const scheduled = history.find((e) => e.type === 'TaskScheduled') as Record<
      string,
      Record<string, unknown>
    >;

    expect(JSON.parse(result.output ?? '{}').timeout).toMatchObject({ Error: 'States.Timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950); // the heartbeat (1 s) expired first
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(Object.keys(events[0] as object)).toEqual(['taskToken', 'timeoutSeconds']);
    expect(scheduled.taskScheduledEventDetails?.heartbeatInSeconds).toBe(1);
    expect(JSON.parse(scheduled.taskScheduledEventDetails?.parameters as string)).not.toHaveProperty(
      '__localTimeoutSeconds',
    );
  });

  it('mints one token per invocation inside a Map', async () => {
    engine = new WorkflowEngine();
    const tokens: string[] = [];
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'per-cluster-approval',
      definition: JSON.stringify({
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.clusters',
            ItemProcessor: {
              StartAt: 'Ask',
              States: {
                Ask: {
                  Type: 'Task',
                  Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
                  Parameters: {
                    FunctionName: 'ask',
                    Payload: { 'token.$': '$$.Task.Token', 'cluster.$': '$' },
                  },
                  TimeoutSeconds: 30,
                  HeartbeatSeconds: 10,
                  End: true,
                },
              },
            },
            End: true,
          },
        },
      }),
      handlers: {
        ask: async (event) => {
          tokens.push((event as { token: string }).token);
          return null;
        },
      },
    });

    const { executionArn } = await engine.startExecution({
      stateMachineArn,
      input: '{"clusters":["eu","us"]}',
    });
    await until(() => tokens.length === 2);
    await engine.sendTaskSuccess({ taskToken: tokens[1] as string, output: '"second"' });
    await engine.sendTaskSuccess({ taskToken: tokens[0] as string, output: '"first"' });
    const result = await engine.waitForExecution(executionArn);

    expect(new Set(tokens).size).toBe(2);
    expect(JSON.parse(result.output ?? 'null')).toEqual(['first', 'second']);
  });
});
