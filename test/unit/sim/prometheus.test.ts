/**
 * The simulated Prometheus: Prometheus's JSON shapes, the series made up from simulated tasks, and
 * the deployer's analysis code (templates, runRound, PrometheusClient) judging simulated canaries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMetric } from '../../../functions/lib/analysis/model.js';
import { runRound } from '../../../functions/lib/analysis/round.js';
import { PrometheusClient } from '../../../functions/lib/prometheus/client.js';
import { Engine } from '../../../functions/lib/swarm/engine.js';
import { canaryName, deployCanary, removeCanary, snapshot } from '../../../functions/lib/swarm/operations.js';
import { type SimEngine, type SimImage, startSimEngine } from '../../../local/sim/index.js';
import {
  formatSampleValue,
  labelsMatch,
  type Matcher,
  PromqlSyntaxError,
  PromqlUnsupportedError,
  query,
  type Series,
  type SeriesSource,
} from '../../../local/sim/promql.js';
import { createService, primarySpec, SCALE, settle } from './support.js';

const SERVICE = 'web';
let sim: SimEngine;
let engine: Engine;
let client: PrometheusClient;
let v1: SimImage;
let v2: SimImage;

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${sim.prometheusPort}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A canary with these env overrides, converged, and scraped a few times. */
async function canaryWith(env: Record<string, string>): Promise<void> {
  await removeCanary(engine, SERVICE);
  const snap = await snapshot(engine, SERVICE);
  await deployCanary(engine, {
    ref: { deploymentId: 'd-prom', cluster: 'c1', service: SERVICE },
    snapshot: snap,
    image: v2.digestReference,
    percent: 34,
    desired: { env: { TRAFFIC_RPS: '50', ...env } },
  });
  await settle(engine, { service: canaryName(SERVICE), image: v2.digestReference });
  // Three scrapes (5 s × 0.05 each): rate() needs two samples.
  await new Promise((r) => setTimeout(r, 800));
}

async function measure(template: Record<string, unknown>) {
  const metric = parseMetric({ interval: '10s', window: '10s', ...template });
  const outcome = await runRound(
    undefined,
    [metric],
    { service: SERVICE, cluster: 'c1', digest: v2.digest, tag: 'v2' },
    client.queryFn(),
  );
  return outcome.measurements[0];
}

beforeAll(async () => {
  sim = await startSimEngine({ name: 'c1', timeScale: SCALE });
  v1 = sim.registry.add({ tag: 'v1' });
  v2 = sim.registry.add({ tag: 'v2' });
  engine = await Engine.connect({ cluster: 'c1', host: '127.0.0.1', port: sim.port });
  await engine.request({
    method: 'POST',
    path: '/networks/create',
    body: { Name: 'net', Driver: 'overlay' },
  });
  await createService(engine, primarySpec(SERVICE, v1.digestReference, 3, 'net'));
  client = new PrometheusClient({ url: `http://127.0.0.1:${sim.prometheusPort}` });
  // The primary runs for a second: a few scrapes (every 5 s × 0.05) to query.
  await new Promise((r) => setTimeout(r, 1200));
});

afterAll(async () => {
  await sim?.stop();
});

describe('the simulated Prometheus', () => {
  it("answers an instant query in Prometheus's JSON shape, with the fleet's target labels", async () => {
    const time = Math.round(Date.now()) / 1000;
    const { status, body } = await get(
      `/api/v1/query?query=${encodeURIComponent('up{service="web"}')}&time=${time}`,
    );
    expect(status).toBe(200);
    expect(body).toEqual({
      status: 'success',
      data: {
        resultType: 'vector',
        result: expect.arrayContaining([
          {
            metric: {
              __name__: 'up',
              job: 'swarm-tasks',
              instance: expect.stringMatching(/^\w{12}:8080$/),
              cluster: 'c1',
              service: 'web',
              task_slot: '1',
              task_id: expect.stringMatching(/^\w{25}$/),
            },
            value: [time, '1'],
          },
        ]),
      },
    });
    expect((body.data as { result: unknown[] }).result).toHaveLength(3);
  });

  it('answers a range query as a matrix, scalars as scalars, and says it is a simulator', async () => {
    const now = Date.now() / 1000;
    const range = await get(
      `/api/v1/query_range?query=${encodeURIComponent('sum(up{service="web"})')}&start=${now - 1}&end=${now}&step=0.5`,
    );
    expect(range.body).toMatchObject({
      status: 'success',
      data: { resultType: 'matrix', result: [{ metric: {}, values: expect.any(Array) }] },
    });
    const values = (range.body.data as { result: Array<{ values: Array<[number, string]> }> }).result[0]
      ?.values;
    expect(values?.map(([, v]) => v)).toEqual(['3', '3', '3']);
    const scalar = await get(`/api/v1/query?query=1%2B1&time=100`);
    expect(scalar.body).toEqual({ status: 'success', data: { resultType: 'scalar', result: [100, '2'] } });
    const res = await fetch(`http://127.0.0.1:${sim.prometheusPort}/api/v1/query?query=up`);
    expect(res.headers.get('x-simulator')).toMatch(/simulator/);
  });

  it('answers an unsupported query with an empty vector and a warning, and bad PromQL with bad_data', async () => {
    const unsupported = await get(`/api/v1/query?query=${encodeURIComponent('topk(1, up)')}`);
    expect(unsupported.status).toBe(200);
    expect(unsupported.body).toMatchObject({
      status: 'success',
      data: { resultType: 'vector', result: [] },
      warnings: [expect.stringMatching(/simulated Prometheus: topk is not simulated/)],
    });
    const bad = await get(`/api/v1/query?query=${encodeURIComponent('sum(up')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: 'error', errorType: 'bad_data' });
    const unknown = await get(`/api/v1/query?query=${encodeURIComponent('nothing_here{a="b"}')}`);
    expect(unknown.body).toEqual({ status: 'success', data: { resultType: 'vector', result: [] } });
  });

  it('gives a healthy canary a passing success rate, through the analysis code', async () => {
    await canaryWith({ ERROR_RATE: '0' });
    const m = await measure({
      template: 'success-rate',
      params: { minSuccessRate: 0.95, baselineMaxDrop: 0.01 },
    });
    expect(m).toMatchObject({ phase: 'Successful', value: 1, baseline: 1 });
    expect(m?.traffic).toBeGreaterThan(0.1);
  });

  it('gives a canary with ERROR_RATE=0.4 a failing success rate of 0.6', async () => {
    await canaryWith({ ERROR_RATE: '0.4' });
    const m = await measure({ template: 'success-rate', params: { minSuccessRate: 0.95 } });
    expect(m?.phase).toBe('Failed');
    expect(m?.value).toBeCloseTo(0.6, 10);
    expect(m?.reason).toBe('failed condition "result >= 0.95"');
  });

  it('turns LATENCY_MS into the histogram quantile Prometheus would compute', async () => {
    await canaryWith({ LATENCY_MS: '300' });
    const slow = await measure({ template: 'latency-p99', params: { maxSeconds: 0.25 } });
    // Every request in the (0.25, 0.5] bucket: 0.25 + 0.25 × 0.99, linear interpolation.
    expect(slow?.phase).toBe('Failed');
    expect(slow?.value).toBeCloseTo(0.4975, 10);
    await canaryWith({ LATENCY_MS: '0' });
    expect(await measure({ template: 'latency-p99', params: { maxSeconds: 0.25 } })).toMatchObject({
      phase: 'Successful',
    });
  });
});

describe('the PromQL subset', () => {
  const points = (values: number[]) => values.map((v, i) => ({ t: 10_000 * (i + 1), v }));
  const series: Series[] = [
    { labels: { __name__: 'req', code: '200', svc: 'a' }, points: points([0, 10, 20, 30]) },
    { labels: { __name__: 'req', code: '500', svc: 'a' }, points: points([0, 1, 2, 3]) },
    { labels: { __name__: 'up', svc: 'a' }, points: points([1, 1, 1, 1]), staleAt: 45_000 },
  ];
  const source: SeriesSource = {
    select: (matchers: Matcher[]) => series.filter((s) => labelsMatch(s.labels, matchers)),
  };
  const value = (q: string, t = 40_000): number[] => {
    const v = query(q, source, t);
    if (v.kind === 'vector') return v.samples.map((s) => s.value);
    if (v.kind === 'scalar') return [v.value];
    throw new Error(`unexpected ${v.kind}`);
  };

  it('evaluates the success-rate shape, or vector(0), comparisons and staleness', () => {
    expect(value('1 - (sum(rate(req{code=~"5.."}[30s])) or vector(0)) / sum(rate(req[30s]))')[0]).toBeCloseTo(
      1 - 3 / 33,
      10,
    );
    expect(value('(sum(rate(nope[30s])) or vector(0))')).toEqual([0]);
    expect(value('count(up == 1)')).toEqual([1]);
    expect(value('count(up == 1)', 50_000)).toEqual([]);
    expect(value('sum by (code) (req)')).toEqual([30, 3]);
  });

  it('formats values as Prometheus does and refuses what it does not simulate', () => {
    expect([0.6, 1e-7, 3e21, Number.NaN, Number.POSITIVE_INFINITY].map(formatSampleValue)).toEqual([
      '0.6',
      '0.0000001',
      '3000000000000000000000',
      'NaN',
      '+Inf',
    ]);
    expect(() => query('rate(req[5m:1m])', source, 0)).toThrow(PromqlUnsupportedError);
    expect(() => query('sum(req) by', source, 0)).toThrow(PromqlSyntaxError);
  });
});
