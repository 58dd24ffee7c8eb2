/**
 * The analysis verdicts on cluster c1's real Prometheus, scraping the demo app: a healthy canary, a
 * release with 20% errors, an idle canary, and a canary worse than its primary. The services start
 * together in beforeAll; the tests then run side by side, each driving its own analysis.
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
  pushDemo,
  registryAuth,
  removeServiceQuietly,
  waitForRunning,
} from '../support/fleet.js';
import { clusterNamed, LiveAnalysis, num, queryFor, runId, waitForScrapes } from './live.js';

const RUN = runId();
/** Primary names; each canary is `<name>-canary`. */
const HEALTHY = `${RUN}-ok`;
const BAD = `${RUN}-bad`;
const IDLE = `${RUN}-idle`;
const COMPARED = `${RUN}-cmp`;
/** Short rounds on real data: every 5 s over the last 30 s. */
const FAST = { interval: '5s', window: '30s' } as const;

describe.concurrent('canary analysis on real Prometheus (cluster c1)', () => {
  let f: FleetStatus;
  let c1: ClusterStatus;
  let good: PushedImage;
  let bad: PushedImage;
  const services: Array<{ name: string; replicas: number; env?: string[]; image: () => PushedImage }> = [
    { name: `${HEALTHY}-canary`, replicas: 2, image: () => good },
    { name: `${BAD}-canary`, replicas: 2, image: () => bad },
    { name: `${IDLE}-canary`, replicas: 2, env: ['TRAFFIC_RPS=0'], image: () => good },
    // More traffic for the comparison: ~500 requests per window put the canary's share within ±0.015 (1σ).
    { name: COMPARED, replicas: 2, env: ['ERROR_RATE=0.01', 'TRAFFIC_RPS=10'], image: () => good },
    {
      name: `${COMPARED}-canary`,
      replicas: 2,
      env: ['ERROR_RATE=0.12', 'TRAFFIC_RPS=10'],
      image: () => good,
    },
  ];
  const vars = (service: string, image: PushedImage): AnalysisVars => ({
    service,
    cluster: 'c1',
    digest: image.digest,
    tag: image.tag,
  });

  beforeAll(async () => {
    f = await fleet();
    c1 = clusterNamed(f, 'c1');
    // A good release and a bad one (20% errors baked in: a different digest, as a real bad release).
    [good, bad] = await Promise.all([pushDemo(f, {}), pushDemo(f, { errorRate: 0.2 })]);
    const docker = dockerFor(c1);
    const auth = registryAuth(f);
    await Promise.all(
      services.map(async (s) => {
        const env = s.env ?? [];
        await createDemoService(docker, {
          name: s.name,
          image: s.image().digestReference,
          replicas: s.replicas,
          env,
          auth,
        });
        await waitForRunning(docker, s.name, s.replicas);
      }),
    );
    await waitForScrapes(c1, services, 6);
  });

  afterAll(async () => {
    if (!c1) return;
    const docker = dockerFor(c1);
    await Promise.all(services.map((s) => removeServiceQuietly(docker, s.name)));
  });

  it('passes a healthy canary after exactly `count` rounds, every metric measured good', async ({
    expect,
  }) => {
    // Prepare: the three ready-made checks, as a service policy would name them
    const policy = parseAnalysisPolicy({
      metrics: [
        { template: 'success-rate', ...FAST, count: 3 },
        { template: 'latency-p99', params: { maxSeconds: 0.25 }, ...FAST, count: 3 },
        { template: 'restarts', interval: '5s', window: '2m', count: 3 },
      ],
    });
    const analysis = new LiveAnalysis(policy.metrics, vars(HEALTHY, good), queryFor(c1));
    // Act
    const final = await analysis.untilDone();
    // Assess
    expect(analysis.phases).toEqual(['Running', 'Running', 'Successful']);
    expect(final.summary).toMatch(
      /^analysis Successful after 3 round\(s\): success-rate = 1 met condition "result >= 0.95" \(round 3 of 3\)$/,
    );
    for (const name of ['success-rate', 'latency-p99', 'restarts']) {
      const measured = analysis.measurementsOf(name);
      expect(measured.map((m) => m.phase)).toEqual(['Successful', 'Successful', 'Successful']);
      expect(final.state.metrics[name]).toMatchObject({ phase: 'Successful', measured: 3, successful: 3 });
    }
    // Sensible values from the real series: no 5xx at all, ~10 requests/s, p99 of a few ms, no lost task.
    for (const m of analysis.measurementsOf('success-rate')) {
      expect(m.value).toBe(1);
      expect(num(m.traffic)).toBeGreaterThan(1);
      expect(num(m.traffic)).toBeLessThan(12);
    }
    for (const m of analysis.measurementsOf('latency-p99')) expect(num(m.value)).toBeLessThan(0.1);
    for (const m of analysis.measurementsOf('restarts')) expect(m.value).toBe(0);
    console.info(`[healthy] ${describeRecord(analysis.record).join('\n  ')}`);
  });

  it('fails a release with ERROR_RATE 0.2 within failureLimit + 1 rounds, the record naming metric, value and condition', async ({
    expect,
  }) => {
    // Prepare: success-rate's defaults (>= 0.95, failureLimit 1, count 5) on short rounds
    const policy = parseAnalysisPolicy({ metrics: [{ template: 'success-rate', ...FAST }] });
    const [metric] = policy.metrics;
    const analysis = new LiveAnalysis(policy.metrics, vars(BAD, bad), queryFor(c1));
    // Act
    const final = await analysis.untilDone();
    // Assess
    expect(metric?.failureLimit).toBe(1);
    expect(final.phase).toBe('Failed');
    expect(analysis.outcomes.length).toBeLessThanOrEqual(2);
    expect(analysis.measurementsOf('success-rate').map((m) => m.phase)).toEqual(['Failed', 'Failed']);
    const decisive = analysis.record.decisive;
    expect(decisive).toMatchObject({ metric: 'success-rate', phase: 'Failed', condition: 'result >= 0.95' });
    const value = num(decisive?.value) ?? Number.NaN;
    expect(value).toBeGreaterThan(0.65);
    expect(value).toBeLessThan(0.92);
    expect(decisive?.query).toBe(
      `1 - ((sum(rate(demo_http_requests_total{service="${BAD}-canary",cluster="c1",code=~"5.."}[30s])) or vector(0))` +
        ` / sum(rate(demo_http_requests_total{service="${BAD}-canary",cluster="c1"}[30s])))`,
    );
    const sentence = `success-rate = ${Number(value.toPrecision(4))} failed condition "result >= 0.95" (round 2 of 5; 2 failed, limit 1)`;
    expect(decisive?.sentence).toBe(sentence);
    expect(final.summary).toBe(`analysis Failed after 2 round(s): ${sentence}`);
    expect(describeRecord(analysis.record)[0]).toBe(`decided by: ${sentence}`);
    console.info(`[error-rate 0.2] ${describeRecord(analysis.record).join('\n  ')}`);
  });

  it('never passes an idle canary (TRAFFIC_RPS 0): inconclusive or failed, as each policy says', async ({
    expect,
  }) => {
    // Prepare: the same success rate under four policies
    const guarded = parseAnalysisPolicy({ metrics: [{ template: 'success-rate', ...FAST, count: 5 }] });
    const guardFails = parseAnalysisPolicy({
      metrics: [{ template: 'success-rate', ...FAST, count: 5, minTraffic: { onBelow: 'fail' } }],
    });
    // No traffic guard: the idle canary's 0/0 reaches the conditions as what Prometheus answers.
    const unguarded = (onNoData: 'fail' | 'inconclusive') =>
      parseAnalysisPolicy({
        metrics: [{ template: 'success-rate', ...FAST, count: 5, minTraffic: null, onNoData }],
      });
    const query = queryFor(c1);
    const analyses = {
      guarded: new LiveAnalysis(guarded.metrics, vars(IDLE, good), query),
      guardFails: new LiveAnalysis(guardFails.metrics, vars(IDLE, good), query),
      noDataFails: new LiveAnalysis(unguarded('fail').metrics, vars(IDLE, good), query),
      noDataInconclusive: new LiveAnalysis(unguarded('inconclusive').metrics, vars(IDLE, good), query),
    };
    // Act
    await Promise.all(Object.values(analyses).map((a) => a.untilDone()));
    // Assess: inconclusiveLimit 2 ends the inconclusive ones at round 3, failureLimit 1 the failed ones at round 2
    expect(analyses.guarded.phases).toEqual(['Running', 'Running', 'Inconclusive']);
    expect(analyses.noDataInconclusive.phases).toEqual(['Running', 'Running', 'Inconclusive']);
    expect(analyses.guardFails.phases).toEqual(['Running', 'Failed']);
    expect(analyses.noDataFails.phases).toEqual(['Running', 'Failed']);
    for (const a of Object.values(analyses)) {
      expect(a.measurementsOf('success-rate').some((m) => m.phase === 'Successful')).toBe(false);
    }
    // The guard saw a real rate of 0 and did not send the canary query.
    for (const m of analyses.guarded.measurementsOf('success-rate')) {
      expect(m).toMatchObject({
        phase: 'Inconclusive',
        traffic: 0,
        reason: 'saw traffic 0, below the minimum 0.1 (inconclusive; the canary query was not sent)',
      });
      expect(m.value).toBeUndefined();
    }
    expect(analyses.guardFails.record.decisive?.sentence).toBe(
      'success-rate saw traffic 0, below the minimum 0.1 (failed; the canary query was not sent) (round 2 of 5; 2 failed, limit 1)',
    );
    // Without the guard, Prometheus answers 1 - 0/0 = NaN: no data, never a value that passes.
    for (const m of analyses.noDataFails.measurementsOf('success-rate')) {
      expect(m).toMatchObject({ phase: 'Failed', reason: 'had no data (onNoData: fail)' });
      expect(m.value).toBeUndefined();
    }
    expect(analyses.noDataInconclusive.record.decisive?.sentence).toBe(
      'success-rate had no data (onNoData: inconclusive) (round 3 of 5; 3 inconclusive, limit 2)',
    );
    console.info(`[idle] ${describeRecord(analyses.guarded.record).join('\n  ')}`);
  });

  it('fails a canary worse than its primary on the baseline form, while an absolute threshold would pass both', async ({
    expect,
  }) => {
    // Prepare: primary ERROR_RATE 0.01 (~0.99), canary 0.12 (~0.88); absolute threshold 0.8, each margin > 5σ
    const absolute = parseAnalysisPolicy({
      metrics: [{ template: 'success-rate', params: { minSuccessRate: 0.8 }, ...FAST, count: 3 }],
    });
    const difference = parseAnalysisPolicy({
      metrics: [
        {
          template: 'success-rate',
          params: { minSuccessRate: 0.8, baselineMaxDrop: 0.03 },
          ...FAST,
          count: 3,
        },
      ],
    });
    const ratio = parseAnalysisPolicy({
      metrics: [
        {
          template: 'success-rate',
          params: { minSuccessRate: 0.8, baselineMaxDrop: 0.03 },
          baseline: { compare: 'ratio', condition: 'result >= 0.97' },
          ...FAST,
          count: 3,
        },
      ],
    });
    const query = queryFor(c1);
    const analyses = {
      absolute: new LiveAnalysis(absolute.metrics, vars(COMPARED, good), query),
      difference: new LiveAnalysis(difference.metrics, vars(COMPARED, good), query),
      ratio: new LiveAnalysis(ratio.metrics, vars(COMPARED, good), query),
    };
    // Act
    await Promise.all(Object.values(analyses).map((a) => a.untilDone()));
    // Assess: the absolute threshold alone passes the canary after count rounds...
    expect(analyses.absolute.phases).toEqual(['Running', 'Running', 'Successful']);
    for (const m of analyses.absolute.measurementsOf('success-rate')) {
      expect(num(m.value)).toBeGreaterThanOrEqual(0.8);
    }
    console.info(`[baseline absolute only] ${describeRecord(analyses.absolute.record).join('\n  ')}`);
    // ...the baseline form fails it at failureLimit + 1, with both sides above that threshold.
    for (const [form, condition] of [
      ['difference', 'result >= -0.03'],
      ['ratio', 'result >= 0.97'],
    ] as const) {
      const a = analyses[form];
      expect(a.phases).toEqual(['Running', 'Failed']);
      for (const m of a.measurementsOf('success-rate')) {
        expect(m.phase).toBe('Failed');
        expect(m.condition).toBe(condition);
        expect(num(m.value)).toBeGreaterThanOrEqual(0.8);
        expect(num(m.value)).toBeLessThan(num(m.baseline) ?? 0);
        expect(num(m.baseline)).toBeGreaterThanOrEqual(0.95);
        expect(m.baselineQuery).toContain(`service="${COMPARED}",cluster="c1"`);
        expect(m.reason).toMatch(
          new RegExp(
            `^vs baseline [0-9.]+ \\(${form} -?[0-9.]+\\) failed baseline condition "${condition}"$`,
          ),
        );
      }
      expect(a.record.decisive).toMatchObject({ metric: 'success-rate', phase: 'Failed', condition });
      console.info(`[baseline ${form}] ${describeRecord(a.record).join('\n  ')}`);
    }
    const [last] = analyses.ratio.measurementsOf('success-rate').slice(-1);
    expect(num(last?.compared)).toBeCloseTo((num(last?.value) ?? 0) / (num(last?.baseline) ?? 1), 9);
  });
});
