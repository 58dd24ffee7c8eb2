import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_PERMISSIONS, type HandlerName } from '../../infra/permissions.js';
import {
  bundleEnv,
  bundleInputs,
  bundlePath,
  DOCKER_STEPS,
  handlerNames,
  metafilePath,
  removeStaged,
  runBundle,
  stagedBundle,
} from './support.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const names = handlerNames();
const dockerFree = names.filter((n) => !DOCKER_STEPS.has(n));
/** Inputs no bundle may carry: the ssh2 stack (stubbed) and BuildKit's gRPC (stubbed). */
const NEVER = /node_modules\/(ssh2|cpu-features|@grpc\/grpc-js|@grpc\/proto-loader|protobufjs)\//;
/** Inputs a bundle that never reaches an engine must not carry. */
const DOCKER = /node_modules\/(dockerode|docker-modem)\//;
/** Step handlers whose schema accepts any event: an invalid event reaches their use case. */
const ANY_EVENT = new Set(['start-deployment']);
const NOT_STEPS = new Set(['api']);
/**
 * The AWS SDK client each IAM service prefix is called through. KMS is only reached through SSM and
 * Secrets Manager (kms:ViaService), Amazon Managed Service for Prometheus through a SigV4-signed
 * HTTP query, and Session Manager's data channel (ssmmessages) through its websocket, so none of
 * them has a client.
 */
const CLIENT_OF: Record<string, string | undefined> = {
  dynamodb: '@aws-sdk/client-dynamodb',
  ecr: '@aws-sdk/client-ecr',
  secretsmanager: '@aws-sdk/client-secrets-manager',
  sns: '@aws-sdk/client-sns',
  ssm: '@aws-sdk/client-ssm',
  states: '@aws-sdk/client-sfn',
  kms: undefined,
  aps: undefined,
  ssmmessages: undefined,
};

/**
 * A loopback stand-in for the one AWS service a bundle calls: `answer` gets each request's body and
 * headers and returns the status and JSON body to send (Step Functions' JSON 1.0 protocol).
 */
async function standIn(
  answer: (request: { headers: IncomingHttpHeaders; body: string }) => { status: number; body: unknown },
) {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const out = answer({ headers: req.headers, body });
      res.writeHead(out.status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'r1' });
      res.end(JSON.stringify(out.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}

beforeAll(() => {
  const missing = names.filter((n) => !existsSync(bundlePath(n)) || !existsSync(metafilePath(n)));
  if (missing.length > 0)
    throw new Error(`no bundle for ${missing.join(', ')}: run \`npm run build\` (or npm run test:bundles)`);
});
afterAll(() => removeStaged());

describe('every handler has its bundle', () => {
  it('covers the handlers the workflow and the API use', () => {
    // Assert
    expect(names.length).toBeGreaterThanOrEqual(20);
    for (const docker of DOCKER_STEPS) expect(names).toContain(docker);
  });

  it.each(names)('%s: index.mjs with its source map beside it, referenced', (name) => {
    // Arrange
    const text = readFileSync(bundlePath(name), 'utf8');
    const map = JSON.parse(readFileSync(`${bundlePath(name)}.map`, 'utf8')) as {
      version: number;
      sources: string[];
      mappings: string;
    };
    // Assert
    expect(text.trimEnd().split('\n').at(-1)).toBe('//# sourceMappingURL=index.mjs.map');
    expect(map.version).toBe(3);
    expect(map.sources).toContain(`../../../functions/handlers/${name}.ts`);
    expect(map.mappings.length).toBeGreaterThan(0);
  });
});

describe('what the bundles carry', () => {
  it.each(names)('%s: no ssh2, cpu-features, gRPC or protobufjs', (name) => {
    // Act
    const inputs = Object.keys(bundleInputs(name));
    // Assert
    expect(inputs.filter((p) => NEVER.test(p))).toEqual([]);
  });

  it.each(dockerFree)('%s never reaches an engine: no dockerode or docker-modem', (name) => {
    // Arrange
    const inputs = Object.keys(bundleInputs(name));
    const map = JSON.parse(readFileSync(`${bundlePath(name)}.map`, 'utf8')) as { sources: string[] };
    // Assert: by the metafile, and by what the shipped source map says the bundle holds.
    expect(inputs.filter((p) => DOCKER.test(p))).toEqual([]);
    expect(map.sources.filter((s) => s.includes('docker-modem') || s.includes('dockerode'))).toEqual([]);
  });

  it.each(names)('%s: the AWS clients it carries are those of the services its role grants', (name) => {
    // Arrange: the services of the handler's least-privilege grants (infra/permissions.ts).
    const granted = new Set<string>();
    for (const grant of FUNCTION_PERMISSIONS[name as HandlerName])
      for (const action of grant.actions) {
        const service = action.split(':')[0] ?? '';
        expect(Object.keys(CLIENT_OF), `${action} has no known client`).toContain(service);
        const client = CLIENT_OF[service];
        if (client) granted.add(client);
      }
    // Act
    const carried = new Set(
      Object.keys(bundleInputs(name))
        .map((p) => /^node_modules\/(@aws-sdk\/client-[a-z-]+)\//.exec(p)?.[1])
        .filter((c): c is string => c !== undefined),
    );
    // Assert: no client without a grant (a port built for nothing) and no grant without a client.
    expect([...carried].sort()).toEqual([...granted].sort());
  });

  it.each([...DOCKER_STEPS])('%s carries dockerode, with ssh2 stubbed', (name) => {
    // Act
    const inputs = Object.keys(bundleInputs(name));
    // Assert
    expect(inputs.some((p) => p.startsWith('node_modules/dockerode/'))).toBe(true);
    expect(inputs.some((p) => p.startsWith('node_modules/docker-modem/'))).toBe(true);
    expect(inputs).toContain('stub:ssh2');
  });
});

describe('what the bundles leave out', () => {
  it('no source tells an AWS error by its class, which the bundles do not carry (build.mjs sdkErrorsByName)', () => {
    // Arrange: every value the deployer's sources import from an AWS SDK client package.
    const sources = readdirSync(join(ROOT, 'functions'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(ROOT, 'functions', f));
    const imported: string[] = [];
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-[a-z0-9-]+'/g))
        for (const name of (m[1] ?? '').split(','))
          if (name.trim() !== '' && !name.trim().startsWith('type ')) imported.push(name.trim());
    }
    // Assert: clients, commands and waiters only; an error class imported to compare with instanceof
    // would never match in a bundle.
    expect(imported.length).toBeGreaterThan(10);
    expect(imported.filter((n) => !/(Client|Command)$|^waitUntil/.test(n))).toEqual([]);
  });

  it.each(names)('%s: no modelled AWS error classes and no event-stream serde', (name) => {
    // Act
    const inputs = Object.keys(bundleInputs(name));
    // Assert
    expect(inputs.filter((p) => /@aws-sdk\/client-[a-z0-9-]+\/dist-es\/models\/errors\.js$/.test(p))).toEqual(
      [],
    );
    expect(inputs.filter((p) => p.includes('@smithy/core/dist-es/submodules/event-streams/'))).toEqual([]);
  });
});

describe('each bundle loads in a fresh Node 22 and rejects an invalid event', () => {
  it.each(names.filter((n) => !NOT_STEPS.has(n) && !ANY_EVENT.has(n)))(
    '%s: InvalidInputError, before any network',
    async (name) => {
      // Act
      const { outcome, code, stderr } = await runBundle(name, {});
      const wrong = await runBundle(name, { deployment: 'not an object', cluster: 42, plan: [] });
      // Assert
      expect(code).toBe(0);
      expect(stderr).toBe('');
      expect(outcome).toMatchObject({ ok: false, name: 'InvalidInputError' });
      expect(wrong.outcome).toMatchObject({ ok: false, name: 'InvalidInputError' });
      // Source maps at run time: the stack points into the TypeScript sources.
      expect(outcome?.ok === false && outcome.stack).toMatch(/functions\/lib\/handler\.ts:\d+:\d+/);
    },
  );

  it('api: 401 without a signed caller, 400 on a bad id or body', async () => {
    // Arrange
    const caller = {
      requestContext: { authorizer: { iam: { userArn: 'arn:aws:iam::000000000000:user/a' } } },
    };
    // Act
    const unsigned = await runBundle('api', {});
    const route = 'POST /deployments/{id}/{action}';
    const badId = await runBundle('api', {
      ...caller,
      routeKey: route,
      pathParameters: { id: '../x', action: 'approve' },
    });
    const badBody = await runBundle('api', {
      ...caller,
      routeKey: route,
      pathParameters: { id: 'd1', action: 'abort' },
      body: '{',
    });
    // Assert
    expect(unsigned.stderr).toBe('');
    expect(unsigned.outcome).toMatchObject({ ok: true, value: { statusCode: 401 } });
    expect(badId.outcome).toMatchObject({ ok: true, value: { statusCode: 400 } });
    expect(badBody.outcome).toMatchObject({ ok: true, value: { statusCode: 400 } });
    const body = JSON.parse((unsigned.outcome as { value: { body: string } }).value.body) as {
      message: string;
    };
    expect(body.message).toMatch(/IAM/);
    // The 400s name the field that was wrong.
    for (const [res, field] of [
      [badId, 'path.id'],
      [badBody, 'body'],
    ] as const)
      expect(JSON.parse((res.outcome as { value: { body: string } }).value.body)).toMatchObject({ field });
  });

  it('start-deployment (accepts any event by design): starts an execution named after the event', async () => {
    // Arrange: a loopback stand-in for Step Functions, the only service this step calls.
    const seen: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const { endpoint, close } = await standIn((request) => {
      seen.push(request);
      return {
        status: 200,
        body: { executionArn: 'arn:aws:states:us-east-1:000000000000:execution:x:y', startDate: 1 },
      };
    });
    try {
      // Act
      const { outcome, stderr } = await runBundle(
        'start-deployment',
        { id: 'not-a-push' },
        {
          AWS_ENDPOINT_URL: endpoint,
        },
      );
      // Assert
      expect(stderr).toBe('');
      expect(outcome).toMatchObject({ ok: true, value: { started: true, name: 'event-not-a-push' } });
      expect(seen).toHaveLength(1);
      expect(seen[0]?.headers['x-amz-target']).toBe('AWSStepFunctions.StartExecution');
      expect(JSON.parse(seen[0]?.body ?? '{}')).toMatchObject({
        stateMachineArn: bundleEnv.STATE_MACHINE_ARN,
        name: 'event-not-a-push',
      });
    } finally {
      close();
    }
  });

  it('start-deployment: AWS errors are told by name in the bundle (modelled error classes are not carried)', async () => {
    // Arrange: Step Functions throttles the first call, then says the execution already exists.
    let calls = 0;
    const { endpoint, close } = await standIn(() => {
      calls += 1;
      const [type, message] =
        calls === 1
          ? ['ThrottlingException', 'Rate exceeded']
          : ['ExecutionAlreadyExists', 'Execution Already Exists: event-dup'];
      return { status: 400, body: { __type: `com.amazonaws.swf.service.v2.model#${type}`, message } };
    });
    try {
      // Act
      const { outcome, stderr } = await runBundle(
        'start-deployment',
        { id: 'dup' },
        { AWS_ENDPOINT_URL: endpoint },
      );
      // Assert: the SDK retried the throttled call (by its name), and the step read the refusal by its
      // name as "one deployment already started", not as a failure.
      expect(stderr).toBe('');
      expect(calls).toBe(2);
      expect(outcome).toMatchObject({ ok: true, value: { started: false, name: 'event-dup' } });
    } finally {
      close();
    }
  });

  it('start-deployment without STATE_MACHINE_ARN: ConfigError, before any network', async () => {
    // Act
    const { outcome } = await runBundle('start-deployment', {}, { STATE_MACHINE_ARN: '' });
    // Assert
    expect(outcome).toMatchObject({ ok: false, name: 'ConfigError' });
  });
});

describe('a bundle is self-contained', () => {
  it.each(['plan', 'preflight-cluster'])(
    '%s imports from a directory with no node_modules above it',
    async (name) => {
      // Arrange: the staged copy, under the OS temporary directory.
      const ancestors: string[] = [];
      for (let dir = dirname(stagedBundle(name)); ; dir = dirname(dir)) {
        ancestors.push(dir);
        if (dirname(dir) === dir) break;
      }
      // Act
      const run = await runBundle(name);
      // Assert
      expect(ancestors.filter((dir) => existsSync(join(dir, 'node_modules')))).toEqual([]);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
    },
  );
});
