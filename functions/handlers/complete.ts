import { z } from 'zod';
import { deploymentSchema } from '../lib/deploy/schemas.js';
import { completeStep } from '../lib/deploy/steps.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({ deployment: deploymentSchema, clusters: z.array(z.string()) });

/** Complete: records success, notifies, releases the lock. */
export const handler = stepHandler('Complete', input, (deps, i, signal) => completeStep(deps, i, signal));
