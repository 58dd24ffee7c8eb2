import { RecordError } from '../errors.js';

/**
 * How the record's stores call DynamoDB: a failed condition is an answer, every other failure a
 * RecordError (retryable) naming the operation and the key, never the values.
 */

export interface Key {
  pk: string;
  sk: string;
  [name: string]: string;
}

/** What `attempt` answers when the write's condition did not hold. */
export const FAILED_CONDITION: unique symbol = Symbol('the condition failed');

function isConditionFailure(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'ConditionalCheckFailedException';
}

function isItemTooBig(err: unknown): boolean {
  const e = err as Error | undefined;
  return e?.name === 'ValidationException' && /item size/i.test(e.message ?? '');
}

export function recordError(tableName: string, operation: string, key: Key, err: unknown): RecordError {
  const where = key.sk === '' ? key.pk : `${key.pk} ${key.sk} in table ${tableName}`;
  return new RecordError(
    `DynamoDB ${operation} of ${where} failed: ${(err as Error | undefined)?.name ?? 'Error'}`,
    {
      cause: err,
    },
  );
}

/** Sends; a failed condition is an answer, anything else a RecordError. */
export async function attempt<T>(
  tableName: string,
  operation: string,
  key: Key,
  signal: AbortSignal | undefined,
  send: (abortSignal: AbortSignal | undefined) => Promise<T>,
  tooBig?: () => string,
): Promise<T | typeof FAILED_CONDITION> {
  try {
    return await send(signal);
  } catch (err) {
    if (isConditionFailure(err)) return FAILED_CONDITION;
    if (tooBig !== undefined && isItemTooBig(err)) throw new RecordError(tooBig(), { cause: err });
    throw recordError(tableName, operation, key, err);
  }
}

/** Sends; every failure is a RecordError. */
export async function must<T>(
  tableName: string,
  operation: string,
  key: Key,
  signal: AbortSignal | undefined,
  send: (abortSignal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  try {
    return await send(signal);
  } catch (err) {
    throw recordError(tableName, operation, key, err);
  }
}
