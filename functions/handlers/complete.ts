import { deploymentSchema } from '../lib/deploy/schemas.js';
import { completeStep } from '../lib/deploy/steps/complete.js';
import { notifier, now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const failure = z.object({
  cluster: z.string(),
  error: z.optional(z.string()),
  cause: z.optional(z.string()),
});
const input = z.object({
  deployment: deploymentSchema,
  executionArn: z.string().check(z.minLength(1)),
  waves: z.array(
    z.object({
      wave: z.string(),
      promoted: z.array(z.string()),
      failed: z.array(failure),
      restored: z.nullish(z.array(z.extend(failure, { ok: z.boolean() }))),
    }),
  ),
});

/** Complete: finishes the record, tells what ran where (and what failed within a budget), releases the lock. */
export const handler = stepHandler('Complete', input, { notifier, now, record }, (deps, i, signal) =>
  completeStep(deps, i, signal),
);
