import { describe, expect, it } from 'vitest';
import type { Measurement } from '../../../functions/lib/analysis/measurement.js';
import {
  appendToRecord,
  type DecisionRecord,
  describeRecord,
  jsonBytes,
} from '../../../functions/lib/analysis/record.js';
import type { Decisive } from '../../../functions/lib/analysis/round.js';

function measurement(metric: string, round: number, extra: Partial<Measurement> = {}): Measurement {
  return {
    metric,
    round,
    n: round,
    count: 5,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, round * 30)).toISOString(),
    phase: 'Successful',
    query: `rate(x{service="web-canary"}[1m])`,
    value: 0.99,
    condition: 'result >= 0.95',
    reason: 'met condition "result >= 0.95"',
    ...extra,
  };
}

function decisive(metric: string, round: number): Decisive {
  return {
    metric,
    phase: 'Failed',
    round,
    at: '2026-01-01T00:00:00.000Z',
    sentence: `${metric} = 0.5 failed condition "result >= 0.95" (round ${round} of 5)`,
  };
}

describe('decision record', () => {
  it('keeps the latest N per metric and counts what it dropped', () => {
    let record: DecisionRecord | undefined;
    for (let round = 1; round <= 7; round++) {
      record = appendToRecord(
        record,
        { measurements: [measurement('a', round), measurement('b', round)] },
        { perMetric: 3 },
      );
    }
    expect(record?.metrics.a).toMatchObject({ total: 7, dropped: 4 });
    expect(record?.metrics.a?.latest.map((m) => m.round)).toEqual([5, 6, 7]);
    expect(record?.metrics.b?.latest).toHaveLength(3);
  });

  it('keeps the decisive measurement with its sentence, whatever is trimmed', () => {
    // prepare
    const failing = measurement('a', 2, { phase: 'Failed', value: 0.5 });
    // act: a byte budget so small that every kept measurement must go
    const record = appendToRecord(
      appendToRecord(undefined, { measurements: [measurement('a', 1)] }),
      { measurements: [failing, measurement('b', 2)], decisive: decisive('a', 2) },
      { maxBytes: 10 },
    );
    // assess
    expect(record.decisive).toMatchObject({ metric: 'a', round: 2, phase: 'Failed', value: 0.5 });
    expect(record.decisive?.sentence).toBe('a = 0.5 failed condition "result >= 0.95" (round 2 of 5)');
    expect(record.metrics.a?.latest).toEqual([]);
    expect(record.metrics.a).toMatchObject({ total: 2, dropped: 2 });
  });

  it('stays under its byte budget (well under 256 KiB) for a long analysis with long queries', () => {
    // prepare: 20 metrics, 500 rounds, every query at the recorded maximum
    const long = `sum(rate(x{service="web-canary"}[1m])) ${'+ 0 '.repeat(500)}`.slice(0, 2000);
    let record: DecisionRecord | undefined;
    let largest = 0;
    // act
    for (let round = 1; round <= 500; round++) {
      const measurements = Array.from({ length: 20 }, (_, i) =>
        measurement(`metric-${i}`, round, { query: long, baselineQuery: long, trafficQuery: long }),
      );
      record = appendToRecord(record, {
        measurements,
        ...(round === 500 ? { decisive: decisive('metric-3', 500) } : {}),
      });
      largest = Math.max(largest, jsonBytes(record));
    }
    // assess
    expect(largest).toBeLessThanOrEqual(64 * 1024);
    expect(record?.decisive?.metric).toBe('metric-3');
    expect(record?.metrics['metric-0']?.total).toBe(500);
    expect(
      Object.values(record?.metrics ?? {}).every(
        (m) => m.latest.at(-1)?.round === 500 || m.latest.length === 0,
      ),
    ).toBe(true);
  });

  it('does not change the record it is given', () => {
    const first = appendToRecord(undefined, { measurements: [measurement('a', 1)] });
    const copy = structuredClone(first);
    appendToRecord(first, { measurements: [measurement('a', 2)] }, { perMetric: 1 });
    expect(first).toEqual(copy);
  });

  it('describes itself in lines for people', () => {
    const record = appendToRecord(undefined, {
      measurements: [
        measurement('a', 1, { phase: 'Failed', value: 0.5, reason: 'failed condition "result >= 0.95"' }),
      ],
      decisive: decisive('a', 1),
    });
    expect(describeRecord(record)).toEqual([
      'decided by: a = 0.5 failed condition "result >= 0.95" (round 1 of 5)',
      '[2026-01-01T00:00:30.000Z] round 1: Failed: a = 0.5 failed condition "result >= 0.95"',
    ]);
  });
});
