import { z } from 'zod';
import { deploymentSchema } from '../lib/deploy/schemas.js';
import { bakeWaveStep } from '../lib/deploy/steps/waiting.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({
  deployment: deploymentSchema,
  wave: z.string().min(1),
  taskToken: z.string().min(1).max(2048),
});

/** BakeWave (.waitForTaskToken): keeps the token so that an abort ends the bake at once. */
export const handler = stepHandler('BakeWave', input, (deps, i, signal) => bakeWaveStep(deps, i, signal));
