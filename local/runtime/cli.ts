import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { signedFetch } from '../apigw/client.js';
import { down } from '../fleet/fleet.js';
import { resolveOptions } from '../fleet/layout.js';

const USAGE = `usage: npm run local -- <command>

  up [--clusters N]   the fleet plus the deployer (AWS stand-ins, SSM agents, the workflow) in the background
  executions          recent deployments and their outcome (through the Step Functions API)
  approve <id> | reject <id> | abort <id> [--reason TEXT]
                      what the HTTP API does, as user local-operator
  down                stop the deployer and tear the fleet down
`;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const stateDir = resolveOptions({}).stateDir;
const runtimeFile = join(stateDir, 'runtime.json');

interface RuntimeInfo {
  pid: number;
  stateMachineArn: string;
  topicArn: string;
  env: Record<string, string>;
  registry: string;
  /** The HTTP API and the credentials of the release manager the CLI signs as. */
  api: { url: string; credentials: { accessKeyId: string; secretAccessKey: string } };
}

async function running(): Promise<RuntimeInfo | undefined> {
  const info = await readFile(runtimeFile, 'utf8').then(
    (t) => JSON.parse(t) as RuntimeInfo,
    () => undefined,
  );
  if (!info) return undefined;
  try {
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

async function upCommand(clusters: number): Promise<number> {
  const existing = await running();
  if (existing) {
    console.log(`the local runtime already runs (pid ${existing.pid})`);
    return 0;
  }
  await rm(runtimeFile, { force: true });
  // The twin runs the built bundles: build them from the sources as they are now.
  console.log('building the Lambda bundles (npm run build)…');
  const built = spawnSync(process.execPath, [join(ROOT, 'functions', 'build.mjs')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (built.status !== 0) {
    console.error('npm run build failed: the twin has no bundles to run');
    return 1;
  }
  const logFile = join('/tmp', 'swarm-deployer-local.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'local', 'runtime', 'main.ts')],
    {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, LOCAL_CLUSTERS: String(clusters) },
    },
  );
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + 180_000;
  let info = await running();
  while (!info) {
    if (Date.now() > deadline || child.exitCode !== null) {
      console.error(`the local runtime did not start; see ${logFile}`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 500));
    info = await running();
  }
  console.log(`the deployer runs locally (pid ${info.pid}, log ${logFile}):
  AWS APIs (SSM, SNS, Step Functions, ECR)  ${info.env.AWS_ENDPOINT_URL}
  HTTP API (IAM-signed)                     ${info.api.url}
  state machine                             ${info.stateMachineArn}
  registry (ECR stand-in)                   ${info.registry}
  service "web" runs on every cluster; the policy deploys tags v* of repository demo (local/runtime/config.json)

  try:  npm run fleet -- push-demo --tag v2                      # a good release
        npm run fleet -- push-demo --tag v3 --error-rate 0.3     # a bad one: rolled back
        npm run local -- executions`);
  return 0;
}

function sfnClient(info: RuntimeInfo): SFNClient {
  return new SFNClient({
    endpoint: info.env.AWS_ENDPOINT_URL,
    region: info.env.AWS_REGION,
    credentials: {
      accessKeyId: info.env.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: info.env.AWS_SECRET_ACCESS_KEY as string,
    },
  });
}

async function executionsCommand(info: RuntimeInfo): Promise<number> {
  const sfn = sfnClient(info);
  const { executions = [] } = await sfn.send(
    new ListExecutionsCommand({ stateMachineArn: info.stateMachineArn, maxResults: 20 }),
  );
  for (const e of executions) {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
    const out = d.output
      ? (JSON.parse(d.output) as {
          outcome?: string;
          plan?: { reason?: string };
          lock?: { message?: string };
          deployment?: { id?: string };
        })
      : {};
    const what =
      d.status === 'FAILED'
        ? `${d.error}: ${d.cause?.slice(0, 200)}`
        : (out.deployment?.id ?? out.lock?.message ?? out.plan?.reason ?? '');
    console.log(`${e.startDate?.toISOString()}  ${d.status?.padEnd(9)}  ${what}`);
  }
  sfn.destroy();
  return 0;
}

async function decisionCommand(
  info: RuntimeInfo,
  action: string,
  id: string | undefined,
  reason: string | undefined,
): Promise<number> {
  if (!id) {
    console.error(`${action} needs a deployment id (see npm run local -- executions)`);
    return 2;
  }
  // Through the HTTP API, signed (SigV4) as the release manager the runtime issued credentials to.
  const res = await signedFetch(`${info.api.url}/deployments/${encodeURIComponent(id)}/${action}`, {
    method: 'POST',
    region: info.env.AWS_REGION as string,
    credentials: info.api.credentials,
    ...(reason ? { body: JSON.stringify({ reason }), headers: { 'content-type': 'application/json' } } : {}),
  });
  console.log(`${res.status} ${res.text}`);
  return res.status < 300 ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      clusters: { type: 'string', default: '3' },
      reason: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, id] = positionals;
  if (!command || values.help) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'up') return upCommand(Number(values.clusters));
  if (command === 'down') {
    const info = await running();
    if (info) {
      process.kill(info.pid, 'SIGTERM');
      for (let i = 0; i < 100; i++) {
        if (!(await running())) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await down({});
    console.log('the local runtime and the fleet are down');
    return 0;
  }
  const info = await running();
  if (!info) {
    console.error('the local runtime is not running: npm run local -- up');
    return 1;
  }
  if (command === 'executions') return executionsCommand(info);
  if (command === 'approve' || command === 'reject' || command === 'abort')
    return decisionCommand(info, command, id, values.reason);
  console.error(`unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`local: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
