import { deploymentSchema } from '../lib/deploy/schemas.js';
import { bakeWaveStep } from '../lib/deploy/steps/waiting.js';
import { record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({
  deployment: deploymentSchema,
  wave: z.string().check(z.minLength(1)),
  taskToken: z.string().check(z.minLength(1), z.maxLength(2048)),
});

/** BakeWave (.waitForTaskToken): keeps the token so that an abort ends the bake at once. */
export const handler = stepHandler('BakeWave', input, { record }, (deps, i, signal) =>
  bakeWaveStep(deps, i, signal),
);
