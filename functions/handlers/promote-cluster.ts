import { z } from 'zod';
import { updateSchema, withCluster } from '../lib/deploy/schemas.js';
import { promoteStep } from '../lib/deploy/steps/change.js';
import { stepHandler } from '../lib/handler.js';

const input = withCluster.extend({ update: updateSchema, progressDeadlineSeconds: z.number().int().min(0) });

/** PromoteCluster: records the cluster as touched, then updates its primary to the digest. */
export const handler = stepHandler('PromoteCluster', input, (deps, i, signal, invocation) =>
  promoteStep(deps, i, signal, invocation),
);
