import { withCluster } from '../lib/deploy/schemas.js';
import { preflightStep } from '../lib/deploy/steps/preflight.js';
import { engines, notifier, now, record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';

/** PreflightCluster: checks one cluster and snapshots its service before anything changes. */
export const handler = stepHandler(
  'PreflightCluster',
  withCluster,
  { engines, notifier, now, record },
  (deps, i, signal) => preflightStep(deps, i, signal),
);
