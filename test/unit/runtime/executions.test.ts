import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ExecutionStatusChangeEvent,
  SfnBackendError,
  type TaskHandler,
  WorkflowEngine,
} from '../../../local/runtime/workflow/index.js';
import { fnArn, historyTypes, NamedError, singleTask, until } from './harness.js';

let engine: WorkflowEngine;
beforeEach(() => {
  engine = new WorkflowEngine();
});
afterEach(async () => {
  await engine.close();
});

async function machine(definition: string, handlers: Record<string, TaskHandler>, name = 'machine') {
  const { stateMachineArn } = await engine.registerStateMachine({ name, definition, handlers });
  return stateMachineArn;
}

const errorType = async (call: Promise<unknown>) => {
  try {
    await call;
  } catch (err) {
    if (err instanceof SfnBackendError) return err.type;
    throw err;
  }
  return 'no error';
};

/** A handler that runs until its signal aborts, recording why and when. */
function blockingHandler() {
  const seen: Array<{ reason: string; afterMs: number }> = [];
  let started = 0;
  const handler: TaskHandler = (_event, { signal }) => {
    started++;
    const t0 = Date.now();
    return new Promise((_, reject) => {
      signal.addEventListener('abort', () => {
        seen.push({ reason: (signal.reason as Error).name, afterMs: Date.now() - t0 });
        reject(signal.reason);
      });
    });
  };
  return { handler, seen, started: () => started };
}

describe('StartExecution names, ARNs and idempotency', () => {
  it('names executions like AWS: ARN, generated UUID, forbidden characters, length', async () => {
    await engine.close();
    engine = new WorkflowEngine({ region: 'eu-west-1' });
    const arn = await machine(
      singleTask({ Resource: fnArn('noop'), TimeoutSeconds: 5 }),
      { noop: async () => ({}) },
      'deploy',
    );

    const named = await engine.startExecution({ stateMachineArn: arn, name: 'demo-sha256-abc' });
    const unnamed = await engine.startExecution({ stateMachineArn: arn });

    expect(arn).toBe('arn:aws:states:eu-west-1:000000000000:stateMachine:deploy');
    expect(named.executionArn).toBe('arn:aws:states:eu-west-1:000000000000:execution:deploy:demo-sha256-abc');
    expect(unnamed.executionArn).toMatch(
      /:execution:deploy:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    expect(await errorType(engine.startExecution({ stateMachineArn: arn, name: 'x'.repeat(80) }))).toBe(
      'no error',
    );
    for (const name of [
      '',
      'x'.repeat(81),
      'sha256:abc',
      'a b',
      'a/b',
      'a*',
      'tab\there',
      'bell\u0007',
      'c1\u0085',
    ]) {
      expect(
        await errorType(engine.startExecution({ stateMachineArn: arn, name })),
        JSON.stringify(name),
      ).toBe('InvalidName');
    }
  });

  it('returns the running execution for the same name and input, and refuses every other reuse', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const arn = await machine(singleTask({ Resource: fnArn('slow'), TimeoutSeconds: 5 }), {
      slow: async () => {
        await gate;
        return 'done';
      },
    });

    const first = await engine.startExecution({
      stateMachineArn: arn,
      name: 'demo-1',
      input: '{"digest":"a"}',
    });
    const again = await engine.startExecution({
      stateMachineArn: arn,
      name: 'demo-1',
      input: '{"digest":"a"}',
    });
    const otherInput = errorType(
      engine.startExecution({ stateMachineArn: arn, name: 'demo-1', input: '{"digest":"b"}' }),
    );
    release();
    await engine.waitForExecution(first.executionArn);
    const afterClose = errorType(
      engine.startExecution({ stateMachineArn: arn, name: 'demo-1', input: '{"digest":"a"}' }),
    );

    expect(again).toEqual(first);
    expect(await otherInput).toBe('ExecutionAlreadyExists');
    expect(await afterClose).toBe('ExecutionAlreadyExists');
    expect((await engine.listExecutions({ stateMachineArn: arn })).executions).toHaveLength(1);
  });

  it('checks the machine, the ARN and the input', async () => {
    const arn = await machine(singleTask({ Resource: fnArn('noop'), TimeoutSeconds: 5 }), {
      noop: async () => ({}),
    });

    expect(await errorType(engine.startExecution({ stateMachineArn: `${arn}-nope` }))).toBe(
      'StateMachineDoesNotExist',
    );
    expect(await errorType(engine.startExecution({ stateMachineArn: 'machine' }))).toBe('InvalidArn');
    expect(await errorType(engine.startExecution({ stateMachineArn: arn, input: '{"a":' }))).toBe(
      'InvalidExecutionInput',
    );
    expect(
      await errorType(
        engine.startExecution({ stateMachineArn: arn, input: JSON.stringify({ a: 'x'.repeat(262_144) }) }),
      ),
    ).toBe('ValidationException');
    expect(
      await errorType(engine.describeExecution(`${arn.replace('stateMachine', 'execution')}:none`)),
    ).toBe('ExecutionDoesNotExist');
  });
});

describe('handler abort signals', () => {
  it('aborts a handler at its Task TimeoutSeconds and fails the state with States.Timeout', async () => {
    const blocking = blockingHandler();
    const arn = await machine(
      singleTask(
        {
          Resource: fnArn('hang'),
          TimeoutSeconds: 1,
          Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.timeout', Next: 'TimedOut' }],
        },
        { TimedOut: { Type: 'Pass', End: true } },
      ),
      { hang: blocking.handler },
    );

    const { executionArn } = await engine.startExecution({ stateMachineArn: arn });
    const result = await engine.waitForExecution(executionArn);

    expect(blocking.seen).toHaveLength(1);
    expect(blocking.seen[0]?.reason).toBe('TimeoutError');
    expect(blocking.seen[0]?.afterMs).toBeGreaterThanOrEqual(950);
    expect(blocking.seen[0]?.afterMs).toBeLessThan(3_000);
    expect(JSON.parse(result.output ?? '{}').timeout).toMatchObject({ Error: 'States.Timeout' });
    expect(await historyTypes(engine, executionArn)).toContain('LambdaFunctionTimedOut');
  });

  it('StopExecution aborts the run, every running handler and open tokens, and records the reason', async () => {
    const blocking = blockingHandler();
    const tokens: string[] = [];
    const statuses: ExecutionStatusChangeEvent[] = [];
    const arn = await machine(
      JSON.stringify({
        StartAt: 'Both',
        States: {
          Both: {
            Type: 'Parallel',
            Branches: [
              {
                StartAt: 'Deploy',
                States: { Deploy: { Type: 'Task', Resource: fnArn('hang'), TimeoutSeconds: 60, End: true } },
              },
              {
                StartAt: 'Approve',
                States: {
                  Approve: {
                    Type: 'Task',
                    Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
                    Parameters: { FunctionName: fnArn('ask'), Payload: { 'token.$': '$$.Task.Token' } },
                    TimeoutSeconds: 60,
                    HeartbeatSeconds: 30,
                    End: true,
                  },
                },
              },
            ],
            End: true,
          },
        },
      }),
      {
        hang: blocking.handler,
        ask: async (event) => {
          tokens.push((event as { token: string }).token);
          return {};
        },
      },
    );
    engine.onStatusChange((event) => statuses.push(event));
    const { executionArn } = await engine.startExecution({ stateMachineArn: arn, name: 'stop-me' });
    await until(() => blocking.started() === 1 && tokens.length === 1);

    const { stopDate } = await engine.stopExecution({
      executionArn,
      error: 'Operator.Abort',
      cause: 'stopped by a test',
    });
    const described = await engine.describeExecution(executionArn);

    expect(described).toMatchObject({
      status: 'ABORTED',
      error: 'Operator.Abort',
      cause: 'stopped by a test',
      stopDate,
    });
    expect(blocking.seen[0]?.reason).toBe('AbortError');
    expect(await errorType(engine.sendTaskSuccess({ taskToken: tokens[0] as string, output: '{}' }))).toBe(
      'TaskTimedOut',
    );
    const types = await historyTypes(engine, executionArn);
    expect(types.at(-1)).toBe('ExecutionAborted');
    expect(types).toEqual(expect.arrayContaining(['TaskStateAborted', 'ParallelStateAborted']));
    expect(statuses.map((s) => s.detail.status)).toEqual(['RUNNING', 'ABORTED']);
    expect(statuses[1]).toMatchObject({
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      resources: [executionArn],
      detail: {
        executionArn,
        name: 'stop-me',
        error: 'Operator.Abort',
        cause: 'stopped by a test',
        output: null,
      },
    });
    // stopping a closed execution changes nothing
    expect((await engine.stopExecution({ executionArn, error: 'Again' })).stopDate).toEqual(stopDate);
    expect((await engine.describeExecution(executionArn)).error).toBe('Operator.Abort');
  });

  it('aborts the handlers of Map iterations the library abandons when another iteration fails', async () => {
    const blocking = blockingHandler();
    const arn = await machine(
      JSON.stringify({
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.items',
            ItemProcessor: {
              StartAt: 'Work',
              States: { Work: { Type: 'Task', Resource: fnArn('work'), TimeoutSeconds: 60, End: true } },
            },
            Catch: [{ ErrorEquals: ['DeployError'], ResultPath: '$.failure', Next: 'Handled' }],
            End: true,
          },
          Handled: { Type: 'Pass', End: true },
        },
      }),
      {
        work: async (event, context) => {
          if (event === 'bad') {
            await until(() => blocking.started() === 1);
            throw new NamedError('DeployError', 'bad item');
          }
          return blocking.handler(event, context);
        },
      },
    );

    const { executionArn } = await engine.startExecution({
      stateMachineArn: arn,
      input: '{"items":["slow","bad"]}',
    });
    const result = await engine.waitForExecution(executionArn, 5_000);

    expect(result.status).toBe('SUCCEEDED');
    expect(blocking.seen).toEqual([expect.objectContaining({ reason: 'AbortError' })]);
    expect(await historyTypes(engine, executionArn)).toEqual(
      expect.arrayContaining(['MapStateFailed', 'TaskStateAborted']),
    );
  });

  it('times out the execution at the top-level TimeoutSeconds', async () => {
    const blocking = blockingHandler();
    const arn = await machine(
      JSON.stringify({
        TimeoutSeconds: 1,
        StartAt: 'Work',
        States: { Work: { Type: 'Task', Resource: fnArn('hang'), TimeoutSeconds: 60, End: true } },
      }),
      { hang: blocking.handler },
    );

    const { executionArn } = await engine.startExecution({ stateMachineArn: arn });
    const result = await engine.waitForExecution(executionArn);

    expect(result).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(blocking.seen[0]?.reason).toBe('AbortError');
    expect((await historyTypes(engine, executionArn)).at(-1)).toBe('ExecutionTimedOut');
  });
});

describe('the 256 KiB payload limit', () => {
  const big = (kib: number) => 'x'.repeat(kib * 1024);

  it('fails the execution with States.DataLimitExceeded on a large Task result, past every catcher', async () => {
    const arn = await machine(
      singleTask(
        {
          Resource: fnArn('big'),
          TimeoutSeconds: 5,
          Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 3, IntervalSeconds: 1 }],
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
        },
        { Caught: { Type: 'Pass', End: true } },
      ),
      { big: async () => big(300) },
    );

    const { executionArn } = await engine.startExecution({ stateMachineArn: arn });
    const result = await engine.waitForExecution(executionArn);

    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(result.cause).toMatch(/exceeding the maximum number of bytes service limit/);
  });

  it('fails on a state output that outgrows the limit, before the next Task runs', async () => {
    let thirdCalled = false;
    const arn = await machine(
      JSON.stringify({
        StartAt: 'One',
        States: {
          One: { Type: 'Task', Resource: fnArn('half'), TimeoutSeconds: 5, ResultPath: '$.one', Next: 'Two' },
          Two: {
            Type: 'Task',
            Resource: fnArn('half'),
            TimeoutSeconds: 5,
            ResultPath: '$.two',
            Next: 'Three',
          },
          Three: { Type: 'Task', Resource: fnArn('third'), TimeoutSeconds: 5, End: true },
        },
      }),
      {
        half: async () => big(150),
        third: async () => {
          thirdCalled = true;
          return null;
        },
      },
    );

    const { executionArn } = await engine.startExecution({ stateMachineArn: arn });
    const result = await engine.waitForExecution(executionArn);

    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(thirdCalled).toBe(false);
  });
});

describe('listing, history paging and closing', () => {
  it('lists newest first with a status filter and pages with opaque tokens', async () => {
    const arn = await machine(singleTask({ Resource: fnArn('noop'), TimeoutSeconds: 5 }), {
      noop: async () => ({}),
    });
    for (const name of ['one', 'two', 'three']) {
      const { executionArn } = await engine.startExecution({ stateMachineArn: arn, name });
      await engine.waitForExecution(executionArn);
    }

    const page1 = await engine.listExecutions({
      stateMachineArn: arn,
      maxResults: 2,
      statusFilter: 'SUCCEEDED',
    });
    const page2 = await engine.listExecutions({
      stateMachineArn: arn,
      maxResults: 2,
      nextToken: page1.nextToken,
    });
    const history = await engine.getExecutionHistory({
      executionArn: page1.executions[0]?.executionArn ?? '',
      reverseOrder: true,
    });

    expect(page1.executions.map((e) => e.name)).toEqual(['three', 'two']);
    expect(page2.executions.map((e) => e.name)).toEqual(['one']);
    expect(page2.nextToken).toBeUndefined();
    expect(history.events[0]?.type).toBe('ExecutionSucceeded');
    expect(await errorType(engine.listExecutions({ stateMachineArn: arn, statusFilter: 'DONE' }))).toBe(
      'ValidationException',
    );
    expect(await errorType(engine.listExecutions({ stateMachineArn: arn, nextToken: 'garbage' }))).toBe(
      'InvalidToken',
    );
  });

  it('waitForExecution gives up after its timeout', async () => {
    const blocking = blockingHandler();
    const arn = await machine(singleTask({ Resource: fnArn('hang'), TimeoutSeconds: 60 }), {
      hang: blocking.handler,
    });
    const { executionArn } = await engine.startExecution({ stateMachineArn: arn });

    await expect(engine.waitForExecution(executionArn, 50)).rejects.toThrow(/still RUNNING after 50 ms/);
  });

  it('close() aborts what runs and leaves no timer behind', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await engine.close();
    const before = timers();
    engine = new WorkflowEngine();
    const blocking = blockingHandler();
    const arn = await machine(
      JSON.stringify({
        StartAt: 'Work',
        States: {
          Work: { Type: 'Task', Resource: fnArn('hang'), TimeoutSeconds: 600, Next: 'Pause' },
          Pause: { Type: 'Wait', Seconds: 600, End: true },
        },
      }),
      { hang: blocking.handler },
    );
    const { executionArn } = await engine.startExecution({ stateMachineArn: arn });
    await until(() => blocking.started() === 1);

    await engine.close();

    expect((await engine.describeExecution(executionArn)).status).toBe('ABORTED');
    expect(blocking.seen).toHaveLength(1);
    expect(timers()).toBeLessThanOrEqual(before);
  });
});
