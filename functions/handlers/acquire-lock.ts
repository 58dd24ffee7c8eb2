import type { Plan } from '../lib/deploy/plan.js';
import { clusterSchema, deploymentSchema } from '../lib/deploy/schemas.js';
import { acquireLockStep } from '../lib/deploy/steps/lock.js';
import { notifier, now, record, workflow } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({
  plan: z.looseObject({
    outcome: z.literal('deploy'),
    deployment: deploymentSchema,
    clusters: z.array(clusterSchema).check(z.minLength(1)),
  }),
  concurrency: z.enum(['queue', 'supersede', 'reject']),
  executionArn: z.string().check(z.minLength(1)),
  queueDeadline: z.pipe(
    z.nullish(z.string()),
    z.transform((v) => v ?? undefined),
  ),
  queueSeconds: z.optional(z.int().check(z.positive())),
});

/** AcquireLock: the service's lock (and the plan stored as the record), or superseded / busy / rejected. */
export const handler = stepHandler(
  'AcquireLock',
  input,
  { notifier, now, record, workflow },
  (deps, i, signal) =>
    acquireLockStep(deps, { ...i, plan: i.plan as unknown as Extract<Plan, { outcome: 'deploy' }> }, signal),
);
