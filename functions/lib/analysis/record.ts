/**
 * The decision record: every measurement of an analysis, bounded in size. Keeps the latest N per
 * metric and the decisive one, and trims the oldest entries until the JSON fits a byte budget, so a
 * long analysis stays well under the 256 KiB Step Functions payload limit.
 */
import { describeMeasurement, type Measurement } from './measurement.js';
import type { Decisive, RoundOutcome } from './round.js';

export interface MetricRecord {
  /** Measurements seen for this metric, kept or not. */
  total: number;
  /** Measurements dropped to stay in bounds (the oldest first). */
  dropped: number;
  /** The latest measurements, oldest first. */
  latest: Measurement[];
}

export interface DecisionRecord {
  v: 1;
  metrics: Record<string, MetricRecord>;
  /** The measurement that decided the verdict, never dropped. */
  decisive?: Measurement & { sentence: string };
}

export interface RecordLimits {
  /** Latest measurements kept per metric (default 10). */
  perMetric?: number;
  /** Upper bound of the record's JSON size in bytes (default 64 KiB). */
  maxBytes?: number;
}

export const DEFAULT_PER_METRIC = 10;
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024;

export function emptyRecord(): DecisionRecord {
  return { v: 1, metrics: {} };
}

/** The JSON size of a value in bytes (UTF-8). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * Adds a round's measurements (and its decisive measurement, when the round decided) to the record
 * and bounds it. Returns a new record; the input is not changed.
 */
export function appendToRecord(
  record: DecisionRecord | undefined | null,
  outcome: Pick<RoundOutcome, 'measurements' | 'decisive'>,
  limits: RecordLimits = {},
): DecisionRecord {
  const perMetric = Math.max(1, limits.perMetric ?? DEFAULT_PER_METRIC);
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const next: DecisionRecord = { v: 1, metrics: {} };
  for (const [name, entry] of Object.entries(record?.metrics ?? {})) {
    next.metrics[name] = { total: entry.total, dropped: entry.dropped, latest: [...entry.latest] };
  }
  if (record?.decisive) next.decisive = record.decisive;

  for (const measurement of outcome.measurements) {
    const entry = next.metrics[measurement.metric] ?? { total: 0, dropped: 0, latest: [] };
    entry.total += 1;
    entry.latest.push(measurement);
    if (entry.latest.length > perMetric) {
      entry.dropped += entry.latest.length - perMetric;
      entry.latest.splice(0, entry.latest.length - perMetric);
    }
    next.metrics[measurement.metric] = entry;
  }
  if (outcome.decisive) {
    const decisive = findDecisive(outcome.measurements, outcome.decisive);
    if (decisive) next.decisive = { ...decisive, sentence: outcome.decisive.sentence };
  }
  return trimToBytes(next, maxBytes);
}

function findDecisive(measurements: readonly Measurement[], decisive: Decisive): Measurement | undefined {
  return measurements.find((m) => m.metric === decisive.metric && m.round === decisive.round);
}

/** Drops the oldest measurements of the metric with the most kept entries until the JSON fits. */
function trimToBytes(record: DecisionRecord, maxBytes: number): DecisionRecord {
  let size = jsonBytes(record);
  while (size > maxBytes) {
    let largest: MetricRecord | undefined;
    for (const entry of Object.values(record.metrics)) {
      if (entry.latest.length > 0 && (!largest || entry.latest.length > largest.latest.length))
        largest = entry;
    }
    if (!largest) break; // only the decisive measurement is left; measurements are clipped, so it is small
    const removed = largest.latest.shift() as Measurement;
    largest.dropped += 1;
    size -= jsonBytes(removed) + 1;
  }
  return record;
}

/** The record as lines for people: the decisive sentence, then each kept measurement. */
export function describeRecord(record: DecisionRecord): string[] {
  const lines: string[] = [];
  if (record.decisive) lines.push(`decided by: ${record.decisive.sentence}`);
  for (const [name, entry] of Object.entries(record.metrics)) {
    if (entry.dropped > 0) lines.push(`${name}: ${entry.dropped} older measurement(s) not kept`);
    for (const m of entry.latest)
      lines.push(`[${m.at}] round ${m.round}: ${m.phase}: ${describeMeasurement(m)}`);
  }
  return lines;
}
