import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import type { Invocation } from './deploy/steps/index.js';
import { type Deps, getDeps } from './deps.js';
import { DeployerError } from './errors.js';

/** The event a handler got does not have the shape its state's Parameters promise. */
export class InvalidInputError extends DeployerError {
  override readonly name = 'InvalidInputError';
  readonly retryable = false;
}

/**
 * A Lambda handler for one workflow step: middy around (parse the input with its schema → run one
 * use case → return plain JSON for the next state). middy aborts `signal` just before the Lambda's
 * deadline; a local runtime may add its own signal (a stopped execution) on the context.
 * Errors are logged by name and message (never the event: it may carry tokens) and rethrown: an
 * unhandled error fails the invocation, which is what Step Functions routes on.
 */
export function stepHandler<S extends z.ZodType, O>(
  step: string,
  schema: S,
  run: (deps: Deps, input: z.output<S>, signal: AbortSignal, invocation: Invocation) => Promise<O>,
) {
  return middy(
    async (
      event: unknown,
      context: Context & { signal?: AbortSignal },
      { signal }: { signal: AbortSignal },
    ) => {
      const parsed = schema.safeParse(event);
      if (!parsed.success) {
        const where = parsed.error.issues
          .map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`)
          .join('; ');
        throw new InvalidInputError(`${step}: input does not match its schema: ${where}`);
      }
      const deps = getDeps();
      const input = parsed.data as { deployment?: { id?: string }; cluster?: { name?: string } };
      const logger = deps.logger.createChild({
        persistentKeys: { step, deploymentId: input.deployment?.id, cluster: input.cluster?.name },
      });
      const combined = context.signal ? AbortSignal.any([signal, context.signal]) : signal;
      const started = Date.now();
      // A change started by this invocation may land until Lambda cuts it off.
      const invocation: Invocation = { deadline: new Date(started + context.getRemainingTimeInMillis()) };
      try {
        const result = await run(deps, parsed.data, combined, invocation);
        logger.info('step done', { ms: Date.now() - started });
        return result;
      } catch (err) {
        const e = err as Error;
        logger.warn('step failed', { error: e.name, message: e.message, ms: Date.now() - started });
        throw err;
      }
    },
  );
}
