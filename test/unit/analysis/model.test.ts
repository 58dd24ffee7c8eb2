import { describe, expect, it } from 'vitest';
import { PolicyValidationError } from '../../../functions/lib/analysis/errors.js';
import {
  analysisSchema,
  type MetricInput,
  parseAnalysisPolicy,
  parseMetric,
} from '../../../functions/lib/analysis/model.js';

const VALID: MetricInput = {
  name: 'error-rate',
  query:
    'sum(rate(x{service="{{canaryService}}",code=~"5.."}[{{window}}])) / sum(rate(x{service="{{canaryService}}"}[{{window}}]))',
  successCondition: 'result < 0.05',
  interval: '30s',
  count: 5,
  onNoData: 'inconclusive',
};

function issuesOf(input: unknown): PolicyValidationError {
  try {
    parseAnalysisPolicy(input);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyValidationError);
    return error as PolicyValidationError;
  }
  throw new Error('expected the policy to be rejected');
}

describe('metric schema', () => {
  it('normalises durations and fills the limits', () => {
    const metric = parseMetric({ ...VALID, interval: '1m', initialDelay: 10, window: '2m' });
    expect(metric).toMatchObject({
      interval: 60,
      initialDelay: 10,
      window: 120,
      failureLimit: 0,
      inconclusiveLimit: 0,
      consecutiveErrorLimit: 4,
    });
  });

  it('requires onNoData: no default lets an idle canary pass', () => {
    const { onNoData: _omitted, ...withoutNoData } = VALID;
    const error = issuesOf({ metrics: [withoutNoData] });
    expect(error.issues).toEqual([
      expect.objectContaining({
        metric: 'error-rate',
        field: 'onNoData',
        message: expect.stringContaining('required'),
      }),
    ]);
  });

  it('accepts a baseline metric without absolute conditions', () => {
    const { successCondition: _omitted, ...rest } = VALID;
    const metric = parseMetric({
      ...rest,
      baseline: { query: 'vector(1)', compare: 'ratio', condition: 'result <= 1.5 or canary < 0.01' },
    });
    expect(metric.baseline?.compare).toBe('ratio');
  });

  it('rejects a metric with no condition and no baseline', () => {
    const { successCondition: _omitted, ...rest } = VALID;
    const error = issuesOf({ metrics: [rest] });
    expect(error.message).toContain('needs a successCondition, a failureCondition or a baseline');
  });

  it('rejects limits that could never trip', () => {
    const error = issuesOf({ metrics: [{ ...VALID, count: 3, failureLimit: 3 }] });
    expect(error.issues[0]).toMatchObject({ metric: 'error-rate', field: 'failureLimit' });
  });

  it('rejects unknown fields (typos are not silently ignored)', () => {
    const error = issuesOf({ metrics: [{ ...VALID, failurelimit: 2 }] });
    expect(error.message).toContain('failurelimit');
  });
});

describe('policy validation at load', () => {
  it('points at the metric, the field and the offset of an unknown template variable', () => {
    // prepare
    const query = 'sum(rate(x{service="{{servce}}"}[5m]))';
    // act
    const error = issuesOf({ metrics: [{ ...VALID, query }] });
    // assess
    expect(error.name).toBe('PolicyValidationError');
    expect(error.retryable).toBe(false);
    expect(error.issues).toEqual([
      expect.objectContaining({ metric: 'error-rate', field: 'query', offset: query.indexOf('servce') }),
    ]);
    expect(error.message).toMatch(
      /metric "error-rate", field query, offset 22: .*unknown template variable "servce"/,
    );
    expect(error.message).toContain('near');
  });

  it('points at malformed PromQL braces and quotes', () => {
    const error = issuesOf({
      metrics: [
        { ...VALID, name: 'a', query: 'sum(rate(x{service="{{service}}"}[5m])' },
        { ...VALID, name: 'b', query: 'up{service="{{service}}}' },
        { ...VALID, name: 'c', query: '' },
      ],
    });
    expect(error.issues.map((i) => [i.metric, i.field, i.offset])).toEqual([
      ['a', 'query', 3],
      ['b', 'query', 11],
      ['c', 'query', 0],
    ]);
  });

  it('points at malformed conditions, including baseline and traffic fields', () => {
    const error = issuesOf({
      metrics: [
        {
          ...VALID,
          successCondition: 'result >= 0.95 and',
          failureCondition: 'reslt > 0.1',
          minTraffic: { query: 'sum(rate(x[{{window}}])', threshold: 1 },
          baseline: { query: 'vector(1)', compare: 'ratio', condition: 'result < canary <= 2' },
        },
      ],
    });
    expect(error.issues.map((i) => [i.field, i.offset])).toEqual([
      ['successCondition', 18],
      ['failureCondition', 0],
      ['minTraffic.query', 3],
      ['baseline.condition', 16],
    ]);
    expect(error.issues.every((i) => i.metric === 'error-rate')).toBe(true);
  });

  it('names a metric by its position when it has no usable name, and rejects duplicates', () => {
    const unnamed = issuesOf({ metrics: [{ ...VALID, name: undefined }] });
    expect(unnamed.issues).toEqual([expect.objectContaining({ metric: 'metrics[0]', field: 'name' })]);
    const duplicate = issuesOf({ metrics: [VALID, { ...VALID, query: 'vector(0)' }] });
    expect(duplicate.issues).toEqual([
      expect.objectContaining({
        metric: 'error-rate',
        field: 'name',
        message: expect.stringContaining('duplicate'),
      }),
    ]);
  });

  it('rejects an empty metric list', () => {
    const error = issuesOf({ metrics: [] });
    expect(error.issues[0]).toMatchObject({ field: 'metrics' });
  });

  it('can be embedded in a larger schema and still validates deeply', () => {
    // The service-policy schema embeds analysisSchema; its own errors must still carry the offset.
    const result = analysisSchema.safeParse({ metrics: [{ ...VALID, successCondition: 'result = 1' }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['metrics', 0, 'successCondition']);
    expect(result.error?.issues[0]?.message).toMatch(/compare with "==".*offset 7/);
  });
});

describe('template references in a policy', () => {
  it('expands templates with params and overrides, merging nested objects', () => {
    const policy = parseAnalysisPolicy({
      metrics: [
        {
          template: 'success-rate',
          params: { minSuccessRate: 0.99, baselineMaxDrop: 0.02 },
          count: 8,
          minTraffic: { threshold: 2 },
        },
        { template: 'latency-p99', name: 'p99', params: { maxSeconds: 0.25 } },
        { template: 'restarts', minTraffic: null },
      ],
    });
    const [success, latency, restarts] = policy.metrics;
    expect(success).toMatchObject({
      name: 'success-rate',
      successCondition: 'result >= 0.99',
      count: 8,
      minTraffic: { threshold: 2, onBelow: 'inconclusive' },
      baseline: { compare: 'difference', condition: 'result >= -0.02' },
    });
    expect(success?.minTraffic?.query).toContain('demo_http_requests_total');
    expect(latency).toMatchObject({ name: 'p99', successCondition: 'result <= 0.25' });
    expect(restarts).toMatchObject({ name: 'restarts', onNoData: 'fail' });
  });

  it('rejects unknown templates and bad params with the metric and field', () => {
    const error = issuesOf({
      metrics: [{ template: 'succes-rate' }, { template: 'latency-p99', params: { quantile: 2, typo: 1 } }],
    });
    expect(error.issues).toEqual([
      expect.objectContaining({
        metric: 'metrics[0]',
        field: 'template',
        message: expect.stringContaining('unknown template'),
      }),
      expect.objectContaining({ metric: 'latency-p99', field: 'params.quantile' }),
      expect.objectContaining({ metric: 'latency-p99', field: 'params' }),
    ]);
  });

  it('validates overrides like any metric field', () => {
    const error = issuesOf({ metrics: [{ template: 'success-rate', successCondition: 'result >= ' }] });
    expect(error.issues[0]).toMatchObject({ metric: 'success-rate', field: 'successCondition', offset: 10 });
  });
});
