/**
 * A malformed query template or condition is rejected when the policy is loaded, with a message that
 * points at it (metric, field, offset, excerpt), never mid-deployment. What the light template check
 * cannot see (PromQL that Prometheus itself rejects) is shown on the real Prometheus: an Error
 * measurement naming Prometheus's bad_data, not a pass and not a crash.
 */
import { describe, expect, it } from 'vitest';
import {
  type PolicyIssue,
  PolicyValidationError,
  parseAnalysisPolicy,
} from '../../../functions/lib/analysis/index.js';
import { fleet } from '../support/fleet.js';
import { clusterNamed, LiveAnalysis, queryFor, runId } from './live.js';

/** A service policy's analysis section as a user writes it (JSON in the repository). */
const POLICY = `{
  "metrics": [
    { "template": "success-rate", "params": { "minSuccessRate": 0.99, "baselineMaxDrop": 0.01 }, "count": 10 },
    { "template": "latency-p99", "name": "p99", "params": { "maxSeconds": 0.25 } },
    {
      "name": "error-share",
      "query": "sum(rate(demo_http_requests_total{service=\\"{{canaryService}}\\",cluster=\\"{{cluster}}\\",code=~\\"5..\\"}[{{window}}])) / sum(rate(demo_http_requests_total{service=\\"{{canaryService}}\\",cluster=\\"{{cluster}}\\"}[{{window}}]))",
      "failureCondition": "result > 0.05",
      "interval": "30s",
      "count": 5,
      "onNoData": "inconclusive"
    }
  ]
}`;

/** The policy with one string replaced, as a typo would. */
const withTypo = (from: string, to: string) => {
  expect(POLICY).toContain(from);
  return JSON.parse(POLICY.replace(from, to)) as unknown;
};

const queryOf = (input: unknown, metric: string): string => {
  const entry = (input as { metrics: Array<{ name?: string; query?: string }> }).metrics.find(
    (m) => m.name === metric,
  );
  return entry?.query ?? '';
};

function rejection(input: unknown): { error: PolicyValidationError; issue: PolicyIssue } {
  try {
    parseAnalysisPolicy(input);
  } catch (error) {
    if (!(error instanceof PolicyValidationError)) throw error;
    const [issue] = error.issues;
    if (!issue || error.issues.length !== 1) throw new Error(`expected one issue: ${error.message}`);
    return { error, issue };
  }
  throw new Error('the policy was accepted');
}

describe('policy load', () => {
  it('accepts the realistic policy', () => {
    // Act
    const policy = parseAnalysisPolicy(JSON.parse(POLICY));
    // Assess
    expect(policy.metrics.map((m) => m.name)).toEqual(['success-rate', 'p99', 'error-share']);
    expect(policy.metrics[0]?.baseline?.condition).toBe('result >= -0.01');
  });

  it('rejects an unknown template variable, pointing at it', () => {
    // Prepare
    const input = withTypo(
      '{{canaryService}}\\",cluster=\\"{{cluster}}\\",code',
      '{{canary}}\\",cluster=\\"{{cluster}}\\",code',
    );
    const query = queryOf(input, 'error-share');
    // Act
    const { error, issue } = rejection(input);
    // Assess: the offset is the variable's name inside the braces
    expect(error.name).toBe('PolicyValidationError');
    expect(issue).toMatchObject({
      metric: 'error-share',
      field: 'query',
      offset: query.indexOf('{{canary}}') + 2,
    });
    expect(error.message).toMatch(
      /^invalid analysis policy: metric "error-share", field query, offset \d+: malformed query template: unknown template variable "canary" \(known: service, canaryService, cluster, digest, tag, window\), near "….*\{\{canary\}\}/,
    );
  });

  it('rejects an unbalanced query, pointing at the bracket left open', () => {
    // Prepare: the last ")" of the query is lost, so the second sum( is never closed
    const input = withTypo('[{{window}}]))",', '[{{window}}])",');
    const query = queryOf(input, 'error-share');
    // Act
    const { error, issue } = rejection(input);
    // Assess
    const offset = query.indexOf(' / sum(') + ' / sum'.length;
    expect(issue).toMatchObject({ metric: 'error-share', field: 'query', offset });
    expect(error.message).toContain(
      `field query, offset ${offset}: malformed query template: "(" is never closed`,
    );
  });

  it('rejects a malformed condition, pointing at the operator', () => {
    // Act
    const { error, issue } = rejection(withTypo('"result > 0.05"', '"result => 0.05"'));
    // Assess
    expect(issue).toMatchObject({ metric: 'error-share', field: 'failureCondition', offset: 7 });
    expect(error.message).toBe(
      'invalid analysis policy: metric "error-share", field failureCondition, offset 7: malformed condition: ' +
        '"=" is not an operator: compare with "==", near "result => 0.05"',
    );
  });

  it('rejects a condition on a template metric, naming the template metric', () => {
    // Act: an override of the p99 template's condition that is not true/false
    const { error, issue } = rejection(
      withTypo('"name": "p99",', '"name": "p99", "successCondition": "result * 1000",'),
    );
    // Assess
    expect(issue).toMatchObject({ metric: 'p99', field: 'successCondition', offset: 0 });
    expect(error.message).toContain('a condition must be true or false, but this is a number');
  });

  it('turns PromQL that only Prometheus can reject into an Error measurement naming bad_data', async () => {
    // Prepare: balanced and well-formed for the light check, but not PromQL (rate of an instant vector)
    const f = await fleet();
    const c1 = clusterNamed(f, 'c1');
    const policy = parseAnalysisPolicy({
      metrics: [
        {
          name: 'not-promql',
          query: 'rate(demo_http_requests_total{service="{{canaryService}}"})',
          successCondition: 'result < 1',
          interval: '5s',
          count: 1,
          consecutiveErrorLimit: 0,
          onNoData: 'fail',
        },
      ],
    });
    const analysis = new LiveAnalysis(
      policy.metrics,
      { service: `${runId()}-x`, cluster: 'c1', digest: 'sha256:0', tag: 'v0' },
      queryFor(c1),
    );
    // Act
    const final = await analysis.untilDone();
    // Assess
    expect(final.phase).toBe('Error');
    expect(final.measurements[0]?.error?.name).toBe('PrometheusQueryError');
    expect(final.measurements[0]?.error?.message).toMatch(
      /^Prometheus at http:\/\/10\.231\.1\.2:9090 answered bad_data \(HTTP 400\): /,
    );
  });
});
