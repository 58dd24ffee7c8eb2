import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Io } from '../../../cli/io.js';
import { runCli } from '../../../cli/program.js';
import type {
  ActionResult,
  DeploymentPage,
  DeploymentView,
  StartedResult,
} from '../../../functions/lib/deploy/view.js';
import { type HttpApi, type HttpApiEvent, startHttpApi } from '../../../local/apigw/http-api.js';
import { ALICE, NEW, OLD, promotingView, rolledBackView, succeededView, summary, view } from './fixtures.js';

/**
 * Every command against the HTTP API stand-in (local/apigw/http-api.ts) on loopback: it verifies
 * each request's SigV4 signature (service execute-api, the twin's region) against the operator's
 * credentials, as API Gateway's AWS_IAM authorization does, and the routes answer canned
 * DeploymentViews, pages, action results and ApiErrors.
 */

const REGION = 'eu-west-1';
const OPERATOR = { accessKeyId: 'AKIAOPERATOR00000001', secretAccessKey: 'operator-secret' };
const STRANGER = { accessKeyId: 'AKIASTRANGER00000001', secretAccessKey: 'stranger-secret' };
const NOW = new Date('2026-03-01T12:01:00Z');

const json = (statusCode: number, body: unknown) => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

let api: HttpApi;
let dir: string;
let runtimeFile: string;
const events: HttpApiEvent[] = [];
/** Views GET /deployments/{id} answers in turn, per id (the last one repeats). */
const sequences = new Map<string, Array<DeploymentView | number>>();

function page(event: HttpApiEvent): ReturnType<typeof json> {
  const q = event.queryStringParameters ?? {};
  if (q.service === 'bad name')
    return json(400, { message: 'service: lowercase letters, digits and dashes', field: 'query.service' });
  if (q.service === 'none') return json(200, { items: [] } satisfies DeploymentPage);
  if (q.next === 'tok+/=1')
    return json(200, {
      items: [summary({ id: 'web-v1-111111111111', tag: 'v1', digest: OLD, status: 'rolled-back' })],
    } satisfies DeploymentPage);
  return json(200, { items: [summary()], next: 'tok+/=1' } satisfies DeploymentPage);
}

function deployment(id: string): ReturnType<typeof json> {
  const sequence = sequences.get(id);
  if (sequence) {
    const next = sequence.length > 1 ? sequence.shift() : sequence[0];
    if (typeof next === 'number') return json(next, { message: 'Service Unavailable' });
    return json(200, next);
  }
  if (id === 'web-v2-aaaaaaaaaaaa') return json(200, promotingView());
  return json(404, { message: `no deployment "${id}"` });
}

function act(event: HttpApiEvent): ReturnType<typeof json> {
  const id = event.pathParameters?.id as string;
  const action = event.pathParameters?.action as ActionResult['action'];
  const body = JSON.parse(event.body ?? '{}') as { reason?: string };
  if ((body.reason?.length ?? 0) > 500)
    return json(400, { message: 'reason: at most 500 characters', field: 'body.reason' });
  if (id === 'running-1')
    return json(409, { message: `cannot ${action}: nothing awaits approval`, status: 'running' });
  if (id === 'expired-1') return json(410, { message: 'the approval expired at 2026-03-01T13:00:00Z' });
  if (id !== 'web-v2-aaaaaaaaaaaa') return json(404, { message: `no deployment "${id}"` });
  const by = event.requestContext.authorizer.iam.userArn as string;
  const outcome = action === 'abort' ? 'abort requested' : `${action}d`;
  return json(action === 'abort' ? 202 : 200, {
    deploymentId: id,
    action,
    by,
    outcome,
  } satisfies ActionResult);
}

function start(event: HttpApiEvent): ReturnType<typeof json> {
  const service = event.pathParameters?.name as string;
  const action = event.pathParameters?.action;
  if (service !== 'web') return json(404, { message: `no service "${service}"` });
  if (action !== 'undo' && action !== 'retry' && action !== 'apply')
    return json(404, { message: 'Not Found' });
  const body = JSON.parse(event.body ?? '{}') as { deploymentId?: string };
  return json(202, {
    deploymentId: `web-${action}-1`,
    executionArn: `arn:aws:states:${REGION}:111122223333:execution:deployer:web-${action}-1`,
    service,
    digest: action === 'undo' ? OLD : NEW,
    of: body.deploymentId ?? 'web-v2-aaaaaaaaaaaa',
    trigger: action,
  } satisfies StartedResult);
}

beforeAll(async () => {
  api = await startHttpApi({
    region: REGION,
    accountId: '111122223333',
    apiId: 'a1b2c3d4e5',
    stage: '$default',
    callers: {
      lookup: (key) =>
        key === OPERATOR.accessKeyId
          ? {
              secretAccessKey: OPERATOR.secretAccessKey,
              arn: ALICE,
              userId: 'AIDAALICE00000000001',
              account: '111122223333',
              policies: [],
            }
          : undefined,
    },
    authorize: () => true,
    routes: [
      ['GET /deployments', page],
      ['GET /deployments/{id}', (e: HttpApiEvent) => deployment(e.pathParameters?.id as string)],
      ['POST /deployments/{id}/{action}', act],
      ['POST /services/{name}/{action}', start],
    ].map(([routeKey, answer]) => ({
      routeKey: routeKey as string,
      authorizationType: 'AWS_IAM' as const,
      invoke: async (event: HttpApiEvent) => {
        events.push(event);
        return (answer as (e: HttpApiEvent) => unknown)(event);
      },
    })),
  });
  dir = await mkdtemp(join(tmpdir(), 'deployer-cli-'));
  runtimeFile = join(dir, 'runtime.json');
});

afterAll(async () => {
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  events.length = 0;
  sequences.clear();
  await writeRuntime(OPERATOR);
});

async function writeRuntime(
  credentials: { accessKeyId: string; secretAccessKey: string },
  pid = process.pid,
) {
  await writeFile(
    runtimeFile,
    JSON.stringify({ pid, env: { AWS_REGION: REGION }, api: { url: api.url, credentials } }),
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process against the stand-in; `--local` unless the arguments name a target. */
async function run(
  args: string[],
  options: { env?: Record<string, string>; tty?: boolean; io?: Partial<Io> } = {},
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const named = args.some((a) => ['--local', '--stack', '--api-url'].includes(a));
  const code = await runCli(named || options.env?.DEPLOYER_TARGET ? args : ['--local', ...args], {
    stdout: { write: (s: string) => out.push(s), isTTY: options.tty ?? false, columns: 200 },
    stderr: { write: (s: string) => err.push(s) },
    env: { DEPLOYER_RUNTIME_FILE: runtimeFile, ...options.env },
    now: () => NOW,
    sleep: async () => {},
    ...options.io,
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('requests are signed and shaped as the contract says', () => {
  it('carries a SigV4 Authorization header for execute-api in the twin region, as the operator', async () => {
    const r = await run(['status', 'web-v2-aaaaaaaaaaaa']);
    expect(r.code).toBe(0);
    const event = events[0] as HttpApiEvent;
    expect(event.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAOPERATOR00000001\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$/,
    );
    expect(event.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(event.requestContext.authorizer.iam.userArn).toBe(ALICE);
  });

  it('credentials the API does not know: the 403 and its message, exit 1', async () => {
    await writeRuntime(STRANGER);
    const r = await run(['list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('403 Forbidden: The security token included in the request is invalid.');
    expect(events).toHaveLength(0);
  });
});

describe('list', () => {
  it('prints a table of one page and says how to get the rest', async () => {
    const r = await run(['list', '--service', 'web', '--status', 'succeeded', '--limit', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(
      /^ID\s+SERVICE\s+TAG\s+DIGEST\s+STATUS\s+TRIGGER\s+STARTED\s+DURATION$/,
    );
    expect(r.stdout).toMatch(/web-v2-aaaaaaaaaaaa\s+web\s+v2\s+aaaaaaaaaaaa\s+succeeded\s+push/);
    expect(r.stderr).toBe('more deployments: --all, or --next tok+/=1\n');
    expect(events[0]?.rawQueryString).toBe('service=web&status=succeeded&limit=5');
  });

  it('--all follows the page tokens; --json prints JSON that parses', async () => {
    const r = await run(['list', '--all', '--json']);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout) as DeploymentPage;
    expect(parsed.items.map((d) => d.id)).toEqual(['web-v2-aaaaaaaaaaaa', 'web-v1-111111111111']);
    expect(events.map((e) => e.rawQueryString)).toEqual(['limit=100', 'limit=100&next=tok%2B%2F%3D1']);
  });

  it('--json of one page keeps its next token', async () => {
    const r = await run(['list', '--json']);
    expect(JSON.parse(r.stdout)).toEqual({ items: [summary()], next: 'tok+/=1' });
  });

  it('a 400 names the field and exits 2', async () => {
    const r = await run(['list', '--service', 'bad name']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'deployer: 400 Bad Request: service: lowercase letters, digits and dashes (field query.service)\n',
    );
  });

  it('bad options are usage errors (exit 2) before any request', async () => {
    expect((await run(['list', '--status', 'done'])).code).toBe(2);
    expect((await run(['list', '--limit', '0'])).code).toBe(2);
    expect((await run(['list', '--bogus'])).code).toBe(2);
    expect(events).toHaveLength(0);
  });
});

describe('status', () => {
  it('prints the tree and the execution link', async () => {
    const r = await run(['status', 'web-v2-aaaaaaaaaaaa']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^web {2}demo:v2 {2}aaaaaaaaaaaa {2}running {2}1m00s$/);
    expect(lines).toContain('│  ├─ c2  promoting  1/3 (updating)  111111111111 → aaaaaaaaaaaa');
    expect(lines.at(-1)).toBe(`execution: ${promotingView().execution.consoleUrl}`);
  });

  it('--json prints the DeploymentView', async () => {
    const r = await run(['status', 'web-v2-aaaaaaaaaaaa', '--json']);
    expect(JSON.parse(r.stdout)).toEqual(promotingView());
  });

  it('an unknown id: the 404 message, exit 1', async () => {
    const r = await run(['status', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('deployer: 404 Not Found: no deployment "nope"\n');
    expect(r.stdout).toBe('');
  });
});

describe('actions on a deployment', () => {
  it('approve sends the reason and prints the outcome with the caller', async () => {
    const r = await run(['approve', 'web-v2-aaaaaaaaaaaa', '--reason', 'metrics look fine']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`approve web-v2-aaaaaaaaaaaa: approved (by ${ALICE})\n`);
    expect(events[0]?.rawPath).toBe('/deployments/web-v2-aaaaaaaaaaaa/approve');
    expect(JSON.parse(events[0]?.body ?? '')).toEqual({ reason: 'metrics look fine' });
    expect(events[0]?.headers['content-type']).toBe('application/json');
  });

  it.each(['reject', 'abort', 'promote', 'pause', 'resume'] as const)(
    '%s: 200 or 202, --json parses',
    async (action) => {
      const r = await run([action, 'web-v2-aaaaaaaaaaaa', '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ deploymentId: 'web-v2-aaaaaaaaaaaa', action, by: ALICE });
      expect(JSON.parse(events[0]?.body ?? '')).toEqual({});
    },
  );

  it('an action that does not apply: the 409 message and the status, exit 1', async () => {
    const r = await run(['approve', 'running-1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'deployer: 409 Conflict: cannot approve: nothing awaits approval (deployment status: running)\n',
    );
  });

  it('an expired approval: the 410 message, exit 1', async () => {
    const r = await run(['reject', 'expired-1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('deployer: 410 Gone: the approval expired at 2026-03-01T13:00:00Z\n');
  });

  it('a malformed body: the 400 field, exit 2', async () => {
    const r = await run(['abort', 'web-v2-aaaaaaaaaaaa', '--reason', 'x'.repeat(501)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('deployer: 400 Bad Request: reason: at most 500 characters (field body.reason)\n');
  });

  it('an unknown id: 404, exit 1', async () => {
    const r = await run(['pause', 'gone-1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('404 Not Found: no deployment "gone-1"');
  });

  it('a missing id is a usage error', async () => {
    const r = await run(['approve']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing required argument 'id'");
  });
});

describe('undo and retry', () => {
  it('undo starts a new deployment and says how to follow it', async () => {
    const r = await run(['undo', 'web', '--reason', 'v2 is slow']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'undo of web started: deployment web-undo-1 deploys 111111111111 (undoing web-v2-aaaaaaaaaaaa)\nfollow it: deployer watch web-undo-1\n',
    );
    expect(events[0]?.rawPath).toBe('/services/web/undo');
    expect(JSON.parse(events[0]?.body ?? '')).toEqual({ reason: 'v2 is slow' });
  });

  it('retry names the deployment to retry; --json parses', async () => {
    const r = await run(['retry', 'web', '--deployment', 'web-v3-x', '--reason', 'flaky node', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      trigger: 'retry',
      of: 'web-v3-x',
      deploymentId: 'web-retry-1',
    });
    expect(JSON.parse(events[0]?.body ?? '')).toEqual({ deploymentId: 'web-v3-x', reason: 'flaky node' });
  });

  it('apply starts a new deployment of the same digest and says how to follow it', async () => {
    const r = await run(['apply', 'web', '--reason', 'memory limit 512M']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'apply of web started: deployment web-apply-1 deploys aaaaaaaaaaaa (applying the policy to the digest of web-v2-aaaaaaaaaaaa)\nfollow it: deployer watch web-apply-1\n',
    );
    expect(events[0]?.rawPath).toBe('/services/web/apply');
    expect(JSON.parse(events[0]?.body ?? '')).toEqual({ reason: 'memory limit 512M' });
  });

  it('apply --json parses; without --reason it sends an empty body', async () => {
    const r = await run(['apply', 'web', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ trigger: 'apply', deploymentId: 'web-apply-1' });
    expect(JSON.parse(events[0]?.body ?? '')).toEqual({});
  });

  it('an unknown service: 404, exit 1', async () => {
    const r = await run(['undo', 'ghost']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('deployer: 404 Not Found: no service "ghost"\n');
  });

  it('the help lists apply beside undo and retry', async () => {
    const r = await run(['--help']);
    expect(r.stdout).toMatch(/\n {2}undo \[options\] <service> /);
    expect(r.stdout).toMatch(/\n {2}retry \[options\] <service> /);
    expect(r.stdout).toMatch(
      /\n {2}apply \[options\] <service> +redeploy the digest of the service's latest/,
    );
  });
});

describe('history', () => {
  it('reads every page of the service and prints the audit table', async () => {
    const r = await run(['history', 'web']);
    expect(r.code).toBe(0);
    expect(events.map((e) => e.rawQueryString)).toEqual([
      'service=web&limit=100',
      'service=web&limit=100&next=tok%2B%2F%3D1',
    ]);
    expect(r.stdout).toMatch(/^STARTED\s+FINISHED\s+ID/);
    expect(r.stdout).toContain('web-v2-aaaaaaaaaaaa');
    expect(r.stdout).toContain('web-v1-111111111111');
    expect(r.stdout).toContain('    c1  111111111111 → aaaaaaaaaaaa\n');
    expect(r.stdout).toContain(`promote by ${ALICE}: "skip the rest"`);
  });

  it('--jsonl exports one JSON object per line', async () => {
    const r = await run(['history', 'web', '--jsonl']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual([
      'web-v2-aaaaaaaaaaaa',
      'web-v1-111111111111',
    ]);
  });

  it('--json prints one array; --json with --jsonl is a usage error', async () => {
    const r = await run(['history', 'web', '--json']);
    expect((JSON.parse(r.stdout) as unknown[]).length).toBe(2);
    expect((await run(['history', 'web', '--json', '--jsonl'])).code).toBe(2);
  });

  it('a service without deployments', async () => {
    const r = await run(['history', 'none']);
    expect(r.stdout).toBe('no deployments\n');
  });
});

describe('watch', () => {
  it('without a terminal: one line per change, exit 0 when it succeeds', async () => {
    sequences.set('w-ok', [view({ id: 'w-ok' }), promotingView({ id: 'w-ok' }), succeededView()]);
    const r = await run(['watch', 'w-ok', '--interval', '0.5'], { io: { now: () => NOW } });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d web demo:v2 aaaaaaaaaaaa running \(deployment w-ok, push\)$/);
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d c2 promoting 1\/3 \(updating\) /));
    expect(lines.at(-1)).toMatch(/status running → succeeded after 2m05s$/);
    expect(r.stdout).not.toContain('\u001b[');
    expect(events.length).toBe(3);
  });

  it('exit 1 when the deployment is rolled back', async () => {
    sequences.set('w-bad', [view(), rolledBackView()]);
    const r = await run(['watch', 'w-bad']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('analysis round 2 Failed: success-rate = 0.70 did not meet condition');
  });

  it('on a terminal: the tree redrawn in place', async () => {
    sequences.set('w-tty', [view(), succeededView()]);
    const r = await run(['watch', 'w-tty'], { tty: true });
    expect(r.code).toBe(0);
    const frames = r.stdout.split('\u001b[0J');
    expect(frames).toHaveLength(3);
    expect(frames[1]).toContain('canary-deploying');
    // Each redraw moves the cursor up over the previous frame (ESC [ n A, carriage return) first.
    expect(frames[1]).toMatch(/\[\d+A\r$/);
    expect(frames[2]).toContain('├─ wave rest  done\n│  ├─ c2  promoted  3/3  111111111111 → aaaaaaaaaaaa');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('web-v2-aaaaaaaaaaaa succeeded after 2m05s');
  });

  it('--service follows the newest deployment of the service', async () => {
    sequences.set('web-v2-aaaaaaaaaaaa', [succeededView()]);
    const r = await run(['watch', '--service', 'web', '--json']);
    expect(r.code).toBe(0);
    expect(events[0]?.rawQueryString).toBe('service=web&limit=1');
    expect(JSON.parse(r.stdout.trim())).toEqual(succeededView());
  });

  it('keeps polling through a 503, waits for a deployment queued for its lock, gives up on a 404 after --wait', async () => {
    sequences.set('w-flaky', [503, succeededView()]);
    const flaky = await run(['watch', 'w-flaky']);
    expect(flaky.code).toBe(0);
    expect(flaky.stderr).toContain('poll 1 failed: 503 Service Unavailable: Service Unavailable (retrying)');
    sequences.set('w-queued', [404, 404, succeededView()]);
    const queued = await run(['watch', 'w-queued', '--interval', '0.01']);
    expect(queued.code).toBe(0);
    expect(queued.stderr).toContain("w-queued is not recorded yet (queued for its service's lock?): waiting");
    const gone = await run(['watch', 'nope', '--wait', '0']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('404 Not Found');
  });

  it('needs an id or --service, not both', async () => {
    expect((await run(['watch'])).code).toBe(2);
    expect((await run(['watch', 'x', '--service', 'web'])).code).toBe(2);
    expect((await run(['watch', 'x', '--interval', '0'])).code).toBe(2);
  });
});

describe('targets', () => {
  const signAs = async () => OPERATOR;

  it('no target: exit 2 naming the choices', async () => {
    const out: string[] = [];
    const code = await runCli(['list'], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => out.push(s) },
      env: {},
    });
    expect(code).toBe(2);
    expect(out.join('')).toContain('choose a target: --local');
  });

  it('two targets: exit 2', async () => {
    const r = await run(['--local', '--stack', 'dev', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give only one of --local, --stack and --api-url');
  });

  it('--local without a running twin names npm run local -- up', async () => {
    await rm(runtimeFile);
    const missing = await run(['list']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no ${runtimeFile}): start it with \`npm run local -- up\``);
    await writeRuntime(OPERATOR, 2 ** 22 + 12345);
    const dead = await run(['list']);
    expect(dead.code).toBe(1);
    expect(dead.stderr).toContain('has exited): start it with `npm run local -- up`');
  });

  it('DEPLOYER_TARGET=local works like --local; a bad value is a usage error', async () => {
    expect((await run(['list'], { env: { DEPLOYER_TARGET: 'local' } })).code).toBe(0);
    expect((await run(['list'], { env: { DEPLOYER_TARGET: 'prod' } })).code).toBe(2);
  });

  it('--api-url signs with the AWS credential chain, region from AWS_REGION', async () => {
    const r = await run(['--api-url', api.url, 'status', 'web-v2-aaaaaaaaaaaa'], {
      env: { AWS_REGION: REGION },
      io: { awsCredentials: signAs },
    });
    expect(r.code).toBe(0);
    expect(events[0]?.requestContext.authorizer.iam.userArn).toBe(ALICE);
  });

  describe('the default credential chain', () => {
    beforeEach(() => {
      vi.stubEnv('AWS_ACCESS_KEY_ID', OPERATOR.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', OPERATOR.secretAccessKey);
      vi.stubEnv('AWS_SESSION_TOKEN', '');
    });
    afterEach(() => vi.unstubAllEnvs());

    it('--api-url without injected credentials uses fromNodeProviderChain (here: the environment)', async () => {
      const r = await run(['--api-url', api.url, 'list', '--json'], { env: { AWS_REGION: REGION } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(events[0]?.headers.authorization).toContain(`Credential=${OPERATOR.accessKeyId}/`);
    });
  });

  it('--api-url of a host that is not execute-api needs a region', async () => {
    const r = await run(['--api-url', api.url, 'list'], { io: { awsCredentials: signAs } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('set AWS_REGION');
  });

  it('--stack reads the apiUrl output of pulumi stack output --json --stack NAME', async () => {
    const fake = join(dir, 'pulumi');
    const argsFile = join(dir, 'pulumi-args');
    await writeFile(
      fake,
      `#!/bin/sh\necho "$@" > '${argsFile}'\necho '{"apiUrl": "${api.url}", "topicArn": "arn:x"}'\n`,
    );
    await chmod(fake, 0o755);
    const r = await run(['--stack', 'dev', 'list'], {
      env: { DEPLOYER_PULUMI: fake, AWS_REGION: REGION },
      io: { awsCredentials: signAs },
    });
    expect(r.code).toBe(0);
    expect((await readFile(argsFile, 'utf8')).trim()).toBe('stack output --json --stack dev');
    expect(r.stdout).toContain('web-v2-aaaaaaaaaaaa');
  });

  it('--stack without pulumi says to use --api-url or DEPLOYER_API_URL, which overrides it', async () => {
    const env = { DEPLOYER_PULUMI: join(dir, 'no-such-pulumi'), AWS_REGION: REGION };
    const r = await run(['--stack', 'dev', 'list'], { env, io: { awsCredentials: signAs } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'pulumi is not installed (not on PATH): pass --api-url URL or set DEPLOYER_API_URL',
    );
    const overridden = await run(['--stack', 'dev', 'list'], {
      env: { ...env, DEPLOYER_API_URL: api.url },
      io: { awsCredentials: signAs },
    });
    expect(overridden.code).toBe(0);
  });

  it('a stack without the output names what it has', async () => {
    const fake = join(dir, 'pulumi-empty');
    await writeFile(fake, `#!/bin/sh\necho '{"topicArn": "arn:x"}'\n`);
    await chmod(fake, 0o755);
    const r = await run(['--stack', 'dev', 'list'], { env: { DEPLOYER_PULUMI: fake } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('stack dev has no output apiUrl (is it deployed? its outputs: topicArn)');
  });

  it('an API nobody listens on: the error names the URL', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const r = await run(['--api-url', url, 'status', 'x'], {
      env: { AWS_REGION: REGION },
      io: { awsCredentials: signAs },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`deployer: cannot reach ${url}/deployments/x: ECONNREFUSED\n`);
  });
});
