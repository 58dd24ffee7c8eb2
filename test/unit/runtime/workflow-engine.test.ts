import middy from '@middy/core';
import { afterEach, describe, expect, it } from 'vitest';
import { lambdaHandler, type TaskHandler, WorkflowEngine } from '../../../local/runtime/workflow/index.js';
import { fixture, fnArn, historyTypes, NamedError } from './harness.js';

const SUBSTITUTIONS = {
  PlanFunctionArn: fnArn('plan'),
  DeployFunctionArn: fnArn('deploy'),
  CheckFunctionArn: fnArn('check'),
  RollbackFunctionArn: fnArn('rollback'),
};

let engine: WorkflowEngine;
afterEach(async () => {
  await engine?.close();
});

interface ToyOptions {
  failCluster?: string;
  ignored?: boolean;
}

function toyHandlers(options: ToyOptions = {}) {
  const calls: Record<string, unknown[]> = { plan: [], deploy: [], check: [], rollback: [] };
  let planAttempts = 0;
  const handlers: Record<string, TaskHandler> = {
    plan: async (event) => {
      calls.plan?.push(event);
      planAttempts++;
      if (planAttempts === 1) throw new NamedError('FlakyError', 'registry briefly unavailable');
      return {
        clusters: ['eu', 'us', 'ap'],
        digest: 'sha256:abc',
        settleSeconds: 30,
        ignored: options.ignored ?? false,
      };
    },
    deploy: async (event) => {
      calls.deploy?.push(event);
      const { cluster } = event as { cluster: string };
      if (cluster === options.failCluster)
        throw new NamedError('DeployError', `engine on ${cluster} refused the update`);
      return { cluster, previous: `sha256:old-${cluster}` };
    },
    check: async (event) => {
      calls.check?.push(event);
      return event;
    },
    rollback: async (event) => {
      calls.rollback?.push(event);
      return { restored: 3 };
    },
  };
  return { handlers, calls };
}

async function startToy(options: ToyOptions = {}) {
  engine = new WorkflowEngine({ timeScale: 0.001 });
  const toy = toyHandlers(options);
  const { stateMachineArn } = await engine.registerStateMachine({
    name: 'toy',
    definition: fixture('toy.asl.json'),
    substitutions: SUBSTITUTIONS,
    handlers: toy.handlers,
  });
  const input = JSON.stringify({ repository: 'demo', tag: 'v1.2.3' });
  const { executionArn } = await engine.startExecution({ stateMachineArn, name: 'demo-v1-2-3', input });
  const result = await engine.waitForExecution(executionArn, 10_000);
  return { ...toy, stateMachineArn, executionArn, input, result };
}

describe('WorkflowEngine on a toy ASL (Task, Choice, Wait, Map, Parallel, Retry, Catch)', () => {
  it('runs the happy path: retry, Wait scaled, Map with lambda:invoke, Parallel, context object', async () => {
    const started = Date.now();

    const { result, calls, executionArn, input } = await startToy();

    expect(result.status).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeLessThan(10_000); // Wait 30 s and a 2 s retry interval, scaled by 0.001
    expect(calls.plan).toHaveLength(2);
    expect(JSON.parse(result.output ?? 'null')).toEqual({
      deployed: [
        { cluster: 'eu', previous: 'sha256:old-eu' },
        { cluster: 'us', previous: 'sha256:old-us' },
        { cluster: 'ap', previous: 'sha256:old-ap' },
      ],
      checks: [
        // $$.Execution.Input inside a Parallel branch is the execution's input, as on AWS
        { check: 'health', execution: 'demo-v1-2-3', request: JSON.parse(input) },
        { check: 'metrics', execution: 'demo-v1-2-3', request: JSON.parse(input) },
      ],
      machine: 'toy',
    });
    expect(calls.deploy).toEqual(expect.arrayContaining([{ cluster: 'us', index: 1, digest: 'sha256:abc' }]));
    // Plan, its retry, Decide, Settle, Deploy, 3 × DeployCluster, Verify, 2 checks, Done
    expect(engine.stateTransitions(executionArn)).toBe(12);
  });

  it('records an AWS-shaped history', async () => {
    const { executionArn } = await startToy();

    const types = await historyTypes(engine, executionArn);
    const { events } = await engine.getExecutionHistory({ executionArn, maxResults: 1000 });

    expect(types[0]).toBe('ExecutionStarted');
    expect(types.at(-1)).toBe('ExecutionSucceeded');
    expect(types.slice(1, 8)).toEqual([
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionFailed',
      'StateFailed',
      'StateRetried',
      'LambdaFunctionScheduled',
    ]);
    expect(types).toContain('WaitStateEntered'); // the scaled Wait runs as an internal step, reported as a Wait
    expect(types.filter((t) => t === 'MapIterationStarted')).toHaveLength(3);
    expect(types.filter((t) => t === 'TaskScheduled')).toHaveLength(3);
    expect(types).toEqual(
      expect.arrayContaining(['MapStateSucceeded', 'ParallelStateStarted', 'ParallelStateSucceeded']),
    );
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    const failed = events.find((e) => e.type === 'LambdaFunctionFailed') as Record<
      string,
      { error: string; cause: string }
    >;
    expect(failed.lambdaFunctionFailedEventDetails?.error).toBe('FlakyError');
    const scheduled = events.find((e) => e.type === 'TaskScheduled') as Record<
      string,
      Record<string, unknown>
    >;
    expect(scheduled.taskScheduledEventDetails).toMatchObject({
      resourceType: 'lambda',
      resource: 'invoke',
      region: 'us-east-1',
      timeoutInSeconds: 5,
    });
    const entered = events.find((e) => e.type === 'TaskStateEntered') as Record<
      string,
      Record<string, unknown>
    >;
    expect(entered.localType).toBe('StateEntered');
    expect(entered.stateEnteredEventDetails).toMatchObject({ name: 'Plan' });
  });

  it('takes the Choice branch', async () => {
    const { result, calls } = await startToy({ ignored: true });

    expect(result.status).toBe('SUCCEEDED');
    expect(calls.deploy).toHaveLength(0);
  });

  it('catches a typed handler error on the Map, with the Lambda Cause shape, and fails with the Fail state', async () => {
    const { result, calls } = await startToy({ failCluster: 'us' });

    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'DeploymentRolledBack',
      cause: 'a cluster failed; every cluster was restored',
    });
    const rollbackInput = calls.rollback?.[0] as { failure: { Error: string; Cause: string } };
    expect(rollbackInput.failure.Error).toBe('DeployError');
    const cause = JSON.parse(rollbackInput.failure.Cause);
    expect(cause).toMatchObject({
      errorType: 'DeployError',
      errorMessage: 'engine on us refused the update',
    });
    expect(Array.isArray(cause.trace)).toBe(true);
  });

  it('returns lambda:invoke results in the integration shape', async () => {
    engine = new WorkflowEngine();
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'invoke',
      definition: JSON.stringify({
        StartAt: 'Call',
        States: {
          Call: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { FunctionName: `${fnArn('echo')}:$LATEST`, 'Payload.$': '$' },
            TimeoutSeconds: 5,
            End: true,
          },
        },
      }),
      handlers: { echo: async (event) => ({ echoed: event }) },
    });

    const { executionArn } = await engine.startExecution({ stateMachineArn, input: '{"a":1}' });
    const result = await engine.waitForExecution(executionArn);

    expect(JSON.parse(result.output ?? '{}')).toMatchObject({
      ExecutedVersion: '$LATEST',
      StatusCode: 200,
      Payload: { echoed: { a: 1 } },
      SdkHttpMetadata: { HttpStatusCode: 200 },
    });
  });

  it('hands handlers their context and JSON copies, and turns undefined into null', async () => {
    engine = new WorkflowEngine();
    const seen: Array<{ functionName: string; awsRequestId: string; deadlineMs: number; aborted: boolean }> =
      [];
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'ctx',
      definition: JSON.stringify({
        StartAt: 'A',
        States: {
          A: { Type: 'Task', Resource: fnArn('mutate'), TimeoutSeconds: 7, ResultPath: '$.r', Next: 'B' },
          B: { Type: 'Pass', Result: false, ResultPath: '$.falsy', Next: 'C' },
          C: { Type: 'Pass', ResultPath: '$', Parameters: { 'kept.$': '$' }, End: true },
        },
      }),
      handlers: {
        mutate: async (event, context) => {
          (event as Record<string, unknown>).mutated = true;
          seen.push({ ...context, aborted: context.signal.aborted });
          return undefined;
        },
      },
    });
    const before = Date.now();

    const { executionArn } = await engine.startExecution({ stateMachineArn, input: '{"x":1}' });
    const result = await engine.waitForExecution(executionArn);

    // handler mutation invisible, undefined → null, falsy Pass Result and ResultPath "$" as on AWS
    expect(JSON.parse(result.output ?? '{}')).toEqual({ kept: { x: 1, r: null, falsy: false } });
    expect(seen[0]?.functionName).toBe('mutate');
    expect(seen[0]?.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[0]?.aborted).toBe(false);
    expect(seen[0]?.deadlineMs).toBeGreaterThanOrEqual(before + 7_000);
    expect(seen[0]?.deadlineMs).toBeLessThan(before + 8_000);
  });

  it('runs middy handlers through lambdaHandler with a Lambda context carrying the engine signal', async () => {
    engine = new WorkflowEngine();
    const seen: Array<{ functionName: string; remaining: number; hasSignal: boolean; middySignal: boolean }> =
      [];
    const handler = middy(
      async (
        event: unknown,
        context: { functionName: string; getRemainingTimeInMillis(): number; signal?: AbortSignal },
        opts: { signal: AbortSignal },
      ) => {
        seen.push({
          functionName: context.functionName,
          remaining: context.getRemainingTimeInMillis(),
          hasSignal: context.signal instanceof AbortSignal,
          middySignal: opts.signal instanceof AbortSignal,
        });
        return { got: event };
      },
    );
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'middy',
      definition: JSON.stringify({
        StartAt: 'Step',
        States: { Step: { Type: 'Task', Resource: fnArn('step'), TimeoutSeconds: 30, End: true } },
      }),
      handlers: { step: lambdaHandler(handler as never) },
    });

    const { executionArn } = await engine.startExecution({ stateMachineArn, input: '{"n":1}' });
    const result = await engine.waitForExecution(executionArn);

    expect(JSON.parse(result.output ?? 'null')).toEqual({ got: { n: 1 } });
    expect(seen[0]).toMatchObject({ functionName: 'step', hasSignal: true, middySignal: true });
    expect(seen[0]?.remaining).toBeGreaterThan(29_000);
    expect(seen[0]?.remaining).toBeLessThanOrEqual(30_000);
  });

  it('reports a Fail state without Error or Cause as AWS does: neither', async () => {
    engine = new WorkflowEngine();
    const { stateMachineArn } = await engine.registerStateMachine({
      name: 'bare-fail',
      definition: JSON.stringify({ StartAt: 'Stop', States: { Stop: { Type: 'Fail' } } }),
      handlers: {},
    });

    const { executionArn } = await engine.startExecution({ stateMachineArn });
    const result = await engine.waitForExecution(executionArn);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBeUndefined();
    expect(result.cause).toBeUndefined();
  });

  it('refuses definitions it cannot run faithfully or bind', async () => {
    engine = new WorkflowEngine();
    const register = (definition: unknown, handlers: Record<string, TaskHandler> = {}) =>
      engine.registerStateMachine({ name: 'bad', definition: JSON.stringify(definition), handlers });

    await expect(
      register({ StartAt: 'P', States: { P: { Type: 'Pass', Assign: { x: 1 }, End: true } } }),
    ).rejects.toThrow(/assign/);
    await expect(
      register({ StartAt: 'T', States: { T: { Type: 'Task', Resource: fnArn('missing'), End: true } } }),
    ).rejects.toThrow(/no handler for function missing/);
    await expect(
      register({
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true } },
      }),
    ).rejects.toThrow(/not a Lambda function ARN/);
    await expect(register({ StartAt: 'Nope', States: { P: { Type: 'Pass', End: true } } })).rejects.toThrow(
      /Invalid State Machine Definition/,
    );
  });
});
