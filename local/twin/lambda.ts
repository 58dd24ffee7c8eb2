/**
 * Lambda functions of the local twin: each function runs its BUILT bundle in execution environments
 * (worker threads, local/twin/container.mjs) with the function's environment, as Lambda's Node.js
 * runtime would:
 * - one invocation at a time per environment; a concurrent invocation gets another environment,
 *   and an idle one is reused (warm: clients built by the first invocation serve the next);
 * - the function's timeout is enforced from the outside: past it, the invocation fails with
 *   `Sandbox.Timedout` ("Task timed out after N.NN seconds", the errorType and message Lambda
 *   reports to Step Functions) and the environment is discarded (Lambda resets it after a timeout);
 * - an environment being discarded (after a timeout, or at close) first runs its bundle's shutdown
 *   hook, where Lambda's runtime would get SIGTERM: the SSM sessions it pooled are terminated;
 * - an environment whose code cannot load fails its invocations with `Runtime.ImportModuleError`,
 *   one that dies mid-invocation with `Runtime.ExitError`;
 * - the event and the answer cross as JSON, as they do on Lambda.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { ModelFunction } from './model.js';

/** An error a function's invocation ended with: `name` is Lambda's errorType. */
export class FunctionError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly trace: string[] = [],
  ) {
    super(message);
    this.name = errorType;
  }
}

export interface InvokeOptions {
  requestId?: string;
  /** Aborted when the caller gives up (a stopped execution): the handler's context.signal aborts. */
  signal?: AbortSignal;
}

/**
 * How long a discarded environment may spend in its shutdown hook (ending its pooled SSM sessions)
 * before the worker is terminated; Lambda caps its own Shutdown phase at 2 s.
 */
export const SHUTDOWN_GRACE_MS = 2000;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

class Environment {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  invocations = 0;
  busy = false;
  dead = false;
  private pending = new Map<string, Pending>();

  constructor(fn: ModelFunction, env: Record<string, string>, log: (line: string) => void) {
    const [file, exportName] = splitEntry(fn.entry);
    this.worker = new Worker(new URL('./container.mjs', import.meta.url), {
      env,
      workerData: {
        bundle: join(fn.codeDir, file),
        exportName,
        functionName: fn.name,
        functionArn: fn.arn,
        memoryMb: fn.memoryMb,
        logGroup: `/aws/lambda/${fn.name}`,
      },
      // Plain Node, as Lambda's runtime: none of the host's loaders or flags.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: fn.memoryMb },
      // The function's output goes to its log (as to CloudWatch Logs), not to the host's.
      stdout: true,
      stderr: true,
    });
    for (const stream of [this.worker.stdout, this.worker.stderr])
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => log(line));
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type === 'ready') {
          this.worker.off('message', onMessage);
          resolve();
        }
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
    });
    this.worker.on('message', (m: { type: string; id: string } & Record<string, unknown>) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(JSON.parse(String(m.payload)));
      else
        p.reject(
          new FunctionError(
            String(m.errorType),
            String(m.errorMessage),
            (m.trace as string[] | undefined) ?? [],
          ),
        );
    });
    const die = (error: Error) => {
      this.dead = true;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(error);
      }
    };
    this.worker.on('error', (e) =>
      die(new FunctionError('Runtime.ExitError', `RequestId: - Error: ${e.message}`)),
    );
    this.worker.on('exit', (code) =>
      die(
        new FunctionError(
          'Runtime.ExitError',
          `RequestId: - Error: Runtime exited with error: exit status ${code}`,
        ),
      ),
    );
  }

  invoke(id: string, event: string, deadlineMs: number, requestId: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'invoke', id, event, deadlineMs, requestId });
    });
  }

  abort(id: string): void {
    this.worker.postMessage({ type: 'abort', id });
  }

  /**
   * Ends the environment: a live one first runs its bundle's shutdown hook (at most
   * SHUTDOWN_GRACE_MS), as Lambda's runtime gets SIGTERM before an environment is shut down or
   * reset, then the worker is terminated.
   */
  async discard(): Promise<void> {
    if (!this.dead) {
      this.dead = true;
      await this.shutdown();
    }
    await this.worker.terminate();
  }

  private shutdown(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.worker.off('message', onMessage);
        this.worker.off('exit', done);
        resolve();
      };
      const onMessage = (m: { type: string }) => {
        if (m.type === 'shutdown-done') done();
      };
      const timer = setTimeout(done, SHUTDOWN_GRACE_MS);
      this.worker.on('message', onMessage);
      this.worker.once('exit', done);
      this.worker.postMessage({ type: 'shutdown' });
    });
  }
}

function splitEntry(entry: string): [string, string] {
  const dot = entry.lastIndexOf('.');
  if (dot <= 0) throw new Error(`handler "${entry}" is not <file>.<export>`);
  return [`${entry.slice(0, dot)}.mjs`, entry.slice(dot + 1)];
}

export interface FunctionStats {
  /** Environments started (cold starts). */
  coldStarts: number;
  /** Invocations per environment, in the order they were started. */
  invocationsPerEnvironment: number[];
  timeouts: number;
}

const LOG_LINES = 5000;

export interface LocalFunctionOptions {
  /**
   * Every line the function writes (stdout and stderr), as CloudWatch Logs receives it: the
   * runtime hands them to its EMF aggregator (local/twin/emf.ts), the twin's metric extraction.
   */
  onLogLine?: (line: string, functionName: string) => void;
}

/** One function of the model, invocable. */
export class LocalFunction {
  private environments: Environment[] = [];
  private started: Environment[] = [];
  private timeouts = 0;
  /** The function's log lines (its stdout and stderr), the latest LOG_LINES of them. */
  readonly logs: string[] = [];

  constructor(
    readonly model: ModelFunction,
    /** The function's environment: the model's variables plus what Lambda sets (region, credentials). */
    private readonly env: Record<string, string>,
    private readonly options: LocalFunctionOptions = {},
  ) {}

  get name(): string {
    return this.model.name;
  }

  /**
   * Invokes the function with `event` (synchronously, as Step Functions' Lambda integration does).
   * @throws FunctionError: the handler's error (its name), Sandbox.Timedout, Runtime.* errors
   */
  async invoke(event: unknown, options: InvokeOptions = {}): Promise<unknown> {
    const requestId = options.requestId ?? randomUUID();
    const environment = this.environments.find((e) => !e.busy && !e.dead) ?? this.start();
    environment.busy = true;
    const timeoutMs = this.model.timeoutSeconds * 1000;
    try {
      await environment.ready;
      // The timeout counts from the invocation, as Lambda's does (init has its own budget).
      const deadlineMs = Date.now() + timeoutMs;
      const id = randomUUID();
      environment.invocations += 1;
      const onAbort = () => environment.abort(id);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          this.timeouts += 1;
          reject(
            new FunctionError(
              'Sandbox.Timedout',
              `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
            ),
          );
        }, timeoutMs);
      });
      try {
        const invoked = environment.invoke(id, JSON.stringify(event ?? null), deadlineMs, requestId);
        // A stop that came during a cold start (before the listener above) reaches the handler now,
        // after the invocation it is for.
        if (options.signal?.aborted) onAbort();
        return await Promise.race([invoked, timedOut]);
      } catch (err) {
        if ((err as Error).name === 'Sandbox.Timedout') await this.discard(environment);
        throw err;
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      }
    } catch (err) {
      if (environment.dead) await this.discard(environment);
      throw err;
    } finally {
      environment.busy = false;
    }
  }

  stats(): FunctionStats {
    return {
      coldStarts: this.started.length,
      invocationsPerEnvironment: this.started.map((e) => e.invocations),
      timeouts: this.timeouts,
    };
  }

  /** Ends every environment of the function. */
  async close(): Promise<void> {
    const all = this.environments;
    this.environments = [];
    await Promise.all(all.map((e) => e.discard()));
  }

  private start(): Environment {
    const e = new Environment(this.model, this.env, (line) => {
      this.logs.push(line);
      if (this.logs.length > LOG_LINES) this.logs.splice(0, this.logs.length - LOG_LINES);
      try {
        this.options.onLogLine?.(line, this.model.name);
      } catch {
        // A sink that fails loses its line; the function and its log go on.
      }
    });
    this.environments.push(e);
    this.started.push(e);
    return e;
  }

  private async discard(e: Environment): Promise<void> {
    this.environments = this.environments.filter((x) => x !== e);
    await e.discard();
  }
}
