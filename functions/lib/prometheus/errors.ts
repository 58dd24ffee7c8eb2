import { DeployerError } from '../errors.js';

/**
 * Prometheus could not be reached or answered as if it were down: connection refused or reset, DNS
 * failure, HTTP 429 or a 5xx that is not a Prometheus JSON error. Retrying may succeed.
 */
export class PrometheusUnavailableError extends DeployerError {
  override readonly name = 'PrometheusUnavailableError';
  readonly retryable = true;
  readonly statusCode: number | undefined;

  constructor(message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options);
    this.statusCode = options?.statusCode;
  }
}

/** The request did not complete within the client's timeout, or Prometheus timed the query out itself. */
export class PrometheusTimeoutError extends DeployerError {
  override readonly name = 'PrometheusTimeoutError';
  readonly retryable = true;
}

/** The caller's AbortSignal fired (for example middy's signal just before the Lambda deadline). */
export class PrometheusAbortedError extends DeployerError {
  override readonly name = 'PrometheusAbortedError';
  readonly retryable = true;
}

/**
 * Prometheus answered `status: "error"` for the query itself (`bad_data`, `execution`, ...): the
 * query is wrong for this server, and sending it again will not help.
 */
export class PrometheusQueryError extends DeployerError {
  override readonly name = 'PrometheusQueryError';
  readonly retryable = false;
  readonly errorType: string | undefined;
  readonly statusCode: number | undefined;

  constructor(message: string, options?: { cause?: unknown; errorType?: string; statusCode?: number }) {
    super(message, options);
    this.errorType = options?.errorType;
    this.statusCode = options?.statusCode;
  }
}

/** HTTP 401 or 403: the credentials are missing, wrong or not allowed. The message never carries them. */
export class PrometheusAuthError extends DeployerError {
  override readonly name = 'PrometheusAuthError';
  readonly retryable = false;
  readonly statusCode: number | undefined;

  constructor(message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options);
    this.statusCode = options?.statusCode;
  }
}

/**
 * The answer is not a Prometheus instant-query answer: not JSON, a 404 (wrong base path), a range
 * vector or string result, a value that is not a number, or a body past the size limit.
 */
export class PrometheusResponseError extends DeployerError {
  override readonly name = 'PrometheusResponseError';
  readonly retryable = false;
  readonly statusCode: number | undefined;

  constructor(message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options);
    this.statusCode = options?.statusCode;
  }
}

/** The client configuration is unusable (bad URL, unsupported protocol, missing SigV4 credentials). */
export class PrometheusConfigError extends DeployerError {
  override readonly name = 'PrometheusConfigError';
  readonly retryable = false;
}

/** Every error the Prometheus client raises. */
export type PrometheusError =
  | PrometheusUnavailableError
  | PrometheusTimeoutError
  | PrometheusAbortedError
  | PrometheusQueryError
  | PrometheusAuthError
  | PrometheusResponseError
  | PrometheusConfigError;

/** What every secret error carries: the reference it names (never the value) and the AWS error name. */
interface SecretErrorOptions {
  cause?: unknown;
  /** The reference as text, e.g. `parameter /deployer/secrets/prom` or `Secrets Manager secret prom`. */
  reference: string;
  awsErrorName?: string;
}

/** A secret reference that could not be read: names the reference and AWS's error, never the value. */
abstract class SecretReadError extends DeployerError {
  readonly reference: string;
  readonly awsErrorName: string | undefined;

  constructor(message: string, options: SecretErrorOptions) {
    super(message, { cause: options.cause });
    this.reference = options.reference;
    this.awsErrorName = options.awsErrorName;
  }
}

/**
 * A secret could not be read for a reason that may pass: throttling, a 5xx, a network error, the
 * Lambda's deadline. Retrying the step may succeed.
 */
export class SecretUnavailableError extends SecretReadError {
  override readonly name = 'SecretUnavailableError';
  readonly retryable = true;
}

/** The reference names no readable secret: missing, deleted, scheduled for deletion, or not a valid name. */
export class SecretNotFoundError extends SecretReadError {
  override readonly name = 'SecretNotFoundError';
  readonly retryable = false;
}

/** The deployer's role may not read or decrypt the secret (IAM or KMS AccessDenied). */
export class SecretAccessDeniedError extends SecretReadError {
  override readonly name = 'SecretAccessDeniedError';
  readonly retryable = false;
}

/**
 * The secret was read but cannot be used as configured: a parameter that is not a SecureString, a
 * secret without a string value, an empty token, or basic credentials that are not JSON
 * `{username, password}`. The message describes the shape expected, never the value.
 */
export class SecretFormatError extends DeployerError {
  override readonly name = 'SecretFormatError';
  readonly retryable = false;
  readonly reference: string;

  constructor(message: string, options: { reference: string }) {
    super(message);
    this.reference = options.reference;
  }
}

/** Every error a `SecretReader` or `prometheusAuth` raises about a secret. */
export type SecretError =
  | SecretUnavailableError
  | SecretNotFoundError
  | SecretAccessDeniedError
  | SecretFormatError;
