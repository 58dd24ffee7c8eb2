import { planStep } from '../lib/deploy/steps/plan.js';
import { catalog, config, contentReader, now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({
  event: z.unknown(),
  executionName: z.optional(z.string().check(z.minLength(1), z.maxLength(80))),
});

/** Plan: the ECR event becomes a plan (policy, verified digest, clusters, waves), an "ignored" outcome or a failed push. */
export const handler = stepHandler(
  'Plan',
  input,
  { catalog, config, contents: contentReader, now, record },
  (deps, i, signal) => planStep(deps, i, signal),
);
