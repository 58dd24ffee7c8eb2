import { DeployerError } from '../errors.js';

/**
 * StartSession (or ResumeSession) failed at the SSM API. `awsErrorName` is the SDK's error name
 * (for example TargetNotConnected, InvalidTarget, AccessDeniedException, ThrottlingException).
 */
export class SessionStartError extends DeployerError {
  override readonly name = 'SessionStartError';
  readonly retryable: boolean;
  readonly target: string;
  readonly awsErrorName: string | undefined;

  constructor(
    message: string,
    options: { target: string; awsErrorName?: string; retryable: boolean; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.target = options.target;
    this.awsErrorName = options.awsErrorName;
    this.retryable = options.retryable;
  }
}

/**
 * Session Manager refused the session for good: the caller may not start it (AccessDeniedException:
 * the message names the action and the resource), the target or the document does not exist, or
 * the request is invalid. Not retryable, and by a name of its own: the workflow retries
 * SessionStartError by name, and a refusal must fail the step at once instead of being retried for
 * minutes.
 */
export class SessionRefusedError extends DeployerError {
  override readonly name = 'SessionRefusedError';
  readonly retryable = false;
  readonly target: string;
  readonly awsErrorName: string | undefined;

  constructor(message: string, options: { target: string; awsErrorName?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.target = options.target;
    this.awsErrorName = options.awsErrorName;
  }
}

/** The StreamUrl websocket could not be opened, or the connect deadline passed before it was. */
export class TunnelConnectError extends DeployerError {
  override readonly name = 'TunnelConnectError';
  readonly retryable = true;
}

/**
 * The data-channel handshake did not complete: the agent never sent its HandshakeRequest in time,
 * or asked for a session this client cannot serve (not a Port session, or basic port forwarding).
 */
export class TunnelHandshakeError extends DeployerError {
  override readonly name = 'TunnelHandshakeError';
  readonly retryable: boolean;

  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable;
  }
}

/** The agent asked for KMS encryption of the session, which this client refuses (see docs/ssm-tunnel.md). */
export class EncryptionNotSupportedError extends DeployerError {
  override readonly name = 'EncryptionNotSupportedError';
  readonly retryable = false;
}

/**
 * The tunnel ended under a stream or request: the service sent channel_closed, the websocket was
 * lost and could not be resumed, or the agent stopped acknowledging. `reason` is the service's text.
 */
export class TunnelClosedError extends DeployerError {
  override readonly name = 'TunnelClosedError';
  readonly retryable = true;
  readonly reason: string | undefined;

  constructor(message: string, options?: { reason?: string; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.reason = options?.reason;
  }
}

/** The peer sent bytes that are not the data-channel or smux protocol. */
export class TunnelProtocolError extends DeployerError {
  override readonly name = 'TunnelProtocolError';
  readonly retryable = true;
}

/** The agent could not dial the destination port for a stream (its ConnectToPortError flag). */
export class PortConnectError extends DeployerError {
  override readonly name = 'PortConnectError';
  readonly retryable = true;
}
