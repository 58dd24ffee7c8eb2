import { referencedObjects, removeObjectsOf } from '../../swarm/objects.js';
import { rollback } from '../../swarm/operations.js';
import { ChangeInFlightError, RollbackFailedError } from '../errors.js';
import type { Deployment, PlannedCluster } from '../plan.js';
import { type ChangeResult, storedSnapshot } from './change.js';
import { deadlineFrom, notify, onCluster, type StepDeps } from './context.js';
import type { ClusterInput } from './preflight.js';
import { type ClusterResult, causeMessage, describeFailures } from './wave.js';

/**
 * The clusters rollback must restore: raises the rollback fence (no step may touch another cluster
 * from now on) and returns every cluster recorded as touched, as the plan the deployment started
 * with describes it (the stored plan: a cluster since removed from the policy is still restored).
 */
export async function listTouchedStep(
  deps: Pick<StepDeps, 'record'>,
  input: { deployment: Deployment; clusters: PlannedCluster[] },
  signal?: AbortSignal,
): Promise<PlannedCluster[]> {
  const touched = new Set(
    (await deps.record.beginRollback(input.deployment.id, signal)).map((t) => t.cluster),
  );
  return input.clusters.filter((c) => touched.has(c.name));
}

/**
 * Restores one cluster from its snapshot, removes the canary and the secret and config versions
 * this deployment made; returns what to wait for. Waits
 * (a retryable ChangeInFlightError) while a change of this deployment may still land on the cluster.
 * @throws ChangeInFlightError, ClusterUnreachableError, RecordError, …
 */
export async function rollbackStep(
  deps: Pick<StepDeps, 'engines' | 'record' | 'now' | 'registryAuth'>,
  input: ClusterInput & { progressDeadlineSeconds: number },
  signal?: AbortSignal,
): Promise<ChangeResult> {
  const { deployment: d, cluster } = input;
  const now = deps.now();
  const inFlight = (await deps.record.touched(d.id, signal)).find(
    (t) => t.cluster === cluster.name && t.leaseUntil && t.leaseUntil > now.toISOString(),
  );
  if (inFlight) {
    throw new ChangeInFlightError(
      `the ${inFlight.what} change of ${d.service} on ${cluster.name} may still land until ${inFlight.leaseUntil}; restoring after it`,
    );
  }
  const snap = await storedSnapshot(deps, d, cluster.name, signal);
  const registryAuth = await deps.registryAuth.headerFor(snap.image, signal);
  await onCluster(deps, d, cluster, signal, async (engine) => {
    await rollback(engine, snap, signal, registryAuth);
    // The secret and config versions this deployment made go too: the restored spec does not use them.
    await removeObjectsOf(
      engine,
      { service: d.service, deploymentId: d.id, keep: referencedObjects(snap.spec) },
      signal,
    );
  });
  return {
    cluster: cluster.name,
    service: d.service,
    image: snap.image,
    since: now.toISOString(),
    deadline: deadlineFrom(now, input.progressDeadlineSeconds),
  };
}

/**
 * After rollback: every touched cluster restored → notify "rolled back" with the reason; any not
 * restored → notify "rollback failed" (critical) and fail loudly, keeping their snapshots. The
 * record is finished and the lock released either way.
 * @throws RollbackFailedError
 */
export async function concludeRollbackStep(
  deps: Pick<StepDeps, 'record' | 'notifier'>,
  input: {
    deployment: Deployment;
    executionArn: string;
    error: { Error: string; Cause?: string };
    results: ClusterResult[];
  },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  const reason = `${input.error.Error}: ${causeMessage(input.error.Cause)}`;
  const failed = input.results.filter((r) => !r.ok);
  const restored = input.results.filter((r) => r.ok).map((r) => r.cluster);
  await deps.record.finish(
    d.id,
    failed.length ? 'failed' : 'rolled-back',
    {
      keepSnapshotsOf: failed.map((f) => f.cluster),
      reason: failed.length ? `rollback failed on ${describeFailures(failed)} after ${reason}` : reason,
    },
    signal,
  );
  if (failed.length > 0) {
    const details = describeFailures(failed);
    await notify(
      deps,
      d,
      {
        transition: 'rollback-failed',
        summary: `ROLLBACK FAILED for ${d.service} ${d.tag} on ${failed.map((f) => f.cluster).join(', ')} after ${reason}; restored: ${restored.join(', ') || 'none'}`,
        details: { failed: details, restored },
      },
      signal,
    );
    await deps.record.releaseLock(d.service, input.executionArn, signal);
    throw new RollbackFailedError(
      `rollback of ${d.id} failed on ${details} (deployment failed with ${reason})`,
    );
  }
  await notify(
    deps,
    d,
    {
      transition: 'rolled-back',
      summary: `${d.service} ${d.tag} rolled back on ${restored.join(', ') || 'no cluster (nothing had changed)'}: ${reason}`,
      details: { restored },
    },
    signal,
  );
  await deps.record.releaseLock(d.service, input.executionArn, signal);
  return { outcome: 'rolled-back', restored, reason };
}
