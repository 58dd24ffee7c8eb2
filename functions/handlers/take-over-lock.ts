import { deploymentSchema } from '../lib/deploy/schemas.js';
import { takeOverLockStep } from '../lib/deploy/steps/lock.js';
import { now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({
  deployment: deploymentSchema,
  from: z.string().check(z.minLength(1)),
  executionArn: z.string().check(z.minLength(1)),
});

/** TakeOverLock: the rollback of a stopped deployment takes its service's lock before changing anything. */
export const handler = stepHandler('TakeOverLock', input, { now, record }, (deps, i, signal) =>
  takeOverLockStep(deps, i, signal),
);
