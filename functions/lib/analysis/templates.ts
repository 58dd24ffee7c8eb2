/**
 * Ready-made metrics matched to the demo app's metrics and the fleet's Prometheus target labels
 * (`cluster`, `service`, `task_slot`, `task_id` on every series; the swarm tasks role has no image
 * label). Each is a function from parameters to a metric; a policy picks one by name and may
 * override any metric field.
 */
import * as z from '../zod.js';
import type { MetricInput } from './model.js';

const metricName = z.string().check(z.regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'a Prometheus metric name'));
const labelName = z.string().check(z.regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'a Prometheus label name'));
const name = z.string().check(z.minLength(1));

/** Label matchers that select the canary's series on the canary cluster. */
const CANARY = 'service="{{canaryService}}",cluster="{{cluster}}"';
/** The same for the primary service on the same cluster (the baseline). */
const PRIMARY = 'service="{{service}}",cluster="{{cluster}}"';

/** Fields every template sets the same way unless the policy overrides them. */
const COMMON = { interval: '30s', window: '1m', count: 5, consecutiveErrorLimit: 3 } as const;

export const successRateParamsSchema = z.strictObject({
  name: z._default(name, 'success-rate'),
  /** Lowest acceptable share of non-error responses. */
  minSuccessRate: z._default(z.number().check(z.gte(0), z.lte(1)), 0.95),
  /** Traffic guard: below this many requests per second the measurement is Inconclusive. */
  minRps: z._default(z.number().check(z.gte(0)), 0.1),
  requestsMetric: z._default(metricName, 'demo_http_requests_total'),
  codeLabel: z._default(labelName, 'code'),
  /** Regular expression (PromQL RE2) of the status codes that count as errors. */
  errorCodes: z._default(
    z.string().check(z.regex(/^[0-9.|x()]+$/, 'digits, ".", "|" and parentheses')),
    '5..',
  ),
  /** When set, the canary's success rate may be at most this much below the primary's (e.g. 0.01). */
  baselineMaxDrop: z.optional(z.number().check(z.gte(0), z.lte(1))),
});
export type SuccessRateParams = z.input<typeof successRateParamsSchema>;

/**
 * Success rate from request counters by status code: 1 - (error responses / all responses) over the
 * window. With no error series the numerator is 0 (`or vector(0)`); with no traffic the result is
 * empty or NaN, which is no data, never a pass.
 */
export function successRate(params: SuccessRateParams = {}): MetricInput {
  const p = successRateParamsSchema.parse(params);
  const ratio = (matchers: string) =>
    `1 - ((sum(rate(${p.requestsMetric}{${matchers},${p.codeLabel}=~"${p.errorCodes}"}[{{window}}])) or vector(0))` +
    ` / sum(rate(${p.requestsMetric}{${matchers}}[{{window}}])))`;
  return {
    name: p.name,
    query: ratio(CANARY),
    successCondition: `result >= ${p.minSuccessRate}`,
    ...COMMON,
    failureLimit: 1,
    inconclusiveLimit: 2,
    onNoData: 'inconclusive',
    minTraffic: { query: `sum(rate(${p.requestsMetric}{${CANARY}}[{{window}}]))`, threshold: p.minRps },
    ...(p.baselineMaxDrop === undefined
      ? {}
      : {
          baseline: {
            query: ratio(PRIMARY),
            compare: 'difference',
            condition: `result >= -${p.baselineMaxDrop}`,
          },
        }),
  };
}

export const latencyParamsSchema = z.strictObject({
  name: z._default(name, 'latency-p99'),
  quantile: z._default(z.number().check(z.gt(0), z.lt(1)), 0.99),
  /** Highest acceptable latency at the quantile, in seconds. */
  maxSeconds: z._default(z.number().check(z.positive()), 0.5),
  minRps: z._default(z.number().check(z.gte(0)), 0.1),
  /** Histogram base name: `<histogram>_bucket` and `<histogram>_count` are read. */
  histogram: z._default(metricName, 'demo_http_request_duration_seconds'),
  /** When set, the canary's quantile may be at most this multiple of the primary's (e.g. 1.5)... */
  baselineMaxRatio: z.optional(z.number().check(z.positive())),
  /** ...unless the canary's own quantile is at or below this many seconds (tiny latencies never regress). */
  baselineFloorSeconds: z._default(z.number().check(z.gte(0)), 0.05),
});
export type LatencyParams = z.input<typeof latencyParamsSchema>;

/**
 * A latency quantile (p99 by default) from a histogram over the window. No observations give NaN,
 * which is no data.
 */
export function latencyP99(params: LatencyParams = {}): MetricInput {
  const p = latencyParamsSchema.parse(params);
  const quantile = (matchers: string) =>
    `histogram_quantile(${p.quantile}, sum by (le) (rate(${p.histogram}_bucket{${matchers}}[{{window}}])))`;
  return {
    name: p.name,
    query: quantile(CANARY),
    successCondition: `result <= ${p.maxSeconds}`,
    ...COMMON,
    failureLimit: 1,
    inconclusiveLimit: 2,
    onNoData: 'inconclusive',
    minTraffic: { query: `sum(rate(${p.histogram}_count{${CANARY}}[{{window}}]))`, threshold: p.minRps },
    ...(p.baselineMaxRatio === undefined
      ? {}
      : {
          baseline: {
            query: quantile(PRIMARY),
            compare: 'ratio',
            condition: `result <= ${p.baselineMaxRatio} or canary <= ${p.baselineFloorSeconds}`,
          },
        }),
  };
}

export const restartsParamsSchema = z.strictObject({
  name: z._default(name, 'restarts'),
  /** Lost tasks tolerated over the window. */
  maxRestarts: z._default(z.number().check(z.int(), z.gte(0)), 0),
  /** A 0/1 health series every scraped task has: `up` exists for every target whatever the app exports. */
  targetMetric: z._default(metricName, 'up'),
  /** The label that names a task (a replaced task has a new value). */
  taskLabel: z._default(labelName, 'task_id'),
});
export type RestartsParams = z.input<typeof restartsParamsSchema>;

/**
 * Restarts and crash loops of the canary's tasks: tasks seen over the window that are not up now.
 * Swarm never restarts a container in place: a task that dies is replaced by a new task (new
 * task_id), so `changes(process_start_time_seconds[w])`, which looks inside one series, would see
 * nothing. Counting ids not up now, rather than ids minus slots, also catches a crash loop whose
 * replacements die before Prometheus scrapes them: the one dead task it did see is still counted.
 * No series at all means no canary task was ever scraped: Failed.
 */
export function restarts(params: RestartsParams = {}): MetricInput {
  const p = restartsParamsSchema.parse(params);
  const tasks = (selector: string) => `count(count by (${p.taskLabel}) (${selector}))`;
  const series = `${p.targetMetric}{${CANARY}}`;
  return {
    name: p.name,
    query: `${tasks(`max_over_time(${series}[{{window}}])`)} - (${tasks(`${series} == 1`)} or vector(0))`,
    successCondition: `result <= ${p.maxRestarts}`,
    ...COMMON,
    window: '5m',
    failureLimit: 0,
    inconclusiveLimit: 1,
    onNoData: 'fail',
  };
}

/** The templates a policy can name. */
export const TEMPLATES = {
  'success-rate': { params: successRateParamsSchema, build: successRate },
  'latency-p99': { params: latencyParamsSchema, build: latencyP99 },
  restarts: { params: restartsParamsSchema, build: restarts },
} as const;
export type TemplateName = keyof typeof TEMPLATES;

export type Expansion =
  | { ok: true; metric: Record<string, unknown> }
  | { ok: false; issues: { path: (string | number)[]; message: string }[] };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Expands `{ template, params?, ...overrides }` into a metric. Overrides replace the template's
 * fields; nested objects (minTraffic, baseline) are merged one level deep; `null` removes a field.
 */
export function expandTemplateReference(reference: Record<string, unknown>): Expansion {
  const { template, params, ...overrides } = reference;
  if (typeof template !== 'string' || !Object.hasOwn(TEMPLATES, template)) {
    return {
      ok: false,
      issues: [
        {
          path: ['template'],
          message: `unknown template ${JSON.stringify(template)} (known: ${Object.keys(TEMPLATES).join(', ')})`,
        },
      ],
    };
  }
  const entry = TEMPLATES[template as TemplateName];
  const parsedParams = entry.params.safeParse(params ?? {});
  if (!parsedParams.success) {
    return {
      ok: false,
      issues: parsedParams.error.issues.map((issue) => ({
        path: ['params', ...issue.path.map((key) => (typeof key === 'number' ? key : String(key)))],
        message: issue.message,
      })),
    };
  }
  const base: Record<string, unknown> = {
    ...(entry.build as (p: unknown) => MetricInput)(parsedParams.data),
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) {
      delete base[key];
    } else if (isPlainObject(value) && isPlainObject(base[key])) {
      base[key] = { ...(base[key] as Record<string, unknown>), ...value };
    } else {
      base[key] = value;
    }
  }
  return { ok: true, metric: base };
}

/** The metric name a template reference gets when the policy gives none. */
export function templateMetricName(reference: Record<string, unknown>): string | undefined {
  if (typeof reference.name === 'string') return reference.name;
  const params = reference.params;
  if (isPlainObject(params) && typeof params.name === 'string') return params.name;
  const template = reference.template;
  if (typeof template !== 'string' || !Object.hasOwn(TEMPLATES, template)) return undefined;
  return TEMPLATES[template as TemplateName].params.shape.name.parse(undefined);
}
