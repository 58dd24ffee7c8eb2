import { changeSchema, withCluster } from '../lib/deploy/schemas.js';
import { canaryReadyStep } from '../lib/deploy/steps/analyze.js';
import { notifier, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.extend(withCluster, {
  canary: z.extend(changeSchema, { replicas: z.optional(z.int()) }),
});

/** CanaryReady: the canary converged; notifies and starts the analysis. */
export const handler = stepHandler('CanaryReady', input, { notifier, record }, (deps, i, signal) =>
  canaryReadyStep(deps, i, signal),
);
