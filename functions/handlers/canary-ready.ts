import { z } from 'zod';
import { changeSchema, withCluster } from '../lib/deploy/schemas.js';
import { canaryReadyStep } from '../lib/deploy/steps/analyze.js';
import { stepHandler } from '../lib/handler.js';

const input = withCluster.extend({ canary: changeSchema.extend({ replicas: z.number().int().optional() }) });

/** CanaryReady: the canary converged; notifies and starts the analysis. */
export const handler = stepHandler('CanaryReady', input, (deps, i, signal) =>
  canaryReadyStep(deps, i, signal),
);
