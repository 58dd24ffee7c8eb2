import type { PlannedCluster } from '../lib/deploy/plan.js';
import { clusterResultSchema, clusterSchema, deploymentSchema } from '../lib/deploy/schemas.js';
import { judgeWaveStep } from '../lib/deploy/steps/wave.js';
import { notifier, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({
  deployment: deploymentSchema,
  wave: z.object({ name: z.string(), maxFailures: z.int().check(z.gte(0)) }),
  clusters: z.array(clusterSchema),
  results: z.array(clusterResultSchema),
});

/** JudgeWave: fails past the wave's failure budget; within it, hands back the failed clusters to restore. */
export const handler = stepHandler('JudgeWave', input, { notifier, record }, (deps, i, signal) =>
  judgeWaveStep(deps, { ...i, clusters: i.clusters as unknown as PlannedCluster[] }, signal),
);
