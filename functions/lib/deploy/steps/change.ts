import type { Engine } from '../../swarm/engine.js';
import { pruneObjects, referencedObjects } from '../../swarm/objects.js';
import {
  deployCanary,
  inspectService,
  progress,
  progressError,
  promote,
  removeCanary,
} from '../../swarm/operations.js';
import type { ResolvedSpec } from '../../swarm/spec.js';
import type { Snapshot, UpdatePolicy } from '../../swarm/types.js';
import { ProgressDeadlineError, RecordError } from '../errors.js';
import type { Deployment, PlannedCluster } from '../plan.js';
import { deadlineFrom, failIfAborted, type Invocation, onCluster, type StepDeps } from './context.js';
import type { ClusterInput } from './preflight.js';
import { readContents, resolveOn } from './spec.js';

type ChangeDeps = Pick<StepDeps, 'engines' | 'record' | 'now' | 'registryAuth' | 'contents'>;

export interface ChangeResult {
  cluster: string;
  service: string;
  image: string;
  since: string;
  deadline: string;
}

async function storedSnapshot(
  deps: Pick<StepDeps, 'record'>,
  d: Deployment,
  cluster: string,
  signal?: AbortSignal,
) {
  const snap = await deps.record.snapshot(d.id, cluster, signal);
  if (!snap) throw new RecordError(`no snapshot of ${d.service} on ${cluster} for deployment ${d.id}`);
  return snap;
}

/**
 * The saga's rule for every change of a cluster: nothing starts once an abort was requested; the
 * change works from the stored snapshot, with fresh registry credentials; the cluster is recorded
 * as touched (with a lease until this invocation can no longer land anything) before the engine is
 * called, and the lease ends once the engine answered, whatever it answered. Once the rollback
 * fence is up, markTouched refuses, so no change starts after the rollback read its list.
 */
async function changeCluster<T>(
  deps: ChangeDeps,
  input: ClusterInput & { progressDeadlineSeconds: number },
  what: 'canary' | 'primary',
  invocation: Invocation | undefined,
  signal: AbortSignal | undefined,
  change: (
    engine: Engine,
    from: { snapshot: Snapshot; registryAuth: string | undefined; desired: ResolvedSpec | undefined },
  ) => Promise<T>,
): Promise<{ result: T; since: string; deadline: string }> {
  const { deployment: d, cluster } = input;
  await failIfAborted(deps, d, signal);
  const snapshot = await storedSnapshot(deps, d, cluster.name, signal);
  const registryAuth = await deps.registryAuth.headerFor(d.image, signal);
  // Secrets are read before the cluster is touched: a source that cannot be read changes nothing.
  const contents = await readContents(deps, d, signal);
  const now = deps.now();
  const lease = invocation?.deadline ?? new Date(now.getTime() + 15 * 60_000);
  await deps.record.markTouched(d.id, cluster.name, what, lease.toISOString(), signal);
  try {
    const result = await onCluster(deps, d, cluster, signal, async (engine) =>
      change(engine, { snapshot, registryAuth, desired: await resolveOn(engine, d, contents, signal) }),
    );
    return { result, since: now.toISOString(), deadline: deadlineFrom(now, input.progressDeadlineSeconds) };
  } finally {
    // If this write fails the lease still runs out on its own at the invocation's deadline.
    await deps.record.endLease(d.id, cluster.name, what).catch(() => {});
  }
}

/**
 * Records the canary cluster as touched, then creates or updates the canary.
 * @throws DeploymentAbortedError, ImagePullError, ClusterUnreachableError, RecordError, …
 */
export async function deployCanaryStep(
  deps: ChangeDeps,
  input: ClusterInput & { percent: number; progressDeadlineSeconds: number },
  signal?: AbortSignal,
  invocation?: Invocation,
): Promise<ChangeResult & { replicas: number }> {
  const { deployment: d, cluster } = input;
  const { result, since, deadline } = await changeCluster(
    deps,
    input,
    'canary',
    invocation,
    signal,
    (engine, from) =>
      deployCanary(
        engine,
        {
          ref: { deploymentId: d.id, cluster: cluster.name, service: d.service },
          snapshot: from.snapshot,
          image: d.image,
          percent: input.percent,
          registryAuth: from.registryAuth,
          desired: from.desired,
        },
        signal,
      ),
  );
  return {
    cluster: cluster.name,
    service: result.canaryService,
    image: d.image,
    replicas: result.replicas,
    since,
    deadline,
  };
}

/**
 * Records the cluster as touched, then updates its primary to the digest.
 * @throws DeploymentAbortedError, SpecConflictError, ClusterUnreachableError, RecordError, …
 */
export async function promoteStep(
  deps: ChangeDeps,
  input: ClusterInput & { update: UpdatePolicy; progressDeadlineSeconds: number },
  signal?: AbortSignal,
  invocation?: Invocation,
): Promise<ChangeResult> {
  const { deployment: d, cluster } = input;
  const { since, deadline } = await changeCluster(
    deps,
    input,
    'primary',
    invocation,
    signal,
    (engine, from) =>
      promote(
        engine,
        {
          ref: { deploymentId: d.id, cluster: cluster.name, service: d.service },
          snapshot: from.snapshot,
          image: d.image,
          update: input.update,
          rollbackConfig: d.rollbackConfig,
          registryAuth: from.registryAuth,
          desired: from.desired,
        },
        signal,
      ),
  );
  return { cluster: cluster.name, service: d.service, image: d.image, since, deadline };
}

export interface ProgressInput {
  deployment: Deployment;
  cluster: PlannedCluster;
  change: ChangeResult;
  /** Rollback checks ignore abort requests: they are the abort. */
  rollingBack?: boolean;
}

/**
 * One progress check of a change: converged, progressing (before the deadline), or a typed error.
 * @throws ImagePullError, TaskCrashError, NoSuitableNodeError, UpdatePausedError, ProgressDeadlineError, DeploymentAbortedError, ClusterUnreachableError
 */
export async function progressStep(
  deps: Pick<StepDeps, 'engines' | 'record' | 'now' | 'registryAuth'>,
  input: ProgressInput,
  signal?: AbortSignal,
) {
  const { deployment: d, cluster, change } = input;
  if (!input.rollingBack) await failIfAborted(deps, d, signal);
  const registryAuth = await deps.registryAuth.headerFor(change.image, signal);
  const p = await onCluster(deps, d, cluster, signal, (engine) =>
    progress(
      engine,
      { service: change.service, image: change.image, since: change.since, registryAuth },
      signal,
    ),
  );
  // The audit trail follows the change: the canary, the primary's promotion, or its restore.
  const canary = change.service !== d.service;
  const converged = p.verdict === 'converged';
  await deps.record.noteCluster(
    d.id,
    cluster.name,
    {
      step: input.rollingBack
        ? converged
          ? 'restored'
          : p.verdict === 'failed'
            ? 'restore-failed'
            : 'restoring'
        : p.verdict === 'failed'
          ? 'failed'
          : canary
            ? converged
              ? 'canary-running'
              : 'canary-deploying'
            : converged
              ? 'promoted'
              : 'promoting',
      progress: { desired: p.desired, runningOnTarget: p.runningOnTarget, updateState: p.updateState },
      message: p.reason,
      ...(converged && !canary && !input.rollingBack ? { after: d.digest } : {}),
    },
    signal,
  );
  if (converged && !canary) {
    // What this deployment leaves on the cluster (promoted, or restored): the next one's drift check.
    await deps.record.saveDeployedSpec(
      {
        service: d.service,
        cluster: cluster.name,
        parts: p.specParts,
        deploymentId: d.id,
        at: deps.now().toISOString(),
      },
      signal,
    );
  }
  if (p.verdict === 'failed') throw progressError(p);
  if (p.verdict === 'progressing' && deps.now().toISOString() > change.deadline) {
    throw new ProgressDeadlineError(`${p.reason}; not converged by the progress deadline ${change.deadline}`);
  }
  return {
    converged: p.verdict === 'converged',
    reason: p.reason,
    runningOnTarget: p.runningOnTarget,
    desired: p.desired,
  };
}

/**
 * The clean-up on each cluster once every wave runs the digest: removes the canary (on the canary
 * cluster) and then every version of the service's secrets and configs that the running primary
 * does not use (old versions are kept until now, for the rollback).
 * @throws ClusterUnreachableError, EngineUnreachableError, ServiceNotFoundError
 */
export async function removeCanaryStep(
  deps: Pick<StepDeps, 'engines' | 'record' | 'now'>,
  input: ClusterInput,
  signal?: AbortSignal,
) {
  const { deployment: d, cluster } = input;
  return onCluster(deps, d, cluster, signal, async (engine) => {
    const r = await removeCanary(engine, d.service, signal);
    const primary = await inspectService(engine, d.service, signal);
    if (!primary) return { cluster: cluster.name, removed: r.removed, pruned: [] };
    const pruned = await pruneObjects(
      engine,
      { service: d.service, keep: referencedObjects(primary.Spec) },
      signal,
    );
    return {
      cluster: cluster.name,
      removed: r.removed,
      pruned: pruned.removed,
      ...(pruned.kept.length ? { inUse: pruned.kept } : {}),
    };
  });
}

export { storedSnapshot };
