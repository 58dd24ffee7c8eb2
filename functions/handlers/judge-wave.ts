import { z } from 'zod';
import { clusterResultSchema, deploymentSchema } from '../lib/deploy/schemas.js';
import { judgeWaveStep } from '../lib/deploy/steps.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({
  deployment: deploymentSchema,
  wave: z.object({ name: z.string(), maxFailures: z.number().int().min(0) }),
  results: z.array(clusterResultSchema),
});

/** JudgeWave: fails the deployment when the wave's failures exceed its budget; notifies a promoted wave. */
export const handler = stepHandler('JudgeWave', input, (deps, i, signal) => judgeWaveStep(deps, i, signal));
