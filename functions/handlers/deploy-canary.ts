import { withCluster } from '../lib/deploy/schemas.js';
import { deployCanaryStep } from '../lib/deploy/steps/change.js';
import { contentReader, engines, now, record, registryAuth } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.extend(withCluster, {
  percent: z.number().check(z.gt(0), z.lte(100)),
  progressDeadlineSeconds: z.int().check(z.gte(0)),
});

/** DeployCanary: records the canary cluster as touched, then creates <service>-canary with the digest. */
export const handler = stepHandler(
  'DeployCanary',
  input,
  { engines, now, record, registryAuth, contents: contentReader },
  (deps, i, signal, invocation) => deployCanaryStep(deps, i, signal, invocation),
);
