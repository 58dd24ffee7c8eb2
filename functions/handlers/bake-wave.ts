import { deploymentSchema } from '../lib/deploy/schemas.js';
import { bakeWaveStep, checkPauseStep, holdWaveStep } from '../lib/deploy/steps/waiting.js';
import { now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const token = z.string().check(z.minLength(1), z.maxLength(2048));
// The modes first: zod's union takes the first schema that matches, and an object schema ignores
// keys it does not list (a hold's input also has everything a bake's has).
const input = z.union([
  z.object({
    deployment: deploymentSchema,
    wave: z.string().check(z.minLength(1)),
    mode: z.literal('check-pause'),
  }),
  z.object({
    deployment: deploymentSchema,
    wave: z.string().check(z.minLength(1)),
    mode: z.literal('hold'),
    taskToken: token,
  }),
  z.object({ deployment: deploymentSchema, wave: z.string().check(z.minLength(1)), taskToken: token }),
]);

/**
 * The wave's waits. BakeWave (.waitForTaskToken): keeps the token so that an abort ends the bake
 * at once. CheckPause: whether an operator asked the deployment to hold before this wave.
 * HoldWave (.waitForTaskToken): keeps the token that `resume` completes.
 */
export const handler = stepHandler(
  'BakeWave',
  input,
  { record, now },
  (deps, i, signal): Promise<unknown> => {
    if ('mode' in i && i.mode === 'check-pause') return checkPauseStep(deps, i, signal);
    if ('mode' in i && i.mode === 'hold') return holdWaveStep(deps, i, signal);
    return bakeWaveStep(
      deps,
      i as { deployment: typeof i.deployment; wave: string; taskToken: string },
      signal,
    );
  },
);
