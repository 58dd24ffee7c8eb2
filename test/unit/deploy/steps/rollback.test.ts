import { describe, expect, it } from 'vitest';
import {
  ChangeInFlightError,
  DeploymentAbortedError,
  RecordError,
  RollbackFailedError,
} from '../../../../functions/lib/deploy/errors.js';
import {
  concludeRollbackStep,
  listTouchedStep,
  rollbackStep,
} from '../../../../functions/lib/deploy/steps/index.js';
import {
  caught,
  type DeployPlan,
  deployPlan,
  executionArn,
  fakes,
  later,
  NOW,
  nextPlan,
  recordRunning,
  snapshotOf,
  useStand,
} from './harness.js';

/** ListTouched, RollbackCluster and ConcludeRollback: what a failed deployment puts back. */

const stand = useStand();

/** A running deployment holding its lock, with `touched` clusters marked (lease already ended). */
async function running(touched: string[] = []): Promise<DeployPlan> {
  return recordRunning(stand, await deployPlan({ clusters: ['a', 'b', 'c', 'd'] }), touched);
}

describe('listTouchedStep', () => {
  it('returns the touched clusters of the plan and fences off any further change', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await running(['a', 'c']);

    // act
    const clusters = await listTouchedStep(f.deps, { deployment: plan.deployment, clusters: plan.clusters });

    // assess
    expect(clusters).toEqual(plan.clusters.filter((c) => ['a', 'c'].includes(c.name)));
    expect(clusters[0]).toMatchObject({ name: 'a', target: 'mi-a', region: 'eu-west-1' });
    const error = await caught(() => stand.record.markTouched(plan.deployment.id, 'b', 'primary', later(60)));
    expect(error).toBeInstanceOf(DeploymentAbortedError);
    expect(error.message).toContain('rolling back');
    expect(await stand.record.phase(plan.deployment.id)).toBe('rolling-back');
  });

  it('returns nothing when nothing was touched', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await running();

    // act
    const clusters = await listTouchedStep(f.deps, { deployment: plan.deployment, clusters: plan.clusters });

    // assess
    expect(clusters).toEqual([]);
  });
});

describe('rollbackStep', () => {
  it('waits while a change of the deployment may still land on the cluster', async () => {
    // prepare: the promote of "b" is in flight until its invocation's deadline
    const f = fakes(stand);
    const plan = await running(['a']);
    await stand.record.saveSnapshot(plan.deployment.id, snapshotOf(plan, 'b'));
    await stand.record.markTouched(plan.deployment.id, 'b', 'primary', later(600));
    const cluster = plan.clusters.find((c) => c.name === 'b');
    if (!cluster) throw new Error('no cluster b');

    // act
    const error = await caught(() =>
      rollbackStep(f.deps, { deployment: plan.deployment, cluster, progressDeadlineSeconds: 300 }),
    );

    // assess: retryable, and no engine was reached (connect refuses)
    expect(error).toBeInstanceOf(ChangeInFlightError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`on b may still land until ${later(600)}`);
  });

  it('refuses to restore a cluster whose snapshot was never recorded, before reaching it', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await running();
    await stand.record.markTouched(plan.deployment.id, 'c', 'primary', later(-1)); // lease run out
    const cluster = plan.clusters.find((c) => c.name === 'c');
    if (!cluster) throw new Error('no cluster c');

    // act
    const error = await caught(() =>
      rollbackStep(f.deps, { deployment: plan.deployment, cluster, progressDeadlineSeconds: 300 }),
    );

    // assess
    expect(error).toBeInstanceOf(RecordError);
    expect(error.message).toContain(`no snapshot of ${plan.deployment.service} on c`);
  });
});

describe('concludeRollbackStep', () => {
  const failure = {
    Error: 'AnalysisFailedError',
    Cause: JSON.stringify({ errorType: 'AnalysisFailedError', errorMessage: 'error rate 12% over 5%' }),
  };

  it('finishes the deployment as rolled back, tells people why, and releases its lock', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await running(['a', 'b']);
    const d = plan.deployment;

    // act
    const out = await concludeRollbackStep(f.deps, {
      deployment: d,
      executionArn: executionArn(d.id),
      error: failure,
      results: [
        { cluster: 'a', ok: true },
        { cluster: 'b', ok: true },
      ],
    });

    // assess
    expect(out).toEqual({
      outcome: 'rolled-back',
      restored: ['a', 'b'],
      reason: 'AnalysisFailedError: error rate 12% over 5%',
    });
    expect(await stand.record.phase(d.id)).toBe('rolled-back');
    expect(await stand.record.lockHolder(d.service)).toBeUndefined();
    const told = f.notifier.of('rolled-back');
    expect(told).toHaveLength(1);
    expect(told[0]?.summary).toContain('rolled back on a, b');
    expect(told[0]?.summary).toContain('AnalysisFailedError: error rate 12% over 5%');
    for (const cluster of ['a', 'b'])
      expect((await stand.rawItem(`DEPLOYMENT#${d.id}`, `SNAPSHOT#${cluster}`))?.expiresAt).toBeDefined();
  });

  it('fails loudly naming the cluster it could not restore, keeping its snapshot', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await running(['a', 'b']);
    const d = plan.deployment;

    // act
    const error = await caught(() =>
      concludeRollbackStep(f.deps, {
        deployment: d,
        executionArn: executionArn(d.id),
        error: failure,
        results: [
          { cluster: 'a', ok: true },
          {
            cluster: 'b',
            ok: false,
            error: 'ClusterUnreachableError',
            cause: JSON.stringify({ errorMessage: 'cluster b (mi-b) has been unreachable for 300 s' }),
          },
        ],
      }),
    );

    // assess
    expect(error).toBeInstanceOf(RollbackFailedError);
    expect(error.message).toContain(
      'b: ClusterUnreachableError: cluster b (mi-b) has been unreachable for 300 s',
    );
    expect(await stand.record.phase(d.id)).toBe('failed');
    const told = f.notifier.of('rollback-failed');
    expect(told).toHaveLength(1);
    expect(told[0]?.summary).toContain('ROLLBACK FAILED');
    expect(told[0]?.summary).toContain('on b after AnalysisFailedError');
    expect(told[0]?.summary).toContain('restored: a');
    expect(f.notifier.of('rolled-back')).toEqual([]);
    expect((await stand.rawItem(`DEPLOYMENT#${d.id}`, 'SNAPSHOT#b'))?.expiresAt).toBeUndefined();
    expect((await stand.rawItem(`DEPLOYMENT#${d.id}`, 'SNAPSHOT#a'))?.expiresAt).toBeDefined();
    expect(await stand.record.lockHolder(d.service)).toBeUndefined();
  });

  it('leaves alone a lock that another execution holds', async () => {
    // prepare: the deployment's lock was taken over after it ended
    const f = fakes(stand);
    const plan = await running(['a']);
    const d = plan.deployment;
    const next = await nextPlan(plan);
    await stand.record.takeOverLock(d.service, executionArn(d.id), {
      deploymentId: next.deployment.id,
      executionArn: executionArn(next.deployment.id),
      digest: next.deployment.digest,
      acquiredAt: NOW.toISOString(),
    });

    // act
    await concludeRollbackStep(f.deps, {
      deployment: d,
      executionArn: executionArn(d.id),
      error: { Error: 'ExecutionStoppedError', Cause: 'stopped by an operator' },
      results: [{ cluster: 'a', ok: true }],
    });

    // assess
    expect(await stand.record.lockHolder(d.service)).toMatchObject({
      executionArn: executionArn(next.deployment.id),
    });
    expect(f.notifier.of('rolled-back')[0]?.summary).toContain(
      'ExecutionStoppedError: stopped by an operator',
    );
  });
});
