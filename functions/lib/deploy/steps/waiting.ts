import type { Deployment } from '../plan.js';
import { failIfAborted, notify, type StepDeps } from './context.js';

/**
 * Stores the approval task token and tells people the canary waits for them (never sending the
 * token). An abort requested before the token was stored is honoured here, at once.
 * @throws DeploymentAbortedError, RecordError, NotifyError
 */
export async function requestApprovalStep(
  deps: Pick<StepDeps, 'record' | 'notifier'>,
  input: { deployment: Deployment; taskToken: string; timeoutSeconds: number; analysisSummary?: string },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await deps.record.saveWaitingTask(d.id, { kind: 'approval', token: input.taskToken }, signal);
  await failIfAborted(deps, d, signal);
  await notify(
    deps,
    d,
    {
      transition: 'awaiting-approval',
      summary: `canary of ${d.service} ${d.tag} waits for approval: POST /deployments/${d.id}/approve or /reject within ${input.timeoutSeconds} s`,
    },
    signal,
  );
  return { requested: true };
}

/**
 * A wave's bake: the task waits on its token for the bake time (the workflow's timeout ends it as
 * baked); an abort fails the token at once, so the deployment rolls back without waiting it out.
 * @throws DeploymentAbortedError, RecordError
 */
export async function bakeWaveStep(
  deps: Pick<StepDeps, 'record'>,
  input: { deployment: Deployment; wave: string; taskToken: string },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await deps.record.saveWaitingTask(d.id, { kind: 'bake', token: input.taskToken, key: input.wave }, signal);
  await failIfAborted(deps, d, signal);
  return { baking: input.wave };
}
