import { withCluster } from '../lib/deploy/schemas.js';
import { removeCanaryStep } from '../lib/deploy/steps/change.js';
import { engines, now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';

/** RemoveCanary: removes <service>-canary once every wave runs the digest. */
export const handler = stepHandler('RemoveCanary', withCluster, { engines, now, record }, (deps, i, signal) =>
  removeCanaryStep(deps, i, signal),
);
