/**
 * SIMULATOR — a Prometheus per simulated cluster, for many-cluster scale tests (docs/simulator.md).
 * Nothing is scraped: the series the local fleet's Prometheus would hold (the demo app's metrics,
 * relabelled as functions/lib/prometheus/scrape-config.ts does) are made up from the simulated
 * tasks, and queries are evaluated by a PromQL subset (sim/promql.ts). Each answer carries the
 * `X-Simulator` header.
 *
 * The model, per task of a service labelled `deployer.scrape=true`, scraped every
 * `scrapeIntervalSeconds` (× the time scale) on a grid while it is running:
 *   demo_http_requests_total{code="200"|"500"}   counters growing at TRAFFIC_RPS × (1 − ERROR_RATE)
 *                                                 and TRAFFIC_RPS × ERROR_RATE per second
 *   demo_http_request_duration_seconds_bucket{le}, _sum, _count
 *                                                 every request takes exactly LATENCY_MS
 *   up                                            1 while scraped; a stale marker when the task stops
 *   demo_build_info{version}, process_start_time_seconds
 * with the labels job, instance, cluster, service, task_slot, task_id, and digest, role,
 * deployment from the service's deployer.* labels. TRAFFIC_RPS, ERROR_RATE and LATENCY_MS are the
 * task's environment: the image's (sim/registry.ts) with the service's Env over it.
 *
 * Endpoints: GET|POST /api/v1/query, GET|POST /api/v1/query_range, GET /api/v1/status/buildinfo,
 * GET /-/ready, GET /-/healthy. A query the subset cannot evaluate answers an empty vector with a
 * warning saying so; a query that is not PromQL answers Prometheus's bad_data error.
 */
import type http from 'node:http';
import { SIMULATOR_HEADER, type SimCluster, type SimTask } from './cluster.js';
import {
  formatSampleValue,
  labelsMatch,
  type Matcher,
  PromqlExecutionError,
  PromqlSyntaxError,
  PromqlUnsupportedError,
  parsePromDuration,
  parsePromql,
  evaluate as run,
  type Series,
  type SeriesSource,
  type Value,
} from './promql.js';

const BUCKETS = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
const MAX_POINTS = 11_000;

export interface SimPrometheusOptions {
  /** The scrape interval before the cluster's time scale (default 5 s, the local fleet's). */
  scrapeIntervalSeconds?: number;
  /** The service label that opts a service into scraping (value `true`); null scrapes every service. */
  scrapeLabel?: string | null;
}

interface Family {
  name: string;
  labels: Record<string, string>;
  /** The value at `elapsed` seconds of running, for a task. */
  value: (elapsedSeconds: number) => number;
}

/** The series a simulated cluster's Prometheus holds, made up on demand from its tasks. */
export class ClusterSeries implements SeriesSource {
  readonly intervalMs: number;
  private readonly scrapeLabel: string | null;

  constructor(
    private readonly cluster: SimCluster,
    options: SimPrometheusOptions = {},
  ) {
    this.intervalMs = Math.max(1, cluster.scaled((options.scrapeIntervalSeconds ?? 5) * 1000));
    this.scrapeLabel = options.scrapeLabel === undefined ? 'deployer.scrape' : options.scrapeLabel;
  }

  select(matchers: Matcher[], startMs: number, endMs: number): Series[] {
    const now = Date.now();
    const out: Series[] = [];
    const interval = this.intervalMs;
    for (const task of this.cluster.tasks.values()) {
      if (task.runningFrom === undefined) continue;
      const service = this.cluster.services.get(task.serviceId);
      if (!service) continue;
      if (this.scrapeLabel !== null && service.spec.Labels?.[this.scrapeLabel] !== 'true') continue;
      const until = Math.min(task.runningUntil ?? Number.POSITIVE_INFINITY, now);
      const from = task.runningFrom;
      const first = Math.ceil(Math.max(startMs, from) / interval) * interval;
      const last = Math.floor(Math.min(endMs, until) / interval) * interval;
      // The first scrape after the task stopped finds it gone: a stale marker.
      const staleAt =
        task.runningUntil === undefined
          ? undefined
          : Math.floor(task.runningUntil / interval) * interval + interval;
      const base = this.baseLabels(task, service.spec.Labels ?? {});
      for (const family of families(task, base)) {
        const labels = { __name__: family.name, ...family.labels };
        if (!labelsMatch(labels, matchers)) continue;
        const points = [];
        for (let t = first; t <= last; t += interval) {
          points.push({ t, v: family.value((t - from) / 1000) });
        }
        if (points.length === 0) continue;
        out.push({ labels, points, ...(staleAt === undefined ? {} : { staleAt }) });
      }
    }
    return out;
  }

  private baseLabels(task: SimTask, serviceLabels: Record<string, string>): Record<string, string> {
    const labels: Record<string, string> = {
      job: 'swarm-tasks',
      instance: `${task.id.slice(0, 12)}:8080`,
      cluster: this.cluster.name,
      service: task.serviceName,
      task_slot: String(task.slot ?? ''),
      task_id: task.id,
    };
    for (const name of ['digest', 'role', 'deployment']) {
      const value = serviceLabels[`deployer.${name}`];
      if (value !== undefined) labels[name] = value;
    }
    return labels;
  }
}

function families(task: SimTask, base: Record<string, string>): Family[] {
  const number = (name: string, fallback: number) => {
    const v = Number(task.env[name]);
    return Number.isFinite(v) ? v : fallback;
  };
  const rps = Math.max(0, number('TRAFFIC_RPS', 0));
  const errorRate = Math.min(1, Math.max(0, number('ERROR_RATE', 0)));
  const latency = Math.max(0, number('LATENCY_MS', 0)) / 1000;
  const total = (s: number) => rps * s;
  return [
    { name: 'up', labels: base, value: () => 1 },
    {
      name: 'demo_http_requests_total',
      labels: { ...base, code: '200' },
      value: (s) => total(s) * (1 - errorRate),
    },
    {
      name: 'demo_http_requests_total',
      labels: { ...base, code: '500' },
      value: (s) => total(s) * errorRate,
    },
    ...BUCKETS.map((le) => ({
      name: 'demo_http_request_duration_seconds_bucket',
      labels: { ...base, le },
      value: (s: number) => (le === '+Inf' || latency <= Number(le) ? total(s) : 0),
    })),
    { name: 'demo_http_request_duration_seconds_sum', labels: base, value: (s) => total(s) * latency },
    { name: 'demo_http_request_duration_seconds_count', labels: base, value: total },
    { name: 'demo_build_info', labels: { ...base, version: task.imageVersion ?? '' }, value: () => 1 },
    {
      name: 'process_start_time_seconds',
      labels: base,
      value: () => Math.floor((task.runningFrom ?? 0) / 1000),
    },
  ];
}

/** Prometheus's time parameter: Unix seconds (fractions allowed) or RFC 3339. */
function parseTime(raw: string | null, fallback: number): number {
  if (raw === null || raw === '') return fallback;
  // Whole milliseconds, as Prometheus keeps timestamps (int64 ms): steps add up exactly.
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new PromqlSyntaxError(`cannot parse "${raw}" to a valid timestamp`);
  return ms;
}

type Json = Record<string, unknown>;

function resultJson(value: Value, timeMs: number): Json {
  const t = timeMs / 1000;
  switch (value.kind) {
    case 'scalar':
      return { resultType: 'scalar', result: [t, formatSampleValue(value.value)] };
    case 'string':
      return { resultType: 'string', result: [t, value.value] };
    case 'vector':
      return {
        resultType: 'vector',
        result: value.samples.map((s) => ({ metric: s.labels, value: [t, formatSampleValue(s.value)] })),
      };
    case 'matrix':
      return {
        resultType: 'matrix',
        result: value.series.map((s) => ({
          metric: s.labels,
          values: s.points.map((p) => [p.t / 1000, formatSampleValue(p.v)]),
        })),
      };
  }
}

/** Answers one query: the JSON body and the HTTP status, as Prometheus's API does. */
export function answerQuery(
  source: SeriesSource,
  params: URLSearchParams,
  range: boolean,
): { status: number; body: Json } {
  const text = params.get('query') ?? '';
  try {
    if (text.trim() === '') throw new PromqlSyntaxError('1:1: parse error: no expression found in input');
    const node = parsePromql(text);
    if (!range) {
      const time = parseTime(params.get('time'), Date.now());
      return { status: 200, body: { status: 'success', data: resultJson(run(node, source, time), time) } };
    }
    const start = parseTime(params.get('start'), Number.NaN);
    const end = parseTime(params.get('end'), Number.NaN);
    const rawStep = params.get('step') ?? '';
    const parsedStep = parsePromDuration(rawStep);
    const step = parsedStep === undefined ? undefined : Math.round(parsedStep);
    if (Number.isNaN(start) || Number.isNaN(end))
      throw new PromqlSyntaxError('invalid parameter "start" or "end"');
    if (!step || step <= 0) {
      throw new PromqlSyntaxError(
        'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer',
      );
    }
    if (end < start)
      throw new PromqlSyntaxError('invalid parameter "end": end timestamp must not be before start time');
    if ((end - start) / step > MAX_POINTS) {
      throw new PromqlSyntaxError(
        'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)',
      );
    }
    const series = new Map<string, { metric: Record<string, string>; values: Array<[number, string]> }>();
    for (let t = start; t <= end; t += step) {
      const value = run(node, source, t);
      const samples =
        value.kind === 'scalar'
          ? [{ labels: {}, value: value.value }]
          : value.kind === 'vector'
            ? value.samples
            : (() => {
                throw new PromqlExecutionError(
                  `invalid expression type "${value.kind === 'matrix' ? 'range vector' : 'string'}" for range query, must be Scalar or instant Vector`,
                );
              })();
      for (const s of samples) {
        const k = JSON.stringify(Object.entries(s.labels).sort());
        const entry = series.get(k) ?? { metric: s.labels, values: [] };
        entry.values.push([t / 1000, formatSampleValue(s.value)]);
        series.set(k, entry);
      }
    }
    return {
      status: 200,
      body: { status: 'success', data: { resultType: 'matrix', result: [...series.values()] } },
    };
  } catch (err) {
    if (err instanceof PromqlUnsupportedError) {
      return {
        status: 200,
        body: {
          status: 'success',
          data: { resultType: range ? 'matrix' : 'vector', result: [] },
          warnings: [`simulated Prometheus: ${err.message}; answered an empty result`],
        },
      };
    }
    if (err instanceof PromqlSyntaxError) {
      return { status: 400, body: { status: 'error', errorType: 'bad_data', error: err.message } };
    }
    if (err instanceof PromqlExecutionError) {
      return { status: 422, body: { status: 'error', errorType: 'execution', error: err.message } };
    }
    return {
      status: 500,
      body: {
        status: 'error',
        errorType: 'internal',
        error: `simulated Prometheus: ${(err as Error).message}`,
      },
    };
  }
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/**
 * The request listener of one cluster's simulated Prometheus.
 * @param counters when given, counts the queries answered (for reports)
 */
export function prometheusHandler(
  source: SeriesSource,
  counters?: { queries: number },
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const label = 'swarm-deployer Prometheus simulator (scale tests only)';
  return (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://prometheus');
      const params = new URLSearchParams(url.searchParams);
      if (req.method === 'POST') for (const [k, v] of await readForm(req)) params.append(k, v);
      const headers = { 'content-type': 'application/json', [SIMULATOR_HEADER]: label };
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, headers);
        res.end(JSON.stringify(body));
      };
      switch (url.pathname) {
        case '/-/ready':
        case '/-/healthy':
          res.writeHead(200, { 'content-type': 'text/plain', [SIMULATOR_HEADER]: label });
          res.end('Prometheus Server is Ready.\n');
          return;
        case '/api/v1/status/buildinfo':
          reply(200, {
            status: 'success',
            data: { version: 'simulated', revision: 'swarm-deployer-simulator' },
          });
          return;
        case '/api/v1/query':
        case '/api/v1/query_range': {
          if (counters) counters.queries += 1;
          const { status, body } = answerQuery(source, params, url.pathname.endsWith('_range'));
          reply(status, body);
          return;
        }
        default:
          res.writeHead(404, { 'content-type': 'text/plain', [SIMULATOR_HEADER]: label });
          res.end('404 page not found\n');
      }
    })().catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'error', errorType: 'internal', error: err.message }));
    });
  };
}
