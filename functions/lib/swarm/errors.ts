import { DeployerError } from '../errors.js';

/**
 * Errors of the Swarm operations. Each `name` is part of the Step Functions contract (ErrorEquals).
 * Messages name the cluster and the service; they never carry registry credentials.
 */

/** The engine did not answer (connection refused, reset, timed out, 5xx without meaning). Retry. */
export class EngineUnreachableError extends DeployerError {
  override readonly name = 'EngineUnreachableError';
  readonly retryable = true;
}

/** The engine answered something this client cannot work with (an unexpected status or body). */
export class EngineApiError extends DeployerError {
  override readonly name = 'EngineApiError';
  readonly retryable = false;
}

/** The engine or its API is older than the configured minimum. */
export class EngineVersionError extends DeployerError {
  override readonly name = 'EngineVersionError';
  readonly retryable = false;
}

/** The node behind the endpoint is not a swarm manager (inactive, or a worker). */
export class NotSwarmManagerError extends DeployerError {
  override readonly name = 'NotSwarmManagerError';
  readonly retryable = false;
}

/** The swarm has no reachable leader: it cannot accept changes now. */
export class NoSwarmLeaderError extends DeployerError {
  override readonly name = 'NoSwarmLeaderError';
  readonly retryable = true;
}

export class ServiceNotFoundError extends DeployerError {
  override readonly name = 'ServiceNotFoundError';
  readonly retryable = false;
}

/** Fewer ready nodes than the service's replicas need (placement, max replicas per node, fixed host ports). */
export class InsufficientNodesError extends DeployerError {
  override readonly name = 'InsufficientNodesError';
  readonly retryable = false;
}

/** The service was changed by someone else since the snapshot: we never overwrite that change. */
export class SpecConflictError extends DeployerError {
  override readonly name = 'SpecConflictError';
  readonly retryable = false;
}

/** The image could not be pulled: denied, unknown digest, registry unreachable. Carries the registry's message. */
export class ImagePullError extends DeployerError {
  override readonly name = 'ImagePullError';
  readonly retryable = false;
}

/** Tasks of the new revision exit at start or shortly after. */
export class TaskCrashError extends DeployerError {
  override readonly name = 'TaskCrashError';
  readonly retryable = false;
}

/** The scheduler finds no node for the tasks (constraints, resources, ports). */
export class NoSuitableNodeError extends DeployerError {
  override readonly name = 'NoSuitableNodeError';
  readonly retryable = false;
}

/** Swarm paused the update, or rolled it back itself, per the service's update_config. */
export class UpdatePausedError extends DeployerError {
  override readonly name = 'UpdatePausedError';
  readonly retryable = false;
}

/** The operation was cut off by its abort signal (the Lambda deadline); safe to run again. */
export class OperationAbortedError extends DeployerError {
  override readonly name = 'OperationAbortedError';
  readonly retryable = true;
}

/** Bad input to an operation (a tag where a digest is needed, a percent out of range). */
export class InvalidOperationInputError extends DeployerError {
  override readonly name = 'InvalidOperationInputError';
  readonly retryable = false;
}

/** A network the policy names exists with another driver or options, or the cluster lacks the driver. */
export class NetworkMismatchError extends DeployerError {
  override readonly name = 'NetworkMismatchError';
  readonly retryable = false;
}
