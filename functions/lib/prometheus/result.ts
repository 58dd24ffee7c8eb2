import { PrometheusResponseError } from './errors.js';

/** One sample of an instant query: the series labels, the value (NaN and ±Infinity kept) and its time in ms. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
  timestampMs: number;
}

/**
 * The answer to an instant query, reduced to what the analysis needs. A scalar answer is one sample
 * without labels; an empty vector is `samples: []` (no data).
 */
export interface QueryResult {
  resultType: 'vector' | 'scalar';
  samples: Sample[];
  /** Prometheus `warnings` (and `infos`), passed through for the decision record. */
  warnings: string[];
}

/**
 * Parses a Prometheus sample value. The API sends numbers as strings, with `NaN`, `+Inf` and `-Inf`
 * spelled out (https://prometheus.io/docs/prometheus/latest/querying/api/#expression-query-result-formats).
 */
export function parseSampleValue(raw: unknown): number {
  if (typeof raw !== 'string')
    throw new PrometheusResponseError(`sample value is not a string: ${short(raw)}`);
  switch (raw) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  const value = Number(raw);
  if (raw.trim() === '' || Number.isNaN(value)) {
    throw new PrometheusResponseError(`sample value is not a number: ${short(raw)}`);
  }
  return value;
}

function parsePoint(point: unknown): { value: number; timestampMs: number } {
  if (!Array.isArray(point) || point.length !== 2 || typeof point[0] !== 'number') {
    throw new PrometheusResponseError(`sample is not [time, "value"]: ${short(point)}`);
  }
  return { timestampMs: Math.round(point[0] * 1000), value: parseSampleValue(point[1]) };
}

function parseLabels(metric: unknown): Record<string, string> {
  if (metric === undefined || metric === null) return {};
  if (typeof metric !== 'object' || Array.isArray(metric)) {
    throw new PrometheusResponseError(`series labels are not an object: ${short(metric)}`);
  }
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(metric)) {
    if (typeof value !== 'string') throw new PrometheusResponseError(`label ${key} is not a string`);
    labels[key] = value;
  }
  return labels;
}

/**
 * Turns the `data` of a successful `/api/v1/query` answer into a {@link QueryResult}.
 * @throws PrometheusResponseError for range vectors, strings, native histograms or malformed data.
 */
export function parseQueryData(data: unknown, warnings: string[] = []): QueryResult {
  if (typeof data !== 'object' || data === null) throw new PrometheusResponseError('response has no data');
  const { resultType, result } = data as { resultType?: unknown; result?: unknown };
  switch (resultType) {
    case 'scalar': {
      const point = parsePoint(result);
      return { resultType, samples: [{ labels: {}, ...point }], warnings };
    }
    case 'vector': {
      if (!Array.isArray(result)) throw new PrometheusResponseError('vector result is not an array');
      const samples = result.map((entry: unknown): Sample => {
        if (typeof entry !== 'object' || entry === null) {
          throw new PrometheusResponseError(`vector element is not an object: ${short(entry)}`);
        }
        const { metric, value, histogram } = entry as {
          metric?: unknown;
          value?: unknown;
          histogram?: unknown;
        };
        if (value === undefined && histogram !== undefined) {
          throw new PrometheusResponseError(
            'the query returned a native histogram; wrap it in histogram_quantile() or histogram_count()',
          );
        }
        return { labels: parseLabels(metric), ...parsePoint(value) };
      });
      return { resultType, samples, warnings };
    }
    case 'matrix':
      throw new PrometheusResponseError(
        'the query returned a range vector (matrix); wrap the range selector in a function such as rate() or max_over_time()',
      );
    case 'string':
      throw new PrometheusResponseError('the query returned a string, not a number');
    default:
      throw new PrometheusResponseError(`unknown resultType ${short(resultType)}`);
  }
}

function short(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
