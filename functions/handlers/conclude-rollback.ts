import { clusterResultSchema, deploymentSchema } from '../lib/deploy/schemas.js';
import { concludeRollbackStep } from '../lib/deploy/steps/rollback.js';
import { notifier, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({
  deployment: deploymentSchema,
  executionArn: z.string().check(z.minLength(1)),
  error: z.object({ Error: z.string(), Cause: z.optional(z.string()) }),
  results: z.array(clusterResultSchema),
});

/** ConcludeRollback: "rolled back" with the reason, or "rollback failed" loudly; the record is finished, the lock released. */
export const handler = stepHandler('ConcludeRollback', input, { notifier, record }, (deps, i, signal) =>
  concludeRollbackStep(deps, i, signal),
);
