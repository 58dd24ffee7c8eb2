/**
 * The ready-made templates against cluster c3's real series: latency-p99 on a canary with
 * LATENCY_MS=300 beside a fast primary, restarts on a canary one of whose tasks is killed, and on a
 * canary that crashes at start (CRASH=1).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  type AnalysisVars,
  describeRecord,
  parseAnalysisPolicy,
} from '../../../functions/lib/analysis/index.js';
import type { PushedImage } from '../../../local/fleet/demo-image.js';
import type { ClusterStatus, FleetStatus } from '../../../local/fleet/fleet.js';
import {
  createDemoService,
  dockerFor,
  fleet,
  promQuery,
  pushDemo,
  registryAuth,
  removeServiceQuietly,
  waitForRunning,
} from '../support/fleet.js';
import { clusterNamed, killOneTask, LiveAnalysis, num, queryFor, runId, waitForScrapes } from './live.js';

const RUN = runId();
const LATENCY = `${RUN}-lat`;
const KILLED = `${RUN}-kill`;
const CRASHING = `${RUN}-crash`;
const FAST = { interval: '5s', window: '30s' } as const;

describe.concurrent('ready-made templates on real series (cluster c3)', () => {
  let f: FleetStatus;
  let c3: ClusterStatus;
  let image: PushedImage;
  const running = [
    { name: LATENCY, replicas: 2, env: [] as string[] },
    { name: `${LATENCY}-canary`, replicas: 2, env: ['LATENCY_MS=300'] },
    { name: `${KILLED}-canary`, replicas: 2, env: [] as string[] },
  ];
  const crashing = { name: `${CRASHING}-canary`, replicas: 2, env: ['CRASH=1'] };
  const vars = (service: string, canaryService?: string): AnalysisVars => ({
    service,
    ...(canaryService ? { canaryService } : {}),
    cluster: 'c3',
    digest: image.digest,
    tag: image.tag,
  });

  beforeAll(async () => {
    f = await fleet();
    c3 = clusterNamed(f, 'c3');
    image = await pushDemo(f, {});
    const docker = dockerFor(c3);
    const auth = registryAuth(f);
    await Promise.all(
      [...running, crashing].map((s) =>
        createDemoService(docker, { ...s, image: image.digestReference, auth }),
      ),
    );
    await Promise.all(running.map((s) => waitForRunning(docker, s.name, s.replicas)));
    await waitForScrapes(c3, running, 6);
  });

  afterAll(async () => {
    if (!c3) return;
    const docker = dockerFor(c3);
    await Promise.all([...running, crashing].map((s) => removeServiceQuietly(docker, s.name)));
  });

  it('latency-p99: the slow canary sits in its histogram bucket, the primary at a few ms, and the ratio fails the canary', async ({
    expect,
  }) => {
    // Prepare: an absolute limit below 300 ms, the primary on its own, and a baseline ratio with a loose absolute limit
    const tight = parseAnalysisPolicy({
      metrics: [{ template: 'latency-p99', params: { maxSeconds: 0.25 }, ...FAST, count: 3 }],
    });
    const loose = parseAnalysisPolicy({
      metrics: [
        { template: 'latency-p99', params: { maxSeconds: 1, baselineMaxRatio: 1.5 }, ...FAST, count: 3 },
      ],
    });
    const query = queryFor(c3);
    const analyses = {
      canary: new LiveAnalysis(tight.metrics, vars(LATENCY), query),
      primary: new LiveAnalysis(tight.metrics, vars(LATENCY, LATENCY), query),
      ratio: new LiveAnalysis(loose.metrics, vars(LATENCY), query),
    };
    // Act
    await Promise.all(Object.values(analyses).map((a) => a.untilDone()));
    // Assess: 300 ms requests all land in the (0.25, 0.5] bucket, so p99 interpolates to just under 0.5
    expect(analyses.canary.phases).toEqual(['Running', 'Failed']);
    for (const m of analyses.canary.measurementsOf('latency-p99')) {
      expect(m).toMatchObject({ phase: 'Failed', condition: 'result <= 0.25' });
      expect(num(m.value)).toBeGreaterThan(0.25);
      expect(num(m.value)).toBeLessThanOrEqual(0.5);
      expect(num(m.traffic)).toBeGreaterThan(1);
    }
    expect(analyses.primary.phases).toEqual(['Running', 'Running', 'Successful']);
    for (const m of analyses.primary.measurementsOf('latency-p99')) {
      expect(m.phase).toBe('Successful');
      expect(num(m.value)).toBeGreaterThan(0);
      expect(num(m.value)).toBeLessThan(0.1);
    }
    // The loose absolute limit (1 s) passes the canary; the baseline (at most 1.5x the primary) does not.
    expect(analyses.ratio.phases).toEqual(['Running', 'Failed']);
    for (const m of analyses.ratio.measurementsOf('latency-p99')) {
      expect(m).toMatchObject({ phase: 'Failed', condition: 'result <= 1.5 or canary <= 0.05' });
      expect(num(m.value)).toBeLessThanOrEqual(1);
      expect(num(m.compared)).toBeGreaterThan(3);
    }
    for (const [name, a] of Object.entries(analyses))
      console.info(`[latency ${name}] ${describeRecord(a.record).join('\n  ')}`);
  });

  it('restarts: a killed task is one restart, and fails the canary', async ({ expect }) => {
    // Prepare: one good round on the healthy canary
    const policy = parseAnalysisPolicy({ metrics: [{ template: 'restarts', interval: '5s', window: '2m' }] });
    const analysis = new LiveAnalysis(policy.metrics, vars(KILLED), queryFor(c3));
    const first = await analysis.round();
    expect(first.measurements[0]).toMatchObject({ phase: 'Successful', value: 0 });
    // Act: a task dies; Swarm replaces it with a new task in the same slot
    const killed = await killOneTask(dockerFor(c3), `${KILLED}-canary`);
    await new Promise((resolve) => setTimeout(resolve, first.waitSeconds * 1000));
    const final = await analysis.untilDone();
    // Assess
    expect(final.phase).toBe('Failed');
    expect(final.decisive).toMatchObject({
      metric: 'restarts',
      phase: 'Failed',
      value: 1,
      condition: 'result <= 0',
    });
    expect(final.decisive?.sentence).toMatch(
      /^restarts = 1 failed condition "result <= 0" \(round \d of 5; 1 failed, limit 0\)$/,
    );
    const seen = await promQuery(c3.prometheusUrl, `max_over_time(up{service="${KILLED}-canary"}[2m])`);
    expect(seen.map((s) => s.labels.task_id)).toContain(killed);
    console.info(`[restarts killed] ${describeRecord(analysis.record).join('\n  ')}`);
  });

  it('restarts: a canary that crashes at start (CRASH=1) fails at the first round', async ({ expect }) => {
    // Prepare: Swarm has been restarting the crashing tasks since beforeAll
    const policy = parseAnalysisPolicy({ metrics: [{ template: 'restarts', interval: '5s', window: '2m' }] });
    const tasks = await dockerFor(c3).listTasks({ filters: { service: [crashing.name] } });
    expect(tasks.filter((t) => t.Status?.State === 'failed').length).toBeGreaterThan(2);
    // Act
    const analysis = new LiveAnalysis(policy.metrics, vars(CRASHING), queryFor(c3));
    const final = await analysis.untilDone();
    // Assess: either no task was ever scraped (no data fails) or the dead ones it saw are counted
    expect(analysis.phases).toEqual(['Failed']);
    const [m] = analysis.measurementsOf('restarts');
    if (m?.value === undefined) expect(m?.reason).toBe('had no data (onNoData: fail)');
    else expect(num(m.value)).toBeGreaterThanOrEqual(1);
    console.info(`[restarts crash] ${final.summary}`);
  });
});
