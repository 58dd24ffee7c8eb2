import { afterEach, describe, expect, it } from 'vitest';
import {
  DefinitionError,
  EXCEED_TOLERATED_FAILURE_THRESHOLD,
  historyLimitCause,
  lintDefinition,
  type TaskHandler,
  WorkflowEngine,
  type WorkflowEngineOptions,
} from '../../../local/runtime/workflow/index.js';
import { fnArn, historyTypes, NamedError, until } from '../runtime/harness.js';

/**
 * Distributed Map states run as child executions, as on AWS: one Map Run per entry of the state,
 * each item a child execution with its own history, context and quotas; the parent records a
 * handful of MapRun events whatever the item count.
 */

let engine: WorkflowEngine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

const DISTRIBUTED = { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' };

/** A Task per item: the child workflow of most tests. */
const DEPLOY_CHILD = {
  StartAt: 'Deploy',
  States: { Deploy: { Type: 'Task', Resource: fnArn('deploy'), TimeoutSeconds: 5, End: true } },
};

/** A machine whose single state is a Distributed Map over `$.clusters`. */
function fanOut(map: Record<string, unknown> = {}, child: Record<string, unknown> = DEPLOY_CHILD) {
  return {
    StartAt: 'Fan',
    States: {
      Fan: {
        Type: 'Map',
        ItemsPath: '$.clusters',
        ItemProcessor: { ProcessorConfig: DISTRIBUTED, ...child },
        End: true,
        ...map,
      },
    },
  };
}

async function setUp(
  definition: unknown,
  handlers: Record<string, TaskHandler>,
  options: WorkflowEngineOptions = {},
) {
  engine = new WorkflowEngine(options);
  const { stateMachineArn } = await engine.registerStateMachine({
    name: 'dm',
    definition: JSON.stringify(definition),
    handlers,
  });
  return { engine, stateMachineArn };
}

async function run(
  definition: unknown,
  handlers: Record<string, TaskHandler>,
  input: unknown,
  options: WorkflowEngineOptions = {},
) {
  const { engine, stateMachineArn } = await setUp(definition, handlers, options);
  const { executionArn } = await engine.startExecution({ stateMachineArn, input: JSON.stringify(input) });
  const result = await engine.waitForExecution(executionArn, 20_000);
  return { engine, stateMachineArn, executionArn, result, types: await historyTypes(engine, executionArn) };
}

const clusters = (n: number) => Array.from({ length: n }, (_, i) => `cluster-${i}`);

/** Every child execution of the execution's only Map Run. */
async function children(engine: WorkflowEngine, executionArn: string) {
  const [mapRun] = engine.listMapRuns(executionArn).mapRuns;
  const { executions } = await engine.listExecutions({
    mapRunArn: mapRun?.mapRunArn as string,
    maxResults: 1000,
  });
  return executions;
}

const PARENT_EVENTS = [
  'ExecutionStarted',
  'MapStateEntered',
  'MapStateStarted',
  'MapRunStarted',
  'MapRunSucceeded',
  'MapStateSucceeded',
  'MapStateExited',
  'ExecutionSucceeded',
];

describe('a Distributed Map over the state input', () => {
  it('runs 1,000 items as child executions: outputs in order, a handful of parent events, a history per child', async () => {
    const deploy: TaskHandler = async (event) => {
      const { cluster, index, release } = event as { cluster: string; index: number; release: string };
      return { cluster, index, release, deployed: true };
    };
    const map = {
      ItemSelector: {
        'cluster.$': '$$.Map.Item.Value',
        'index.$': '$$.Map.Item.Index',
        'release.$': '$.release',
      },
      ResultPath: '$.results',
    };

    const big = await run(fanOut(map), { deploy }, { release: 'v2', clusters: clusters(1000) });

    expect(big.result.status).toBe('SUCCEEDED');
    const output = JSON.parse(big.result.output as string) as { results: Array<Record<string, unknown>> };
    expect(output.results).toHaveLength(1000);
    expect(output.results.map((r) => r.index)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(output.results[999]).toEqual({
      cluster: 'cluster-999',
      index: 999,
      release: 'v2',
      deployed: true,
    });
    expect(big.types).toEqual(PARENT_EVENTS);
    expect(big.engine.executionStats(big.executionArn)).toMatchObject({
      historyEvents: 8,
      stateTransitions: 1,
    });

    const kids = await children(big.engine, big.executionArn);
    expect(kids).toHaveLength(1000);
    expect(kids.every((k) => k.status === 'SUCCEEDED')).toBe(true);
    const kid = kids[0]?.executionArn as string;
    expect(await historyTypes(big.engine, kid)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
    expect(big.engine.executionStats(kid)).toMatchObject({ historyEvents: 7, stateTransitions: 1 });
    await big.engine.close();

    // The parent's event count does not depend on the item count.
    const small = await run(fanOut(map), { deploy }, { release: 'v2', clusters: clusters(3) });
    expect(small.types).toEqual(big.types);
  });

  it('keeps a child loop that would blow the 25,000-event quota inline within each child history', async () => {
    // 30 items × 300 turns of Pass + Choice: over 25,000 events in one history, about 1,200 in each child's.
    const loop = {
      StartAt: 'Step',
      States: {
        Step: { Type: 'Pass', Parameters: { 'i.$': 'States.MathAdd($.i, 1)', 'n.$': '$.n' }, Next: 'More' },
        More: {
          Type: 'Choice',
          Choices: [{ Variable: '$.i', NumericLessThanPath: '$.n', Next: 'Step' }],
          Default: 'Done',
        },
        Done: { Type: 'Succeed' },
      },
    };
    const items = { ItemSelector: { i: 0, n: 300 }, MaxConcurrency: 10 };
    const input = { clusters: clusters(30) };
    const inline = {
      StartAt: 'Fan',
      States: { Fan: { Type: 'Map', ItemsPath: '$.clusters', ...items, ItemProcessor: loop, End: true } },
    };

    const inlined = await run(inline, {}, input);
    expect(inlined.result).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
      cause: historyLimitCause(25_000),
    });
    await inlined.engine.close();

    const distributed = await run(fanOut(items, loop), {}, input);
    expect(distributed.result.status).toBe('SUCCEEDED');
    expect(distributed.types).toEqual(PARENT_EVENTS);
    for (const kid of await children(distributed.engine, distributed.executionArn)) {
      const stats = distributed.engine.executionStats(kid.executionArn);
      expect(stats.historyEvents).toBeGreaterThan(1100);
      expect(stats.historyEvents).toBeLessThan(1300);
      expect(stats.historyLimitReached).toBe(false);
    }
  }, 30_000);
});

describe('the tolerated failure threshold', () => {
  const deploy: TaskHandler = async (event) => {
    if (event === 'cluster-2') throw new NamedError('DeployFailedError', `${event} refused the update`);
    return `${event} ok`;
  };

  it('fails the Map with States.ExceedToleratedFailureThreshold by default, caught by its Catch', async () => {
    const map = {
      Catch: [
        {
          ErrorEquals: ['States.ExceedToleratedFailureThreshold'],
          ResultPath: '$.failure',
          Next: 'Rollback',
        },
      ],
      End: undefined,
      Next: 'Done',
    };
    const definition = fanOut(map);
    Object.assign(definition.States, {
      Rollback: { Type: 'Pass', End: true },
      Done: { Type: 'Succeed' },
    });

    const { engine, executionArn, result, types } = await run(
      definition,
      { deploy },
      { clusters: clusters(4) },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(JSON.parse(result.output as string)).toEqual({
      clusters: clusters(4),
      failure: {
        Error: EXCEED_TOLERATED_FAILURE_THRESHOLD.error,
        Cause: EXCEED_TOLERATED_FAILURE_THRESHOLD.cause,
      },
    });
    expect(types.slice(0, 6)).toEqual([
      'ExecutionStarted',
      'MapStateEntered',
      'MapStateStarted',
      'MapRunStarted',
      'MapRunFailed',
      'MapStateFailed',
    ]);
    expect(types).toContain('PassStateEntered');
    const { events } = await engine.getExecutionHistory({ executionArn });
    expect(events.find((e) => e.type === 'MapRunFailed')?.mapRunFailedEventDetails).toEqual({
      error: 'States.ExceedToleratedFailureThreshold',
      cause: 'The specified tolerated failure threshold was exceeded',
    });
    // The failed child keeps its own error.
    const failed = (await children(engine, executionArn)).filter((k) => k.status === 'FAILED');
    expect(failed).toHaveLength(1);
    const description = await engine.describeExecution(failed[0]?.executionArn as string);
    expect(description).toMatchObject({ status: 'FAILED', error: 'DeployFailedError', input: '"cluster-2"' });
    expect(
      engine.describeMapRun(engine.listMapRuns(executionArn).mapRuns[0]?.mapRunArn as string).status,
    ).toBe('FAILED');
  });

  it('fails the execution with that error when nothing catches it', async () => {
    const { result } = await run(fanOut(), { deploy }, { clusters: clusters(3) });

    expect(result).toMatchObject({ status: 'FAILED', ...EXCEED_TOLERATED_FAILURE_THRESHOLD });
  });

  it('tolerates one failure with ToleratedFailureCount 1: the failed item is its execution result', async () => {
    const { engine, executionArn, result } = await run(
      fanOut({ ToleratedFailureCount: 1 }),
      { deploy },
      { clusters: clusters(4) },
    );

    expect(result.status).toBe('SUCCEEDED');
    const output = JSON.parse(result.output as string) as unknown[];
    expect(output[0]).toBe('cluster-0 ok');
    expect(output[3]).toBe('cluster-3 ok');
    expect(output[2]).toMatchObject({
      Status: 'FAILED',
      Error: 'DeployFailedError',
      Input: '"cluster-2"',
      ExecutionArn: expect.stringMatching(/:execution:dm\/[^:]+:[0-9a-f-]{36}$/),
    });
    const [mapRun] = engine.listMapRuns(executionArn).mapRuns;
    expect(engine.describeMapRun(mapRun?.mapRunArn as string)).toMatchObject({
      status: 'SUCCEEDED',
      toleratedFailureCount: 1,
      itemCounts: { total: 4, succeeded: 3, failed: 1, running: 0, pending: 0 },
    });
  });

  it('fails when more fail than ToleratedFailurePercentage allows', async () => {
    const failTwo: TaskHandler = async (event) => {
      if (event === 'cluster-1' || event === 'cluster-2') throw new NamedError('DeployFailedError', 'no');
      return 'ok';
    };

    const tolerated = await run(
      fanOut({ ToleratedFailurePercentage: 50 }),
      { deploy: failTwo },
      { clusters: clusters(4) },
    );
    expect(tolerated.result.status).toBe('SUCCEEDED');
    await tolerated.engine.close();

    const exceeded = await run(
      fanOut({ ToleratedFailurePercentage: 25 }),
      { deploy: failTwo },
      { clusters: clusters(4) },
    );
    expect(exceeded.result).toMatchObject({
      status: 'FAILED',
      error: 'States.ExceedToleratedFailureThreshold',
    });
  });
});

describe('concurrency', () => {
  function counting() {
    const state = { now: 0, max: 0 };
    const deploy: TaskHandler = async (event) => {
      state.now++;
      state.max = Math.max(state.max, state.now);
      await new Promise((resolve) => setTimeout(resolve, 20));
      state.now--;
      return event;
    };
    return { state, deploy };
  }

  it('runs at most MaxConcurrency children at once', async () => {
    const { state, deploy } = counting();

    const { result } = await run(fanOut({ MaxConcurrency: 3 }), { deploy }, { clusters: clusters(12) });

    expect(result.status).toBe('SUCCEEDED');
    expect(state.max).toBe(3);
  });

  it('reads MaxConcurrencyPath from the state input, and fails the state on a value that is not a count', async () => {
    const { state, deploy } = counting();

    const { engine, executionArn, result } = await run(
      fanOut({ MaxConcurrencyPath: '$.limits.concurrency' }),
      { deploy },
      { clusters: clusters(9), limits: { concurrency: 2 } },
    );
    const bad = await run(
      fanOut({ MaxConcurrencyPath: '$.limits.concurrency' }),
      { deploy },
      { clusters: clusters(3), limits: { concurrency: 'two' } },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(state.max).toBe(2);
    const [mapRun] = engine.listMapRuns(executionArn).mapRuns;
    expect(engine.describeMapRun(mapRun?.mapRunArn as string).maxConcurrency).toBe(2);
    expect(bad.result.status).toBe('FAILED');
    expect(bad.result.error).toBe('States.Runtime');
    expect(bad.result.cause).toMatch(/MaxConcurrencyPath of Fan \(\$\.limits\.concurrency\) selected "two"/);
  });

  it('is not held to the inline 40 without a MaxConcurrency', async () => {
    const { state, deploy } = counting();

    const { result } = await run(fanOut(), { deploy }, { clusters: clusters(60) });

    expect(result.status).toBe('SUCCEEDED');
    expect(state.max).toBe(60);
  });
});

describe('stopping the parent', () => {
  it('aborts its running children and the Map Run', async () => {
    let started = 0;
    const deploy: TaskHandler = (_event, { signal }) => {
      started++;
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    };
    const { engine, stateMachineArn } = await setUp(fanOut(), { deploy });
    const { executionArn } = await engine.startExecution({
      stateMachineArn,
      input: JSON.stringify({ clusters: clusters(5) }),
    });
    await until(() => started === 5, 5_000, 'five children running');

    await engine.stopExecution({ executionArn, error: 'Operator.Stop', cause: 'rolled back by hand' });

    const kids = await children(engine, executionArn);
    for (const kid of kids) {
      expect((await engine.waitForExecution(kid.executionArn)).status).toBe('ABORTED');
    }
    const types = await historyTypes(engine, executionArn);
    expect(types.slice(-3)).toEqual(['MapRunAborted', 'MapStateAborted', 'ExecutionAborted']);
    const [mapRun] = engine.listMapRuns(executionArn).mapRuns;
    expect(engine.describeMapRun(mapRun?.mapRunArn as string)).toMatchObject({
      status: 'ABORTED',
      itemCounts: { aborted: 5, running: 0 },
      stopDate: expect.any(Date),
    });
  });
});

describe('Map Runs and child executions through the API', () => {
  it('names them as AWS does and describes them in the DescribeMapRun and ListMapRuns shapes', async () => {
    const seen: unknown[] = [];
    const deploy: TaskHandler = async (event) => {
      seen.push(event);
      return 'ok';
    };
    const child = {
      StartAt: 'Deploy',
      States: {
        Deploy: {
          Type: 'Task',
          Resource: fnArn('deploy'),
          TimeoutSeconds: 5,
          Parameters: {
            'id.$': '$$.Execution.Id',
            'input.$': '$$.Execution.Input',
            'machine.$': '$$.StateMachine.Id',
          },
          End: true,
        },
      },
    };

    const { engine, executionArn, stateMachineArn, result } = await run(
      fanOut({ Label: 'Rollout', MaxConcurrency: 2, ToleratedFailurePercentage: 10 }, child),
      { deploy },
      { clusters: clusters(2) },
    );

    expect(result.status).toBe('SUCCEEDED');
    const { mapRuns } = engine.listMapRuns(executionArn);
    expect(mapRuns).toEqual([
      {
        executionArn,
        mapRunArn: expect.stringMatching(
          /^arn:aws:states:us-east-1:000000000000:mapRun:dm\/Rollout:[0-9a-f-]{36}$/,
        ),
        stateMachineArn: `${stateMachineArn}/Rollout`,
        startDate: expect.any(Date),
        stopDate: expect.any(Date),
      },
    ]);
    const mapRunArn = mapRuns[0]?.mapRunArn as string;
    const counts = {
      pending: 0,
      running: 0,
      succeeded: 2,
      failed: 0,
      timedOut: 0,
      aborted: 0,
      total: 2,
      resultsWritten: 0,
      failuresNotRedrivable: 0,
      pendingRedrive: 0,
    };
    expect(engine.describeMapRun(mapRunArn)).toEqual({
      mapRunArn,
      executionArn,
      status: 'SUCCEEDED',
      startDate: expect.any(Date),
      stopDate: expect.any(Date),
      maxConcurrency: 2,
      toleratedFailurePercentage: 10,
      toleratedFailureCount: 0,
      itemCounts: counts,
      executionCounts: counts,
      redriveCount: 0,
    });
    const { events } = await engine.getExecutionHistory({ executionArn });
    expect(events.find((e) => e.type === 'MapRunStarted')?.mapRunStartedEventDetails).toEqual({ mapRunArn });
    expect(events.find((e) => e.type === 'MapStateStarted')?.mapStateStartedEventDetails).toEqual({
      length: 2,
    });

    const kids = await children(engine, executionArn);
    expect(kids).toHaveLength(2);
    for (const kid of kids) {
      expect(kid.executionArn).toMatch(
        /^arn:aws:states:us-east-1:000000000000:execution:dm\/Rollout:[0-9a-f-]{36}$/,
      );
      expect(kid).toMatchObject({ stateMachineArn: `${stateMachineArn}/Rollout`, mapRunArn });
      expect(await engine.describeExecution(kid.executionArn)).toMatchObject({
        mapRunArn,
        status: 'SUCCEEDED',
      });
    }
    // Inside a child, $$.Execution is the child's own: its ARN and its item; the parent's ARN is not there.
    const byInput = new Map(kids.map((k) => [k.executionArn, k]));
    for (const event of seen as Array<{ id: string; input: string; machine: string }>) {
      expect(byInput.has(event.id)).toBe(true);
      expect(event.id).not.toBe(executionArn);
      expect(clusters(2)).toContain(event.input);
      expect(event.machine).toBe(`${stateMachineArn}/Rollout`);
    }
    // The parent's own listing does not hold its children.
    const { executions } = await engine.listExecutions({ stateMachineArn });
    expect(executions.map((e) => e.executionArn)).toEqual([executionArn]);
    await expect(engine.listExecutions({})).rejects.toMatchObject({ type: 'ValidationException' });
    expect(() => engine.describeMapRun(`${mapRunArn.slice(0, -4)}0000`)).toThrow(/Resource not found/);
  });

  it('runs a Distributed Map nested in a Parallel branch and one inside a child', async () => {
    const inner = fanOut({ ItemsPath: '$.nodes', ResultSelector: { 'nodes.$': '$' } }, DEPLOY_CHILD).States
      .Fan;
    const definition = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'Outer',
              States: {
                Outer: {
                  Type: 'Map',
                  ItemsPath: '$.clusters',
                  ItemProcessor: { ProcessorConfig: DISTRIBUTED, StartAt: 'Nodes', States: { Nodes: inner } },
                  End: true,
                },
              },
            },
          ],
          End: true,
        },
      },
    };

    const { engine, executionArn, result } = await run(
      definition,
      { deploy: async (n) => `${n} done` },
      {
        clusters: [{ nodes: ['a', 'b'] }, { nodes: ['c'] }],
      },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(JSON.parse(result.output as string)).toEqual([
      [{ nodes: ['a done', 'b done'] }, { nodes: ['c done'] }],
    ]);
    const kids = await children(engine, executionArn);
    expect(engine.listMapRuns(kids[0]?.executionArn as string).mapRuns).toHaveLength(1);
  });
});

describe('several entries of one Distributed Map', () => {
  it('runs one Map Run per entry when the Map sits in an inline Map running entries concurrently', async () => {
    const inner = fanOut({ ItemsPath: '$.clusters' }).States.Fan;
    const definition = {
      StartAt: 'Regions',
      States: {
        Regions: {
          Type: 'Map',
          ItemsPath: '$.regions',
          MaxConcurrency: 2,
          ItemProcessor: { StartAt: 'Fan', States: { Fan: inner } },
          End: true,
        },
      },
    };
    const deploy: TaskHandler = async (cluster) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return `${cluster} done`;
    };

    const { engine, executionArn, result } = await run(
      definition,
      { deploy },
      {
        regions: [{ clusters: ['a1', 'a2'] }, { clusters: ['b1'] }, { clusters: ['c1', 'c2', 'c3'] }],
      },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(JSON.parse(result.output as string)).toEqual([
      ['a1 done', 'a2 done'],
      ['b1 done'],
      ['c1 done', 'c2 done', 'c3 done'],
    ]);
    const { mapRuns } = engine.listMapRuns(executionArn);
    expect(mapRuns).toHaveLength(3);
    const totals = mapRuns.map((r) => engine.describeMapRun(r.mapRunArn).itemCounts.total).sort();
    expect(totals).toEqual([1, 2, 3]);
  });
});

describe('the lint and registration', () => {
  const child = {
    StartAt: 'Deploy',
    States: { Deploy: { Type: 'Task', Resource: fnArn('deploy'), TimeoutSeconds: 5, End: true } },
  };

  it('accepts a Distributed Map over the state input, $$.Execution.Input in its child included', () => {
    const withInput = {
      StartAt: 'Deploy',
      States: {
        Deploy: { ...child.States.Deploy, Parameters: { 'item.$': '$$.Execution.Input' } },
      },
    };

    expect(lintDefinition(fanOut({ Label: 'Rollout', ToleratedFailureCount: 2, MaxConcurrency: 5 }))).toEqual(
      [],
    );
    expect(lintDefinition(fanOut({}, withInput))).toEqual([]);
  });

  it.each([
    [
      'ItemReader',
      { ItemReader: { Resource: 'arn:aws:states:::s3:getObject', Parameters: { Bucket: 'b', Key: 'k' } } },
    ],
    [
      'ResultWriter',
      {
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'b', Prefix: 'p' } },
      },
    ],
    ['ToleratedFailureCountPath', { ToleratedFailureCountPath: '$.tolerated' }],
  ])('refuses %s', async (field, map) => {
    expect(lintDefinition(fanOut(map)).map((v) => `${v.rule} ${v.path}`)).toEqual([
      'distributed-map States.Fan',
      `distributed-map States.Fan.${field}`,
    ]);
    engine = new WorkflowEngine();
    await expect(
      engine.registerStateMachine({
        name: 'dm',
        definition: JSON.stringify(fanOut(map)),
        handlers: { deploy: async () => 1 },
      }),
    ).rejects.toThrow(DefinitionError);
  });

  it('refuses EXPRESS child workflows', async () => {
    const express = fanOut({
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' }, ...child },
    });

    expect(lintDefinition(express).map((v) => v.message)).toEqual([
      expect.stringContaining('ProcessorConfig.ExecutionType "EXPRESS"'),
    ]);
    engine = new WorkflowEngine();
    await expect(
      engine.registerStateMachine({
        name: 'dm',
        definition: JSON.stringify(express),
        handlers: { deploy: async () => 1 },
      }),
    ).rejects.toThrow(/distributed-map at States\.Fan/);
  });

  it('still requires a handler for every Task of the child workflow', async () => {
    engine = new WorkflowEngine();
    await expect(
      engine.registerStateMachine({ name: 'dm', definition: JSON.stringify(fanOut()), handlers: {} }),
    ).rejects.toThrow(/Deploy: no handler for function deploy/);
  });
});

describe('authorizeChildStart', () => {
  it('is asked before the children start, and a refusal fails the Map state with States.Runtime', async () => {
    const asked: Array<[string, string]> = [];
    let calls = 0;
    const definition = fanOut({ Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }] });
    Object.assign(definition.States, { Caught: { Type: 'Succeed' } });
    const { engine, executionArn, stateMachineArn, result, types } = await run(
      definition,
      {
        deploy: async () => {
          calls++;
          return 'ok';
        },
      },
      { clusters: clusters(3) },
      {
        authorizeChildStart: (arn, role) => {
          asked.push([arn, role]);
          throw new Error('AccessDenied');
        },
      },
    );

    expect(asked).toEqual([[stateMachineArn, 'arn:aws:iam::000000000000:role/dm-role']]);
    expect(calls).toBe(0);
    // States.Runtime is not catchable: the Catch does not apply.
    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
      cause: expect.stringContaining(
        `is not authorized to perform: states:StartExecution on resource: ${stateMachineArn}`,
      ),
    });
    expect(types).toEqual([
      'ExecutionStarted',
      'MapStateEntered',
      'MapStateStarted',
      'MapRunStarted',
      'MapRunFailed',
      'MapStateFailed',
      'ExecutionFailed',
    ]);
    expect(await children(engine, executionArn)).toEqual([]);
  });
});
