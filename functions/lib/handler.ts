import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Invocation, StepDeps } from './deploy/steps/context.js';
import { logger } from './deps.js';
import { DeployerError } from './errors.js';
import { deployerMetrics, recordOutcome, recordStep } from './metrics.js';
import * as z from './zod.js';

/** The event a handler got does not have the shape its state's Parameters promise. */
export class InvalidInputError extends DeployerError {
  override readonly name = 'InvalidInputError';
  readonly retryable = false;
}

/**
 * How long before the Lambda's deadline middy aborts a step's signal and answers with its
 * TimeoutError. The answer waits (up to TIMEOUT_CLEANUP_MS) for the step to unwind, so that the SSM
 * tunnels it was using end their sessions instead of being frozen with the container (tunnels idle
 * in the container's pool stay open). The tunnel's close path (the pool closes the tunnels an
 * aborted invocation holds, functions/lib/ssm/pool.ts, and withEngine / withPrometheus await it;
 * teardown in functions/lib/ssm/tunnel.ts) is bounded: the TerminateSession flag is flushed to the
 * agent (at most 1 s), then the TerminateSession call (aborted after 5 s) runs beside the
 * websocket's close (forced after 1 s); at most 6 s, typically one round trip and one API call,
 * well under a second.
 * 3 s covers that with room for the answer; a TerminateSession that hangs past it is given up as when
 * it fails, and the session ends with the service's idle timeout.
 */
export const TIMEOUT_EARLY_MS = 3000;
/** The part of TIMEOUT_EARLY_MS the answer waits for the aborted step; the rest is left to send it. */
export const TIMEOUT_CLEANUP_MS = 2500;

/** middy's own early-timeout error (same name and message), thrown once the step has unwound. */
function timeoutError(): Error {
  const err = new Error('[AbortError]: The operation was aborted.', { cause: { package: '@middy/core' } });
  err.name = 'TimeoutError';
  return err;
}

/** The handler's answer once middy has answered for it: none. */
const unanswered = new Promise<never>(() => {});

/** Settles when `running` does, or after `ms`, whichever comes first; never rejects. */
function settled(running: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!running) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    running.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs a metrics call; a metric that cannot be recorded is logged, never the step's failure. */
function measure(record: () => void): void {
  try {
    record();
  } catch (err) {
    logger.warn('metric not recorded', { error: (err as Error).name, errorMessage: (err as Error).message });
  }
}

/** The factories (from deps.ts) of the ports a step uses, by name. */
export type Ports<K extends keyof StepDeps> = { [P in K]: () => StepDeps[P] };

/** The ports a step uses, built by their factories (each builds its adapter once per container). */
export function buildDeps<K extends keyof StepDeps>(ports: Ports<K>): Pick<StepDeps, K> {
  const deps = {} as Pick<StepDeps, K>;
  for (const name of Object.keys(ports) as K[]) deps[name] = ports[name]();
  return deps;
}

/**
 * A Lambda handler for one workflow step: middy around (parse the input with its schema → run one
 * use case → return plain JSON for the next state). middy aborts `signal` TIMEOUT_EARLY_MS before
 * the Lambda's deadline; a local runtime may add its own signal (a stopped execution) on the context.
 * Powertools' injectLambdaContext puts the invocation's context (request id, function, cold start)
 * on every log line. Errors are logged by name and message (never the event: it may carry tokens)
 * and rethrown: an unhandled error fails the invocation, which is what Step Functions routes on.
 * `ports` names the factories of the ports the step uses: only those are built, and only their
 * adapters and AWS clients end up in the handler's bundle. Every invocation records the step's
 * latency (and whether it failed), and an outcome that reaches the workflow the deployment metrics
 * it means (functions/lib/metrics.ts); Powertools' logMetrics writes them as EMF after each one.
 */
export function stepHandler<S extends z.core.$ZodType, K extends keyof StepDeps, O>(
  step: string,
  schema: S,
  ports: Ports<K>,
  run: (
    deps: Pick<StepDeps, K>,
    input: z.output<S>,
    signal: AbortSignal,
    invocation: Invocation,
  ) => Promise<O>,
) {
  const attempt = async (
    event: unknown,
    context: Context & { signal?: AbortSignal },
    signal: AbortSignal,
  ) => {
    const parsed = z.safeParse(schema, event);
    if (!parsed.success) {
      const where = parsed.error.issues
        .map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`)
        .join('; ');
      throw new InvalidInputError(`${step}: input does not match its schema: ${where}`);
    }
    const deps = buildDeps(ports);
    const input = parsed.data as { deployment?: { id?: string }; cluster?: { name?: string } };
    // On each line rather than on a child logger: a child would report every invocation as a cold
    // start (Powertools computes cold_start per logger instance).
    const keys = { step, deploymentId: input.deployment?.id, cluster: input.cluster?.name };
    const combined = context.signal ? AbortSignal.any([signal, context.signal]) : signal;
    const started = Date.now();
    // A change started by this invocation may land until Lambda cuts it off.
    const invocation: Invocation = { deadline: new Date(started + context.getRemainingTimeInMillis()) };
    try {
      const result = await run(deps, parsed.data, combined, invocation);
      logger.info('step done', { ...keys, ms: Date.now() - started });
      // An answer cut off by a timeout or a stop never reaches the workflow: its retry counts.
      if (!combined.aborted) measure(() => recordOutcome(step, parsed.data, { result }));
      return result;
    } catch (err) {
      const e = err as Error;
      // `message` is a reserved key of Powertools' logger (it would be dropped).
      logger.warn('step failed', {
        ...keys,
        error: e.name,
        errorMessage: e.message,
        ms: Date.now() - started,
      });
      if (!combined.aborted) measure(() => recordOutcome(step, parsed.data, { error: err }));
      throw err;
    }
  };
  // Every invocation, whatever it ends with, records the step's latency (logMetrics publishes it).
  const invoke = async (event: unknown, context: Context & { signal?: AbortSignal }, signal: AbortSignal) => {
    const started = Date.now();
    let failed = true;
    try {
      const result = await attempt(event, context, signal);
      // An answer cut off by middy's timeout (or a stop) is an invocation that failed.
      failed = signal.aborted || context.signal?.aborted === true;
      return result;
    } finally {
      measure(() => recordStep(step, Date.now() - started, failed));
    }
  };
  // The invocation middy has just timed out: middy aborts its signal, which records it here, and
  // then (synchronously) asks timeoutEarlyResponse for the answer.
  let timedOut: Promise<unknown> | undefined;
  return middy(
    (event: unknown, context: Context & { signal?: AbortSignal }, { signal }: { signal: AbortSignal }) => {
      const running = invoke(event, context, signal);
      signal.addEventListener(
        'abort',
        () => {
          timedOut = running;
        },
        { once: true },
      );
      // Once middy has timed the invocation out (only middy aborts `signal`), the answer is
      // timeoutEarlyResponse's TimeoutError, as with middy's default: the step's own outcome, which
      // settles first, must not win middy's race against it.
      return running.then(
        (result) => (signal.aborted ? unanswered : result),
        (err: unknown) => {
          if (signal.aborted) return unanswered;
          throw err;
        },
      );
    },
    {
      timeoutEarlyInMillis: TIMEOUT_EARLY_MS,
      timeoutEarlyResponse: async () => {
        const running = timedOut;
        timedOut = undefined;
        await settled(running, TIMEOUT_CLEANUP_MS);
        throw timeoutError();
      },
    },
  )
    .use(injectLambdaContext(logger))
    .use(logMetrics(deployerMetrics));
}
