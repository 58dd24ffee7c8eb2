import { z } from 'zod';
import { deploymentSchema } from '../lib/deploy/schemas.js';
import { requestApprovalStep } from '../lib/deploy/steps/waiting.js';
import { stepHandler } from '../lib/handler.js';

const input = z.object({
  deployment: deploymentSchema,
  taskToken: z.string().min(1).max(2048),
  timeoutSeconds: z.number().int(),
});

/** RequestApproval (.waitForTaskToken): keeps the token for the API and asks people to decide. */
export const handler = stepHandler('RequestApproval', input, (deps, i, signal) =>
  requestApprovalStep(deps, i, signal),
);
