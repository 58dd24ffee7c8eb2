import { z } from 'zod';
import { planStep } from '../lib/deploy/steps/plan.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({ event: z.unknown(), executionName: z.string().min(1).max(80).optional() });

/** Plan: the ECR event becomes a plan (policy, verified digest, clusters, waves), an "ignored" outcome or a failed push. */
export const handler = stepHandler('Plan', input, (deps, i, signal) => planStep(deps, i, signal));
