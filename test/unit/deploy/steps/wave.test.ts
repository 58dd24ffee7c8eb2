import { describe, expect, it } from 'vitest';
import { WaveFailedError } from '../../../../functions/lib/deploy/errors.js';
import { completeStep, judgeWaveStep } from '../../../../functions/lib/deploy/steps/index.js';
import type { ClusterResult } from '../../../../functions/lib/deploy/steps/wave.js';
import {
  caught,
  type DeployPlan,
  deployPlan,
  executionArn,
  type Fakes,
  fakes,
  recordRunning,
  useStand,
} from './harness.js';

/** JudgeWave and Complete: a wave's failure budget, and how a deployment ends. */

const stand = useStand();

const unconverged = (cluster: string): ClusterResult => ({
  cluster,
  ok: false,
  error: 'ProgressDeadlineError',
  cause: JSON.stringify({
    errorType: 'ProgressDeadlineError',
    errorMessage: `web on ${cluster} did not converge within 300 s`,
  }),
});
const unreachable = (cluster: string): ClusterResult => ({
  cluster,
  ok: false,
  error: 'ClusterUnreachableError',
  cause: JSON.stringify({ errorMessage: `cluster ${cluster} has been unreachable for 300 s` }),
});

/** A deployment in one wave "eu" over a, b, c, d (budget `maxFailures`), lock held, `touched` marked. */
async function inWave(maxFailures: number, touched: string[]): Promise<DeployPlan> {
  const clusters = ['a', 'b', 'c', 'd'];
  return recordRunning(
    stand,
    await deployPlan({ clusters, waves: [{ name: 'eu', clusters, maxFailures }] }),
    touched,
  );
}

const judge = (f: Fakes, plan: DeployPlan, results: ClusterResult[]) => {
  const wave = plan.waves[0];
  if (!wave) throw new Error('no wave');
  return judgeWaveStep(f.deps, { deployment: plan.deployment, wave, clusters: wave.clusters, results });
};

describe('judgeWaveStep', () => {
  it('fails the deployment when more clusters failed than the wave allows, naming them and why', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await inWave(1, ['a', 'b', 'c', 'd']);

    // act
    const error = await caught(() =>
      judge(f, plan, [
        { cluster: 'a', ok: true },
        unconverged('b'),
        unreachable('c'),
        { cluster: 'd', ok: true },
      ]),
    );

    // assess
    expect(error).toBeInstanceOf(WaveFailedError);
    expect(error.message).toContain('wave eu: 2 cluster(s) failed (budget 1)');
    expect(error.message).toContain('b: ProgressDeadlineError: web on b did not converge within 300 s');
    expect(error.message).toContain('c: ClusterUnreachableError: cluster c has been unreachable for 300 s');
    expect(f.notifier.of('wave-promoted')).toEqual([]);
  });

  it('within the budget, hands back for restore only the failed clusters that were touched', async () => {
    // prepare: c failed before its change (never touched), b failed after it
    const f = fakes(stand);
    const plan = await inWave(2, ['a', 'b', 'd']);

    // act
    const out = await judge(f, plan, [
      { cluster: 'a', ok: true },
      unconverged('b'),
      unreachable('c'),
      { cluster: 'd', ok: true },
    ]);

    // assess
    expect(out.promoted).toEqual(['a', 'd']);
    expect(out.restore.map((c) => c.name)).toEqual(['b']);
    expect(out.restore[0]).toMatchObject({ name: 'b', target: 'mi-b' });
    expect(out.failed).toEqual([
      { cluster: 'b', error: 'ProgressDeadlineError', cause: 'web on b did not converge within 300 s' },
      { cluster: 'c', error: 'ClusterUnreachableError', cause: 'cluster c has been unreachable for 300 s' },
    ]);
    const told = f.notifier.of('wave-promoted');
    expect(told).toHaveLength(1);
    expect(told[0]?.summary).toContain('on a, d');
    expect(told[0]?.summary).toContain('being restored');
  });
});

describe('completeStep', () => {
  it('succeeds naming the cluster that failed within the budget and was restored, and frees the lock', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await inWave(1, ['a', 'b', 'c', 'd']);
    const judged = await judge(f, plan, [
      { cluster: 'a', ok: true },
      unconverged('b'),
      { cluster: 'c', ok: true },
      { cluster: 'd', ok: true },
    ]);
    const wave = { ...judged, restored: [{ cluster: 'b', ok: true }] };

    // act
    const out = await completeStep(f.deps, {
      deployment: plan.deployment,
      executionArn: executionArn(plan.deployment.id),
      waves: [wave],
    });

    // assess
    expect(out.outcome).toBe('succeeded');
    expect(out.deployed).toEqual(['a', 'c', 'd']);
    expect(out.failed).toEqual([
      {
        cluster: 'b',
        reason: 'ProgressDeadlineError: web on b did not converge within 300 s',
        restored: true,
      },
    ]);
    const told = f.notifier.of('succeeded');
    expect(told).toHaveLength(1);
    expect(told[0]?.summary).toContain('on a, c, d');
    expect(told[0]?.summary).toContain(
      'restored: b (ProgressDeadlineError: web on b did not converge within 300 s)',
    );
    expect(told[0]?.details).toMatchObject({ restored: ['b'], notRestored: [] });
    expect(await stand.record.phase(plan.deployment.id)).toBe('succeeded');
    expect(await stand.record.lockHolder(plan.deployment.service)).toBeUndefined();
  });

  it('ends partially deployed when a failed cluster could not be restored, keeping its snapshot', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await inWave(1, ['a', 'b', 'c', 'd']);
    const judged = await judge(f, plan, [
      { cluster: 'a', ok: true },
      { cluster: 'b', ok: true },
      unconverged('c'),
      { cluster: 'd', ok: true },
    ]);
    const wave = { ...judged, restored: [unreachable('c')] };

    // act
    const out = await completeStep(f.deps, {
      deployment: plan.deployment,
      executionArn: executionArn(plan.deployment.id),
      waves: [wave],
    });

    // assess
    const d = plan.deployment;
    expect(out.outcome).toBe('partially-deployed');
    expect(out.failed).toEqual([expect.objectContaining({ cluster: 'c', restored: false })]);
    expect(f.notifier.of('succeeded')).toEqual([]);
    const told = f.notifier.of('partially-deployed');
    expect(told).toHaveLength(1);
    expect(told[0]?.summary).toContain(
      'NOT RESTORED, state unverified: c (ClusterUnreachableError: cluster c has been unreachable for 300 s)',
    );
    expect(told[0]?.details).toMatchObject({ deployed: ['a', 'b', 'd'], notRestored: ['c'] });
    expect(await stand.record.phase(d.id)).toBe('failed');
    const kept = await stand.rawItem(`DEPLOYMENT#${d.id}`, 'SNAPSHOT#c');
    expect(kept).toBeDefined();
    expect(kept?.expiresAt).toBeUndefined();
    expect((await stand.rawItem(`DEPLOYMENT#${d.id}`, 'SNAPSHOT#a'))?.expiresAt).toBeDefined();
    expect(await stand.record.lockHolder(d.service)).toBeUndefined();
  });

  it('says which clusters failed before any change and were left as they were', async () => {
    // prepare
    const f = fakes(stand);
    const plan = await inWave(1, ['a', 'b', 'd']);
    const judged = await judge(f, plan, [
      { cluster: 'a', ok: true },
      { cluster: 'b', ok: true },
      unreachable('c'),
      { cluster: 'd', ok: true },
    ]);

    // act: nothing to restore, the workflow leaves `restored` null
    const out = await completeStep(f.deps, {
      deployment: plan.deployment,
      executionArn: executionArn(plan.deployment.id),
      waves: [judged],
    });

    // assess
    expect(judged.restore).toEqual([]);
    expect(out.outcome).toBe('succeeded');
    expect(out.failed).toEqual([expect.objectContaining({ cluster: 'c', restored: 'untouched' })]);
    expect(f.notifier.of('succeeded')[0]?.summary).toContain(
      'failed before any change, left as they were: c',
    );
  });
});
