import { DeployerError } from '../errors.js';

/** A configuration parameter is missing, not JSON, or fails its schema; the message names the parameter and field. */
export class ConfigError extends DeployerError {
  override readonly name = 'ConfigError';
  readonly retryable = false;
}

/** Parameter Store could not be read (throttled, unavailable): retry. */
export class ConfigUnavailableError extends DeployerError {
  override readonly name = 'ConfigUnavailableError';
  readonly retryable = true;
}
