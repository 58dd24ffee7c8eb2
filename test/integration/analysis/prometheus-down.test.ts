/**
 * Cluster c2's Prometheus stopped in the middle of an analysis: the rounds are Error (could not
 * measure), they do not count as measurements, and past consecutiveErrorLimit the analysis ends in
 * Error, which the workflow rolls back on. Prometheus is always restarted, so the shared fleet stays
 * healthy for the other suites.
 *
 * The outage is kept to a few seconds (1 s rounds while it lasts): while a Prometheus is down the
 * fleet reports itself unhealthy, and another run's global setup (`up`) would rebuild the whole
 * shared fleet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRecord, parseAnalysisPolicy } from '../../../functions/lib/analysis/index.js';
import type { PushedImage } from '../../../local/fleet/demo-image.js';
import {
  type ClusterStatus,
  type FleetStatus,
  startClusterPrometheus,
  status,
  stopClusterPrometheus,
} from '../../../local/fleet/fleet.js';
import {
  createDemoService,
  dockerFor,
  fleet,
  pushDemo,
  registryAuth,
  removeServiceQuietly,
  waitForRunning,
} from '../support/fleet.js';
import { clusterNamed, LiveAnalysis, queryFor, runId, waitForScrapes } from './live.js';

const SERVICE = `${runId()}-down`;
const CANARY = `${SERVICE}-canary`;

describe('canary analysis while the cluster Prometheus is down (cluster c2)', () => {
  let f: FleetStatus;
  let c2: ClusterStatus;
  let image: PushedImage;
  let stopped = false;

  const restartPrometheus = async () => {
    if (!stopped) return;
    stopped = false;
    // Someone else's `up` may have rebuilt the fleet meanwhile: never start a second Prometheus.
    const answers = await fetch(`${c2.prometheusUrl}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (res) => res.ok,
      () => false,
    );
    if (!answers) await startClusterPrometheus('c2');
  };

  beforeAll(async () => {
    f = await fleet();
    c2 = clusterNamed(f, 'c2');
    image = await pushDemo(f, {});
    const docker = dockerFor(c2);
    await createDemoService(docker, { name: CANARY, image: image.digestReference, auth: registryAuth(f) });
    await waitForRunning(docker, CANARY, 2);
    await waitForScrapes(c2, [{ name: CANARY, replicas: 2 }]);
  });

  afterAll(async () => {
    await restartPrometheus();
    if (c2) await removeServiceQuietly(dockerFor(c2), CANARY);
  });

  it('records Error rounds that do not count, and ends in Error past consecutiveErrorLimit', async () => {
    // Prepare: one healthy measurement with Prometheus up
    const policy = parseAnalysisPolicy({
      metrics: [
        { template: 'success-rate', interval: '1s', window: '30s', count: 5, consecutiveErrorLimit: 2 },
      ],
    });
    const vars = { service: SERVICE, cluster: 'c2', digest: image.digest, tag: image.tag };
    const analysis = new LiveAnalysis(policy.metrics, vars, queryFor(c2));
    const first = await analysis.round();
    expect(first.measurements[0]?.phase).toBe('Successful');
    // Act: Prometheus goes away before the next Analyze
    await stopClusterPrometheus('c2');
    stopped = true;
    let final: Awaited<ReturnType<LiveAnalysis['untilDone']>>;
    try {
      await new Promise((resolve) => setTimeout(resolve, first.waitSeconds * 1000)); // the Wait state
      final = await analysis.untilDone();
    } finally {
      await restartPrometheus();
    }
    const service = await dockerFor(c2)
      .getService(CANARY)
      .inspect()
      .catch(() => undefined);
    if (!service) throw new Error(`the shared fleet was rebuilt during the test (${CANARY} is gone)`);
    // Assess: 3 Error rounds (limit 2), and the one good measurement is all that counted
    expect(analysis.phases).toEqual(['Running', 'Running', 'Running', 'Error']);
    const phases = analysis.measurementsOf('success-rate').map((m) => m.phase);
    expect(phases).toEqual(['Successful', 'Error', 'Error', 'Error']);
    expect(final.state.metrics['success-rate']).toMatchObject({
      phase: 'Error',
      measured: 1,
      successful: 1,
      error: 3,
      consecutiveErrors: 3,
    });
    for (const m of analysis.measurementsOf('success-rate').slice(1)) {
      expect(m.error?.name).toBe('PrometheusUnavailableError');
      expect(m.error?.message).toMatch(
        /^Prometheus at http:\/\/10\.231\.2\.2:9090 is unavailable \(ECONNREFUSED/,
      );
      expect(m.value).toBeUndefined();
    }
    expect(final.decisive?.sentence).toMatch(
      /^success-rate could not be measured: PrometheusUnavailableError: Prometheus at http:\/\/10\.231\.2\.2:9090 is unavailable \(ECONNREFUSED: .*\) \(3 consecutive errors, limit 2\)$/,
    );
    expect(final.summary).toMatch(/^analysis Error after 4 round\(s\): success-rate could not be measured/);
    // A decided analysis is final: another Analyze (a retried Lambda) returns it unchanged, unqueried.
    const again = await analysis.round();
    expect(again).toMatchObject({ phase: 'Error', done: true, measurements: [] });
    console.info(`[prometheus down] ${describeRecord(analysis.record).join('\n  ')}`);
  });

  it('measures again once Prometheus is back, with the canary series kept', async () => {
    // Prepare: Prometheus restarted with its data by the previous test
    const policy = parseAnalysisPolicy({
      metrics: [
        {
          template: 'success-rate',
          interval: '5s',
          window: '30s',
          count: 1,
          failureLimit: 0,
          inconclusiveLimit: 0,
        },
      ],
    });
    const vars = { service: SERVICE, cluster: 'c2', digest: image.digest, tag: image.tag };
    // Act
    const analysis = new LiveAnalysis(policy.metrics, vars, queryFor(c2));
    const final = await analysis.untilDone();
    // Assess
    expect(final.phase).toBe('Successful');
    expect(final.measurements[0]?.value).toBe(1);
    const c2Now = (await status()).clusters.find((c) => c.name === 'c2');
    expect(c2Now?.healthy).toBe(true);
  });
});
