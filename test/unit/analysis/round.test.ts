import { describe, expect, it } from 'vitest';
import { AnalysisAbortedError, AnalysisStateError } from '../../../functions/lib/analysis/errors.js';
import { type MetricInput, parseAnalysisPolicy, parseMetric } from '../../../functions/lib/analysis/model.js';
import { appendToRecord, type DecisionRecord } from '../../../functions/lib/analysis/record.js';
import {
  type AnalysisState,
  type AnalysisVars,
  type RoundOutcome,
  runRound,
} from '../../../functions/lib/analysis/round.js';
import type { QueryFn } from '../../../functions/lib/prometheus/client.js';
import {
  PrometheusAbortedError,
  PrometheusQueryError,
  PrometheusUnavailableError,
} from '../../../functions/lib/prometheus/errors.js';
import type { QueryResult } from '../../../functions/lib/prometheus/result.js';
import { EMPTY, fakePrometheus, vector } from './fake-prometheus.js';

const VARS: AnalysisVars = { service: 'web', cluster: 'c1', digest: 'sha256:abc', tag: 'v2' };
const START = Date.parse('2026-03-01T10:00:00Z');

/** A plain metric on one query, with an absolute success condition. */
function metric(overrides: Partial<MetricInput> = {}): MetricInput {
  return {
    name: 'success-rate',
    query: 'success{service="{{canaryService}}"}',
    successCondition: 'result >= 0.95',
    interval: '30s',
    count: 5,
    failureLimit: 1,
    inconclusiveLimit: 1,
    consecutiveErrorLimit: 2,
    onNoData: 'inconclusive',
    ...overrides,
  };
}

interface Run {
  outcomes: RoundOutcome[];
  last: RoundOutcome;
  record: DecisionRecord;
}

/**
 * Runs rounds like the workflow does: the state goes through JSON between rounds (a Step Functions
 * payload) and the clock advances by waitSeconds.
 */
async function analyse(inputs: MetricInput[], query: QueryFn, maxRounds = 100): Promise<Run> {
  const { metrics } = parseAnalysisPolicy({ metrics: inputs });
  let state: AnalysisState | undefined;
  let record: DecisionRecord | undefined;
  let now = START;
  const outcomes: RoundOutcome[] = [];
  for (let i = 0; i < maxRounds; i++) {
    const outcome = await runRound(state, metrics, VARS, query, new Date(now));
    outcomes.push(outcome);
    record = appendToRecord(record, outcome);
    if (outcome.done) break;
    state = JSON.parse(JSON.stringify(outcome.state)) as AnalysisState;
    now += outcome.waitSeconds * 1000;
  }
  const last = outcomes[outcomes.length - 1] as RoundOutcome;
  return { outcomes, last, record: record as DecisionRecord };
}

const constant = (result: QueryResult | Error) => fakePrometheus(() => result).query;

describe('runRound: verdicts over sequences of rounds', () => {
  it('passes a healthy canary after exactly `count` rounds', async () => {
    // act
    const { outcomes, last } = await analyse([metric({ count: 5 })], constant(vector(0.999)));
    // assess
    expect(outcomes.map((o) => o.phase)).toEqual(['Running', 'Running', 'Running', 'Running', 'Successful']);
    expect(outcomes.slice(0, -1).every((o) => o.waitSeconds === 30)).toBe(true);
    expect(last).toMatchObject({ done: true, waitSeconds: 0 });
    expect(last.state.metrics['success-rate']).toMatchObject({ measured: 5, successful: 5, failed: 0 });
    expect(last.decisive?.sentence).toBe(
      'success-rate = 0.999 met condition "result >= 0.95" (round 5 of 5)',
    );
  });

  it.each([0, 1, 2, 3])(
    'fails a bad canary within failureLimit + 1 rounds (failureLimit %i)',
    async (failureLimit) => {
      const { outcomes, last } = await analyse([metric({ failureLimit })], constant(vector(0.71)));
      expect(last.phase).toBe('Failed');
      expect(outcomes).toHaveLength(failureLimit + 1);
      expect(last.decisive).toMatchObject({
        metric: 'success-rate',
        value: 0.71,
        condition: 'result >= 0.95',
      });
      expect(last.decisive?.sentence).toBe(
        `success-rate = 0.71 failed condition "result >= 0.95" (round ${failureLimit + 1} of 5; ${failureLimit + 1} failed, limit ${failureLimit})`,
      );
    },
  );

  it('tolerates failures up to the limit (Argo semantics)', async () => {
    const values = [0.99, 0.5, 0.99, 0.99, 0.99];
    const { query } = fakePrometheus((_q, call) => vector(values[call - 1] ?? 1));
    const { last } = await analyse([metric({ failureLimit: 1 })], query);
    expect(last.phase).toBe('Successful');
    expect(last.state.metrics['success-rate']).toMatchObject({ successful: 4, failed: 1 });
  });

  describe('no data never passes', () => {
    it('is Inconclusive past inconclusiveLimit with onNoData: inconclusive', async () => {
      const { outcomes, last } = await analyse([metric({ inconclusiveLimit: 1 })], constant(EMPTY));
      expect(last.phase).toBe('Inconclusive');
      expect(outcomes).toHaveLength(2);
      expect(last.decisive?.sentence).toBe(
        'success-rate had no data (onNoData: inconclusive) (round 2 of 5; 2 inconclusive, limit 1)',
      );
    });

    it('is Failed past failureLimit with onNoData: fail', async () => {
      const { outcomes, last } = await analyse(
        [metric({ onNoData: 'fail', failureLimit: 1 })],
        constant(EMPTY),
      );
      expect(last.phase).toBe('Failed');
      expect(outcomes).toHaveLength(2);
    });

    it('treats NaN (0/0 of an idle canary) as no data', async () => {
      const { last } = await analyse(
        [metric({ successCondition: 'result >= 0.95 or result != result' })],
        constant(vector(Number.NaN)),
      );
      expect(last.phase).toBe('Inconclusive');
      expect(last.measurements[0]?.reason).toContain('no data');
    });

    it('is never Successful for any limits, even when the limits are as loose as allowed', async () => {
      for (const onNoData of ['fail', 'inconclusive'] as const) {
        for (let limit = 0; limit < 5; limit++) {
          const inputs = [metric({ onNoData, inconclusiveLimit: limit, failureLimit: limit })];
          const { outcomes } = await analyse(inputs, constant(EMPTY));
          expect(outcomes.map((o) => o.phase)).not.toContain('Successful');
          expect(outcomes[outcomes.length - 1]?.done).toBe(true);
        }
      }
    });

    it('keeps an idle canary from passing through the traffic guard, even with onNoData: pass', async () => {
      // prepare: the success query would pass, but the canary serves no traffic.
      const { query, calls } = fakePrometheus((promql) =>
        promql.startsWith('traffic') ? vector(0) : vector(1),
      );
      const inputs = [
        metric({
          onNoData: 'pass',
          minTraffic: { query: 'traffic{service="{{canaryService}}"}', threshold: 0.5 },
        }),
      ];
      // act
      const { outcomes, last } = await analyse(inputs, query);
      // assess
      expect(outcomes.map((o) => o.phase)).not.toContain('Successful');
      expect(last.phase).toBe('Inconclusive');
      expect(last.decisive?.sentence).toBe(
        'success-rate saw traffic 0, below the minimum 0.5 (inconclusive; the canary query was not sent) (round 2 of 5; 2 inconclusive, limit 1)',
      );
      expect(calls.every((c) => c.promql === 'traffic{service="web-canary"}')).toBe(true);
    });

    it('fails low traffic when the guard says onBelow: fail, and counts an empty traffic query as below', async () => {
      const { query } = fakePrometheus((promql) => (promql.startsWith('traffic') ? EMPTY : vector(1)));
      const inputs = [
        metric({ minTraffic: { query: 'traffic', threshold: 1, onBelow: 'fail' }, failureLimit: 0 }),
      ];
      const { last } = await analyse(inputs, query);
      expect(last.phase).toBe('Failed');
      expect(last.measurements[0]?.reason).toContain('no traffic data');
    });

    it('is Inconclusive at the end when no measurement succeeded', async () => {
      // count 3, one inconclusive tolerated, and the rest failed within its limit: nothing passed.
      const answers = [EMPTY, vector(0.1), vector(0.1)];
      const { query } = fakePrometheus((_q, call) => answers[call - 1] ?? EMPTY);
      const { last } = await analyse([metric({ count: 3, failureLimit: 2, inconclusiveLimit: 1 })], query);
      expect(last.phase).toBe('Inconclusive');
      expect(last.decisive?.sentence).toContain('no successful measurement');
    });

    it('passes on no data only when the policy says onNoData: pass and has no guard', async () => {
      const { last } = await analyse([metric({ onNoData: 'pass', count: 2 })], constant(EMPTY));
      expect(last.phase).toBe('Successful');
    });
  });

  describe('errors (could not measure)', () => {
    it('ends in Error once consecutive errors pass the limit, naming the error', async () => {
      const down = new PrometheusUnavailableError(
        'Prometheus at http://127.0.0.1:9 is unavailable (ECONNREFUSED)',
      );
      const { outcomes, last } = await analyse([metric({ consecutiveErrorLimit: 2 })], constant(down));
      expect(outcomes.map((o) => o.phase)).toEqual(['Running', 'Running', 'Error']);
      expect(outcomes.flatMap((o) => o.measurements.map((m) => m.phase))).toEqual([
        'Error',
        'Error',
        'Error',
      ]);
      expect(last.state.metrics['success-rate']).toMatchObject({
        measured: 0,
        error: 3,
        consecutiveErrors: 3,
      });
      expect(last.decisive?.sentence).toBe(
        'success-rate could not be measured: PrometheusUnavailableError: Prometheus at http://127.0.0.1:9 is unavailable (ECONNREFUSED) (3 consecutive errors, limit 2)',
      );
      expect(last.measurements[0]?.error).toEqual({
        name: 'PrometheusUnavailableError',
        message: 'Prometheus at http://127.0.0.1:9 is unavailable (ECONNREFUSED)',
      });
    });

    it('resets the streak on a measurement and does not count errors toward `count`', async () => {
      const down = new PrometheusQueryError('bad_data');
      const answers = [down, down, vector(1), down, down, vector(1), down, vector(1)];
      const { query } = fakePrometheus((_q, call) => answers[call - 1] ?? vector(1));
      const { outcomes, last } = await analyse([metric({ count: 3, consecutiveErrorLimit: 2 })], query);
      expect(last.phase).toBe('Successful');
      expect(outcomes).toHaveLength(8);
      expect(last.state.metrics['success-rate']).toMatchObject({
        measured: 3,
        error: 5,
        consecutiveErrors: 0,
      });
    });

    it('records several series without reduce as an Error (AmbiguousResultError)', async () => {
      const { last } = await analyse([metric({ consecutiveErrorLimit: 0 })], constant(vector(0.99, 0.5)));
      expect(last.phase).toBe('Error');
      expect(last.measurements[0]?.error?.name).toBe('AmbiguousResultError');
      expect(last.measurements[0]?.reason).toContain('returned 2 series ({task_slot="1"}, {task_slot="2"})');
    });

    it.each([
      ['max', 0.99, 'Successful'],
      ['min', 0.5, 'Failed'],
      ['avg', 0.745, 'Failed'],
      ['sum', 1.49, 'Successful'],
    ] as const)('reduces several series with %s', async (reduce, value, phase) => {
      const { outcomes } = await analyse(
        [metric({ reduce, failureLimit: 0 })],
        constant(vector(0.99, 0.5, Number.NaN)),
      );
      expect(outcomes[0]?.measurements[0]?.value).toBeCloseTo(value);
      expect(outcomes[0]?.measurements[0]?.phase).toBe(phase);
    });
  });

  describe('baseline form', () => {
    const baseline = {
      query: 'success{service="{{service}}"}',
      compare: 'difference' as const,
      condition: 'result >= -0.01',
    };
    const answers = fakePrometheus((promql) =>
      promql.includes('"web-canary"') ? vector(0.97) : vector(0.999),
    );

    it('fails a canary worse than its primary while the absolute threshold would pass', async () => {
      // prepare: both above 0.95, but the canary is 2.9 points below the primary.
      const absoluteOnly = await analyse([metric()], answers.query);
      // act
      const compared = await analyse([metric({ baseline })], answers.query);
      // assess
      expect(absoluteOnly.last.phase).toBe('Successful');
      expect(compared.last.phase).toBe('Failed');
      expect(compared.outcomes).toHaveLength(2);
      expect(compared.last.measurements[0]).toMatchObject({ value: 0.97, baseline: 0.999, phase: 'Failed' });
      expect(compared.last.decisive?.sentence).toBe(
        'success-rate = 0.97 vs baseline 0.999 (difference -0.029) failed baseline condition "result >= -0.01" (round 2 of 5; 2 failed, limit 1)',
      );
    });

    it('passes a canary as good as its primary, and queries both at the same time', async () => {
      const { query, calls } = fakePrometheus(() => vector(0.995));
      const { last } = await analyse([metric({ baseline, count: 2 })], query);
      expect(last.phase).toBe('Successful');
      expect(
        calls
          .map((c) => c.promql)
          .slice(0, 2)
          .sort(),
      ).toEqual(['success{service="web"}', 'success{service="web-canary"}']);
      expect(calls[0]?.time?.getTime()).toBe(calls[1]?.time?.getTime());
    });

    it('compares by ratio, with canary and baseline in scope', async () => {
      const ratio = {
        query: 'p99{service="{{service}}"}',
        compare: 'ratio' as const,
        condition: 'result <= 1.5 or canary <= 0.05',
      };
      const latency = (canary: number, primary: number) =>
        fakePrometheus((promql) => (promql.includes('"web-canary"') ? vector(canary) : vector(primary)))
          .query;
      const input = metric({
        name: 'p99',
        query: 'p99{service="{{canaryService}}"}',
        successCondition: 'result <= 1',
        baseline: ratio,
        failureLimit: 0,
      });
      expect((await analyse([input], latency(0.4, 0.1))).last.phase).toBe('Failed'); // 4x slower
      expect((await analyse([input], latency(0.04, 0.01))).last.phase).toBe('Successful'); // 4x, but tiny
      expect((await analyse([input], latency(0.12, 0.1))).last.phase).toBe('Successful');
    });

    it('applies onNoData when the primary has no data', async () => {
      const { query } = fakePrometheus((promql) => (promql.includes('"web-canary"') ? vector(0.99) : EMPTY));
      const { last } = await analyse([metric({ baseline, inconclusiveLimit: 0 })], query);
      expect(last.phase).toBe('Inconclusive');
      expect(last.decisive?.sentence).toContain('with no baseline data (onNoData: inconclusive)');
    });

    it('fails on the absolute condition even when the baseline is as bad', async () => {
      const { last } = await analyse([metric({ baseline, failureLimit: 0 })], constant(vector(0.5)));
      expect(last.phase).toBe('Failed');
      expect(last.decisive?.condition).toBe('result >= 0.95');
    });
  });

  describe('conditions', () => {
    it('reads a lone failure condition as Failed when true, Successful when false', async () => {
      const input = metric({
        successCondition: undefined,
        failureCondition: 'result > 0.05',
        failureLimit: 0,
        count: 2,
      });
      expect((await analyse([input], constant(vector(0.2)))).last.decisive?.sentence).toBe(
        'success-rate = 0.2 met failure condition "result > 0.05" (round 1 of 2; 1 failed, limit 0)',
      );
      expect((await analyse([input], constant(vector(0.01)))).last.phase).toBe('Successful');
    });

    it('is Inconclusive between a success and a failure condition', async () => {
      const input = metric({
        successCondition: 'result < 0.01',
        failureCondition: 'result > 0.05',
        inconclusiveLimit: 0,
      });
      const { last } = await analyse([input], constant(vector(0.03)));
      expect(last.phase).toBe('Inconclusive');
      expect(last.measurements[0]?.reason).toBe(
        'met neither condition "result < 0.01" nor failure condition "result > 0.05"',
      );
    });

    it('handles +Inf values', async () => {
      const { last } = await analyse(
        [metric({ successCondition: 'result <= 0.5', failureLimit: 0 })],
        constant(vector(Number.POSITIVE_INFINITY)),
      );
      expect(last.phase).toBe('Failed');
      expect(last.decisive?.value).toBe('+Inf');
      expect(last.decisive?.sentence).toMatch(/^success-rate = \+Inf failed/);
    });
  });

  describe('several metrics', () => {
    it('ends as soon as one metric fails, naming that metric', async () => {
      const { query } = fakePrometheus((promql) => (promql.startsWith('latency') ? vector(2) : vector(0.99)));
      const inputs = [
        metric(),
        metric({ name: 'latency', query: 'latency', successCondition: 'result < 1', failureLimit: 0 }),
      ];
      const { outcomes, last } = await analyse(inputs, query);
      expect(outcomes).toHaveLength(1);
      expect(last.phase).toBe('Failed');
      expect(last.decisive?.metric).toBe('latency');
      expect(last.state.metrics['success-rate']?.phase).toBe('Running');
    });

    it('orders verdicts Failed > Error > Inconclusive', async () => {
      const { query } = fakePrometheus((promql) => {
        if (promql === 'bad') return vector(0);
        if (promql === 'down') return new PrometheusUnavailableError('down');
        return EMPTY;
      });
      const inputs = [
        metric({ name: 'empty', query: 'empty', inconclusiveLimit: 0 }),
        metric({ name: 'down', query: 'down', consecutiveErrorLimit: 0 }),
        metric({ name: 'bad', query: 'bad', failureLimit: 0 }),
      ];
      expect((await analyse(inputs, query)).last).toMatchObject({
        phase: 'Failed',
        decisive: { metric: 'bad' },
      });
      expect((await analyse(inputs.slice(0, 2), query)).last).toMatchObject({
        phase: 'Error',
        decisive: { metric: 'down' },
      });
      expect((await analyse(inputs.slice(0, 1), query)).last.phase).toBe('Inconclusive');
    });

    it('measures each metric on its own interval and initial delay', async () => {
      const { query, calls } = fakePrometheus(() => vector(1));
      const inputs = [
        metric({ name: 'fast', query: 'fast', interval: 30, count: 4 }),
        metric({ name: 'slow', query: 'slow', interval: 60, count: 2, initialDelay: '30s' }),
      ];
      const { outcomes, last } = await analyse(inputs, query);
      expect(last.phase).toBe('Successful');
      expect(outcomes.map((o) => o.measurements.map((m) => m.metric).join('+'))).toEqual([
        'fast',
        'fast+slow',
        'fast',
        'fast+slow',
      ]);
      expect(outcomes.map((o) => o.waitSeconds)).toEqual([30, 30, 30, 0]);
      expect(calls).toHaveLength(6);
    });
  });

  describe('state', () => {
    it('stays compact JSON: a few KiB even for the largest policy', async () => {
      const inputs = Array.from({ length: 20 }, (_, i) =>
        metric({ name: `metric-with-a-longish-name-${i}`, query: `q${i}` }),
      );
      const { outcomes } = await analyse(inputs, constant(vector(0.99)));
      for (const outcome of outcomes) {
        expect(Buffer.byteLength(JSON.stringify(outcome.state))).toBeLessThan(6 * 1024);
      }
      const small = await analyse([metric()], constant(vector(0.99)));
      expect(Buffer.byteLength(JSON.stringify(small.last.state))).toBeLessThan(1024);
    });

    it('returns a decided state unchanged without querying', async () => {
      const { last } = await analyse([metric({ failureLimit: 0 })], constant(vector(0)));
      const { query, calls } = fakePrometheus(() => vector(1));
      const again = await runRound(
        last.state,
        [parseMetric(metric({ failureLimit: 0 }))],
        VARS,
        query,
        new Date(START),
      );
      expect(again).toMatchObject({ phase: 'Failed', done: true, measurements: [] });
      expect(calls).toHaveLength(0);
    });

    it('rejects a state that belongs to other metrics', async () => {
      const { outcomes } = await analyse([metric({ count: 3 })], constant(vector(1)), 1);
      const other = [parseMetric(metric({ name: 'other' }))];
      await expect(
        runRound(outcomes[0]?.state, other, VARS, constant(vector(1)), new Date(START)),
      ).rejects.toThrow(AnalysisStateError);
    });

    it('rejects deployment variables that could change the query', async () => {
      const metrics = [parseMetric(metric())];
      const vars = { ...VARS, service: 'web"} or vector(1) #' };
      await expect(runRound(undefined, metrics, vars, constant(vector(1)), new Date(START))).rejects.toThrow(
        /deployment variable service/,
      );
    });

    it('renders the deployment variables and the window', async () => {
      const { query, calls } = fakePrometheus(() => vector(1));
      const input = metric({
        query:
          'x{s="{{service}}",c="{{canaryService}}",k="{{cluster}}",d="{{digest}}",t="{{tag}}"}[{{window}}]',
        window: '2m',
      });
      await analyse([input], query, 1);
      expect(calls[0]?.promql).toBe('x{s="web",c="web-canary",k="c1",d="sha256:abc",t="v2"}[2m]');
      expect(calls[0]?.time?.toISOString()).toBe('2026-03-01T10:00:00.000Z');
      const custom = fakePrometheus(() => vector(1));
      const metrics = [parseMetric(metric({ query: '{{canaryService}} {{window}}', interval: 90 }))];
      await runRound(
        undefined,
        metrics,
        { ...VARS, canaryService: 'web-next' },
        custom.query,
        new Date(START),
      );
      expect(custom.calls[0]?.promql).toBe('web-next 90s');
    });

    it('throws on abort instead of counting the round', async () => {
      const controller = new AbortController();
      const query: QueryFn = async () => {
        controller.abort();
        throw new PrometheusAbortedError('aborted');
      };
      const metrics = [parseMetric(metric())];
      await expect(
        runRound(undefined, metrics, VARS, query, new Date(START), { signal: controller.signal }),
      ).rejects.toThrow(AnalysisAbortedError);
    });

    it('throws on an abort that comes after the queries answered', async () => {
      const controller = new AbortController();
      const query: QueryFn = async () => {
        controller.abort();
        return vector(1);
      };
      const metrics = [parseMetric(metric())];
      const error = await runRound(undefined, metrics, VARS, query, new Date(START), {
        signal: controller.signal,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AnalysisAbortedError);
      expect(error).toMatchObject({ name: 'AnalysisAbortedError', retryable: true });
    });

    it('accepts its own parsed metrics again (the workflow carries them as JSON)', () => {
      const policy = parseAnalysisPolicy({ metrics: [metric({ minTraffic: { query: 't', threshold: 1 } })] });
      expect(parseAnalysisPolicy(JSON.parse(JSON.stringify(policy)))).toEqual(policy);
    });
  });
});
