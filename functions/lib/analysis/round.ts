/**
 * Measurement rounds and the analysis verdict. The workflow calls {@link runRound} from a Lambda,
 * waits `waitSeconds` in a Step Functions Wait state, and calls it again with the returned state
 * until the phase is no longer Running. The state is compact JSON; the measurements go to the
 * decision record (see record.ts), not into the state.
 */
import type { QueryFn } from '../prometheus/client.js';
import { PrometheusAbortedError } from '../prometheus/errors.js';
import { AnalysisAbortedError, AnalysisStateError } from './errors.js';
import {
  compileMetric,
  describeMeasurement,
  type Measurement,
  type MeasurementPhase,
  measureMetric,
} from './measurement.js';
import type { Metric } from './model.js';
import { assertSafeValue, formatPromDuration, type TemplateValues } from './template.js';

export type MetricPhase = 'Running' | 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
/** Running until decided; then Successful, Failed (measured bad), Inconclusive, or Error (could not measure). */
export type AnalysisPhase = MetricPhase;

/** Running totals for one metric. */
export interface MetricStatus {
  phase: MetricPhase;
  /** Measurements that counted toward `count` (all but Error). */
  measured: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  consecutiveErrors: number;
  /** When the next measurement is due (ISO). */
  nextAt: string;
}

/** What decided the verdict, in a sentence an alert can show. */
export interface Decisive {
  metric: string;
  phase: MeasurementPhase;
  value?: Measurement['value'];
  condition?: string;
  round: number;
  at: string;
  sentence: string;
}

/** The state the workflow carries between rounds (a few hundred bytes per metric). */
export interface AnalysisState {
  v: 1;
  phase: AnalysisPhase;
  /** Rounds run so far. */
  round: number;
  startedAt: string;
  updatedAt: string;
  metrics: Record<string, MetricStatus>;
  decisive?: Decisive;
}

/** The deployment's values for the query templates. */
export interface AnalysisVars {
  service: string;
  /** Default `<service>-canary`. */
  canaryService?: string;
  cluster: string;
  digest: string;
  tag: string;
}

export interface RoundOutcome {
  state: AnalysisState;
  phase: AnalysisPhase;
  done: boolean;
  /** Seconds the Wait state should wait before the next round; 0 once done. */
  waitSeconds: number;
  /** This round's measurements, for the decision record. */
  measurements: Measurement[];
  decisive?: Decisive;
  /** One line for logs and the execution output. */
  summary: string;
}

export interface RoundOptions {
  /** Aborts the round (the Lambda is about to time out): the round then throws and counts nothing. */
  signal?: AbortSignal;
}

/** A measurement is due when its time is at most this far ahead: Wait states and cold starts jitter. */
const DUE_TOLERANCE_MS = 1000;

/** The state before the first round. */
export function startAnalysis(metrics: readonly Metric[], now: Date): AnalysisState {
  const at = now.getTime();
  const statuses: Record<string, MetricStatus> = {};
  for (const metric of metrics) {
    statuses[metric.name] = {
      phase: 'Running',
      measured: 0,
      successful: 0,
      failed: 0,
      inconclusive: 0,
      error: 0,
      consecutiveErrors: 0,
      nextAt: new Date(at + metric.initialDelay * 1000).toISOString(),
    };
  }
  return {
    v: 1,
    phase: 'Running',
    round: 0,
    startedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    metrics: statuses,
  };
}

/** The template values for a metric: the deployment's, plus its window. */
export function templateValues(vars: AnalysisVars, metric: Metric): TemplateValues {
  const window = metric.window ?? Math.max(metric.interval, 60);
  return {
    service: vars.service,
    canaryService: vars.canaryService ?? `${vars.service}-canary`,
    cluster: vars.cluster,
    digest: vars.digest,
    tag: vars.tag,
    window: formatPromDuration(window),
  };
}

function checkVars(vars: AnalysisVars): void {
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) continue;
    if (typeof value !== 'string')
      throw new AnalysisStateError(`deployment variable ${name} is not a string`);
    assertSafeValue(name, value);
  }
  if (vars.service === '' || vars.cluster === '') {
    throw new AnalysisStateError('deployment variables service and cluster must not be empty');
  }
}

function checkState(state: AnalysisState, metrics: readonly Metric[]): void {
  if (state.v !== 1 || typeof state.metrics !== 'object' || state.metrics === null) {
    throw new AnalysisStateError('analysis state is not a version 1 state');
  }
  const names = metrics.map((m) => m.name);
  const known = Object.keys(state.metrics);
  const missing = names.filter((name) => !Object.hasOwn(state.metrics, name));
  const extra = known.filter((name) => !names.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    throw new AnalysisStateError(
      `analysis state does not match the metrics (missing: ${missing.join(', ') || 'none'}; unknown: ${extra.join(', ') || 'none'})`,
    );
  }
}

/**
 * Applies Argo Rollouts-like limits to a metric's totals, in this order: failed past failureLimit
 * is Failed; consecutive errors past consecutiveErrorLimit is Error; inconclusive past
 * inconclusiveLimit is Inconclusive; `count` measurements done is Successful if at least one was
 * Successful (otherwise Inconclusive: a metric never passes on no successful measurement).
 */
export function metricPhase(status: Omit<MetricStatus, 'phase' | 'nextAt'>, metric: Metric): MetricPhase {
  if (status.failed > metric.failureLimit) return 'Failed';
  if (status.consecutiveErrors > metric.consecutiveErrorLimit) return 'Error';
  if (status.inconclusive > metric.inconclusiveLimit) return 'Inconclusive';
  if (status.measured >= metric.count) return status.successful > 0 ? 'Successful' : 'Inconclusive';
  return 'Running';
}

/**
 * The analysis verdict from the metrics' phases: any Failed is Failed, then any Error is Error, then
 * any Inconclusive is Inconclusive (each ends the analysis at once); all Successful is Successful.
 */
export function analysisPhase(phases: readonly MetricPhase[]): AnalysisPhase {
  for (const phase of ['Failed', 'Error', 'Inconclusive'] as const) {
    if (phases.includes(phase)) return phase;
  }
  return phases.length > 0 && phases.every((p) => p === 'Successful') ? 'Successful' : 'Running';
}

function applyMeasurement(
  status: MetricStatus,
  measurement: Measurement,
  metric: Metric,
  now: Date,
): MetricStatus {
  const next: MetricStatus = {
    ...status,
    nextAt: new Date(now.getTime() + metric.interval * 1000).toISOString(),
  };
  if (measurement.phase === 'Error') {
    next.error += 1;
    next.consecutiveErrors += 1;
  } else {
    next.consecutiveErrors = 0;
    next.measured += 1;
    if (measurement.phase === 'Successful') next.successful += 1;
    else if (measurement.phase === 'Failed') next.failed += 1;
    else next.inconclusive += 1;
  }
  next.phase = metricPhase(next, metric);
  return next;
}

/**
 * The sentence an alert shows for the measurement that decided a metric's phase, e.g.
 * `success-rate = 0.71 failed condition "result >= 0.95" (round 2 of 5; 2 failed, limit 1)`.
 */
export function decisiveSentence(measurement: Measurement, status: MetricStatus, metric: Metric): string {
  const described = describeMeasurement(measurement);
  if (measurement.phase === 'Error') {
    return `${described} (${status.consecutiveErrors} consecutive errors, limit ${metric.consecutiveErrorLimit})`;
  }
  const notes = [`round ${measurement.n} of ${measurement.count}`];
  if (status.phase === 'Failed') notes.push(`${status.failed} failed, limit ${metric.failureLimit}`);
  if (status.phase === 'Inconclusive') {
    notes.push(
      status.inconclusive > metric.inconclusiveLimit
        ? `${status.inconclusive} inconclusive, limit ${metric.inconclusiveLimit}`
        : 'no successful measurement',
    );
  }
  return `${described} (${notes.join('; ')})`;
}

/**
 * Runs one measurement round: measures every metric that is due (all of them when they share an
 * interval), updates the running totals and the verdict. Pure apart from `query`; `now` is the
 * evaluation time of every query in the round, so canary and baseline see the same window.
 * A state that is already decided is returned unchanged, without querying.
 * @throws AnalysisStateError when the state does not match the metrics or a variable is unusable
 * @throws AnalysisAbortedError when `options.signal` aborts the round (nothing is counted)
 */
export async function runRound(
  state: AnalysisState | undefined | null,
  metrics: readonly Metric[],
  vars: AnalysisVars,
  query: QueryFn,
  now: Date = new Date(),
  options: RoundOptions = {},
): Promise<RoundOutcome> {
  if (metrics.length === 0) throw new AnalysisStateError('an analysis needs at least one metric');
  checkVars(vars);
  const current = state ?? startAnalysis(metrics, now);
  checkState(current, metrics);
  if (current.phase !== 'Running') return outcome(current, [], metrics, now);

  const due = metrics.filter((metric) => {
    const status = current.metrics[metric.name] as MetricStatus;
    return status.phase === 'Running' && Date.parse(status.nextAt) <= now.getTime() + DUE_TOLERANCE_MS;
  });
  const round = current.round + (due.length > 0 ? 1 : 0);
  const measuring = Promise.all(
    due.map((metric) => {
      const status = current.metrics[metric.name] as MetricStatus;
      return measureMetric({
        compiled: compileMetric(metric),
        values: templateValues(vars, metric),
        query,
        now,
        round,
        n: status.measured + 1,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }),
  );
  let measurements: Measurement[];
  try {
    measurements = await measuring;
    if (options.signal?.aborted) throw options.signal.reason;
  } catch (error) {
    if (options.signal?.aborted || error instanceof PrometheusAbortedError) {
      throw new AnalysisAbortedError('the measurement round was aborted; nothing was counted', {
        cause: error,
      });
    }
    throw error;
  }

  const statuses: Record<string, MetricStatus> = { ...current.metrics };
  due.forEach((metric, index) => {
    statuses[metric.name] = applyMeasurement(
      statuses[metric.name] as MetricStatus,
      measurements[index] as Measurement,
      metric,
      now,
    );
  });
  const phase = analysisPhase(metrics.map((m) => (statuses[m.name] as MetricStatus).phase));
  const next: AnalysisState = { ...current, phase, round, updatedAt: now.toISOString(), metrics: statuses };
  if (phase !== 'Running') {
    // The decisive measurement: this round's, of the first metric (policy order) whose phase is the verdict.
    const index = due.findIndex((metric) => (statuses[metric.name] as MetricStatus).phase === phase);
    const metric = due[index];
    const measurement = measurements[index];
    if (metric && measurement) {
      const decisive: Decisive = {
        metric: metric.name,
        phase: measurement.phase,
        round,
        at: measurement.at,
        sentence: decisiveSentence(measurement, statuses[metric.name] as MetricStatus, metric),
      };
      if (measurement.value !== undefined) decisive.value = measurement.value;
      if (measurement.condition !== undefined) decisive.condition = measurement.condition;
      next.decisive = decisive;
    }
  }
  return outcome(next, measurements, metrics, now);
}

function outcome(
  state: AnalysisState,
  measurements: Measurement[],
  metrics: readonly Metric[],
  now: Date,
): RoundOutcome {
  const done = state.phase !== 'Running';
  let waitSeconds = 0;
  if (!done) {
    const nextAt = Math.min(
      ...metrics
        .map((m) => state.metrics[m.name] as MetricStatus)
        .filter((s) => s.phase === 'Running')
        .map((s) => Date.parse(s.nextAt)),
    );
    waitSeconds = Math.max(1, Math.ceil((nextAt - now.getTime()) / 1000));
  }
  const result: RoundOutcome = {
    state,
    phase: state.phase,
    done,
    waitSeconds,
    measurements,
    summary: summarize(state, metrics),
  };
  if (state.decisive) result.decisive = state.decisive;
  return result;
}

/** One line: the verdict and what decided it, or the progress of a running analysis. */
export function summarize(state: AnalysisState, metrics: readonly Metric[]): string {
  if (state.phase !== 'Running') {
    return `analysis ${state.phase} after ${state.round} round(s)${state.decisive ? `: ${state.decisive.sentence}` : ''}`;
  }
  const progress = metrics
    .map((m) => {
      const s = state.metrics[m.name] as MetricStatus;
      return `${m.name} ${s.measured}/${m.count} (${s.successful} ok, ${s.failed} failed, ${s.inconclusive} inconclusive, ${s.error} errors)`;
    })
    .join('; ');
  return `analysis Running after ${state.round} round(s): ${progress}`;
}
