import { z } from 'zod';
import { withCluster } from '../lib/deploy/schemas.js';
import { rollbackStep } from '../lib/deploy/steps/rollback.js';
import { stepHandler } from '../lib/handler.js';

const input = withCluster.extend({ progressDeadlineSeconds: z.number().int().min(0) });

/** RollbackCluster: restores the cluster's service from its snapshot and removes the canary. */
export const handler = stepHandler('RollbackCluster', input, (deps, i, signal) =>
  rollbackStep(deps, i, signal),
);
