import type { StepDeps } from './context.js';

/**
 * Aborts a deployment: records the request (every step checks it before it changes anything) and
 * fails at once whatever task of it is waiting on a token (an approval, a bake, a pause), so that the
 * deployment rolls back now rather than when the wait would have ended.
 * @returns the waiting tasks that were failed
 */
export async function abortDeployment(
  deps: Pick<StepDeps, 'record' | 'workflow'>,
  deploymentId: string,
  reason: string,
  signal?: AbortSignal,
): Promise<{ interrupted: Array<'approval' | 'bake' | 'pause'> }> {
  await deps.record.requestAbort(deploymentId, reason, signal);
  const interrupted: Array<'approval' | 'bake' | 'pause'> = [];
  for (const kind of ['approval', 'bake', 'pause'] as const) {
    const task = await deps.record.waitingTask(deploymentId, kind, signal);
    if (!task) continue;
    // A token that already timed out or was answered is no longer waiting: nothing to interrupt.
    if (
      await deps.workflow.sendTaskFailure(
        task.token,
        'DeploymentAbortedError',
        `deployment ${deploymentId} was aborted: ${reason}`,
        signal,
      )
    )
      interrupted.push(kind);
    await deps.record.clearWaitingTask(deploymentId, kind, signal);
  }
  return { interrupted };
}
