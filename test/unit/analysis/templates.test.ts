import { describe, expect, it } from 'vitest';
import { parseMetric } from '../../../functions/lib/analysis/model.js';
import { appendToRecord } from '../../../functions/lib/analysis/record.js';
import { type AnalysisState, runRound, templateValues } from '../../../functions/lib/analysis/round.js';
import { checkTemplate, renderTemplate } from '../../../functions/lib/analysis/template.js';
import { latencyP99, restarts, successRate } from '../../../functions/lib/analysis/templates.js';
import { EMPTY, fakePrometheus, vector } from './fake-prometheus.js';

const VARS = { service: 'web', cluster: 'c1', digest: 'sha256:abc', tag: 'v2' };

describe('ready-made templates', () => {
  it('produce metrics that pass policy validation with their defaults', () => {
    for (const build of [successRate, latencyP99, restarts]) {
      const metric = parseMetric(build());
      expect(() => checkTemplate(metric.query)).not.toThrow();
      expect(metric.onNoData).not.toBe('pass');
    }
  });

  it('success-rate: 5xx share from the demo counters, guarded by traffic', () => {
    const metric = parseMetric(successRate());
    const values = templateValues(VARS, metric);
    expect(renderTemplate(metric.query, values)).toBe(
      '1 - ((sum(rate(demo_http_requests_total{service="web-canary",cluster="c1",code=~"5.."}[1m])) or vector(0))' +
        ' / sum(rate(demo_http_requests_total{service="web-canary",cluster="c1"}[1m])))',
    );
    expect(metric).toMatchObject({ successCondition: 'result >= 0.95', onNoData: 'inconclusive', count: 5 });
    expect(renderTemplate(metric.minTraffic?.query ?? '', values)).toBe(
      'sum(rate(demo_http_requests_total{service="web-canary",cluster="c1"}[1m]))',
    );
    expect(metric.minTraffic?.threshold).toBe(0.1);
  });

  it('success-rate: baseline compares with the primary on the same cluster', () => {
    const metric = parseMetric(
      successRate({ baselineMaxDrop: 0.02, minSuccessRate: 0.9, requestsMetric: 'http_requests_total' }),
    );
    expect(metric.baseline).toMatchObject({ compare: 'difference', condition: 'result >= -0.02' });
    expect(renderTemplate(metric.baseline?.query ?? '', templateValues(VARS, metric))).toContain(
      'http_requests_total{service="web",cluster="c1",code=~"5.."}',
    );
    expect(metric.successCondition).toBe('result >= 0.9');
  });

  it('latency-p99: histogram_quantile over the demo histogram', () => {
    const metric = parseMetric(latencyP99({ baselineMaxRatio: 1.5 }));
    const values = templateValues(VARS, metric);
    expect(renderTemplate(metric.query, values)).toBe(
      'histogram_quantile(0.99, sum by (le) (rate(demo_http_request_duration_seconds_bucket{service="web-canary",cluster="c1"}[1m])))',
    );
    expect(renderTemplate(metric.minTraffic?.query ?? '', values)).toBe(
      'sum(rate(demo_http_request_duration_seconds_count{service="web-canary",cluster="c1"}[1m]))',
    );
    expect(metric.baseline).toMatchObject({ compare: 'ratio', condition: 'result <= 1.5 or canary <= 0.05' });
  });

  it('restarts: task ids seen over the window that are not up now, no data fails', () => {
    const metric = parseMetric(restarts({ maxRestarts: 1 }));
    expect(renderTemplate(metric.query, templateValues(VARS, metric))).toBe(
      'count(count by (task_id) (max_over_time(up{service="web-canary",cluster="c1"}[5m])))' +
        ' - (count(count by (task_id) (up{service="web-canary",cluster="c1"} == 1)) or vector(0))',
    );
    expect(metric).toMatchObject({ successCondition: 'result <= 1', onNoData: 'fail', failureLimit: 0 });
    expect(() => restarts({ slotLabel: 'task_slot' } as never)).toThrow();
  });

  it('reject bad parameters', () => {
    expect(() => successRate({ minSuccessRate: 1.5 })).toThrow();
    expect(() => latencyP99({ histogram: 'bad name' })).toThrow();
    expect(() => successRate({ errorCodes: '5.."} or vector(1)' })).toThrow();
  });

  it('judge the demo app end to end: ERROR_RATE 0.2 fails, with the decisive measurement named', async () => {
    // prepare: 20% errors, 5 requests per second, p99 at 80 ms, no restarts
    const metrics = [parseMetric(successRate()), parseMetric(latencyP99()), parseMetric(restarts())];
    const { query } = fakePrometheus((promql) => {
      if (promql.startsWith('sum(rate(')) return vector(5);
      if (promql.startsWith('1 - ')) return vector(0.8);
      if (promql.startsWith('histogram_quantile')) return vector(0.08);
      if (promql.startsWith('count(')) return vector(0);
      return EMPTY;
    });
    // act
    let state: AnalysisState | undefined;
    let record = appendToRecord(undefined, { measurements: [] });
    let now = Date.parse('2026-03-01T10:00:00Z');
    let rounds = 0;
    for (;;) {
      const outcome = await runRound(state, metrics, VARS, query, new Date(now));
      record = appendToRecord(record, outcome);
      rounds += 1;
      if (outcome.done) break;
      state = outcome.state;
      now += outcome.waitSeconds * 1000;
    }
    // assess: failureLimit 1, so the second round fails
    expect(rounds).toBe(2);
    expect(record.decisive?.sentence).toBe(
      'success-rate = 0.8 failed condition "result >= 0.95" (round 2 of 5; 2 failed, limit 1)',
    );
    expect(record.decisive?.query).toContain('code=~"5.."');
    expect(record.metrics['latency-p99']?.latest.every((m) => m.phase === 'Successful')).toBe(true);
  });
});
