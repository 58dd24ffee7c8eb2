import type { InvocationContext, TaskHandler } from './engine.js';

/**
 * The Lambda context object (the fields the Node.js runtime provides) for a handler the engine
 * invokes, plus the engine's abort `signal`, which functions/lib/handler.ts combines with middy's.
 * There is no function timeout locally: the remaining time is the Task's (its TimeoutSeconds).
 */
export interface LocalLambdaContext {
  callbackWaitsForEmptyEventLoop: boolean;
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  getRemainingTimeInMillis(): number;
  done(error?: Error, result?: unknown): void;
  fail(error: Error | string): void;
  succeed(messageOrObject: unknown): void;
  signal: AbortSignal;
}

/** Builds the Lambda context for one invocation. */
export function lambdaContext(
  context: InvocationContext,
  options: { region?: string; accountId?: string } = {},
): LocalLambdaContext {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = () => {
    throw new Error('callback-style completion is not supported: return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: context.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${context.functionName}`,
    memoryLimitInMB: '128',
    awsRequestId: context.awsRequestId,
    logGroupName: `/aws/lambda/${context.functionName}`,
    logStreamName: `${day}/[$LATEST]${context.awsRequestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, context.deadlineMs - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
    signal: context.signal,
  };
}

/** Adapts a Lambda-style handler `(event, context) => Promise` (a middy handler) to the engine. */
export function lambdaHandler(
  handler: (event: unknown, context: LocalLambdaContext) => Promise<unknown>,
  options: { region?: string; accountId?: string } = {},
): TaskHandler {
  return (event, context) => handler(event, lambdaContext(context, options));
}
