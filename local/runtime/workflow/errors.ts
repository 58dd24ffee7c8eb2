import { StateMachine } from 'aws-local-stepfunctions';

/**
 * A handler's failure as Step Functions reports a Lambda function error: the error name is the
 * runtime's `errorType` (the thrown error's `name`, so Retry/Catch route on it) and the Cause is the
 * JSON string the Node.js runtime serialises, `{"errorMessage","errorType","trace"}`.
 * aws-local-stepfunctions puts `error.message` into a catcher's Cause, hence the message is that JSON.
 */
export class LambdaFunctionError extends Error {
  constructor(
    errorType: string,
    cause: string,
    readonly errorMessage: string,
  ) {
    super(cause);
    this.name = errorType;
  }
}

/** Wraps whatever a handler threw the way the Lambda Node.js runtime reports it. */
export function toLambdaFunctionError(thrown: unknown): LambdaFunctionError {
  const errorType =
    thrown instanceof Error ? thrown.name || 'Error' : thrown === null ? 'object' : typeof thrown;
  const errorMessage = thrown instanceof Error ? thrown.message : String(thrown);
  const trace = thrown instanceof Error && typeof thrown.stack === 'string' ? thrown.stack.split('\n') : [];
  return new LambdaFunctionError(errorType, JSON.stringify({ errorMessage, errorType, trace }), errorMessage);
}

/**
 * An error neither Retry nor Catch may match, as AWS treats States.DataLimitExceeded and
 * States.Runtime. aws-local-stepfunctions reads `isRetryable`/`isCatchable` off any thrown object
 * (`error.isRetryable ?? true`, build/main.node.esm.js StateExecutor.shouldRetry/catchError).
 */
export class TerminalStateError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export const MAX_PAYLOAD_BYTES = 262_144;

export const payloadBytes = (value: unknown): number =>
  Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');

/** AWS's terminal States.DataLimitExceeded for a payload over 256 KiB. */
export const dataLimitExceeded = (what: string) =>
  new TerminalStateError(
    'States.DataLimitExceeded',
    `The state/task '${what}' returned a result with a size exceeding the maximum number of bytes service limit.`,
  );

let timeoutFactory: Promise<() => Error> | undefined;

/**
 * Makes errors that are instances of the library's internal StatesTimeoutError class (not
 * exported). Its matcher excludes exactly that class from `States.TaskFailed`, as AWS excludes
 * States.Timeout, so a heartbeat expiry has to be one too. The class is learnt once from a Task
 * that times out after 1 ms.
 */
export function statesTimeoutErrorFactory(): Promise<() => Error> {
  timeoutFactory ??= (async () => {
    const probe = new StateMachine(
      {
        StartAt: 'Probe',
        States: { Probe: { Type: 'Task', Resource: 'local:probe', TimeoutSeconds: 0.001, End: true } },
      },
      { validationOptions: { noValidate: true } },
    );
    const run = probe.run(null, {
      overrides: { taskResourceLocalHandlers: { Probe: () => new Promise(() => {}) } },
    });
    try {
      await run.result;
    } catch (err) {
      const inner = (err as { cause?: unknown }).cause;
      if (inner instanceof Error && inner.name === 'States.Timeout') {
        const ctor = inner.constructor as new () => Error;
        return () => new ctor();
      }
    }
    return () => Object.assign(new Error('States.Timeout'), { name: 'States.Timeout' });
  })();
  return timeoutFactory;
}
