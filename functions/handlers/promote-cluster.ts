import { updateSchema, withCluster } from '../lib/deploy/schemas.js';
import { promoteStep } from '../lib/deploy/steps/change.js';
import { contentReader, engines, now, record, registryAuth } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.extend(withCluster, {
  update: updateSchema,
  progressDeadlineSeconds: z.int().check(z.gte(0)),
});

/** PromoteCluster: records the cluster as touched, then updates its primary to the digest. */
export const handler = stepHandler(
  'PromoteCluster',
  input,
  { engines, now, record, registryAuth, contents: contentReader },
  (deps, i, signal, invocation) => promoteStep(deps, i, signal, invocation),
);
