import { refreshRegistryAuth } from '../lib/deploy/refresh.js';
import { config, engines, record, registryAuth } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

/** EventBridge's scheduled event (nothing in it is used but what it is). */
const input = z.object({ 'detail-type': z.literal('Scheduled Event'), source: z.literal('aws.events') });

/**
 * RefreshRegistryAuth (on a schedule, not a workflow step): gives every deployed service fresh
 * registry credentials, so that tasks Swarm reschedules after an ECR token expired still pull.
 */
export const handler = stepHandler(
  'RefreshRegistryAuth',
  input,
  { config, engines, record, registryAuth },
  (deps, _i, signal) => refreshRegistryAuth(deps, signal),
);
