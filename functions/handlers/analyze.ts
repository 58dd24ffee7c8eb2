import type { AnalysisState, DecisionRecord, Metric } from '../lib/analysis/index.js';
import { withCluster } from '../lib/deploy/schemas.js';
import { analyzeStep } from '../lib/deploy/steps/analyze.js';
import { metrics, notifier, now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.extend(withCluster, {
  metrics: z.array(z.looseObject({ name: z.string() })).check(z.minLength(1)),
  state: z.nullable(z.looseObject({})),
  record: z.nullable(z.looseObject({})),
});

/** Analyze: one measurement round of the canary on Prometheus. */
export const handler = stepHandler('Analyze', input, { metrics, notifier, now, record }, (deps, i, signal) =>
  analyzeStep(
    deps,
    {
      ...i,
      metrics: i.metrics as unknown as Metric[],
      state: i.state as AnalysisState | null,
      record: i.record as DecisionRecord | null,
    },
    signal,
  ),
);
