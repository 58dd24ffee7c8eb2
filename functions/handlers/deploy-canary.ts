import { z } from 'zod';
import { withCluster } from '../lib/deploy/schemas.js';
import { deployCanaryStep } from '../lib/deploy/steps/change.js';
import { stepHandler } from '../lib/handler.js';

const input = withCluster.extend({
  percent: z.number().gt(0).max(100),
  progressDeadlineSeconds: z.number().int().min(0),
});

/** DeployCanary: records the canary cluster as touched, then creates <service>-canary with the digest. */
export const handler = stepHandler('DeployCanary', input, (deps, i, signal, invocation) =>
  deployCanaryStep(deps, i, signal, invocation),
);
