import { PauseExpiredError } from '../errors.js';
import type { Deployment } from '../plan.js';
import { failIfAborted, notify, type StepDeps } from './context.js';

/**
 * Stores the approval task token and tells people the canary waits for them (never sending the
 * token). An abort requested before the token was stored is honoured here, at once.
 * @throws DeploymentAbortedError, RecordError, NotifyError
 */
export async function requestApprovalStep(
  deps: Pick<StepDeps, 'record' | 'notifier' | 'now'>,
  input: { deployment: Deployment; taskToken: string; timeoutSeconds: number; analysisSummary?: string },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await deps.record.saveWaitingTask(d.id, { kind: 'approval', token: input.taskToken }, signal);
  const approvalDeadline = new Date(deps.now().getTime() + input.timeoutSeconds * 1000).toISOString();
  await deps.record.noteStatus(d.id, 'awaiting-approval', { approvalDeadline }, signal);
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

/** How long a deployment may stay paused before it is rolled back (nobody is attending it). */
export const MAX_PAUSE_SECONDS = 24 * 3600;

/**
 * Before a wave: whether an operator asked the deployment to hold (POST …/pause). A pause older
 * than MAX_PAUSE_SECONDS rolls the deployment back rather than holding the service's lock forever.
 * @throws DeploymentAbortedError, PauseExpiredError, RecordError
 */
export async function checkPauseStep(
  deps: Pick<StepDeps, 'record' | 'now'>,
  input: { deployment: Deployment; wave: string },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await failIfAborted(deps, d, signal);
  const pause = await deps.record.pauseRequested(d.id, signal);
  if (!pause) return { paused: false };
  const since = Date.parse(pause.at);
  if (deps.now().getTime() - since > MAX_PAUSE_SECONDS * 1000)
    throw new PauseExpiredError(
      `deployment ${d.id} was paused by ${pause.by} at ${pause.at} and not resumed within ${MAX_PAUSE_SECONDS / 3600} h: rolling back`,
    );
  return { paused: true, by: pause.by, at: pause.at, wave: input.wave };
}

/**
 * HoldWave (.waitForTaskToken): keeps the token that `resume` completes. The workflow's timeout
 * ends each hold after a while and checks again, so a resume that raced this step is never lost.
 * @throws DeploymentAbortedError, RecordError
 */
export async function holdWaveStep(
  deps: Pick<StepDeps, 'record'>,
  input: { deployment: Deployment; wave: string; taskToken: string },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await deps.record.saveWaitingTask(d.id, { kind: 'pause', token: input.taskToken, key: input.wave }, signal);
  await failIfAborted(deps, d, signal);
  return { holding: input.wave };
}
