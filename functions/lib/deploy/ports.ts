import type { Snapshot } from '../swarm/types.js';
import type {
  ActionEntry,
  AnalysisRoundView,
  ClusterProgress,
  DeploymentPage,
  DeploymentStatus,
  DeploymentSummary,
  HistoryEntry,
} from './view.js';

/**
 * The ports the deployment use cases depend on. Adapters (DynamoDB, Step Functions, ECR, SNS)
 * implement them; unit tests hand in fakes or the local stand-ins, never SDK mocks.
 */

/** Who holds a service's lock: one execution (a deployment, or the rollback of one). */
export interface LockHolder {
  deploymentId: string;
  executionArn: string;
  digest: string;
  acquiredAt: string;
  /** "rollback" when a reaper's rollback execution took the lock over from a stopped deployment. */
  mode?: 'deploy' | 'rollback';
}

/** Where a deployment stands in its record (desired vs observed: this is what it did, not what it wants). */
export type DeploymentPhase = 'running' | 'rolling-back' | 'succeeded' | 'rolled-back' | 'failed';

/** One cluster the deployment changed or is about to change; written before the change. */
export interface TouchedCluster {
  cluster: string;
  what: 'canary' | 'primary';
  /** While set, a step may still be changing this cluster: rollback waits for it (or for the lease to run out). */
  leaseUntil?: string;
}

/** A waiting `.waitForTaskToken` task of a deployment (approval or bake), failed at once by an abort. */
export interface WaitingTask {
  kind: 'approval' | 'bake' | 'pause';
  token: string;
  /** The wave being baked or held, for kinds "bake" and "pause". */
  key?: string;
}

/**
 * The deployment record: everything a deployment writes, in one table with conditional writes.
 * Every method that changes state is idempotent for a retry of the same step.
 * @throws RecordError (retryable) when the store did not answer
 */
export interface DeploymentRecord {
  // -- the service lock ------------------------------------------------------------------------
  /** Takes the lock if nobody holds it (atomic); otherwise says who does. */
  acquireLock(
    service: string,
    holder: LockHolder,
    signal?: AbortSignal,
  ): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }>;
  /**
   * Takes the lock over from `expectedExecutionArn` (or takes it when nobody holds it), atomically:
   * false when someone else holds it.
   */
  takeOverLock(
    service: string,
    expectedExecutionArn: string,
    holder: LockHolder,
    signal?: AbortSignal,
  ): Promise<boolean>;
  /** Releases the lock only if `executionArn` holds it (atomic conditional delete). */
  releaseLock(service: string, executionArn: string, signal?: AbortSignal): Promise<boolean>;
  lockHolder(service: string, signal?: AbortSignal): Promise<LockHolder | undefined>;

  // -- pushes ------------------------------------------------------------------------------------
  /** Records a push as the newest of its service unless a newer one is already recorded. */
  notePush(service: string, digest: string, time: string, signal?: AbortSignal): Promise<void>;
  latestPush(service: string, signal?: AbortSignal): Promise<{ digest: string; time: string } | undefined>;

  // -- the deployment ------------------------------------------------------------------------------
  /** Stores the plan the deployment started from, once (a retry keeps the first). */
  savePlan(deploymentId: string, plan: unknown, signal?: AbortSignal): Promise<void>;
  plan(deploymentId: string, signal?: AbortSignal): Promise<unknown | undefined>;
  phase(deploymentId: string, signal?: AbortSignal): Promise<DeploymentPhase | undefined>;
  /**
   * The rollback fence: from now on no step may mark a cluster touched. Returns the touched list as
   * it stands once the fence is up (a consistent read after the write).
   */
  beginRollback(deploymentId: string, signal?: AbortSignal): Promise<TouchedCluster[]>;

  // -- snapshots and the touched list ---------------------------------------------------------------
  /** Stores a cluster's snapshot once: a retry keeps the first one (taken before any change) and returns it. */
  saveSnapshot(deploymentId: string, snap: Snapshot, signal?: AbortSignal): Promise<Snapshot>;
  /** Records the spec a deployment left running on a cluster (for the next drift check). */
  saveDeployedSpec(spec: DeployedSpec, signal?: AbortSignal): Promise<void>;
  /** The spec the last deployment left running on a cluster, or undefined. */
  deployedSpec(service: string, cluster: string, signal?: AbortSignal): Promise<DeployedSpec | undefined>;
  snapshot(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<Snapshot | undefined>;
  /**
   * Records, before a change, that a cluster is about to be touched, with a lease until which the
   * change may still be in flight. Fails with DeploymentAbortedError once the rollback fence is up.
   */
  markTouched(
    deploymentId: string,
    cluster: string,
    what: 'canary' | 'primary',
    leaseUntil: string,
    signal?: AbortSignal,
  ): Promise<void>;
  /** The change on `cluster` has landed (or failed): its lease ends. */
  endLease(
    deploymentId: string,
    cluster: string,
    what: 'canary' | 'primary',
    signal?: AbortSignal,
  ): Promise<void>;
  touched(deploymentId: string, signal?: AbortSignal): Promise<TouchedCluster[]>;
  /** A touched cluster was restored from its snapshot. */
  markRestored(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<void>;
  restored(deploymentId: string, signal?: AbortSignal): Promise<string[]>;

  // -- waiting tasks and aborts ----------------------------------------------------------------------
  saveWaitingTask(deploymentId: string, task: WaitingTask, signal?: AbortSignal): Promise<void>;
  waitingTask(
    deploymentId: string,
    kind: WaitingTask['kind'],
    signal?: AbortSignal,
  ): Promise<WaitingTask | undefined>;
  clearWaitingTask(deploymentId: string, kind: WaitingTask['kind'], signal?: AbortSignal): Promise<void>;
  requestAbort(deploymentId: string, reason: string, signal?: AbortSignal): Promise<void>;
  abortRequested(deploymentId: string, signal?: AbortSignal): Promise<string | undefined>;

  // -- unreachable clusters ---------------------------------------------------------------------------
  /** The first time a step of this deployment could not reach `cluster` (kept until it is reached). */
  unreachableSince(deploymentId: string, cluster: string, now: string, signal?: AbortSignal): Promise<string>;
  reached(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<void>;

  // -- operators' requests ----------------------------------------------------------------------------
  /** Asks the deployment to hold before its next wave (false: it is not running). */
  requestPause(deploymentId: string, by: ActionEntry, signal?: AbortSignal): Promise<boolean>;
  /** Lifts a pause request (false: none was set). */
  clearPause(deploymentId: string, signal?: AbortSignal): Promise<boolean>;
  pauseRequested(deploymentId: string, signal?: AbortSignal): Promise<ActionEntry | undefined>;
  /** Asks the analysis to end now as passed (false: the deployment is not running). */
  requestPromote(deploymentId: string, by: ActionEntry, signal?: AbortSignal): Promise<boolean>;
  promoteRequested(deploymentId: string, signal?: AbortSignal): Promise<ActionEntry | undefined>;

  // -- the audit trail (never expires) ----------------------------------------------------------------
  /** Where a deployment stands, for people (the record keeps its own phase for the workflow). */
  noteStatus(
    deploymentId: string,
    status: DeploymentStatus,
    extra?: { reason?: string; approver?: string; approvalDeadline?: string },
    signal?: AbortSignal,
  ): Promise<void>;
  /** What a step saw on one cluster: progress, a converged or failed change, a message. */
  noteCluster(deploymentId: string, cluster: string, note: ClusterNote, signal?: AbortSignal): Promise<void>;
  noteRound(deploymentId: string, round: AnalysisRoundView, signal?: AbortSignal): Promise<void>;
  noteAction(deploymentId: string, action: ActionEntry, signal?: AbortSignal): Promise<void>;
  history(deploymentId: string, signal?: AbortSignal): Promise<HistoryEntry | undefined>;
  /** Deployments newest first, by service and status; `next` continues a previous page. */
  listHistory(
    filter: { service?: string; status?: DeploymentStatus; limit: number; next?: string },
    signal?: AbortSignal,
  ): Promise<DeploymentPage>;
  /** The newest deployments of a service matching `where`, newest first (at most `limit`). */
  findHistory(
    service: string,
    where: (d: DeploymentSummary) => boolean,
    limit: number,
    signal?: AbortSignal,
  ): Promise<DeploymentSummary[]>;

  // -- the end ---------------------------------------------------------------------------------------
  /**
   * Marks the deployment finished with its phase and puts a TTL on every one of its items, except
   * the snapshots of `keepSnapshotsOf` (clusters not restored: kept until they are).
   */
  finish(
    deploymentId: string,
    phase: 'succeeded' | 'rolled-back' | 'failed',
    options?: { keepSnapshotsOf?: string[]; reason?: string },
    signal?: AbortSignal,
  ): Promise<void>;
}

/** What a step tells the audit trail about one cluster (only the fields it knows). */
export interface ClusterNote {
  step?: import('./view.js').ClusterStep;
  progress?: ClusterProgress | null;
  /** The digest the cluster runs now that the change landed (the new one, or the old one restored). */
  after?: string | null;
  message?: string | null;
}

/** Marks a notification as sent once, so that a retried step does not notify twice. */
export interface NotificationDedupe {
  firstTime(key: string, signal?: AbortSignal): Promise<boolean>;
  forget(key: string, signal?: AbortSignal): Promise<void>;
}

/** The workflow engine as the use cases see it. */
export interface Workflow {
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or undefined when unknown. */
  executionStatus(executionArn: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Starts an execution; `{started: false}` when one of that name exists already. */
  start(
    stateMachineArn: string,
    name: string,
    input: unknown,
    signal?: AbortSignal,
  ): Promise<{ started: boolean; executionArn: string }>;
  /** Completes a waiting task; false when the token is no longer valid (timed out, already answered). */
  sendTaskSuccess(token: string, output: unknown, signal?: AbortSignal): Promise<boolean>;
  sendTaskFailure(token: string, error: string, cause: string, signal?: AbortSignal): Promise<boolean>;
}

/** What a deployment left running on one cluster: a hash of each part of the spec (swarm/spec.ts). */
export interface DeployedSpec {
  service: string;
  cluster: string;
  parts: Record<string, string>;
  deploymentId: string;
  at: string;
}
