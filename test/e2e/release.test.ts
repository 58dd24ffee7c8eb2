import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushedImage } from '../../local/fleet/demo-image.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import { promQuery } from '../integration/support/fleet.js';
import { alerts, baseline, clusterImages, finished, functionOf, release, startRuntime } from './support.js';

describe('a release through the whole workflow', () => {
  let rt: LocalRuntime;
  let base: PushedImage;

  beforeAll(async () => {
    rt = await startRuntime();
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('canaries, judges and promotes a good release to all 3 clusters, then removes the canary', async () => {
    // Prepare
    base = await baseline(rt);
    // Act
    const good = await release(rt, { tag: 'v1.1.0' });
    const [execution] = await finished(rt, good.digest);
    // Assess
    expect(execution?.status, `${execution?.error}: ${execution?.cause}`).toBe('SUCCEEDED');
    const output = JSON.parse(execution?.output ?? '{}');
    expect(output).toMatchObject({
      outcome: 'succeeded',
      digest: good.digest,
      deployed: ['c1', 'c2', 'c3'],
      failed: [],
      deployment: { service: 'web', tag: 'v1.1.0', image: good.digestReference },
    });
    expect(output.before.map((b: { cluster: string; digest: string }) => [b.cluster, b.digest])).toEqual([
      ['c1', base.digest],
      ['c2', base.digest],
      ['c3', base.digest],
    ]);
    expect(output.analysis).toMatch(
      /^analysis Successful after \d+ round\(s\): success-rate = [\d.]+ met condition "result >= 0.9"/,
    );
    expect(await clusterImages(rt)).toEqual({
      c1: { image: good.digestReference, canary: false },
      c2: { image: good.digestReference, canary: false },
      c3: { image: good.digestReference, canary: false },
    });
    expect(alerts(rt, good.digest).map((a) => a.transition)).toEqual([
      'started',
      'canary-ready',
      'wave-promoted',
      'wave-promoted',
      'succeeded',
    ]);
  });

  it('rolls back a release whose canary fails analysis, naming the metric and its value', async () => {
    // Prepare
    const before = await clusterImages(rt);
    // Act: a release whose every request fails 40% of the time
    const bad = await release(rt, { tag: 'v1.2.0', errorRate: 0.4 });
    const [execution] = await finished(rt, bad.digest);
    // Assess
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('AnalysisFailedError');
    expect(JSON.parse(execution?.cause ?? '{}').errorMessage).toMatch(
      /^analysis Failed on c1: success-rate = 0\.[0-8]\d* failed condition "result >= 0\.9"/,
    );
    expect(await clusterImages(rt)).toEqual(before); // every cluster keeps or gets back its digest, no canary left
    const sent = alerts(rt, bad.digest);
    expect(sent.map((a) => a.transition)).toEqual([
      'started',
      'canary-ready',
      'analysis-failed',
      'rolled-back',
    ]);
    const rolledBack = sent.find((a) => a.transition === 'rolled-back');
    expect(rolledBack?.summary).toMatch(
      /rolled back on c1: AnalysisFailedError: analysis Failed on c1: success-rate = 0\.\d+ failed condition/,
    );
    expect(rolledBack?.attributes).toMatchObject({
      transition: { DataType: 'String', StringValue: 'rolled-back' },
      severity: { StringValue: 'warning' },
      service: { StringValue: 'web' },
    });
  });

  it('records a tag outside the policy as ignored and changes nothing', async () => {
    const before = await clusterImages(rt);
    const other = await release(rt, { tag: 'nightly-7' });
    const [execution] = await finished(rt, other.digest);
    expect(execution?.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution?.output ?? '{}').plan).toEqual({
      outcome: 'ignored',
      reason: 'no service policy deploys demo:nightly-7',
    });
    expect(await clusterImages(rt)).toEqual(before);
    expect(alerts(rt, other.digest)).toEqual([]);
  });

  it("emits the deployer's own metrics for the good and the bad release, and the fleet's Prometheus scrapes them", async () => {
    // Prepare: the two tests above deployed a good release and rolled back a bad one
    const emf = (handler: string) =>
      functionOf(rt, handler)
        .logs.filter((l) => l.includes('"_aws"'))
        .map(
          (l) =>
            JSON.parse(l) as Record<string, unknown> & {
              _aws: { CloudWatchMetrics: Array<{ Namespace: string }> };
            },
        );
    // Act: CloudWatch would read these EMF records from the functions' logs
    const completed = emf('complete').filter((r) => r.DeploymentsSucceeded !== undefined);
    const rolledBack = emf('conclude-rollback').filter((r) => r.DeploymentsRolledBack !== undefined);
    // Assess: one record each, in the deployer's namespace, by service, with the time it took
    expect(completed).toEqual([expect.objectContaining({ service: 'web', DeploymentsSucceeded: 1 })]);
    expect(completed[0]?._aws.CloudWatchMetrics[0]?.Namespace).toBe('SwarmDeployer');
    expect(rolledBack).toEqual([expect.objectContaining({ service: 'web', DeploymentsRolledBack: 1 })]);
    // How long each took, in records of their own
    expect(emf('complete').some((r) => r.service === 'web' && typeof r.TimeToDeploy === 'number')).toBe(true);
    expect(
      emf('conclude-rollback').some((r) => r.service === 'web' && typeof r.TimeToRollBack === 'number'),
    ).toBe(true);
    expect(emf('analyze').some((r) => r.AnalysisVerdicts !== undefined && r.verdict === 'Failed')).toBe(true);
    // …and locally the same numbers are in the fleet's Prometheus (job swarm-deployer, every 5 s)
    const prometheus = rt.fleet.clusters[0]?.prometheusUrl as string;
    const deadline = Date.now() + 30_000;
    let seen = { succeeded: 0, rolledBack: 0 };
    while (Date.now() < deadline) {
      const [succeeded] = await promQuery(
        prometheus,
        'sum(swarm_deployer_deployments_succeeded_total{service="web"})',
      );
      const [rolled] = await promQuery(
        prometheus,
        'sum(swarm_deployer_deployments_rolled_back_total{service="web"})',
      );
      seen = { succeeded: succeeded?.value ?? 0, rolledBack: rolled?.value ?? 0 };
      if (seen.succeeded >= 1 && seen.rolledBack >= 1) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(seen).toEqual({ succeeded: 1, rolledBack: 1 });
    const [latency] = await promQuery(prometheus, 'count(swarm_deployer_step_latency_seconds_count)');
    expect(latency?.value).toBeGreaterThan(5);
  });
});
