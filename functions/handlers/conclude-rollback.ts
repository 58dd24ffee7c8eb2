import { z } from 'zod';
import { clusterResultSchema, deploymentSchema } from '../lib/deploy/schemas.js';
import { concludeRollbackStep } from '../lib/deploy/steps/rollback.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({
  deployment: deploymentSchema,
  executionArn: z.string().min(1),
  error: z.object({ Error: z.string(), Cause: z.string().optional() }),
  results: z.array(clusterResultSchema),
});

/** ConcludeRollback: "rolled back" with the reason, or "rollback failed" loudly; the record is finished, the lock released. */
export const handler = stepHandler('ConcludeRollback', input, (deps, i, signal) =>
  concludeRollbackStep(deps, i, signal),
);
