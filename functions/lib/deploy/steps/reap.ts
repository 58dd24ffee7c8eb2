import { createHash } from 'node:crypto';
import { recordDeploymentFailed } from '../../metrics.js';
import type { Transition } from '../../notify/notifier.js';
import type { Plan } from '../plan.js';
import { notify, type StepDeps } from './context.js';
import { causeMessage } from './wave.js';

/** The Step Functions "Execution Status Change" event, as EventBridge delivers it. */
export interface ExecutionStatusChange {
  detail: {
    executionArn: string;
    stateMachineArn: string;
    name: string;
    status: string;
    input?: string | null;
    error?: string | null;
    cause?: string | null;
  };
}

export type ReapOutcome =
  | { outcome: 'nothing-to-do'; reason: string }
  | { outcome: 'alerted'; deploymentId: string; reason: string }
  | { outcome: 'lock-released'; deploymentId: string }
  | { outcome: 'rollback-started'; deploymentId: string; executionArn: string; clusters: string[] };

/** The phases of a deployment whose record is finished (concluded, alerted, its lock released or to be). */
export const FINISHED: ReadonlySet<string> = new Set(['succeeded', 'rolled-back', 'failed']);

/** The rollback execution's name: one per deployment (a redelivered event starts it once), ≤ 80 characters. */
export function rollbackExecutionName(deploymentId: string): string {
  const hash = createHash('sha256').update(deploymentId).digest('hex').slice(0, 8);
  return `rollback-${hash}-${deploymentId}`.slice(0, 80);
}

/** The state machine of an execution ARN (arn:…:execution:<machine>:<name> → arn:…:stateMachine:<machine>). */
export function stateMachineOf(executionArn: string): string {
  const parts = executionArn.split(':');
  return [...parts.slice(0, 5), 'stateMachine', parts[6] ?? ''].join(':');
}

/** How an execution ended, for people: "FAILED (States.Runtime: …)". */
/** "FAILED (SecretSourceError: <its message>)": a Lambda error's cause is JSON with errorMessage and a trace. */
const endedHow = (status: string, error?: string | null, cause?: string | null) =>
  `${status}${error ? ` (${error}${cause ? `: ${causeMessage(cause)}` : ''})` : ''}`;

/** The deployment's stored plan, or undefined when it never took the lock. */
const storedPlan = async (deps: Pick<StepDeps, 'record'>, id: string, signal?: AbortSignal) =>
  (await deps.record.plan(id, signal)) as Extract<Plan, { outcome: 'deploy' }> | undefined;

/** The clusters a deployment touched, each once (canary and primary on one cluster are one). */
const touchedClusters = async (deps: Pick<StepDeps, 'record'>, id: string, signal?: AbortSignal) => [
  ...new Set((await deps.record.touched(id, signal)).map((t) => t.cluster)),
];

/**
 * Starts the rollback of a deployment that ended without concluding, from its stored plan and
 * recorded snapshots (never by planning again: the tag may have moved, the policy changed). The
 * rollback execution takes the service's lock over from `executionArn` before changing anything.
 */
export async function ensureRollback(
  deps: Pick<StepDeps, 'record' | 'notifier' | 'workflow'>,
  ended: {
    deploymentId: string;
    executionArn: string;
    status: string;
    error?: string | null;
    cause?: string | null;
  },
  signal?: AbortSignal,
): Promise<ReapOutcome> {
  const id = ended.deploymentId;
  const plan = await storedPlan(deps, id, signal);
  if (!plan)
    return { outcome: 'nothing-to-do', reason: `deployment ${id} has no stored plan: it changed nothing` };
  const touched = await touchedClusters(deps, id, signal);
  const d = plan.deployment;
  const why = endedHow(ended.status, ended.error, ended.cause);
  if (touched.length === 0) {
    await deps.record.finish(id, 'failed', { reason: `the execution ended ${why}` }, signal);
    await deps.record.releaseLock(d.service, ended.executionArn, signal);
    await notify(
      deps,
      d,
      {
        transition: 'deployment-failed',
        summary: `deployment ${id} of ${d.service} ${d.tag} ended ${why} before changing any cluster; nothing to restore`,
      },
      signal,
    );
    recordDeploymentFailed(d.service);
    return { outcome: 'lock-released', deploymentId: id };
  }
  const name = rollbackExecutionName(id);
  const error = {
    Error: ended.status === 'FAILED' ? 'ExecutionFailedError' : 'ExecutionStoppedError',
    Cause: `execution ${ended.executionArn.split(':').pop()} ended ${why} before it finished; rolling back the clusters it touched: ${touched.join(', ')}`,
  };
  const out = await deps.workflow.start(
    stateMachineOf(ended.executionArn),
    name,
    { mode: 'rollback', plan, error, from: ended.executionArn },
    signal,
  );
  return { outcome: 'rollback-started', deploymentId: id, executionArn: out.executionArn, clusters: touched };
}

/**
 * After an execution ended without succeeding (stopped, timed out, or failed, inside or outside its
 * catch paths): whatever its record says is unfinished is finished here. A deployment that may have
 * changed clusters is rolled back from the record; one that changed nothing releases its lock; one
 * that failed before taking the lock, or a rollback that did not conclude, is alerted. Nothing ends silently.
 */
export async function reapExecution(
  deps: Pick<StepDeps, 'record' | 'notifier' | 'workflow'>,
  event: ExecutionStatusChange,
  signal?: AbortSignal,
): Promise<ReapOutcome> {
  const e = event.detail;
  let input: { mode?: unknown; plan?: Plan; from?: string; detail?: Record<string, unknown> } | null = null;
  try {
    input = JSON.parse(e.input ?? 'null');
  } catch {
    // An execution of this state machine always has JSON input; handled below as "not planned".
  }
  const why = endedHow(e.status, e.error, e.cause);
  if (input?.mode === 'rollback' && input.plan?.outcome === 'deploy') {
    const d = input.plan.deployment;
    const phase = await deps.record.phase(d.id, signal);
    if (phase && FINISHED.has(phase))
      return { outcome: 'nothing-to-do', reason: `the rollback of ${d.id} concluded (${phase})` };
    const touched = await touchedClusters(deps, d.id, signal);
    await deps.record.finish(
      d.id,
      'failed',
      { keepSnapshotsOf: touched, reason: `the rollback ended ${why} before concluding` },
      signal,
    );
    await notify(
      deps,
      d,
      {
        transition: 'rollback-failed',
        summary: `ROLLBACK of ${d.service} ${d.tag} ended ${why} before concluding: ${touched.join(', ')} may still run ${d.digest}; their snapshots are kept`,
        details: { clusters: touched },
      },
      signal,
    );
    await deps.record.releaseLock(d.service, e.executionArn, signal);
    recordDeploymentFailed(d.service);
    return { outcome: 'alerted', deploymentId: d.id, reason: `rollback ended ${e.status}` };
  }
  const id = e.name;
  const phase = await deps.record.phase(id, signal);
  if (phase === undefined) {
    // Stopped while queued, or rejected by policy (AcquireLock sent the "rejected" alert itself).
    if (e.status !== 'FAILED' || e.error === 'DeploymentRejectedError')
      return {
        outcome: 'nothing-to-do',
        reason: `execution ${id} ended ${e.status} before it took the lock: nothing was changed`,
      };
    const detail = (input?.detail ?? {}) as Record<string, unknown>;
    await notify(
      deps,
      {
        id,
        service: String(detail['repository-name'] ?? '(not planned)'),
        digest: String(detail['image-digest'] ?? ''),
        tag: String(detail['image-tag'] ?? ''),
      },
      {
        transition: 'deployment-failed',
        summary: `execution ${id} failed before it took the lock (nothing was changed): ${why}`,
      },
      signal,
    );
    return { outcome: 'alerted', deploymentId: id, reason: why };
  }
  if (FINISHED.has(phase)) {
    const plan = await storedPlan(deps, id, signal);
    if (plan) {
      // The record was finished, but a step after it (its alert, the lock's release) may have failed:
      // the conclusion's alert goes out now unless it was sent (same transition, same dedupe key).
      const transition: Transition =
        phase === 'succeeded'
          ? 'succeeded'
          : phase === 'rolled-back'
            ? 'rolled-back'
            : e.error === 'PartiallyDeployedError'
              ? 'partially-deployed'
              : e.error === 'RollbackFailedError'
                ? 'rollback-failed'
                : 'deployment-failed';
      const sent = await notify(
        deps,
        plan.deployment,
        {
          transition,
          summary: `deployment ${id} of ${plan.deployment.service} ${plan.deployment.tag} is recorded as ${phase}; its execution ended ${why}`,
        },
        signal,
      );
      const released = await deps.record.releaseLock(plan.deployment.service, e.executionArn, signal);
      if (released || sent.sent)
        return released
          ? { outcome: 'lock-released', deploymentId: id }
          : { outcome: 'alerted', deploymentId: id, reason: `the ${transition} alert was missing` };
    }
    return {
      outcome: 'nothing-to-do',
      reason: `deployment ${id} concluded (${phase}) before its execution ended ${e.status}`,
    };
  }
  return ensureRollback(
    deps,
    { deploymentId: id, executionArn: e.executionArn, status: e.status, error: e.error, cause: e.cause },
    signal,
  );
}
