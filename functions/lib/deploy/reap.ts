import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { planDeployment } from './plan.js';
import type { StepDeps } from './steps.js';

/** The Step Functions "Execution Status Change" event, as EventBridge delivers it. */
export interface ExecutionStatusChange {
  detail: {
    executionArn: string;
    stateMachineArn: string;
    name: string;
    status: string;
    input?: string | null;
  };
}

export type ReapOutcome =
  | { outcome: 'nothing-to-do'; reason: string }
  | { outcome: 'lock-released'; deploymentId: string }
  | { outcome: 'rollback-started'; deploymentId: string; executionArn: string; clusters: string[] };

/**
 * After an execution was stopped or timed out (it skipped its own rollback states): rolls back the
 * clusters it touched by starting the workflow in rollback mode (named after the deployment, so a
 * redelivered event starts it once), or just releases its lock when it had changed nothing.
 */
export async function reapExecution(
  deps: StepDeps & { sfn: SFNClient },
  event: ExecutionStatusChange,
  signal?: AbortSignal,
): Promise<ReapOutcome> {
  const d = event.detail;
  let input: unknown;
  try {
    input = JSON.parse(d.input ?? 'null');
  } catch {
    return { outcome: 'nothing-to-do', reason: `execution ${d.name}: input is not JSON` };
  }
  if ((input as { mode?: unknown } | null)?.mode === 'rollback') {
    return {
      outcome: 'nothing-to-do',
      reason: `execution ${d.name} was itself a rollback; its clusters stay as they are (see its alerts)`,
    };
  }
  const plan = await planDeployment(input, await deps.config(signal), deps.catalog, deps.now(), signal);
  if (plan.outcome !== 'deploy') return { outcome: 'nothing-to-do', reason: plan.reason };
  const id = plan.deployment.id;
  const touched = await deps.store.touched(id, signal);
  if (touched.length === 0) {
    await deps.store.releaseLock(plan.deployment.service, id, signal);
    return { outcome: 'lock-released', deploymentId: id };
  }
  const name = `rollback-${id}`.slice(0, 80);
  const error = {
    Error: 'ExecutionStoppedError',
    Cause: `execution ${d.name} was ${d.status} before it finished; rolling back the clusters it touched: ${touched.join(', ')}`,
  };
  try {
    const out = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: d.stateMachineArn,
        name,
        input: JSON.stringify({ mode: 'rollback', plan, error }),
      }),
      { abortSignal: signal },
    );
    return {
      outcome: 'rollback-started',
      deploymentId: id,
      executionArn: out.executionArn as string,
      clusters: touched,
    };
  } catch (err) {
    if ((err as Error).name === 'ExecutionAlreadyExists')
      return {
        outcome: 'rollback-started',
        deploymentId: id,
        executionArn: `(already started: ${name})`,
        clusters: touched,
      };
    throw err;
  }
}
