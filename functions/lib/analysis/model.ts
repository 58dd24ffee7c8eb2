/**
 * The analysis model: what a policy says about judging a canary. Validated once, when the policy is
 * loaded: PromQL templates (variables, balanced brackets, closed quotes) and conditions (grammar,
 * names, types) are checked here, so a deployment never discovers a typo mid-analysis.
 */
import * as z from '../zod.js';
import { ExpressionSyntaxError, type PolicyIssue, PolicyValidationError } from './errors.js';
import { parseCondition } from './expression.js';
import { checkTemplate, parseDuration } from './template.js';
import { expandTemplateReference, templateMetricName } from './templates.js';

/** Names a success or failure condition can read. */
export const CONDITION_VARIABLES = ['result'] as const;
/** Names a baseline condition can read: the compared value, and both sides. */
export const BASELINE_VARIABLES = ['result', 'canary', 'baseline'] as const;

export const MAX_METRICS = 20;

/** Adds an issue for a text field with the offset of the problem; `params.offset` keeps it structured. */
function textIssue(ctx: z.core.$RefinementCtx, error: unknown, what: string, text: string): void {
  if (error instanceof ExpressionSyntaxError) {
    const reason = `${what}: ${error.reason}${near(text, error.offset)}`;
    ctx.addIssue({
      code: 'custom',
      message: `${reason} (offset ${error.offset})`,
      params: { offset: error.offset, reason },
    });
    return;
  }
  throw error;
}

/** A short excerpt around the offset, so a message can be read without counting characters. */
function near(text: string, offset: number): string {
  if (text.trim() === '') return '';
  const start = Math.max(0, offset - 12);
  const end = Math.min(text.length, offset + 18);
  const excerpt = `${start > 0 ? '…' : ''}${text.slice(start, end)}${end < text.length ? '…' : ''}`;
  return `, near ${JSON.stringify(excerpt.replace(/\s+/g, ' '))}`;
}

/** A PromQL template: `{{variable}}` placeholders and a light syntactic check. */
export const promqlTemplateSchema = z.string().check(
  z.superRefine((template, ctx) => {
    try {
      checkTemplate(template);
    } catch (error) {
      textIssue(ctx, error, 'malformed query template', template);
    }
  }),
);

function conditionSchema(variables: readonly string[]) {
  return z.string().check(
    z.superRefine((source, ctx) => {
      try {
        parseCondition(source, variables);
      } catch (error) {
        textIssue(ctx, error, 'malformed condition', source);
      }
    }),
  );
}

/**
 * Adds a custom issue from inside a z.transform. zod/mini hands a transform the bare parse payload,
 * without the classic API's ctx.addIssue: the issue goes onto the payload's issues the same way.
 */
function addIssue(ctx: z.core.ParsePayload, issue: { message: string; path?: PropertyKey[] }): void {
  ctx.issues.push({ code: 'custom', ...issue, input: ctx.value });
}

/** A duration in seconds, written as a number of seconds or as `30s`, `5m`, `1h30m`. */
function durationSchema(minSeconds: number, maxSeconds: number) {
  return z.pipe(
    z.union([z.number(), z.string()]),
    z.transform((input: number | string, ctx) => {
      const seconds = parseDuration(input);
      if (seconds === undefined) {
        addIssue(ctx, {
          message: `${JSON.stringify(input)} is not a duration (seconds, or like "30s", "5m", "1h30m")`,
        });
        return z.NEVER;
      }
      if (seconds < minSeconds || seconds > maxSeconds) {
        addIssue(ctx, { message: `must be between ${minSeconds}s and ${maxSeconds}s, not ${seconds}s` });
        return z.NEVER;
      }
      return seconds;
    }),
  );
}

const count = (min: number) => z.number().check(z.int(), z.gte(min), z.lte(1000));

const noDataPolicy = z.enum(['fail', 'inconclusive', 'pass'], {
  error: (issue) =>
    issue.input === undefined
      ? 'onNoData is required (fail | inconclusive | pass): no default may let an idle canary pass'
      : 'must be fail, inconclusive or pass',
});

export const minTrafficSchema = z.strictObject({
  /** PromQL template for the canary's traffic (e.g. requests per second). */
  query: promqlTemplateSchema,
  /** Below this (or no data), the measurement is never Successful. */
  threshold: z.number().check(z.gte(0)),
  /** What a measurement below the threshold is: Inconclusive (default) or Failed. */
  onBelow: z._default(z.enum(['inconclusive', 'fail']), 'inconclusive'),
});

export const baselineSchema = z.strictObject({
  /** PromQL template for the primary, over the same window and at the same evaluation time. */
  query: promqlTemplateSchema,
  /** `ratio`: result = canary / baseline; `difference`: result = canary - baseline. */
  compare: z.enum(['ratio', 'difference']),
  /** Success condition over `result`, `canary` and `baseline`; false means Failed. */
  condition: conditionSchema(BASELINE_VARIABLES),
});

/** One metric, as written in a policy (after any template is expanded). */
export const metricSchema = z
  .strictObject({
    name: z
      .string()
      .check(
        z.regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, 'letters, digits, . _ - (at most 63)'),
      ),
    /** PromQL template for the canary's value. */
    query: promqlTemplateSchema,
    /** True means Successful. Alone: false means Failed. */
    successCondition: z.optional(conditionSchema(CONDITION_VARIABLES)),
    /** True means Failed. Alone: false means Successful. With a success condition: neither means Inconclusive. */
    failureCondition: z.optional(conditionSchema(CONDITION_VARIABLES)),
    /** Time between measurements (seconds or "30s"). */
    interval: durationSchema(1, 3600),
    /** Time before the first measurement, default 0. */
    initialDelay: z._default(durationSchema(0, 3600), 0),
    /** The `{{window}}` of the query; default: the interval, at least 60 s. */
    window: z.optional(durationSchema(1, 86_400)),
    /** Measurements to take (Error measurements do not count). */
    count: count(1),
    /** Failed measurements tolerated; one more fails the metric. */
    failureLimit: z._default(count(0), 0),
    /** Inconclusive measurements tolerated; one more makes the metric Inconclusive. */
    inconclusiveLimit: z._default(count(0), 0),
    /** Consecutive Error measurements tolerated; one more makes the metric Error. */
    consecutiveErrorLimit: z._default(count(0), 4),
    /** What an empty result (or NaN) means. Required. */
    onNoData: noDataPolicy,
    minTraffic: z.optional(minTrafficSchema),
    /** How several series become one value; without it several series is an Error measurement. */
    reduce: z.optional(z.enum(['sum', 'max', 'min', 'avg'])),
    baseline: z.optional(baselineSchema),
  })
  .check(
    z.superRefine((metric, ctx) => {
      if (
        metric.successCondition === undefined &&
        metric.failureCondition === undefined &&
        metric.baseline === undefined
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['successCondition'],
          message: 'a metric needs a successCondition, a failureCondition or a baseline',
        });
      }
      if (metric.failureLimit >= metric.count) {
        ctx.addIssue({
          code: 'custom',
          path: ['failureLimit'],
          message: `failureLimit ${metric.failureLimit} must be below count ${metric.count}, or the metric could never fail`,
        });
      }
      if (metric.inconclusiveLimit >= metric.count) {
        ctx.addIssue({
          code: 'custom',
          path: ['inconclusiveLimit'],
          message: `inconclusiveLimit ${metric.inconclusiveLimit} must be below count ${metric.count}`,
        });
      }
    }),
  );

/**
 * A metric entry in a policy: a full metric, or a ready-made template with parameters and overrides,
 * e.g. `{ "template": "success-rate", "params": { "minSuccessRate": 0.99 }, "count": 10 }`.
 * (zod/mini has no z.preprocess: it is this pipe, a transform into the schema.)
 */
export const metricEntrySchema = z.pipe(
  z.transform((input: unknown, ctx) => {
    if (typeof input !== 'object' || input === null || !('template' in input)) return input;
    const expanded = expandTemplateReference(input as Record<string, unknown>);
    if (expanded.ok) return expanded.metric;
    for (const issue of expanded.issues) addIssue(ctx, issue);
    return z.NEVER;
  }),
  metricSchema,
);

/** The analysis section of a service policy. */
export const analysisSchema = z
  .strictObject({
    metrics: z.array(metricEntrySchema).check(z.minLength(1), z.maxLength(MAX_METRICS)),
  })
  .check(
    z.superRefine((analysis, ctx) => {
      const seen = new Map<string, number>();
      analysis.metrics.forEach((metric, index) => {
        const first = seen.get(metric.name);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['metrics', index, 'name'],
            message: `duplicate metric name "${metric.name}" (also metrics[${first}])`,
          });
        } else {
          seen.set(metric.name, index);
        }
      });
    }),
  );

/** A metric as written (durations as strings or numbers, limits optional). */
export type MetricInput = z.input<typeof metricSchema>;
/** A validated metric: durations in seconds, every limit set. */
export type Metric = z.output<typeof metricSchema>;
export type AnalysisPolicyInput = z.input<typeof analysisSchema>;
export type AnalysisPolicy = z.output<typeof analysisSchema>;
export type NoDataPolicy = Metric['onNoData'];
export type Reduce = NonNullable<Metric['reduce']>;

/**
 * Validates the analysis section of a policy.
 * @throws PolicyValidationError naming the metric, the field and the character offset of each problem.
 */
export function parseAnalysisPolicy(input: unknown): AnalysisPolicy {
  const parsed = analysisSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new PolicyValidationError(toPolicyIssues(parsed.error, input));
}

/**
 * Validates one metric (a full metric or a template reference).
 * @throws PolicyValidationError
 */
export function parseMetric(input: unknown): Metric {
  const parsed = metricEntrySchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new PolicyValidationError(toPolicyIssues(parsed.error, { metrics: [input] }, ['metrics', 0]));
}

/**
 * Turns zod issues on an analysis section into {@link PolicyIssue}s that name the metric (by name
 * when it has one), the field and the offset.
 */
export function toPolicyIssues(
  error: z.core.$ZodError,
  input: unknown,
  prefix: readonly PropertyKey[] = [],
): PolicyIssue[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path];
    const params =
      issue.code === 'custom'
        ? (issue.params as { offset?: number; reason?: string } | undefined)
        : undefined;
    const message = params?.reason ?? issue.message;
    if (path[0] === 'metrics' && typeof path[1] === 'number') {
      const index = path[1];
      const field = path.slice(2).map(String).join('.') || '(metric)';
      const result: PolicyIssue = { metric: metricLabel(input, index), field, message };
      if (params?.offset !== undefined) result.offset = params.offset;
      return result;
    }
    return { field: path.map(String).join('.') || '(analysis)', message };
  });
}

function metricLabel(input: unknown, index: number): string {
  const metrics = (input as { metrics?: unknown } | undefined)?.metrics;
  const entry = Array.isArray(metrics) ? (metrics[index] as Record<string, unknown> | undefined) : undefined;
  if (entry && typeof entry.name === 'string' && entry.name !== '') return entry.name;
  if (entry && typeof entry.template === 'string') return templateMetricName(entry) ?? `metrics[${index}]`;
  return `metrics[${index}]`;
}
