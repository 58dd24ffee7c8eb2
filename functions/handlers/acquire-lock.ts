import { z } from 'zod';
import type { Plan } from '../lib/deploy/plan.js';
import { clusterSchema, deploymentSchema } from '../lib/deploy/schemas.js';
import { acquireLockStep } from '../lib/deploy/steps/lock.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({
  plan: z.looseObject({
    outcome: z.literal('deploy'),
    deployment: deploymentSchema,
    clusters: z.array(clusterSchema).min(1),
  }),
  concurrency: z.enum(['queue', 'supersede', 'reject']),
  executionArn: z.string().min(1),
  queueDeadline: z
    .string()
    .nullish()
    .transform((v) => v ?? undefined),
  queueSeconds: z.number().int().positive().optional(),
});

/** AcquireLock: the service's lock (and the plan stored as the record), or superseded / busy / rejected. */
export const handler = stepHandler('AcquireLock', input, (deps, i, signal) =>
  acquireLockStep(deps, { ...i, plan: i.plan as unknown as Extract<Plan, { outcome: 'deploy' }> }, signal),
);
