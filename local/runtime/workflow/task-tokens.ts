import { randomBytes } from 'node:crypto';
import { SfnBackendError } from './sfn-backend.js';

/**
 * Task tokens for `.waitForTaskToken` Tasks, which aws-local-stepfunctions does not have (its
 * docs/feature-support.md lists the callback pattern as not supported). Each callback invocation gets a fresh token; the
 * pending Task's promise resolves or rejects through SendTaskSuccess/SendTaskFailure, a heartbeat
 * timer (HeartbeatSeconds, re-armed by SendTaskHeartbeat) fails it with States.Timeout, and a
 * token that was closed (completed, timed out, execution stopped) answers late calls with
 * TaskTimedOut, as the service does. Tokens stay known for the engine's lifetime.
 */

export interface CallbackTask {
  readonly executionArn: string;
  readonly stateName: string;
  /** Whether the Task still waits; false once it completed, timed out or was stopped. */
  readonly open: boolean;
  succeed(output: unknown): void;
  fail(error: string | undefined, cause: string | undefined): void;
  heartbeat(): void;
}

const TOKEN_PREFIX = 'AQB';
const TOKEN_SHAPE = /^AQB[A-Za-z0-9_-]{64}$/;
const MAX_OUTPUT = 262_144;

export class TaskTokenBroker {
  private readonly tasks = new Map<string, CallbackTask>();

  /** Mints a token for a callback Task. Opaque, like the service's: base64url of random bytes. */
  mint(task: CallbackTask): string {
    const token = TOKEN_PREFIX + randomBytes(48).toString('base64url');
    this.tasks.set(token, task);
    return token;
  }

  /** SendTaskSuccess. @throws SfnBackendError InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput, ValidationException */
  sendTaskSuccess(taskToken: string, output: string): void {
    if (typeof output !== 'string') throw new SfnBackendError('ValidationException', 'output is required');
    if (output.length > MAX_OUTPUT) {
      throw new SfnBackendError(
        'ValidationException',
        `1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to ${MAX_OUTPUT}`,
      );
    }
    const task = this.openTask(taskToken);
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw new SfnBackendError('InvalidOutput', 'Invalid JSON output.');
    }
    task.succeed(parsed);
  }

  /** SendTaskFailure. @throws SfnBackendError InvalidToken, TaskDoesNotExist, TaskTimedOut, ValidationException */
  sendTaskFailure(taskToken: string, error?: string, cause?: string): void {
    if (error !== undefined && error.length > 256) {
      throw new SfnBackendError(
        'ValidationException',
        "Value at 'error' failed to satisfy constraint: Member must have length less than or equal to 256",
      );
    }
    if (cause !== undefined && cause.length > 32_768) {
      throw new SfnBackendError(
        'ValidationException',
        "Value at 'cause' failed to satisfy constraint: Member must have length less than or equal to 32768",
      );
    }
    this.openTask(taskToken).fail(error, cause);
  }

  /** SendTaskHeartbeat. @throws SfnBackendError InvalidToken, TaskDoesNotExist, TaskTimedOut */
  sendTaskHeartbeat(taskToken: string): void {
    this.openTask(taskToken).heartbeat();
  }

  private openTask(taskToken: string): CallbackTask {
    if (typeof taskToken !== 'string' || taskToken.length < 1 || taskToken.length > 2048) {
      throw new SfnBackendError(
        'ValidationException',
        "Value at 'taskToken' failed to satisfy constraint: Member must have length between 1 and 2048",
      );
    }
    const task = this.tasks.get(taskToken);
    if (!task) {
      if (TOKEN_SHAPE.test(taskToken))
        throw new SfnBackendError('TaskDoesNotExist', 'Task does not exist anymore');
      throw new SfnBackendError('InvalidToken', 'Invalid token');
    }
    if (!task.open) throw new SfnBackendError('TaskTimedOut', 'Task Timed Out');
    return task;
  }
}
