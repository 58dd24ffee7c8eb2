import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FunctionError, LocalFunction } from '../../../local/twin/lambda.js';
import type { ModelFunction } from '../../../local/twin/model.js';

/**
 * The twin's Lambda functions, on small bundles written here: what a function sees (its own
 * environment, a Lambda context), its timeout enforced from the outside, warm reuse, load failures.
 */

const dir = mkdtempSync(join(tmpdir(), 'twin-lambda-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opened: LocalFunction[] = [];
afterEach(async () => {
  for (const f of opened.splice(0)) await f.close();
});

function bundle(name: string, code: string): string {
  const codeDir = join(dir, name);
  rmSync(codeDir, { recursive: true, force: true });
  mkdirSync(codeDir, { recursive: true });
  writeFileSync(join(codeDir, 'index.mjs'), code);
  return codeDir;
}

function fn(name: string, code: string, over: Partial<ModelFunction> = {}, env: Record<string, string> = {}) {
  const model: ModelFunction = {
    handler: name,
    name: `twin-${name}`,
    arn: `arn:aws:lambda:us-east-1:000000000000:function:twin-${name}`,
    codeDir: bundle(name, code),
    entry: 'index.handler',
    runtime: 'nodejs22.x',
    architectures: ['arm64'],
    timeoutSeconds: 5,
    memoryMb: 128,
    environment: {},
    role: { name: 'r', arn: 'arn:aws:iam::000000000000:role/r', policies: [] },
    ...over,
  };
  const f = new LocalFunction(model, env);
  opened.push(f);
  return f;
}

// A module-level counter: it survives between invocations only in a warm environment.
const COUNTER = `
let built = 0;
let calls = 0;
const client = () => (built ||= 1, built);
export const handler = async (event, context) => {
  calls += 1;
  client();
  return {
    calls,
    built,
    event,
    table: process.env.DEPLOYER_TABLE ?? null,
    hostOnly: process.env.HOST_ONLY_VARIABLE ?? null,
    functionName: context.functionName,
    remaining: context.getRemainingTimeInMillis(),
    requestId: context.awsRequestId,
  };
};`;

describe('a function of the twin', () => {
  it('runs its bundle with only its own environment and a Lambda context; a warm environment is reused', async () => {
    // Arrange
    process.env.HOST_ONLY_VARIABLE = 'must not leak';
    const f = fn('counter', COUNTER, { timeoutSeconds: 7 }, { DEPLOYER_TABLE: 'the-table' });
    // Act
    const first = (await f.invoke({ n: 1 }, { requestId: 'r-1' })) as Record<string, unknown>;
    const second = (await f.invoke({ n: 2 })) as Record<string, unknown>;
    // Assert
    expect(first).toMatchObject({
      calls: 1,
      event: { n: 1 },
      table: 'the-table',
      hostOnly: null,
      functionName: 'twin-counter',
      requestId: 'r-1',
    });
    expect(first.remaining).toBeGreaterThan(5000);
    expect(first.remaining).toBeLessThanOrEqual(7000);
    expect(second).toMatchObject({ calls: 2, built: 1, event: { n: 2 } });
    expect(f.stats()).toEqual({ coldStarts: 1, invocationsPerEnvironment: [2], timeouts: 0 });
    delete process.env.HOST_ONLY_VARIABLE;
  });

  it('gives concurrent invocations environments of their own', async () => {
    // Arrange
    const f = fn(
      'slow',
      'export const handler = async () => { await new Promise((r) => setTimeout(r, 300)); return 1; };',
    );
    // Act
    await Promise.all([f.invoke({}), f.invoke({}), f.invoke({})]);
    await f.invoke({});
    // Assert
    expect(f.stats().coldStarts).toBe(3);
    expect(f.stats().invocationsPerEnvironment.reduce((a, b) => a + b)).toBe(4);
  });

  it('cuts an invocation off at the function timeout with Sandbox.Timedout, and starts the next one cold', async () => {
    // Arrange: a handler that never answers (it ignores every signal).
    const f = fn(
      'stuck',
      'let calls = 0; export const handler = async (e) => { calls += 1; if (e.hang) await new Promise(() => setInterval(() => {}, 1000)); return calls; };',
      { timeoutSeconds: 1 },
    );
    // Act
    const started = Date.now();
    const error = await f.invoke({ hang: true }, { requestId: 'r-9' }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    const next = await f.invoke({});
    // Assert
    expect(error).toBeInstanceOf(FunctionError);
    expect((error as FunctionError).name).toBe('Sandbox.Timedout');
    expect((error as FunctionError).message).toBe('RequestId: r-9 Error: Task timed out after 1.00 seconds');
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(next).toBe(1);
    expect(f.stats()).toMatchObject({ coldStarts: 2, timeouts: 1 });
  });

  it('fails with the handler’s own error type and message', async () => {
    // Arrange
    const f = fn(
      'throws',
      "class LockTimeoutError extends Error { name = 'LockTimeoutError'; } export const handler = async () => { throw new LockTimeoutError('busy'); };",
    );
    // Act
    const error = (await f.invoke({}).catch((e: unknown) => e)) as FunctionError;
    // Assert
    expect(error.name).toBe('LockTimeoutError');
    expect(error.message).toBe('busy');
  });

  it('fails with Runtime.ImportModuleError when its bundle cannot load', async () => {
    // Arrange
    const f = fn('broken', "import 'no-such-package-anywhere'; export const handler = async () => 1;");
    // Act
    const error = (await f.invoke({}).catch((e: unknown) => e)) as FunctionError;
    // Assert
    expect(error.name).toBe('Runtime.ImportModuleError');
    expect(error.message).toMatch(/no-such-package-anywhere/);
  });

  it('passes a stop to the handler as its context signal', async () => {
    // Arrange
    const f = fn(
      'stoppable',
      "export const handler = (e, context) => new Promise((_, reject) => context.signal.addEventListener('abort', () => { const err = new Error('stopped'); err.name = 'AbortError'; reject(err); }));",
    );
    const controller = new AbortController();
    // Act
    const pending = f.invoke({}, { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 200);
    // Assert
    expect(((await pending) as Error).name).toBe('AbortError');
  });
});
