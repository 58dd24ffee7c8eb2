import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withPrometheus } from '../../../functions/lib/clusters/connect.js';
import type { PlannedCluster } from '../../../functions/lib/deploy/plan.js';
import {
  awsSecretReader,
  prometheusAuth,
  type SecretReader,
} from '../../../functions/lib/prometheus/credentials.js';
import { json, startLoopback } from './loopback.js';

const SECRET = 'pr0m-S3CRET-do-not-leak-7c1e';
const ssmMock = mockClient(SSMClient);
const smMock = mockClient(SecretsManagerClient);

/** An SDK-shaped failure whose own message carries the secret, to prove it is never kept. */
function awsError(name: string, status: number): Error {
  return Object.assign(new Error(`${name}: something about ${SECRET}`), {
    name,
    $metadata: { httpStatusCode: status },
  });
}

function reader(options: { cacheMs?: number; now?: () => number } = {}) {
  const factory = vi.fn((region: string | undefined) => new SecretsManagerClient(region ? { region } : {}));
  const ssm = new SSMClient({ region: 'eu-west-1' });
  return { factory, read: awsSecretReader({ ssm, secretsManager: factory, cacheMs: 0, ...options }) };
}

afterEach(() => {
  ssmMock.reset();
  smMock.reset();
});

describe('awsSecretReader', () => {
  it('reads a SecureString parameter with decryption, without building a Secrets Manager client', async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Type: 'SecureString', Value: SECRET } });
    const { factory, read } = reader();
    await expect(read.read({ parameter: '/deployer/secrets/prom' })).resolves.toBe(SECRET);
    expect(ssmMock.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({
      Name: '/deployer/secrets/prom',
      WithDecryption: true,
    });
    expect(factory).not.toHaveBeenCalled();
  });

  it('refuses a parameter that is not a SecureString', async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Type: 'String', Value: SECRET } });
    const error = await reader()
      .read.read({ parameter: '/p' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'SecretFormatError',
      retryable: false,
      message: 'parameter /p is a String, not a SecureString: store secrets encrypted',
    });
  });

  it('reads Secrets Manager (string or binary), building one client per ARN region on first use', async () => {
    smMock
      .on(GetSecretValueCommand, { SecretId: 'prom' })
      .resolves({ SecretString: SECRET })
      .on(GetSecretValueCommand, {
        SecretId: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prom-AbC',
      })
      .resolves({ SecretBinary: new TextEncoder().encode('binary-token') });
    const { factory, read } = reader();
    await expect(read.read({ secretsManager: 'prom' })).resolves.toBe(SECRET);
    await expect(read.read({ secretsManager: 'prom' })).resolves.toBe(SECRET);
    await expect(
      read.read({ secretsManager: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prom-AbC' }),
    ).resolves.toBe('binary-token');
    expect(factory.mock.calls).toEqual([[undefined], ['eu-central-1']]);
  });

  it.each([
    ['ParameterNotFound', 400, 'SecretNotFoundError', false],
    ['AccessDeniedException', 400, 'SecretAccessDeniedError', false],
    ['InvalidKeyId', 400, 'SecretAccessDeniedError', false],
    ['ThrottlingException', 400, 'SecretUnavailableError', true],
    ['InternalServerError', 500, 'SecretUnavailableError', true],
    ['TimeoutError', 0, 'SecretUnavailableError', true],
  ])('maps SSM %s to %s, naming the parameter and never the value', async (aws, status, name, retryable) => {
    ssmMock.on(GetParameterCommand).rejects(awsError(aws, status));
    const error = (await reader()
      .read.read({ parameter: '/deployer/secrets/prom' })
      .catch((e: unknown) => e)) as Error & { retryable: boolean; reference: string };
    expect(error).toMatchObject({
      name,
      retryable,
      reference: 'parameter /deployer/secrets/prom',
      message: `reading parameter /deployer/secrets/prom failed: ${aws}`,
    });
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain(SECRET);
  });

  it.each([
    ['ResourceNotFoundException', 400, 'SecretNotFoundError'],
    ['InvalidRequestException', 400, 'SecretNotFoundError'],
    ['DecryptionFailure', 400, 'SecretAccessDeniedError'],
    ['InternalServiceError', 500, 'SecretUnavailableError'],
  ])('maps Secrets Manager %s to %s', async (aws, status, name) => {
    smMock.on(GetSecretValueCommand).rejects(awsError(aws, status));
    await expect(reader().read.read({ secretsManager: 'prom' })).rejects.toMatchObject({
      name,
      message: `reading Secrets Manager secret prom failed: ${aws}`,
    });
  });

  it('reports an aborted read as retryable', async () => {
    ssmMock.on(GetParameterCommand).callsFake(async () => {
      throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    });
    const controller = new AbortController();
    controller.abort();
    await expect(reader().read.read({ parameter: '/p' }, controller.signal)).rejects.toMatchObject({
      name: 'SecretUnavailableError',
      retryable: true,
      message: 'reading parameter /p was aborted',
    });
  });

  it('reuses a value for cacheMs, then reads again', async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Type: 'SecureString', Value: SECRET } });
    let t = 0;
    const { read } = reader({ cacheMs: 1000, now: () => t });
    await read.read({ parameter: '/p' });
    t = 999;
    await read.read({ parameter: '/p' });
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(1);
    t = 1000;
    await read.read({ parameter: '/p' });
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(2);
  });
});

/** A reader over a fixed map, for prometheusAuth. */
const fixed = (values: Record<string, string>): SecretReader => ({
  read: async (ref) => {
    const key = 'parameter' in ref ? ref.parameter : ref.secretsManager;
    const value = values[key];
    if (value === undefined) throw new Error(`no ${key}`);
    return value;
  },
});

describe('prometheusAuth', () => {
  it('reads basic credentials from JSON and a bearer token (trimmed)', async () => {
    const secrets = fixed({
      '/basic': JSON.stringify({ username: 'deployer', password: SECRET }),
      bt: `${SECRET}\n`,
    });
    await expect(prometheusAuth({ basic: { secret: { parameter: '/basic' } } }, secrets)).resolves.toEqual({
      type: 'basic',
      username: 'deployer',
      password: SECRET,
    });
    await expect(prometheusAuth({ bearer: { secret: { secretsManager: 'bt' } } }, secrets)).resolves.toEqual({
      type: 'bearer',
      token: SECRET,
    });
    await expect(prometheusAuth(undefined, secrets)).resolves.toBeUndefined();
  });

  it.each([
    [{ basic: { secret: { parameter: '/p' } } }, `{"username": "u", "password": ${SECRET}}`],
    [{ basic: { secret: { parameter: '/p' } } }, JSON.stringify({ user: 'u', password: SECRET })],
    [{ basic: { secret: { parameter: '/p' } } }, SECRET],
    [{ bearer: { secret: { parameter: '/p' } } }, '  \n'],
  ] as const)('rejects a secret of the wrong shape without quoting it (%#)', async (auth, value) => {
    const error = (await prometheusAuth(auth, fixed({ '/p': value })).catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ name: 'SecretFormatError', retryable: false });
    expect(error.message).toMatch(/^parameter \/p /);
    expect(error.message).not.toContain(SECRET);
  });

  it('signs with SigV4: explicit region, else the aps-workspaces URL, else the cluster region', async () => {
    const url = 'https://aps-workspaces.ap-south-1.amazonaws.com/workspaces/ws-1';
    await expect(
      prometheusAuth({ sigv4: { region: 'us-east-2', service: 'aps' } }, undefined, undefined, { url }),
    ).resolves.toEqual({ type: 'sigv4', region: 'us-east-2', service: 'aps' });
    await expect(
      prometheusAuth({ sigv4: { service: 'aps' } }, undefined, undefined, { url, region: 'eu-west-1' }),
    ).resolves.toEqual({ type: 'sigv4', region: 'ap-south-1', service: 'aps' });
    await expect(
      prometheusAuth({ sigv4: { service: 'aps' } }, undefined, undefined, {
        url: 'https://prom',
        region: 'eu-west-1',
      }),
    ).resolves.toEqual({ type: 'sigv4', region: 'eu-west-1', service: 'aps' });
    await expect(prometheusAuth({ sigv4: { service: 'aps' } }, undefined)).rejects.toMatchObject({
      name: 'PrometheusConfigError',
    });
  });

  it('needs a reader for a secret', async () => {
    await expect(
      prometheusAuth({ bearer: { secret: { parameter: '/p' } } }, undefined),
    ).rejects.toMatchObject({
      name: 'PrometheusConfigError',
      message: 'no secret reader is configured to read parameter /p for Prometheus',
    });
  });
});

describe('withPrometheus with credentials', () => {
  const cluster = (prometheus: PlannedCluster['prometheus']): PlannedCluster => ({
    name: 'c1',
    region: 'eu-west-1',
    target: 'i-0123456789abcdef0',
    engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
    prometheus,
    minEngineVersion: '20.10.0',
  });

  it('sends the secret as the Authorization header, and keeps it out of errors even when echoed', async () => {
    const server = await startLoopback((request, response) =>
      json(response, 401, { error: `bad credentials ${request.headers.authorization} ${SECRET}` }),
    );
    try {
      const secrets = fixed({ '/basic': JSON.stringify({ username: 'deployer', password: SECRET }) });
      const deps = { ssmFor: () => new SSMClient({ region: 'eu-west-1' }), secrets };
      const error = (await withPrometheus(
        deps,
        cluster({ url: server.url, auth: { basic: { secret: { parameter: '/basic' } } } }),
        undefined,
        (client) => client.query('up'),
      ).catch((e: unknown) => e)) as Error;
      const header = `Basic ${Buffer.from(`deployer:${SECRET}`).toString('base64')}`;
      expect(server.received[0]?.headers.authorization).toBe(header);
      expect(error).toMatchObject({ name: 'PrometheusAuthError', retryable: false });
      expect(error.message).not.toContain(SECRET);
      expect(error.message).not.toContain(header.slice(6));
    } finally {
      await server.close();
    }
  });

  it('fails before any request when the secret cannot be read', async () => {
    const secrets: SecretReader = {
      read: async () => {
        throw Object.assign(new Error('reading parameter /p failed: ThrottlingException'), {
          name: 'SecretUnavailableError',
          retryable: true,
        });
      },
    };
    const fn = vi.fn();
    await expect(
      withPrometheus(
        { ssmFor: () => new SSMClient({ region: 'eu-west-1' }), secrets },
        cluster({ url: 'http://127.0.0.1:1', auth: { bearer: { secret: { parameter: '/p' } } } }),
        undefined,
        fn,
      ),
    ).rejects.toMatchObject({ name: 'SecretUnavailableError' });
    expect(fn).not.toHaveBeenCalled();
  });
});
