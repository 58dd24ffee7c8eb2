/**
 * The built Lambda bundles (dist/functions/<handler>/index.mjs, from `npm run build`), loaded the way
 * Lambda loads them: in a fresh Node 22 process (node_modules/.bin/node), with no vitest or tsx
 * transform, no node_modules lookup needed and only the environment the infrastructure sets.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NODE = join(ROOT, 'node_modules', '.bin', 'node');

/** Every handler file under functions/handlers, by its bundle's name (the file name without .ts). */
export function handlerNames(): string[] {
  return readdirSync(join(ROOT, 'functions', 'handlers'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort();
}

/** The steps that reach a Swarm engine (through withEngine): the only bundles that carry dockerode. */
export const DOCKER_STEPS = new Set([
  'check-progress',
  'deploy-canary',
  'preflight-cluster',
  'promote-cluster',
  'refresh-registry-auth',
  'remove-canary',
  'rollback-cluster',
]);

export const bundlePath = (name: string) => join(ROOT, 'dist', 'functions', name, 'index.mjs');
export const metafilePath = (name: string) => join(ROOT, 'dist', 'meta', `${name}.json`);

/** The inputs esbuild put in a bundle (its metafile), with the bytes each left in the output. */
export function bundleInputs(name: string): Record<string, number> {
  const meta = JSON.parse(readFileSync(metafilePath(name), 'utf8')) as {
    outputs: Record<string, { entryPoint?: string; inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const output = Object.values(meta.outputs).find((o) => o.entryPoint !== undefined);
  if (!output) throw new Error(`${metafilePath(name)}: no output with an entry point`);
  return Object.fromEntries(
    Object.entries(output.inputs)
      .filter(([, v]) => v.bytesInOutput > 0)
      .map(([path, v]) => [path, v.bytesInOutput]),
  );
}

/** The environment the infrastructure gives every function, with dummies; nothing else leaks in. */
export const bundleEnv: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:swarm-deployer',
  DEPLOYER_TABLE: 'swarm-deployer',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:swarm-deployer',
  AWS_ACCESS_KEY_ID: 'AKIDBUNDLESTEST',
  AWS_SECRET_ACCESS_KEY: 'bundles-test-secret',
  NODE_OPTIONS: '--enable-source-maps',
};

export interface BundleRun {
  /** The import's duration in the child (ms), measured around `await import(bundle)`. */
  importMs: number;
  /** How the handler settled: its value, or its error's name and message (absent if not invoked). */
  outcome?: { ok: true; value: unknown } | { ok: false; name: string; message: string; stack?: string };
  code: number | null;
  stdout: string;
  stderr: string;
}

const MARK = '@@bundle-run@@';
// The child: imports the bundle, optionally invokes its handler with a minimal Lambda context, and
// prints one marked JSON line (Powertools logs go to stdout too).
const CHILD = `
const [bundle, eventJson] = process.argv.slice(1);
const t0 = performance.now();
const mod = await import(bundle);
const importMs = performance.now() - t0;
let outcome;
if (eventJson !== '') {
  const deadline = Date.now() + 30_000;
  const context = {
    functionName: 'swarm-deployer-bundles-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:swarm-deployer-bundles-test',
    memoryLimitInMB: '512',
    awsRequestId: 'bundles-test',
    logGroupName: '/aws/lambda/swarm-deployer-bundles-test',
    logStreamName: 'bundles-test',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    outcome = { ok: true, value: await mod.handler(JSON.parse(eventJson), context) };
  } catch (e) {
    outcome = { ok: false, name: e?.name, message: e?.message, stack: e?.stack };
  }
}
process.stdout.write('\\n${MARK}' + JSON.stringify({ importMs, outcome }) + '\\n');
`;

let staging: string | undefined;
const staged = new Map<string, string>();
/**
 * A copy of a bundle's directory (index.mjs and its map) outside the repository, as in Lambda's
 * /var/task: a dependency the bundle failed to carry cannot be found in the repository's node_modules.
 */
export function stagedBundle(name: string): string {
  const done = staged.get(name);
  if (done) return done;
  staging ??= mkdtempSync(join(tmpdir(), 'swarm-deployer-bundles-'));
  const dir = join(staging, name);
  cpSync(join(ROOT, 'dist', 'functions', name), dir, { recursive: true });
  const file = join(dir, 'index.mjs');
  staged.set(name, file);
  return file;
}

/** Removes the staged copies. */
export function removeStaged(): void {
  if (staging) rmSync(staging, { recursive: true, force: true });
  staging = undefined;
  staged.clear();
}

/**
 * Imports a bundle (its staged copy) in a fresh Node process and, with `event`, invokes its `handler` once.
 * @param env added to bundleEnv (e.g. AWS_ENDPOINT_URL of a loopback stand-in)
 */
export function runBundle(
  name: string,
  event?: unknown,
  env: Record<string, string> = {},
): Promise<BundleRun> {
  const args = [
    '--input-type=module',
    '-e',
    CHILD,
    pathToFileURL(stagedBundle(name)).href,
    event === undefined ? '' : JSON.stringify(event),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, {
      cwd: dirname(stagedBundle(name)),
      env: { ...bundleEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      if (!line) {
        reject(new Error(`${name}: the child printed no result (exit ${code})\n${stderr}${stdout}`));
        return;
      }
      const parsed = JSON.parse(line.slice(MARK.length)) as Pick<BundleRun, 'importMs' | 'outcome'>;
      resolve({ ...parsed, code, stdout, stderr });
    });
  });
}
