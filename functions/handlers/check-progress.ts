import { z } from 'zod';
import { changeSchema, withCluster } from '../lib/deploy/schemas.js';
import { progressStep } from '../lib/deploy/steps/change.js';
import { stepHandler } from '../lib/handler.js';

const input = withCluster.extend({ change: changeSchema, rollingBack: z.boolean().optional() });

/** CheckCanary / CheckCluster / CheckRollback: one progress check of a change, against its deadline. */
export const handler = stepHandler('CheckProgress', input, (deps, i, signal) =>
  progressStep(deps, i, signal),
);
