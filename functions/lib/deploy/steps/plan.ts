import { ConfigError } from '../../config/errors.js';
import { invalidPolicyFor } from '../../config/store.js';
import { parseEvent } from '../event.js';
import { type Plan, planDeployment } from '../plan.js';
import type { StepDeps } from './context.js';

/**
 * Plan: the event becomes a plan, an "ignored" outcome with its reason, or a failed push. The plan
 * is stored in the record when the lock is taken (AcquireLock), before any change: later steps, the
 * reaper and any rollback work from it, never from a new reading of config and registry.
 * A push that no valid policy deploys while a malformed policy may be meant for it fails with the
 * parameters and fields that are wrong (the reaper alerts): a broken policy blocks only its service.
 * @throws InvalidEventError, ConfigError, RecordError
 */
export async function planStep(
  deps: StepDeps,
  input: { event: unknown; executionName?: string },
  signal?: AbortSignal,
): Promise<Plan> {
  const config = await deps.config(signal);
  const plan = await planDeployment(
    input.event,
    config,
    deps.catalog,
    deps.now(),
    input.executionName ? { executionName: input.executionName } : {},
    signal,
  );
  const pushed = parseEvent(input.event);
  if (plan.outcome === 'ignored' && pushed.kind === 'push') {
    const broken = invalidPolicyFor(config, pushed.repository);
    if (broken.length > 0)
      throw new ConfigError(
        `${pushed.repository}:${pushed.tag} matches no valid service policy, and ${broken.length} policy parameter(s) that may deploy it are invalid: ${broken.map((b) => `${b.parameter}: ${b.message}`).join('; ')}`,
      );
  }
  if (plan.outcome === 'deploy') {
    const time = (input.event as { time?: string }).time ?? plan.deployment.plannedAt;
    await deps.record.notePush(plan.deployment.service, plan.deployment.digest, time, signal);
  }
  return plan;
}
