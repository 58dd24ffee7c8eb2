import { z } from 'zod';
import { deploymentSchema } from '../lib/deploy/schemas.js';
import { completeStep } from '../lib/deploy/steps/complete.js';
import { stepHandler } from '../lib/handler.js';

const failure = z.object({ cluster: z.string(), error: z.string().optional(), cause: z.string().optional() });
const input = z.object({
  deployment: deploymentSchema,
  executionArn: z.string().min(1),
  waves: z.array(
    z.object({
      wave: z.string(),
      promoted: z.array(z.string()),
      failed: z.array(failure),
      restored: z.array(failure.extend({ ok: z.boolean() })).nullish(),
    }),
  ),
});

/** Complete: finishes the record, tells what ran where (and what failed within a budget), releases the lock. */
export const handler = stepHandler('Complete', input, (deps, i, signal) => completeStep(deps, i, signal));
