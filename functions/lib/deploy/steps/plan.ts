import { type Plan, planDeployment } from '../plan.js';
import type { StepDeps } from './context.js';

/**
 * Plan: the event becomes a plan, an "ignored" outcome with its reason, or a failed push. The plan
 * is stored in the record when the lock is taken (AcquireLock), before any change: later steps, the
 * reaper and any rollback work from it, never from a new reading of config and registry.
 * @throws InvalidEventError, ConfigError, SecretSourceError, RecordError
 */
export async function planStep(
  deps: Pick<StepDeps, 'catalog' | 'config' | 'now' | 'record' | 'contents'>,
  input: { event: unknown; executionName?: string },
  signal?: AbortSignal,
): Promise<Plan> {
  const plan = await planDeployment(
    input.event,
    await deps.config(signal),
    deps.catalog,
    deps.now(),
    { sources: deps.contents, ...(input.executionName ? { executionName: input.executionName } : {}) },
    signal,
  );
  if (plan.outcome === 'deploy') {
    const time = (input.event as { time?: string }).time ?? plan.deployment.plannedAt;
    await deps.record.notePush(plan.deployment.service, plan.deployment.digest, time, signal);
  }
  return plan;
}
