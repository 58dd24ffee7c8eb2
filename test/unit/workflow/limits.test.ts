import { afterEach, describe, expect, it } from 'vitest';
import {
  historyLimitCause,
  MAX_HISTORY_EVENTS,
  type TaskHandler,
  WorkflowEngine,
  type WorkflowEngineOptions,
} from '../../../local/runtime/workflow/index.js';
import { fnArn, historyTypes } from '../runtime/harness.js';

/**
 * The engine's AWS quotas: the 25,000-event history of Standard workflows (smaller here through
 * maxHistoryEvents), the payload limit, per-execution stats, and the StateTransition bucket.
 */

let engine: WorkflowEngine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

async function start(
  options: WorkflowEngineOptions,
  definition: unknown,
  handlers: Record<string, TaskHandler>,
  input: unknown,
) {
  engine = new WorkflowEngine(options);
  const { stateMachineArn } = await engine.registerStateMachine({
    name: 'limits',
    definition: JSON.stringify(definition),
    handlers,
  });
  const { executionArn } = await engine.startExecution({ stateMachineArn, input: JSON.stringify(input) });
  const result = await engine.waitForExecution(executionArn, 15_000);
  const { events } = await engine.getExecutionHistory({ executionArn, maxResults: 1000 });
  return { engine, executionArn, result, events };
}

/** Pass then Choice, `$.n` times: four history events a turn, then Succeed. */
const PASS_LOOP = {
  StartAt: 'Step',
  States: {
    Step: {
      Type: 'Pass',
      Parameters: { 'i.$': 'States.MathAdd($.i, 1)', 'n.$': '$.n' },
      Next: 'More',
    },
    More: {
      Type: 'Choice',
      Choices: [{ Variable: '$.i', NumericLessThanPath: '$.n', Next: 'Step' }],
      Default: 'Done',
    },
    Done: { Type: 'Succeed' },
  },
};

/** A Task then a Choice, until the handler says done. */
const TASK_LOOP = {
  StartAt: 'Work',
  States: {
    Work: { Type: 'Task', Resource: fnArn('work'), TimeoutSeconds: 5, Next: 'More' },
    More: {
      Type: 'Choice',
      Choices: [{ Variable: '$.done', BooleanEquals: false, Next: 'Work' }],
      Default: 'Done',
    },
    Done: { Type: 'Succeed' },
  },
};

describe('the execution history quota', () => {
  it("defaults to AWS's 25,000 events", () => {
    expect(MAX_HISTORY_EVENTS).toBe(25_000);
    expect(historyLimitCause(25_000)).toBe(
      'The execution reached the maximum number of history events (25000).',
    );
    expect(() => new WorkflowEngine({ maxHistoryEvents: 1 })).toThrow(RangeError);
  });

  it('succeeds when ExecutionSucceeded is the last event the quota allows', async () => {
    // 1 ExecutionStarted + 4 a turn × 11 + SucceedStateEntered/Exited + ExecutionSucceeded = 48.
    const { result, events, engine, executionArn } = await start(
      { maxHistoryEvents: 48 },
      PASS_LOOP,
      {},
      { i: 0, n: 11 },
    );

    expect(result).toMatchObject({ status: 'SUCCEEDED', output: JSON.stringify({ i: 11, n: 11 }) });
    expect(events).toHaveLength(48);
    expect(events.at(-1)).toMatchObject({ id: 48, type: 'ExecutionSucceeded' });
    expect(engine.executionStats(executionArn)).toMatchObject({
      historyEvents: 48,
      maxHistoryEvents: 48,
      historyLimitReached: false,
    });
  });

  it('fails a loop that outgrows it with States.Runtime, the ExecutionFailed event taking the last place', async () => {
    // One more turn needs 52 events.
    const { result, events, engine, executionArn } = await start(
      { maxHistoryEvents: 48 },
      PASS_LOOP,
      {},
      { i: 0, n: 12 },
    );

    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
      cause: 'The execution reached the maximum number of history events (48).',
    });
    expect(events).toHaveLength(48);
    expect(events.map((e) => e.id)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
    expect(events.at(-2)?.type).not.toMatch(/^Execution/);
    expect(events.at(-1)).toMatchObject({
      id: 48,
      previousEventId: 47,
      type: 'ExecutionFailed',
      executionFailedEventDetails: {
        error: 'States.Runtime',
        cause: 'The execution reached the maximum number of history events (48).',
      },
    });
    expect(engine.executionStats(executionArn)).toMatchObject({
      historyEvents: 48,
      historyLimitReached: true,
    });
  });

  it('stops a Task loop at the quota: no handler runs after it and the history ends there', async () => {
    let calls = 0;
    const work: TaskHandler = async () => {
      calls++;
      return { done: false };
    };

    const { result, events, engine, executionArn } = await start(
      { maxHistoryEvents: 100 },
      TASK_LOOP,
      { work },
      {},
    );
    const callsAtClose = calls;
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
      cause: historyLimitCause(100),
    });
    expect(events).toHaveLength(100);
    expect(events.at(-1)).toMatchObject({ id: 100, type: 'ExecutionFailed' });
    expect(events.filter((e) => e.type === 'ExecutionFailed')).toHaveLength(1);
    // Each turn: TaskStateEntered, LambdaFunctionScheduled/Started/Succeeded, TaskStateExited,
    // ChoiceStateEntered/Exited: 7 events; about 14 turns fit in 100.
    expect(calls).toBeGreaterThanOrEqual(13);
    expect(calls).toBeLessThanOrEqual(15);
    expect(calls).toBe(callsAtClose);
    expect(await historyTypes(engine, executionArn)).toHaveLength(100);
  });

  it('lets a short execution of the same machine succeed under the quota', async () => {
    let calls = 0;
    const work: TaskHandler = async () => ({ done: ++calls === 3 });

    const { result, events } = await start({ maxHistoryEvents: 100 }, TASK_LOOP, { work }, {});

    expect(result.status).toBe('SUCCEEDED');
    expect(events.at(-1)?.type).toBe('ExecutionSucceeded');
    expect(events.length).toBeLessThan(100);
  });
});

describe('payload stats and the payload limit', () => {
  it('reports the history events and the largest payload with where it was', async () => {
    const pad = 'p'.repeat(1000);
    const big = 'b'.repeat(20_000);
    const definition = {
      StartAt: 'Big',
      States: {
        Big: { Type: 'Task', Resource: fnArn('big'), TimeoutSeconds: 5, ResultPath: '$.big', Next: 'Small' },
        Small: {
          Type: 'Task',
          Resource: fnArn('small'),
          TimeoutSeconds: 5,
          ResultPath: null,
          End: true,
        },
      },
    };

    const { result, events, engine, executionArn } = await start(
      {},
      definition,
      { big: async () => big, small: async () => 'ok' },
      { pad },
    );
    const stats = engine.executionStats(executionArn);

    expect(result.status).toBe('SUCCEEDED');
    expect(stats).toEqual({
      historyEvents: events.length,
      maxHistoryEvents: 25_000,
      historyLimitReached: false,
      // Big's output (its input with the result under $.big) is the largest; Small's and the
      // execution's, the same size, come later.
      largestPayloadBytes: Buffer.byteLength(JSON.stringify({ pad, big })),
      largestPayloadAt: 'Big',
      maxPayloadBytes: 262_144,
      stateTransitions: 2,
      throttledTransitions: 0,
      throttleDelayMs: 0,
    });
  });

  it('applies a smaller maxPayloadBytes as AWS applies its 256 KiB', async () => {
    const { result, engine, executionArn } = await start(
      { maxPayloadBytes: 1000 },
      {
        StartAt: 'Big',
        States: { Big: { Type: 'Task', Resource: fnArn('big'), TimeoutSeconds: 5, End: true } },
      },
      { big: async () => 'x'.repeat(2000) },
      {},
    );

    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(engine.executionStats(executionArn)).toMatchObject({
      largestPayloadBytes: 2002,
      largestPayloadAt: 'Big',
      maxPayloadBytes: 1000,
    });
  });
});

describe('the StateTransition bucket', () => {
  it('delays the transitions it has no token for, and the execution still succeeds', async () => {
    let calls = 0;
    const work: TaskHandler = async () => ({ done: ++calls === 10 });
    const started = performance.now();

    const { result, engine, executionArn } = await start(
      { stateTransitionBucket: { burst: 2, perSecond: 10 } },
      TASK_LOOP,
      { work },
      {},
    );
    const elapsed = performance.now() - started;
    const stats = engine.executionStats(executionArn);

    expect(result.status).toBe('SUCCEEDED');
    expect(calls).toBe(10);
    // 21 transitions; the 10th Work is the 19th: it cannot start before 17 refills at 10 per
    // second, however fast or slow the rest runs.
    expect(stats.stateTransitions).toBe(21);
    expect(stats.throttledTransitions).toBeGreaterThan(0);
    expect(stats.throttleDelayMs).toBeGreaterThan(0);
    expect(elapsed).toBeGreaterThan(1650);
  });

  it('is off by default', async () => {
    let calls = 0;
    const work: TaskHandler = async () => ({ done: ++calls === 10 });

    const { result, engine, executionArn } = await start({}, TASK_LOOP, { work }, {});

    expect(result.status).toBe('SUCCEEDED');
    expect(engine.executionStats(executionArn)).toMatchObject({
      throttledTransitions: 0,
      throttleDelayMs: 0,
    });
  });
});
