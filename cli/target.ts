/**
 * Which API the CLI talks to, and as whom: `--local` (the twin: the URL and the local operator's
 * credentials from its runtime.json), `--stack NAME` (the Pulumi stack's `apiUrl` output, signed
 * with the default AWS credential chain) or `--api-url URL` (the same, without Pulumi). Exactly one,
 * or DEPLOYER_TARGET (`local`, `stack:NAME` or a URL), or DEPLOYER_API_URL.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity } from '@smithy/types';
import { DEFAULT_OPTIONS } from '../local/fleet/layout.js';
import type { Target } from './client.js';
import { CliError, type Io, UsageError } from './io.js';

export interface TargetFlags {
  local?: boolean;
  stack?: string;
  apiUrl?: string;
}

/** The Pulumi program's output holding the API's invoke URL (infra/index.ts). */
export const API_URL_OUTPUT = 'apiUrl';
const INFRA_DIR = fileURLToPath(new URL('../infra/', import.meta.url));

const NO_TARGET =
  'choose a target: --local (the local twin, started with `npm run local -- up`), --stack NAME (the API of a Pulumi stack) or --api-url URL; or set DEPLOYER_TARGET to local, stack:NAME or a URL';

type Choice = { kind: 'local' } | { kind: 'stack'; stack: string } | { kind: 'url'; url: string };

function choose(flags: TargetFlags, env: Io['env']): Choice {
  const given: Choice[] = [];
  if (flags.local) given.push({ kind: 'local' });
  if (flags.stack !== undefined) given.push({ kind: 'stack', stack: flags.stack });
  if (flags.apiUrl !== undefined) given.push({ kind: 'url', url: flags.apiUrl });
  if (given.length > 1)
    throw new UsageError(`give only one of --local, --stack and --api-url (${NO_TARGET})`);
  if (given[0]) return given[0];
  const fromEnv = env.DEPLOYER_TARGET?.trim();
  if (fromEnv) {
    if (fromEnv === 'local') return { kind: 'local' };
    if (fromEnv.startsWith('stack:') && fromEnv.length > 6) return { kind: 'stack', stack: fromEnv.slice(6) };
    if (/^https?:\/\//.test(fromEnv)) return { kind: 'url', url: fromEnv };
    throw new UsageError(`DEPLOYER_TARGET="${fromEnv}" is not local, stack:NAME or an http(s) URL`);
  }
  if (env.DEPLOYER_API_URL) return { kind: 'url', url: env.DEPLOYER_API_URL };
  throw new UsageError(NO_TARGET);
}

/** The region of an execute-api URL (https://abc.execute-api.eu-west-1.amazonaws.com), else the environment's. */
export function regionOf(url: string, env: Io['env']): string {
  const fromHost = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(new URL(url).hostname)?.[1];
  const region = fromHost ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region)
    throw new UsageError(`cannot tell the region of ${url} (not an execute-api host): set AWS_REGION`);
  return region;
}

function checkUrl(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${what} "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new UsageError(`${what} "${url}" is not an http(s) URL`);
  return url;
}

/** Where the twin writes runtime.json: its fleet's state directory (local/runtime/main.ts). */
export function runtimeFile(env: Io['env']): string {
  return env.DEPLOYER_RUNTIME_FILE ?? join(env.FLEET_STATE_DIR ?? DEFAULT_OPTIONS.stateDir, 'runtime.json');
}

interface RuntimeInfo {
  pid?: number;
  env?: Record<string, string>;
  api?: { url?: string; credentials?: { accessKeyId?: string; secretAccessKey?: string } };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function localTarget(env: Io['env']): Promise<Target> {
  const file = runtimeFile(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CliError(`the local twin is not running (no ${file}): start it with \`npm run local -- up\``);
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let info: RuntimeInfo;
  try {
    info = JSON.parse(text) as RuntimeInfo;
  } catch {
    throw new CliError(
      `${file} is not JSON: restart the twin with \`npm run local -- down\` and \`npm run local -- up\``,
    );
  }
  const url = info.api?.url;
  const creds = info.api?.credentials;
  if (!url || !creds?.accessKeyId || !creds.secretAccessKey)
    throw new CliError(
      `${file} names no API (api.url, api.credentials): the twin that wrote it predates the API; restart it with \`npm run local -- down\` and \`npm run local -- up\``,
    );
  if (typeof info.pid === 'number' && !alive(info.pid))
    throw new CliError(
      `the local twin is not running (pid ${info.pid} of ${file} has exited): start it with \`npm run local -- up\``,
    );
  const credentials: AwsCredentialIdentity = {
    accessKeyId: creds.accessKeyId,
    secretAccessKey: creds.secretAccessKey,
  };
  return {
    url: checkUrl(url, `api.url of ${file}`),
    region: info.env?.AWS_REGION ?? 'us-east-1',
    credentials: async () => credentials,
    describe: 'the local twin',
  };
}

/** `pulumi stack output --json --stack NAME`, run in infra/ (the Pulumi project). */
function stackOutputs(stack: string, env: Io['env']): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      env.DEPLOYER_PULUMI ?? 'pulumi',
      ['stack', 'output', '--json', '--stack', stack],
      { cwd: INFRA_DIR, env: env as NodeJS.ProcessEnv, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT')
            return reject(
              new CliError(
                "pulumi is not installed (not on PATH): pass --api-url URL or set DEPLOYER_API_URL to the stack's apiUrl output",
              ),
            );
          const detail = String(stderr).trim().split('\n').filter(Boolean).pop() ?? err.message;
          return reject(new CliError(`pulumi stack output --stack ${stack} failed: ${detail}`));
        }
        try {
          resolve(JSON.parse(String(stdout)) as Record<string, unknown>);
        } catch {
          reject(new CliError(`pulumi stack output --json --stack ${stack} did not print JSON`));
        }
      },
    );
  });
}

function chainCredentials(io: Io): () => Promise<AwsCredentialIdentity> {
  if (io.awsCredentials) return io.awsCredentials;
  const provider = fromNodeProviderChain();
  return () => provider();
}

/** Resolves the target the flags or the environment name. @throws UsageError, CliError */
export async function resolveTarget(flags: TargetFlags, io: Io): Promise<Target> {
  const choice = choose(flags, io.env);
  if (choice.kind === 'local') return localTarget(io.env);
  let url: string;
  let describe: string;
  if (choice.kind === 'stack') {
    if (!/^[A-Za-z0-9._/-]+$/.test(choice.stack))
      throw new UsageError(`"${choice.stack}" is not a stack name`);
    describe = `stack ${choice.stack}`;
    if (io.env.DEPLOYER_API_URL) url = checkUrl(io.env.DEPLOYER_API_URL, 'DEPLOYER_API_URL');
    else {
      const outputs = await stackOutputs(choice.stack, io.env);
      const value = outputs[API_URL_OUTPUT];
      if (typeof value !== 'string' || value === '')
        throw new CliError(
          `stack ${choice.stack} has no output ${API_URL_OUTPUT} (is it deployed? its outputs: ${Object.keys(outputs).join(', ') || 'none'})`,
        );
      url = checkUrl(value, `output ${API_URL_OUTPUT} of stack ${choice.stack}`);
    }
  } else {
    url = checkUrl(choice.url, flags.apiUrl !== undefined ? '--api-url' : 'the target URL');
    describe = url;
  }
  return { url, region: regionOf(url, io.env), credentials: chainCredentials(io), describe };
}
