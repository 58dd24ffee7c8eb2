import {
  type AnalysisState,
  appendToRecord,
  type DecisionRecord,
  describeRecord,
  type Metric,
  runRound,
} from '../analysis/index.js';
import { type ConnectDeps, withEngine, withPrometheus } from '../clusters/connect.js';
import type { Config } from '../config/store.js';
import type { Notification, Notifier } from '../notify/notifier.js';
import {
  canaryName,
  deployCanary,
  preflight,
  progress,
  progressError,
  promote,
  removeCanary,
  rollback,
  snapshot,
} from '../swarm/operations.js';
import type { RegistryAuthProvider } from '../swarm/registry-auth.js';
import type { UpdatePolicy } from '../swarm/types.js';
import {
  AnalysisFailedError,
  DeploymentAbortedError,
  DeploymentRejectedError,
  LockTimeoutError,
  ProgressDeadlineError,
  RecordError,
  RollbackFailedError,
  WaveFailedError,
} from './errors.js';
import {
  type Deployment,
  type ImageCatalog,
  type Plan,
  type PlannedCluster,
  planDeployment,
} from './plan.js';
import type { DeploymentStore } from './store.js';

/** Everything the steps need from the outside world; built once per container by getDeps(). */
export interface StepDeps {
  config: (signal?: AbortSignal) => Promise<Config>;
  catalog: ImageCatalog;
  store: DeploymentStore;
  registryAuth: RegistryAuthProvider;
  notifier: Notifier;
  connect: ConnectDeps;
  executionStatus: (executionArn: string, signal?: AbortSignal) => Promise<string | undefined>;
  now: () => Date;
}

const deadlineFrom = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000).toISOString();

/** One notification about deployment `d`: the deployment's own fields filled in. */
function notify(
  deps: StepDeps,
  d: Deployment,
  n: Omit<Notification, 'deploymentId' | 'service' | 'digest' | 'tag'>,
  signal?: AbortSignal,
) {
  return deps.notifier.publish(
    { deploymentId: d.id, service: d.service, digest: d.digest, tag: d.tag, ...n },
    signal,
  );
}

async function failIfAborted(deps: StepDeps, d: Deployment, signal?: AbortSignal): Promise<void> {
  const reason = await deps.store.abortRequested(d.id, signal);
  if (reason) throw new DeploymentAbortedError(`deployment ${d.id} was aborted: ${reason}`);
}

// ---------------------------------------------------------------------------------------------

/** Plan: the event becomes a plan, or an "ignored" outcome with its reason. */
export async function planStep(deps: StepDeps, event: unknown, signal?: AbortSignal): Promise<Plan> {
  const plan = await planDeployment(event, await deps.config(signal), deps.catalog, deps.now(), signal);
  if (plan.outcome === 'deploy') {
    const time = (event as { time?: string }).time ?? plan.deployment.plannedAt;
    await deps.store.notePush(plan.deployment.service, plan.deployment.digest, time, signal);
  }
  return plan;
}

export interface LockInput {
  deployment: Deployment;
  concurrency: 'queue' | 'supersede' | 'reject';
  executionArn: string;
  /** When a queued deployment stops waiting (set on the first attempt). */
  queueDeadline?: string;
  queueSeconds?: number;
}

export type LockOutcome =
  | { status: 'acquired'; queueDeadline: string }
  | { status: 'busy'; holder: string; queueDeadline: string; message: string }
  | { status: 'duplicate' | 'superseded'; message: string };

/**
 * Takes the service's lock. A duplicate of a running or finished deployment of the same digest
 * ends quietly; a newer push makes a queued older one step aside; a busy lock queues, supersedes the
 * holder (which rolls itself back) or rejects, as the policy says. A lock whose execution is no
 * longer running is released: no failed execution keeps a service locked.
 * @throws DeploymentRejectedError, LockTimeoutError
 */
export async function acquireLockStep(
  deps: StepDeps,
  input: LockInput,
  signal?: AbortSignal,
): Promise<LockOutcome> {
  const d = input.deployment;
  const now = deps.now();
  const queueDeadline = input.queueDeadline ?? deadlineFrom(now, input.queueSeconds ?? 3600);
  const seen = await deps.store.digestStatus(d.service, d.digest, signal);
  if (
    seen &&
    seen.executionArn !== input.executionArn &&
    (seen.status === 'running' || seen.status === 'succeeded')
  ) {
    return {
      status: 'duplicate',
      message: `${d.digest} of ${d.service} is already ${seen.status} (deployment ${seen.deploymentId})`,
    };
  }
  const latest = await deps.store.latestPush(d.service, signal);
  if (latest && latest.digest !== d.digest && input.concurrency !== 'reject') {
    return {
      status: 'superseded',
      message: `a newer push of ${d.service} (${latest.digest}) supersedes ${d.digest}`,
    };
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await deps.store.acquireLock(
      d.service,
      {
        deploymentId: d.id,
        executionArn: input.executionArn,
        digest: d.digest,
        acquiredAt: now.toISOString(),
      },
      signal,
    );
    if (r.acquired) {
      await deps.store.setDigestStatus(d.service, d.digest, d.id, 'running', signal, input.executionArn);
      await notify(
        deps,
        d,
        {
          transition: 'started',
          summary: `deploying ${d.repository}:${d.tag} (${d.digest}) to ${d.service}`,
        },
        signal,
      );
      return { status: 'acquired', queueDeadline };
    }
    const holder = r.holder;
    if (holder.executionArn === input.executionArn) return { status: 'acquired', queueDeadline }; // a retry after we took it
    if (holder.digest === d.digest) {
      return {
        status: 'duplicate',
        message: `${d.digest} of ${d.service} is already being deployed by ${holder.deploymentId}`,
      };
    }
    const holderStatus = await deps.executionStatus(holder.executionArn, signal);
    if (holderStatus !== 'RUNNING') {
      // The holder's execution ended without releasing (stopped, timed out): its lock is stale.
      await deps.store.releaseLock(d.service, holder.deploymentId, signal);
      continue;
    }
    const busy = `deployment ${holder.deploymentId} (${holder.digest}) holds ${d.service}`;
    if (input.concurrency === 'reject') {
      await notify(
        deps,
        d,
        {
          transition: 'rejected',
          summary: `${d.tag} rejected: ${busy}`,
        },
        signal,
      );
      throw new DeploymentRejectedError(`${d.id} rejected by policy: ${busy}`);
    }
    if (input.concurrency === 'supersede') {
      await deps.store.requestAbort(holder.deploymentId, `superseded by ${d.id} (${d.digest})`, signal);
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

export interface ClusterInput {
  deployment: Deployment;
  cluster: PlannedCluster;
}

/**
 * Preflight and snapshot of one cluster, before anything changes. The snapshot is stored once; a
 * retry returns the first one.
 * @throws the Swarm preflight errors, RecordError
 */
export async function preflightStep(deps: StepDeps, input: ClusterInput, signal?: AbortSignal) {
  const { deployment: d, cluster } = input;
  return withEngine(deps.connect, cluster, signal, async (engine) => {
    const pre = await preflight(
      engine,
      { service: d.service, minEngineVersion: cluster.minEngineVersion },
      signal,
    );
    const snap = await deps.store.saveSnapshot(d.id, await snapshot(engine, d.service, signal), signal);
    return {
      cluster: cluster.name,
      engineVersion: pre.engineVersion,
      image: snap.image,
      digest: snap.digest,
      replicas: snap.replicas,
      specVersion: snap.specVersion,
    };
  });
}

async function storedSnapshot(deps: StepDeps, d: Deployment, cluster: string, signal?: AbortSignal) {
  const snap = await deps.store.snapshot(d.id, cluster, signal);
  if (!snap) throw new RecordError(`no snapshot of ${d.service} on ${cluster} for deployment ${d.id}`);
  return snap;
}

export interface ChangeResult {
  cluster: string;
  service: string;
  image: string;
  since: string;
  deadline: string;
}

/** Records the canary cluster as touched, then creates or updates the canary. */
export async function deployCanaryStep(
  deps: StepDeps,
  input: ClusterInput & { percent: number; progressDeadlineSeconds: number },
  signal?: AbortSignal,
): Promise<ChangeResult & { replicas: number }> {
  const { deployment: d, cluster } = input;
  await failIfAborted(deps, d, signal);
  const snap = await storedSnapshot(deps, d, cluster.name, signal);
  await deps.store.markTouched(d.id, cluster.name, 'canary', signal);
  const registryAuth = await deps.registryAuth.headerFor(d.image, signal);
  const now = deps.now();
  const result = await withEngine(deps.connect, cluster, signal, (engine) =>
    deployCanary(
      engine,
      {
        ref: { deploymentId: d.id, cluster: cluster.name, service: d.service },
        snapshot: snap,
        image: d.image,
        percent: input.percent,
        registryAuth,
      },
      signal,
    ),
  );
  return {
    cluster: cluster.name,
    service: result.canaryService,
    image: d.image,
    replicas: result.replicas,
    since: now.toISOString(),
    deadline: deadlineFrom(now, input.progressDeadlineSeconds),
  };
}

/** Records the cluster as touched, then updates its primary to the digest. */
export async function promoteStep(
  deps: StepDeps,
  input: ClusterInput & { update: UpdatePolicy; progressDeadlineSeconds: number },
  signal?: AbortSignal,
): Promise<ChangeResult> {
  const { deployment: d, cluster } = input;
  await failIfAborted(deps, d, signal);
  const snap = await storedSnapshot(deps, d, cluster.name, signal);
  await deps.store.markTouched(d.id, cluster.name, 'primary', signal);
  const registryAuth = await deps.registryAuth.headerFor(d.image, signal);
  const now = deps.now();
  await withEngine(deps.connect, cluster, signal, (engine) =>
    promote(
      engine,
      {
        ref: { deploymentId: d.id, cluster: cluster.name, service: d.service },
        snapshot: snap,
        image: d.image,
        update: input.update,
        registryAuth,
      },
      signal,
    ),
  );
  return {
    cluster: cluster.name,
    service: d.service,
    image: d.image,
    since: now.toISOString(),
    deadline: deadlineFrom(now, input.progressDeadlineSeconds),
  };
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
 * @throws ImagePullError, TaskCrashError, NoSuitableNodeError, UpdatePausedError, ProgressDeadlineError, DeploymentAbortedError
 */
export async function progressStep(deps: StepDeps, input: ProgressInput, signal?: AbortSignal) {
  const { deployment: d, cluster, change } = input;
  if (!input.rollingBack) await failIfAborted(deps, d, signal);
  const registryAuth = await deps.registryAuth.headerFor(change.image, signal);
  const p = await withEngine(deps.connect, cluster, signal, (engine) =>
    progress(
      engine,
      { service: change.service, image: change.image, since: change.since, registryAuth },
      signal,
    ),
  );
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

export interface AnalyzeInput {
  deployment: Deployment;
  cluster: PlannedCluster;
  metrics: Metric[];
  state: AnalysisState | null;
  record: DecisionRecord | null;
}

/**
 * One analysis round on the canary cluster's Prometheus. The waiting between rounds is the
 * workflow's Wait state (waitSeconds), never inside a Lambda.
 * @throws AnalysisFailedError (Failed, Inconclusive or Error, with the decisive measurement), DeploymentAbortedError
 */
export async function analyzeStep(deps: StepDeps, input: AnalyzeInput, signal?: AbortSignal) {
  const { deployment: d, cluster } = input;
  await failIfAborted(deps, d, signal);
  const outcome = await withPrometheus(deps.connect, cluster, signal, (client) =>
    runRound(
      input.state,
      input.metrics,
      {
        service: d.service,
        canaryService: canaryName(d.service),
        cluster: cluster.name,
        digest: d.digest,
        tag: d.tag,
      },
      client.queryFn(),
      deps.now(),
      { signal },
    ),
  );
  // Keep the record small in the state payload: a few measurements per metric plus the decisive one.
  const record = appendToRecord(input.record, outcome, { perMetric: 3, maxBytes: 12_000 });
  if (outcome.done && outcome.phase !== 'Successful') {
    const decisive = outcome.decisive?.sentence ?? outcome.summary;
    await notify(
      deps,
      d,
      {
        transition: 'analysis-failed',
        cluster: cluster.name,
        summary: `canary of ${d.service} ${d.tag} on ${cluster.name}: analysis ${outcome.phase}: ${decisive}`,
        details: { measurements: describeRecord(record).slice(-10) },
      },
      signal,
    );
    throw new AnalysisFailedError(`analysis ${outcome.phase} on ${cluster.name}: ${decisive}`);
  }
  return {
    state: outcome.state,
    record,
    phase: outcome.phase,
    done: outcome.done,
    waitSeconds: Math.max(1, Math.ceil(outcome.waitSeconds)),
    summary: outcome.summary,
  };
}

/** The canary converged: tell people, and start the analysis with no state. */
export async function canaryReadyStep(
  deps: StepDeps,
  input: ClusterInput & { canary: ChangeResult & { replicas?: number } },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await notify(
    deps,
    d,
    {
      transition: 'canary-ready',
      cluster: input.cluster.name,
      summary: `canary ${input.canary.service} of ${d.tag} runs on ${input.cluster.name}${input.canary.replicas ? ` (${input.canary.replicas} replica(s))` : ''}; analysis starts`,
    },
    signal,
  );
  return {
    state: null,
    record: null,
    phase: 'Running',
    done: false,
    waitSeconds: 1,
    summary: 'analysis starting',
  };
}

/** Stores the approval task token and tells people the canary waits for them (never sending the token). */
export async function requestApprovalStep(
  deps: StepDeps,
  input: { deployment: Deployment; taskToken: string; timeoutSeconds: number; analysisSummary?: string },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await deps.store.saveApprovalToken(d.id, input.taskToken, signal);
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

/** After a wave's clusters: fail the deployment when more clusters failed than the wave allows. */
export async function judgeWaveStep(
  deps: StepDeps,
  input: {
    deployment: Deployment;
    wave: { name: string; maxFailures: number };
    results: Array<{ cluster: string; ok: boolean; error?: string; cause?: string }>;
  },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  const failed = input.results.filter((r) => !r.ok);
  if (failed.length > input.wave.maxFailures) {
    const reasons = failed.map((f) => `${f.cluster}: ${f.error}: ${causeMessage(f.cause)}`).join('; ');
    throw new WaveFailedError(
      `wave ${input.wave.name}: ${failed.length} cluster(s) failed (budget ${input.wave.maxFailures}): ${reasons}`,
    );
  }
  await notify(
    deps,
    d,
    {
      transition: 'wave-promoted',
      key: input.wave.name,
      summary: `wave ${input.wave.name} of ${d.service} runs ${d.tag}: ${input.results
        .filter((r) => r.ok)
        .map((r) => r.cluster)
        .join(', ')}`,
      details: { failed: failed.map((f) => f.cluster) },
    },
    signal,
  );
  return {
    wave: input.wave.name,
    promoted: input.results.filter((r) => r.ok).map((r) => r.cluster),
    failed: failed.map((f) => f.cluster),
  };
}

/** Step Functions puts a Lambda error's Cause as a JSON string {errorMessage, errorType}; read the message. */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}

/** Removes the canary once every wave runs the digest. */
export async function removeCanaryStep(deps: StepDeps, input: ClusterInput, signal?: AbortSignal) {
  const { deployment: d, cluster } = input;
  const r = await withEngine(deps.connect, cluster, signal, (engine) =>
    removeCanary(engine, d.service, signal),
  );
  return { cluster: cluster.name, removed: r.removed };
}

/** Success: record the digest, notify, release the lock, drop the record. */
export async function completeStep(
  deps: StepDeps,
  input: { deployment: Deployment; clusters: string[] },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await deps.store.setDigestStatus(d.service, d.digest, d.id, 'succeeded', signal);
  await notify(
    deps,
    d,
    {
      transition: 'succeeded',
      summary: `${d.service} runs ${d.tag} (${d.digest}) on ${input.clusters.join(', ')}`,
    },
    signal,
  );
  await deps.store.deleteRecord(d.id, signal);
  await deps.store.releaseLock(d.service, d.id, signal);
  return { outcome: 'succeeded', finishedAt: deps.now().toISOString() };
}

/** The clusters rollback must restore: every one this deployment recorded as touched. */
export async function listTouchedStep(
  deps: StepDeps,
  input: { deployment: Deployment; clusters: PlannedCluster[] },
  signal?: AbortSignal,
) {
  const touched = new Set(await deps.store.touched(input.deployment.id, signal));
  return input.clusters.filter((c) => touched.has(c.name));
}

/** Restores one cluster from its snapshot and removes the canary; returns what to wait for. */
export async function rollbackStep(
  deps: StepDeps,
  input: ClusterInput & { progressDeadlineSeconds: number },
  signal?: AbortSignal,
): Promise<ChangeResult> {
  const { deployment: d, cluster } = input;
  const snap = await storedSnapshot(deps, d, cluster.name, signal);
  const now = deps.now();
  await withEngine(deps.connect, cluster, signal, (engine) => rollback(engine, snap, signal));
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
 * restored → notify "rollback failed" (critical) and fail loudly. The lock is released either way.
 * @throws RollbackFailedError
 */
export async function concludeRollbackStep(
  deps: StepDeps,
  input: {
    deployment: Deployment;
    error: { Error: string; Cause?: string };
    results: Array<{ cluster: string; ok: boolean; error?: string; cause?: string }>;
  },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  const reason = `${input.error.Error}: ${causeMessage(input.error.Cause)}`;
  const failed = input.results.filter((r) => !r.ok);
  const restored = input.results.filter((r) => r.ok).map((r) => r.cluster);
  await deps.store.releaseLock(d.service, d.id, signal);
  if (failed.length > 0) {
    const details = failed.map((f) => `${f.cluster}: ${f.error}: ${causeMessage(f.cause)}`).join('; ');
    await deps.store.setDigestStatus(d.service, d.digest, d.id, 'failed', signal);
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
    throw new RollbackFailedError(
      `rollback of ${d.id} failed on ${details} (deployment failed with ${reason})`,
    );
  }
  await deps.store.setDigestStatus(d.service, d.digest, d.id, 'rolled-back', signal);
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
  await deps.store.deleteRecord(d.id, signal);
  return { outcome: 'rolled-back', restored, reason };
}

export type { Deployment, Plan };
