import { withCluster } from '../lib/deploy/schemas.js';
import { rollbackStep } from '../lib/deploy/steps/rollback.js';
import { engines, now, record, registryAuth } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.extend(withCluster, { progressDeadlineSeconds: z.int().check(z.gte(0)) });

/** RollbackCluster: restores the cluster's service from its snapshot and removes the canary. */
export const handler = stepHandler(
  'RollbackCluster',
  input,
  { engines, now, record, registryAuth },
  (deps, i, signal) => rollbackStep(deps, i, signal),
);
