import { z } from 'zod';
import { planStep } from '../lib/deploy/steps.js';
import { stepHandler } from '../lib/handler.js';

/** Plan: the ECR event becomes a plan (policy, verified digest, clusters, waves) or an "ignored" outcome. */
export const handler = stepHandler('Plan', z.object({ event: z.unknown() }), (deps, input, signal) =>
  planStep(deps, input.event, signal),
);
