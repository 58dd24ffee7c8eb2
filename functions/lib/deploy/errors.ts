import { DeployerError } from '../errors.js';

/** Errors of the deployment workflow itself; each `name` is routed on in statemachines/deploy.asl.json. */

/** Another deployment of the service holds the lock and the policy says "reject". */
export class DeploymentRejectedError extends DeployerError {
  override readonly name = 'DeploymentRejectedError';
  readonly retryable = false;
}

/** A queued deployment waited longer than its queue deadline for the lock. */
export class LockTimeoutError extends DeployerError {
  override readonly name = 'LockTimeoutError';
  readonly retryable = false;
}

/** A cluster did not converge before the progress deadline. */
export class ProgressDeadlineError extends DeployerError {
  override readonly name = 'ProgressDeadlineError';
  readonly retryable = false;
}

/** The canary analysis ended Failed, Inconclusive or Error. */
export class AnalysisFailedError extends DeployerError {
  override readonly name = 'AnalysisFailedError';
  readonly retryable = false;
}

/** A person rejected the canary through the API. */
export class ApprovalRejectedError extends DeployerError {
  override readonly name = 'ApprovalRejectedError';
  readonly retryable = false;
}

/** More clusters of a wave failed than its failure budget allows. */
export class WaveFailedError extends DeployerError {
  override readonly name = 'WaveFailedError';
  readonly retryable = false;
}

/** The deployment was aborted (API abort, or superseded by a newer digest). */
export class DeploymentAbortedError extends DeployerError {
  override readonly name = 'DeploymentAbortedError';
  readonly retryable = false;
}

/** An operator paused the deployment and nobody resumed it in time: it is rolled back. */
export class PauseExpiredError extends DeployerError {
  override readonly name = 'PauseExpiredError';
  readonly retryable = false;
}

/** At least one touched cluster could not be restored: reported loudly, never skipped. */
export class RollbackFailedError extends DeployerError {
  override readonly name = 'RollbackFailedError';
  readonly retryable = false;
}

/** The deployment's record (snapshots, touched clusters) could not be read or written. */
export class RecordError extends DeployerError {
  override readonly name = 'RecordError';
  readonly retryable = true;
}

/** A step found a change on this cluster still in flight (its lease not run out): rollback waits for it. */
export class ChangeInFlightError extends DeployerError {
  override readonly name = 'ChangeInFlightError';
  readonly retryable = true;
}

/** A cluster's manager could not be reached for longer than its configured bound: its state is unverified. */
export class ClusterUnreachableError extends DeployerError {
  override readonly name = 'ClusterUnreachableError';
  readonly retryable = false;
}

/** The service's lock is held by another execution than the one a rollback was started for. */
export class LockLostError extends DeployerError {
  override readonly name = 'LockLostError';
  readonly retryable = false;
}

/** The deployment's stored plan is missing (the record was lost or never written). */
export class PlanNotFoundError extends DeployerError {
  override readonly name = 'PlanNotFoundError';
  readonly retryable = false;
}

/** An ECR Image Action event that does not have the shape ECR sends (fields missing or malformed). */
export class InvalidEventError extends DeployerError {
  override readonly name = 'InvalidEventError';
  readonly retryable = false;
}

/** ECR reported the push as failed: there is nothing to deploy (the workflow's PushFailed state). */
export class PushFailedError extends DeployerError {
  override readonly name = 'PushFailedError';
  readonly retryable = false;
}

/** A cluster that failed within its wave's budget could not be restored (the workflow's PartiallyDeployed state). */
export class PartiallyDeployedError extends DeployerError {
  override readonly name = 'PartiallyDeployedError';
  readonly retryable = false;
}

/** A policy's secret or config source does not exist or cannot be read: refused before any change. */
export class SecretSourceError extends DeployerError {
  override readonly name = 'SecretSourceError';
  readonly retryable = false;
}

/**
 * The scheduled refresh of stored registry credentials failed on some clusters (named). Not a
 * workflow error: the next scheduled run tries again.
 */
export class RegistryAuthRefreshError extends DeployerError {
  override readonly name = 'RegistryAuthRefreshError';
  readonly retryable = false;
}
