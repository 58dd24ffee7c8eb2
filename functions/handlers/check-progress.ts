import { changeSchema, withCluster } from '../lib/deploy/schemas.js';
import { progressStep } from '../lib/deploy/steps/change.js';
import { engines, now, record, registryAuth } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.extend(withCluster, { change: changeSchema, rollingBack: z.optional(z.boolean()) });

/** CheckCanary / CheckCluster / CheckRollback: one progress check of a change, against its deadline. */
export const handler = stepHandler(
  'CheckProgress',
  input,
  { engines, now, record, registryAuth },
  (deps, i, signal) => progressStep(deps, i, signal),
);
