import { withCluster } from '../lib/deploy/schemas.js';
import { removeCanaryStep } from '../lib/deploy/steps/change.js';
import { stepHandler } from '../lib/handler.js';

/** RemoveCanary: removes <service>-canary once every wave runs the digest. */
export const handler = stepHandler('RemoveCanary', withCluster, (deps, i, signal) =>
  removeCanaryStep(deps, i, signal),
);
