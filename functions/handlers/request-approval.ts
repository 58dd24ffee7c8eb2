import { deploymentSchema } from '../lib/deploy/schemas.js';
import { requestApprovalStep } from '../lib/deploy/steps/waiting.js';
import { notifier, now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({
  deployment: deploymentSchema,
  taskToken: z.string().check(z.minLength(1), z.maxLength(2048)),
  timeoutSeconds: z.int(),
});

/** RequestApproval (.waitForTaskToken): keeps the token for the API and asks people to decide. */
export const handler = stepHandler('RequestApproval', input, { notifier, record, now }, (deps, i, signal) =>
  requestApprovalStep(deps, i, signal),
);
