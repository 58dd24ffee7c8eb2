import { ConfigError } from '../lib/config/errors.js';
import { startDeployment } from '../lib/deploy/start.js';
import { workflow } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

/** StartDeployment (the ECR push rule's target): one execution per pushed image, named after it. */
export const handler = stepHandler('StartDeployment', z.unknown(), { workflow }, (deps, event, signal) => {
  const arn = process.env.STATE_MACHINE_ARN;
  if (!arn)
    throw new ConfigError(
      'environment variable STATE_MACHINE_ARN is not set (the infrastructure sets it on this function)',
    );
  return startDeployment(deps.workflow, arn, event, signal);
});
