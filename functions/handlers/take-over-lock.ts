import { z } from 'zod';
import { deploymentSchema } from '../lib/deploy/schemas.js';
import { takeOverLockStep } from '../lib/deploy/steps/lock.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({
  deployment: deploymentSchema,
  from: z.string().min(1),
  executionArn: z.string().min(1),
});

/** TakeOverLock: the rollback of a stopped deployment takes its service's lock before changing anything. */
export const handler = stepHandler('TakeOverLock', input, (deps, i, signal) =>
  takeOverLockStep(deps, i, signal),
);
