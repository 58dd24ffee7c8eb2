/**
 * One measurement of one metric: the traffic guard, the canary's value, the optional baseline, the
 * conditions, and a phase with the reason in words.
 */
import type { QueryFn } from '../prometheus/client.js';
import { PrometheusAbortedError } from '../prometheus/errors.js';
import type { QueryResult } from '../prometheus/result.js';
import { AmbiguousResultError } from './errors.js';
import { type Condition, evaluateCondition, parseCondition } from './expression.js';
import {
  BASELINE_VARIABLES,
  CONDITION_VARIABLES,
  type Metric,
  type NoDataPolicy,
  type Reduce,
} from './model.js';
import { renderTemplate, type TemplateValues } from './template.js';

/** Successful: measured good. Failed: measured bad. Inconclusive: measured, cannot tell. Error: could not measure. */
export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/** A number as JSON can carry it: NaN and infinities spelled like Prometheus does. */
export type JsonNumber = number | 'NaN' | '+Inf' | '-Inf';

/** One measurement, as kept in the decision record. */
export interface Measurement {
  metric: string;
  /** The analysis round (1-based). */
  round: number;
  /** This metric's measurement number, Error ones excluded (1-based); an Error carries the next one. */
  n: number;
  /** The metric's count, for "round n of count". */
  count: number;
  at: string;
  phase: MeasurementPhase;
  /** The canary query as sent (rendered; long ones shortened). */
  query: string;
  value?: JsonNumber;
  baselineQuery?: string;
  baseline?: JsonNumber;
  /** canary/baseline or canary-baseline, what the baseline condition saw as `result`. */
  compared?: JsonNumber;
  trafficQuery?: string;
  traffic?: JsonNumber;
  /** The condition that decided the phase, as written in the policy. */
  condition?: string;
  /**
   * Why, in words, to follow "<metric> = <value>": `failed condition "result >= 0.95"`,
   * `had no data (onNoData: inconclusive)`. See {@link describeMeasurement}.
   */
  reason: string;
  /** For an Error: the error's name (the Step Functions word) and message. */
  error?: { name: string; message: string };
  warnings?: string[];
}

export const MAX_RECORDED_QUERY = 2000;
const MAX_REASON = 400;

export function toJsonNumber(value: number): JsonNumber {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return value;
}

/** Formats a value for people: four significant digits, `+Inf`, `NaN`. */
export function formatValue(value: number | JsonNumber): string {
  if (typeof value === 'string') return value;
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 13)}…(truncated)` : text;
}

/**
 * Picks the one value of a result. Several series need `reduce`; NaN samples are ignored by the
 * reduction (a 0/0 series is an idle series, not a value). Returns undefined for no data: an empty
 * result, or only NaN.
 * @throws AmbiguousResultError for several series without `reduce`.
 */
export function pickValue(result: QueryResult, reduce: Reduce | undefined): number | undefined {
  const { samples } = result;
  if (samples.length > 1 && reduce === undefined) {
    const shown = samples
      .slice(0, 3)
      .map(
        (s) =>
          `{${Object.entries(s.labels)
            .map(([k, v]) => `${k}="${v}"`)
            .join(',')}}`,
      )
      .join(', ');
    throw new AmbiguousResultError(
      `the query returned ${samples.length} series (${shown}${samples.length > 3 ? ', …' : ''}); aggregate them in PromQL or set reduce (sum | max | min | avg)`,
    );
  }
  const values = samples.map((s) => s.value).filter((v) => !Number.isNaN(v));
  if (values.length === 0) return undefined;
  switch (reduce) {
    case undefined:
      return values[0];
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'max':
      return Math.max(...values);
    case 'min':
      return Math.min(...values);
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
  }
}

/** A metric's conditions, parsed once per round (they were validated when the policy was loaded). */
export interface CompiledMetric {
  metric: Metric;
  success?: Condition;
  failure?: Condition;
  baseline?: Condition;
}

/** @throws ExpressionSyntaxError only if the metric skipped policy validation. */
export function compileMetric(metric: Metric): CompiledMetric {
  const compiled: CompiledMetric = { metric };
  if (metric.successCondition !== undefined) {
    compiled.success = parseCondition(metric.successCondition, CONDITION_VARIABLES);
  }
  if (metric.failureCondition !== undefined) {
    compiled.failure = parseCondition(metric.failureCondition, CONDITION_VARIABLES);
  }
  if (metric.baseline !== undefined) {
    compiled.baseline = parseCondition(metric.baseline.condition, BASELINE_VARIABLES);
  }
  return compiled;
}

const NO_DATA_PHASE: Record<NoDataPolicy, MeasurementPhase> = {
  fail: 'Failed',
  inconclusive: 'Inconclusive',
  pass: 'Successful',
};

export interface MeasureInput {
  compiled: CompiledMetric;
  values: TemplateValues;
  query: QueryFn;
  now: Date;
  round: number;
  /** This metric's measurement number if the measurement counts. */
  n: number;
  signal?: AbortSignal;
}

/** Thrown inside a measurement to turn into an Error measurement. */
class Unmeasurable extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || error instanceof PrometheusAbortedError;
}

/**
 * Measures one metric once. Never throws for a measurement problem (that is an Error measurement);
 * rethrows only when the caller's signal aborted, so an interrupted round is not counted.
 */
export async function measureMetric(input: MeasureInput): Promise<Measurement> {
  const { compiled, values, now, round, n, signal } = input;
  const { metric } = compiled;
  const base: Measurement = {
    metric: metric.name,
    round,
    n,
    count: metric.count,
    at: now.toISOString(),
    phase: 'Error',
    query: clip(renderTemplate(metric.query, values), MAX_RECORDED_QUERY),
    reason: '',
  };
  const warnings: string[] = [];
  const run = async (promql: string): Promise<number | undefined> => {
    let result: QueryResult;
    try {
      result = await input.query(promql, signal, now);
    } catch (error) {
      if (isAbort(error, signal)) throw error;
      throw new Unmeasurable(error instanceof Error ? error : new Error(String(error)));
    }
    warnings.push(...result.warnings);
    try {
      return pickValue(result, metric.reduce);
    } catch (error) {
      throw new Unmeasurable(error as Error);
    }
  };
  let measurement: Measurement;
  try {
    measurement = await decide(compiled, values, base, run);
  } catch (error) {
    if (!(error instanceof Unmeasurable)) throw error;
    const name = error.error.name || 'Error';
    measurement = {
      ...base,
      phase: 'Error',
      reason: clip(`could not be measured: ${name}: ${error.error.message}`, MAX_REASON),
      error: { name, message: clip(error.error.message, MAX_REASON) },
    };
  }
  if (warnings.length > 0) measurement.warnings = [...new Set(warnings)].slice(0, 3).map((w) => clip(w, 200));
  return measurement;
}

async function decide(
  compiled: CompiledMetric,
  values: TemplateValues,
  base: Measurement,
  run: (promql: string) => Promise<number | undefined>,
): Promise<Measurement> {
  const { metric } = compiled;
  if (metric.minTraffic) {
    const trafficQuery = renderTemplate(metric.minTraffic.query, values);
    const traffic = await run(trafficQuery);
    const recorded = { ...base, trafficQuery: clip(trafficQuery, MAX_RECORDED_QUERY) };
    if (traffic !== undefined) recorded.traffic = toJsonNumber(traffic);
    if (traffic === undefined || traffic < metric.minTraffic.threshold) {
      const phase: MeasurementPhase = metric.minTraffic.onBelow === 'fail' ? 'Failed' : 'Inconclusive';
      const seen = traffic === undefined ? 'no traffic data' : `traffic ${formatValue(traffic)}`;
      return {
        ...recorded,
        phase,
        reason: `saw ${seen}, below the minimum ${formatValue(metric.minTraffic.threshold)} (${phase.toLowerCase()}; the canary query was not sent)`,
      };
    }
    base = recorded;
  }

  const baselineQuery = metric.baseline ? renderTemplate(metric.baseline.query, values) : undefined;
  const [canary, primary] = await Promise.all([
    run(renderTemplate(metric.query, values)),
    baselineQuery === undefined ? Promise.resolve(undefined) : run(baselineQuery),
  ]);
  const measured: Measurement = { ...base };
  if (baselineQuery !== undefined) measured.baselineQuery = clip(baselineQuery, MAX_RECORDED_QUERY);
  if (canary === undefined) {
    const phase = NO_DATA_PHASE[metric.onNoData];
    return { ...measured, phase, reason: `had no data (onNoData: ${metric.onNoData})` };
  }
  measured.value = toJsonNumber(canary);

  // Absolute conditions, Argo Rollouts semantics (failure first; both absent is impossible after validation).
  let absolute: { phase: MeasurementPhase; condition?: string; reason: string } | undefined;
  const env = { result: canary };
  const { success, failure } = compiled;
  if (failure && evaluateCondition(failure, env)) {
    absolute = {
      phase: 'Failed',
      condition: failure.source,
      reason: `met failure condition "${failure.source}"`,
    };
  } else if (success && evaluateCondition(success, env)) {
    absolute = {
      phase: 'Successful',
      condition: success.source,
      reason: `met condition "${success.source}"`,
    };
  } else if (success && failure) {
    absolute = {
      phase: 'Inconclusive',
      condition: success.source,
      reason: `met neither condition "${success.source}" nor failure condition "${failure.source}"`,
    };
  } else if (success) {
    absolute = { phase: 'Failed', condition: success.source, reason: `failed condition "${success.source}"` };
  } else if (failure) {
    absolute = {
      phase: 'Successful',
      condition: failure.source,
      reason: `did not meet failure condition "${failure.source}"`,
    };
  }
  if (absolute?.phase === 'Failed' || !metric.baseline || !compiled.baseline) {
    const decided = absolute ?? { phase: 'Successful' as const, reason: 'no condition' };
    const result: Measurement = { ...measured, phase: decided.phase, reason: decided.reason };
    if (decided.condition !== undefined) result.condition = decided.condition;
    return result;
  }

  if (primary === undefined) {
    const phase = NO_DATA_PHASE[metric.onNoData];
    return { ...measured, phase, reason: `with no baseline data (onNoData: ${metric.onNoData})` };
  }
  measured.baseline = toJsonNumber(primary);
  const compared = metric.baseline.compare === 'ratio' ? canary / primary : canary - primary;
  measured.compared = toJsonNumber(compared);
  const passed = evaluateCondition(compiled.baseline, { result: compared, canary, baseline: primary });
  const comparison = `vs baseline ${formatValue(primary)} (${metric.baseline.compare} ${formatValue(compared)})`;
  const verb = passed ? 'met' : 'failed';
  if (!passed || absolute === undefined || absolute.phase === 'Successful') {
    return {
      ...measured,
      phase: passed ? 'Successful' : 'Failed',
      condition: compiled.baseline.source,
      reason: `${comparison} ${verb} baseline condition "${compiled.baseline.source}"`,
    };
  }
  // The baseline passed but the absolute conditions were inconclusive.
  const result: Measurement = { ...measured, phase: absolute.phase, reason: absolute.reason };
  if (absolute.condition !== undefined) result.condition = absolute.condition;
  return result;
}

/** `success-rate = 0.71 failed condition "result >= 0.95"`: the metric, its value and the reason. */
export function describeMeasurement(measurement: Measurement): string {
  const value = measurement.value === undefined ? '' : ` = ${formatValue(measurement.value)}`;
  return `${measurement.metric}${value} ${measurement.reason}`;
}
