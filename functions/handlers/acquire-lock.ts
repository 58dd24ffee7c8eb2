import { z } from 'zod';
import { deploymentSchema } from '../lib/deploy/schemas.js';
import { acquireLockStep } from '../lib/deploy/steps.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({
  deployment: deploymentSchema,
  concurrency: z.enum(['queue', 'supersede', 'reject']),
  executionArn: z.string().min(1),
  queueDeadline: z
    .string()
    .nullish()
    .transform((v) => v ?? undefined),
  queueSeconds: z.number().int().positive().optional(),
});

/** AcquireLock: the service's lock, or duplicate / superseded / busy (queue, supersede) / rejected. */
export const handler = stepHandler('AcquireLock', input, (deps, i, signal) =>
  acquireLockStep(deps, i, signal),
);
