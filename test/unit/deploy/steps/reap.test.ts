import { describe, expect, it } from 'vitest';
import {
  type ExecutionStatusChange,
  reapExecution,
  rollbackExecutionName,
} from '../../../../functions/lib/deploy/steps/index.js';
import {
  type DeployPlan,
  deployPlan,
  ecrEvent,
  executionArn,
  fakes,
  NOW,
  recordRunning,
  STATE_MACHINE,
  uniqueName,
  useStand,
} from './harness.js';

/** ReapExecution: whatever an execution left unfinished when it ended is finished, never silently. */

const stand = useStand();

function ended(
  name: string,
  status: string,
  input: unknown,
  over: { error?: string; cause?: string } = {},
): ExecutionStatusChange {
  return {
    detail: {
      executionArn: executionArn(name),
      stateMachineArn: STATE_MACHINE,
      name,
      status,
      input: JSON.stringify(input),
      error: over.error ?? null,
      cause: over.cause ?? null,
    },
  };
}

/** A deployment as its execution left it: lock held, plan stored, `touched` clusters marked. */
async function leftBehind(touched: string[]): Promise<DeployPlan> {
  const plan = await deployPlan();
  return recordRunning(stand, plan, touched, (c) => (c === plan.canary.cluster.name ? 'canary' : 'primary'));
}

const deploymentEnded = (plan: DeployPlan, status: string, over: { error?: string; cause?: string } = {}) =>
  ended(
    plan.deployment.id,
    status,
    ecrEvent(plan.deployment.repository, plan.deployment.tag, plan.deployment.digest),
    over,
  );

describe('reapExecution of a deployment', () => {
  it.each([
    ['ABORTED', 'ExecutionStoppedError'],
    ['TIMED_OUT', 'ExecutionStoppedError'],
    ['FAILED', 'ExecutionFailedError'],
  ])('rolls back a deployment %s after touching clusters, from its stored plan', async (status, error) => {
    // prepare: the configuration would no longer deploy this push; it must not be read
    const f = fakes(stand, {
      config: async () => {
        throw new Error('the policy was removed since: the reaper must not plan again');
      },
    });
    const plan = await leftBehind(['a', 'b']);

    // act
    const outcome = await reapExecution(f.deps, deploymentEnded(plan, status));

    // assess
    const name = rollbackExecutionName(plan.deployment.id);
    expect(outcome).toEqual({
      outcome: 'rollback-started',
      deploymentId: plan.deployment.id,
      executionArn: executionArn(name),
      clusters: ['a', 'b'],
    });
    expect(f.workflow.starts).toEqual([
      {
        stateMachineArn: STATE_MACHINE,
        name,
        input: {
          mode: 'rollback',
          plan,
          error: { Error: error, Cause: expect.stringContaining(`ended ${status}`) },
          from: executionArn(plan.deployment.id),
        },
        started: true,
      },
    ]);
    // the lock stays with the stopped execution until the rollback takes it over
    expect(await stand.record.lockHolder(plan.deployment.service)).toMatchObject({
      executionArn: executionArn(plan.deployment.id),
    });
  });

  it('starts the rollback once when the status event is delivered again', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await leftBehind(['a']);
    const event = deploymentEnded(plan, 'ABORTED');
    const first = await reapExecution(f.deps, event);

    // act
    const again = await reapExecution(f.deps, event);

    // assess
    expect(again).toEqual(first);
    expect(again.outcome).toBe('rollback-started');
    expect(f.workflow.starts.map((s) => s.started)).toEqual([true, false]);
  });

  it('alerts, naming the error and its cause, on an execution that failed before taking the lock', async () => {
    // prepare
    const f = fakes(stand);
    const name = uniqueName('early');
    const event = ended(name, 'FAILED', ecrEvent('shop-repo', 'v2.0.0', 'sha256:feed'), {
      error: 'ConfigError',
      cause: 'policies "a" and "b" both deploy shop-repo:v2.0.0',
    });

    // act
    const outcome = await reapExecution(f.deps, event);

    // assess
    expect(outcome).toMatchObject({ outcome: 'alerted', deploymentId: name });
    expect(f.notifier.delivered).toHaveLength(1);
    const alert = f.notifier.of('deployment-failed')[0];
    expect(alert).toMatchObject({ deploymentId: name, service: 'shop-repo', tag: 'v2.0.0' });
    expect(alert?.summary).toContain('ConfigError');
    expect(alert?.summary).toContain('policies "a" and "b" both deploy shop-repo:v2.0.0');
    expect(alert?.summary).toContain('nothing was changed');
  });

  it('does nothing for an execution stopped before it took the lock', async () => {
    // prepare
    const f = fakes(stand);

    // act
    const outcome = await reapExecution(
      f.deps,
      ended(uniqueName('queued'), 'ABORTED', ecrEvent('x-repo', 'v1', 'sha256:1')),
    );

    // assess
    expect(outcome.outcome).toBe('nothing-to-do');
    expect(f.notifier.delivered).toEqual([]);
    expect(f.workflow.starts).toEqual([]);
  });

  it('does nothing for a deployment that finished, and alerted, before its execution ended', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await leftBehind(['a']);
    await stand.record.finish(plan.deployment.id, 'succeeded');
    await f.notifier.publish({
      transition: 'succeeded',
      deploymentId: plan.deployment.id,
      service: plan.deployment.service,
      digest: plan.deployment.digest,
      tag: plan.deployment.tag,
      summary: 'web runs it everywhere',
    });
    await stand.record.releaseLock(plan.deployment.service, executionArn(plan.deployment.id));

    // act
    const outcome = await reapExecution(f.deps, deploymentEnded(plan, 'FAILED'));

    // assess
    expect(outcome.outcome).toBe('nothing-to-do');
    expect(f.workflow.starts).toEqual([]);
    expect(f.notifier.delivered.map((n) => n.summary)).toEqual(['web runs it everywhere']);
    expect(await stand.record.phase(plan.deployment.id)).toBe('succeeded');
  });

  it('sends the conclusion’s alert that a failure after the record was finished left unsent', async () => {
    // prepare: Complete finished the record, then failed before its alert went out
    const f = fakes(stand);
    const plan = await leftBehind(['a']);
    await stand.record.finish(plan.deployment.id, 'succeeded');
    await stand.record.releaseLock(plan.deployment.service, executionArn(plan.deployment.id));

    // act
    const outcome = await reapExecution(f.deps, deploymentEnded(plan, 'FAILED'));

    // assess
    expect(outcome).toMatchObject({ outcome: 'alerted', deploymentId: plan.deployment.id });
    expect(f.notifier.of('succeeded').map((n) => n.summary)).toEqual([
      expect.stringMatching(/is recorded as succeeded; its execution ended FAILED/),
    ]);
    expect(f.workflow.starts).toEqual([]);
  });

  it('releases the lock a finished deployment still holds', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await leftBehind(['a']);
    await stand.record.finish(plan.deployment.id, 'rolled-back');

    // act
    const outcome = await reapExecution(f.deps, deploymentEnded(plan, 'FAILED'));

    // assess
    expect(outcome).toEqual({ outcome: 'lock-released', deploymentId: plan.deployment.id });
    expect(await stand.record.lockHolder(plan.deployment.service)).toBeUndefined();
    expect(f.workflow.starts).toEqual([]);
  });
});

describe('reapExecution of a rollback', () => {
  it('alerts that the rollback failed, naming the clusters, and keeps their snapshots', async () => {
    // prepare: the rollback took the lock over, raised the fence, then failed outside its catch paths
    const f = fakes(stand);
    const plan = await leftBehind(['a', 'b']);
    const d = plan.deployment;
    const name = rollbackExecutionName(d.id);
    await stand.record.takeOverLock(d.service, executionArn(d.id), {
      deploymentId: d.id,
      executionArn: executionArn(name),
      digest: d.digest,
      acquiredAt: NOW.toISOString(),
      mode: 'rollback',
    });
    await stand.record.beginRollback(d.id);
    const input = {
      mode: 'rollback',
      plan,
      error: { Error: 'ExecutionStoppedError' },
      from: executionArn(d.id),
    };

    // act
    const outcome = await reapExecution(
      f.deps,
      ended(name, 'FAILED', input, { error: 'States.Runtime', cause: 'boom' }),
    );

    // assess
    expect(outcome).toMatchObject({ outcome: 'alerted', deploymentId: d.id });
    const alert = f.notifier.of('rollback-failed')[0];
    expect(alert?.summary).toContain('a, b');
    expect(alert?.summary).toContain('States.Runtime');
    expect(alert?.details).toEqual({ clusters: ['a', 'b'] });
    expect(await stand.record.phase(d.id)).toBe('failed');
    for (const cluster of ['a', 'b']) {
      const snap = await stand.rawItem(`DEPLOYMENT#${d.id}`, `SNAPSHOT#${cluster}`);
      expect(snap).toBeDefined();
      expect(snap?.expiresAt).toBeUndefined();
    }
    expect((await stand.rawItem(`DEPLOYMENT#${d.id}`, 'PLAN'))?.expiresAt).toBeDefined();
    expect(await stand.record.lockHolder(d.service)).toBeUndefined();
    expect(f.workflow.starts).toEqual([]);
  });

  it('does nothing for a rollback that concluded before its execution ended', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await leftBehind(['a']);
    await stand.record.finish(plan.deployment.id, 'rolled-back');
    const input = { mode: 'rollback', plan, error: { Error: 'ExecutionStoppedError' }, from: 'x' };

    // act
    const outcome = await reapExecution(
      f.deps,
      ended(rollbackExecutionName(plan.deployment.id), 'FAILED', input),
    );

    // assess
    expect(outcome.outcome).toBe('nothing-to-do');
    expect(f.notifier.delivered).toEqual([]);
  });
});
