import type { PlannedCluster } from '../lib/deploy/plan.js';
import { clusterSchema, deploymentSchema } from '../lib/deploy/schemas.js';
import { listTouchedStep } from '../lib/deploy/steps/rollback.js';
import { record } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.object({ deployment: deploymentSchema, clusters: z.array(clusterSchema) });

/** ListTouched: every cluster this deployment changed (canary or primary), for rollback. */
export const handler = stepHandler('ListTouched', input, { record }, (deps, i, signal) =>
  listTouchedStep(
    deps,
    { deployment: i.deployment, clusters: i.clusters as unknown as PlannedCluster[] },
    signal,
  ),
);
