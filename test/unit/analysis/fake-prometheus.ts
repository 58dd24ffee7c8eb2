import type { QueryFn } from '../../../functions/lib/prometheus/client.js';
import type { QueryResult, Sample } from '../../../functions/lib/prometheus/result.js';

/** A vector of one unlabelled sample per value. */
export function vector(...values: number[]): QueryResult {
  return {
    resultType: 'vector',
    samples: values.map(
      (value, i): Sample => ({
        labels: values.length > 1 ? { task_slot: String(i + 1) } : {},
        value,
        timestampMs: 0,
      }),
    ),
    warnings: [],
  };
}

export const EMPTY: QueryResult = { resultType: 'vector', samples: [], warnings: [] };

export interface Call {
  promql: string;
  time: Date | undefined;
}

/**
 * A query function answering by the query's text: `answer` gets the PromQL and the 1-based call
 * round and returns a result, or an Error to throw.
 */
export function fakePrometheus(answer: (promql: string, call: number) => QueryResult | Error): {
  query: QueryFn;
  calls: Call[];
} {
  const calls: Call[] = [];
  const query: QueryFn = async (promql, _signal, time) => {
    calls.push({ promql, time });
    const result = answer(promql, calls.length);
    if (result instanceof Error) throw result;
    return result;
  };
  return { query, calls };
}
