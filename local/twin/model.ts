/**
 * The stack's model: what the Pulumi program of infra/ declares, read by running the program under
 * Pulumi's mocks (local/twin/model-main.ts, in a child process since mocks are process-wide). The
 * local twin is built from this and nothing else: the functions (bundle, environment, timeout,
 * memory, role policy), the state machine (rendered definition, role), the rules (patterns or
 * schedules, targets, retry policy, dead-letter queue), the API routes, the topic, the table and the
 * parameters.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { PolicyDocument } from '../../infra/permissions.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The Node.js arguments infra/Pulumi.yaml gives the program (`runtime.options.nodeargs`, which
 * Pulumi's Node.js language host passes to node before its run wrapper; with `typescript: false` it
 * registers no TypeScript loader of its own). The model is read with exactly these, so the loader a
 * `pulumi up` would use is the one every twin run exercises.
 * @throws Error naming the file when the project file has no nodejs runtime with nodeargs
 */
export function programNodeArgs(file = join(ROOT, 'infra', 'Pulumi.yaml')): string[] {
  const project = parse(readFileSync(file, 'utf8')) as {
    runtime?: { name?: string; options?: { typescript?: boolean; nodeargs?: string } };
  };
  const options = project.runtime?.options;
  if (project.runtime?.name !== 'nodejs' || typeof options?.nodeargs !== 'string')
    throw new Error(`${file}: runtime must be nodejs with options.nodeargs (the loader of index.ts)`);
  if (options.typescript !== false)
    throw new Error(`${file}: runtime.options.typescript must be false (TypeScript 7 has no compiler API)`);
  return options.nodeargs.split(/\s+/).filter((a) => a !== '');
}

export interface ModelRole {
  name: string;
  arn: string;
  /** The role's inline policies. */
  policies: Array<{ name: string; document: PolicyDocument }>;
}

export interface ModelFunction {
  /** The handler file (functions/handlers/<handler>.ts), from the bundle directory. */
  handler: string;
  name: string;
  arn: string;
  /** The bundle directory Lambda would get (dist/functions/<handler>). */
  codeDir: string;
  /** `index.handler`: the module's file and export. */
  entry: string;
  runtime: string;
  architectures: string[];
  timeoutSeconds: number;
  memoryMb: number;
  environment: Record<string, string>;
  role: ModelRole;
}

export interface ModelRuleTarget {
  arn: string;
  retryPolicy?: { maximumEventAgeInSeconds?: number; maximumRetryAttempts?: number };
  deadLetterArn?: string;
}

/** An EventBridge rule: an event pattern, a schedule, or (as PutRule allows) both. */
export interface ModelRule {
  name: string;
  /** The rule's event pattern (`eventPattern`); absent for a rule that only runs on a schedule. */
  pattern?: Record<string, unknown>;
  /** The rule's schedule expression (`scheduleExpression`), e.g. `rate(6 hours)`. */
  schedule?: string;
  targets: ModelRuleTarget[];
}

export interface ModelRoute {
  routeKey: string;
  authorizationType: string;
  /** The function the route's integration invokes. */
  functionArn: string;
}

export interface StackModel {
  region: string;
  account: string;
  functions: ModelFunction[];
  stateMachine: { name: string; arn: string; definition: string; role: ModelRole };
  rules: ModelRule[];
  /** Who may invoke each function (its resource policy): principal and source ARN. */
  permissions: Array<{ functionName: string; principal: string; action: string; sourceArn?: string }>;
  api: { id: string; stage: string; routes: ModelRoute[]; approverRole?: ModelRole };
  topic: { name: string; arn: string };
  table: {
    name: string;
    arn: string;
    hashKey: string;
    rangeKey?: string;
    attributes: Array<{ name: string; type: string }>;
    ttlAttribute?: string;
  };
  parameters: Array<{ name: string; type: string; tier: string; value: string }>;
  deadLetterQueue?: { name: string; arn: string };
  /** The tag the managers carry for the deployer's StartSession policy. */
  instanceTag: { key: string; value: string };
}

export interface ModelOptions {
  /** The stack configuration, as `pulumi config` holds it (keys without a namespace are the project's). */
  config: Record<string, unknown>;
  region: string;
  account: string;
  stack?: string;
}

/**
 * Runs the Pulumi program under mocks with `options.config` and returns what it declares.
 * @throws Error with the program's own message when the configuration or the program is wrong
 */
export async function loadStackModel(options: ModelOptions): Promise<StackModel> {
  const child = spawn(
    join(ROOT, 'node_modules', '.bin', 'node'),
    [...programNodeArgs(), join(ROOT, 'local', 'twin', 'model-main.ts')],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdin.end(JSON.stringify({ stack: 'local', ...options }));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const marker = stdout.lastIndexOf('\n@@model ');
  if (code !== 0 || marker < 0) {
    const reason = stderr.trim().split('\n').slice(-20).join('\n');
    throw new Error(`the Pulumi program did not yield a model (exit ${code}): ${reason}`);
  }
  return JSON.parse(stdout.slice(marker + '\n@@model '.length)) as StackModel;
}
