/**
 * The base of every error the deployer raises. Its `name` is the Step Functions contract: the ASL
 * routes on it with ErrorEquals, so every subclass sets `name` explicitly (ending in `Error`).
 * `retryable` says whether retrying the same step can succeed (an engine that did not answer) or
 * cannot (a digest that does not exist).
 */
export abstract class DeployerError extends Error {
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
