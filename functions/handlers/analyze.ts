import { z } from 'zod';
import type { AnalysisState, DecisionRecord, Metric } from '../lib/analysis/index.js';
import { withCluster } from '../lib/deploy/schemas.js';
import { analyzeStep } from '../lib/deploy/steps/analyze.js';
import { stepHandler } from '../lib/handler.js';

const input = withCluster.extend({
  metrics: z.array(z.looseObject({ name: z.string() })).min(1),
  state: z.looseObject({}).nullable(),
  record: z.looseObject({}).nullable(),
});

/** Analyze: one measurement round of the canary on Prometheus. */
export const handler = stepHandler('Analyze', input, (deps, i, signal) =>
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
