import { DeploymentRejectedError, LockLostError, LockTimeoutError, RecordError } from '../errors.js';
import type { Deployment, Plan } from '../plan.js';
import type { LockHolder } from '../ports.js';
import { abortDeployment } from './abort.js';
import { deadlineFrom, failIfAborted, notify, type StepDeps } from './context.js';
import { ensureRollback, FINISHED } from './reap.js';

export interface LockInput {
  plan: DeployPlan;
  concurrency: 'queue' | 'supersede' | 'reject';
  executionArn: string;
  /** When a queued deployment stops waiting (set on the first attempt). */
  queueDeadline?: string;
  queueSeconds?: number;
}

export type LockOutcome =
  | { status: 'acquired'; queueDeadline: string }
  | { status: 'busy'; holder: string; queueDeadline: string; message: string }
  | { status: 'superseded'; message: string };

type DeployPlan = Extract<Plan, { outcome: 'deploy' }>;

/**
 * Takes the service's lock. A newer push makes a queued older one step aside; a busy lock queues,
 * supersedes the holder (which rolls itself back) or rejects, as the policy says. A holder whose
 * execution ended is handled by what its record says: a finished deployment's lock is taken over
 * atomically; an unfinished one may have changed clusters, so its rollback is started (once, by
 * name) and this deployment keeps waiting until that rollback releases the lock.
 * @throws DeploymentRejectedError, DeploymentAbortedError, LockTimeoutError, RecordError
 */
export async function acquireLockStep(
  deps: Pick<StepDeps, 'record' | 'now' | 'notifier' | 'workflow'>,
  input: LockInput,
  signal?: AbortSignal,
): Promise<LockOutcome> {
  const d = input.plan.deployment;
  const now = deps.now();
  const queueDeadline = input.queueDeadline ?? deadlineFrom(now, input.queueSeconds ?? 3600);
  // An abort of a deployment still queued for the lock ends it here, before it changes anything.
  await failIfAborted(deps, d, signal);
  const latest = await deps.record.latestPush(d.service, signal);
  if (
    latest &&
    latest.digest !== d.digest &&
    input.concurrency !== 'reject' &&
    // A retry after we took the lock keeps it: stepping aside now would end us with the lock held.
    (await deps.record.lockHolder(d.service, signal))?.executionArn !== input.executionArn
  ) {
    return {
      status: 'superseded',
      message: `a newer push of ${d.service} (${latest.digest}) supersedes ${d.digest}`,
    };
  }
  const me: LockHolder = {
    deploymentId: d.id,
    executionArn: input.executionArn,
    digest: d.digest,
    acquiredAt: now.toISOString(),
    mode: 'deploy',
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await deps.record.acquireLock(d.service, me, signal);
    if (r.acquired) return acquired(deps, input.plan, queueDeadline, signal);
    const holder = r.holder;
    if (holder.executionArn === input.executionArn) return acquired(deps, input.plan, queueDeadline, signal); // a retry after we took it
    const holderStatus = await deps.workflow.executionStatus(holder.executionArn, signal);
    let busy = `deployment ${holder.deploymentId} (${holder.digest}) holds ${d.service}`;
    if (holderStatus !== 'RUNNING') {
      const phase = await deps.record.phase(holder.deploymentId, signal);
      if (phase === undefined || FINISHED.has(phase)) {
        // Ended and concluded (or never changed anything): the lock is stale.
        if (await deps.record.takeOverLock(d.service, holder.executionArn, me, signal))
          return acquired(deps, input.plan, queueDeadline, signal);
        continue;
      }
      if (holder.mode === 'rollback') {
        busy = `the rollback of ${holder.deploymentId} ended ${holderStatus ?? 'unknown'} without concluding; ${d.service} stays locked until it is resolved`;
      } else {
        // It may have changed clusters: its rollback goes first (the status event may have been lost).
        const started = await ensureRollback(
          deps,
          {
            deploymentId: holder.deploymentId,
            executionArn: holder.executionArn,
            status: holderStatus ?? 'UNKNOWN',
          },
          signal,
        );
        if (started.outcome !== 'rollback-started') continue; // it had changed nothing: its lock is gone
        busy = `deployment ${holder.deploymentId} ended ${holderStatus ?? 'unknown'} before concluding; its rollback runs first`;
      }
    }
    if (input.concurrency === 'reject') {
      await notify(deps, d, { transition: 'rejected', summary: `${d.tag} rejected: ${busy}` }, signal);
      throw new DeploymentRejectedError(`${d.id} rejected by policy: ${busy}`);
    }
    if (input.concurrency === 'supersede' && holderStatus === 'RUNNING' && holder.mode !== 'rollback') {
      await abortDeployment(deps, holder.deploymentId, `superseded by ${d.id} (${d.digest})`, signal);
    }
    if (now.toISOString() > queueDeadline) {
      throw new LockTimeoutError(
        `${d.id} waited for the lock of ${d.service} until ${queueDeadline}: ${busy}`,
      );
    }
    return {
      status: 'busy',
      holder: holder.deploymentId,
      queueDeadline,
      message: `${busy}; waiting (${input.concurrency})`,
    };
  }
  throw new RecordError(`the lock of ${d.service} changed hands three times while ${d.id} tried to take it`);
}

/** The lock is ours: the plan becomes the deployment's record (idempotent for a retry), then people hear of it. */
async function acquired(
  deps: Pick<StepDeps, 'record' | 'now' | 'notifier' | 'workflow'>,
  plan: DeployPlan,
  queueDeadline: string,
  signal?: AbortSignal,
): Promise<LockOutcome> {
  const d = plan.deployment;
  await deps.record.savePlan(d.id, plan, signal);
  await notify(
    deps,
    d,
    { transition: 'started', summary: `deploying ${d.repository}:${d.tag} (${d.digest}) to ${d.service}` },
    signal,
  );
  return { status: 'acquired', queueDeadline };
}

/**
 * The rollback execution of a deployment that ended without concluding takes the service's lock
 * over from it before changing anything, so that no queued deployment interleaves with it.
 * @throws LockLostError when another execution holds the lock
 */
export async function takeOverLockStep(
  deps: Pick<StepDeps, 'record' | 'now'>,
  input: { deployment: Deployment; from: string; executionArn: string },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  const me: LockHolder = {
    deploymentId: d.id,
    executionArn: input.executionArn,
    digest: d.digest,
    acquiredAt: deps.now().toISOString(),
    mode: 'rollback',
  };
  if (await deps.record.takeOverLock(d.service, input.from, me, signal)) return { lock: 'taken-over' };
  const holder = await deps.record.lockHolder(d.service, signal);
  if (holder?.executionArn === input.executionArn) return { lock: 'taken-over' }; // a retry
  throw new LockLostError(
    `the lock of ${d.service} is held by ${holder?.deploymentId ?? 'nobody'} (${holder?.executionArn ?? '-'}), not by the stopped execution ${input.from}: the rollback of ${d.id} does not run beside it`,
  );
}
