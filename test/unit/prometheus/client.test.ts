import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { duplexPair } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { PrometheusClient } from '../../../functions/lib/prometheus/client.js';
import {
  PrometheusAbortedError,
  PrometheusAuthError,
  PrometheusConfigError,
  PrometheusQueryError,
  PrometheusResponseError,
  PrometheusTimeoutError,
  PrometheusUnavailableError,
} from '../../../functions/lib/prometheus/errors.js';
import { json, type Loopback, type Received, startLoopback, success } from './loopback.js';

let servers: Loopback[] = [];

async function serve(handler: Parameters<typeof startLoopback>[0]): Promise<Loopback> {
  const server = await startLoopback(handler);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** Everything an error exposes as text: message, cause chain, JSON, stack. */
function everything(error: Error): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error) {
    parts.push(current.message, String(current.stack), JSON.stringify(current));
    current = current.cause;
  }
  return parts.join('\n');
}

describe('PrometheusClient: results', () => {
  it('sends an instant query under the path prefix and parses a vector of several series', async () => {
    // prepare
    const server = await serve((_req, res) =>
      json(
        res,
        200,
        success({
          resultType: 'vector',
          result: [
            { metric: { service: 'web-canary', task_slot: '1' }, value: [1767261600.5, '0.25'] },
            { metric: { service: 'web-canary', task_slot: '2' }, value: [1767261600.5, '1e-3'] },
          ],
        }),
      ),
    );
    const client = new PrometheusClient({ url: `${server.url}/prometheus/` });
    const promql = 'sum(rate(x{service="web-canary",code=~"5.."}[1m])) / 2 + 1';
    // act
    const result = await client.query(promql, { time: new Date('2026-01-01T10:00:00.500Z') });
    // assess
    const request = server.received[0] as Received;
    expect(request.method).toBe('GET');
    expect(request.path).toBe('/prometheus/api/v1/query');
    expect(request.query.get('query')).toBe(promql);
    expect(request.query.get('time')).toBe('1767261600.500');
    expect(request.url).not.toContain('+'); // spaces are %20, as SigV4's canonical form wants
    expect(request.headers.accept).toBe('application/json');
    expect(result).toEqual({
      resultType: 'vector',
      warnings: [],
      samples: [
        { labels: { service: 'web-canary', task_slot: '1' }, value: 0.25, timestampMs: 1767261600500 },
        { labels: { service: 'web-canary', task_slot: '2' }, value: 0.001, timestampMs: 1767261600500 },
      ],
    });
  });

  it('parses a scalar, and an empty vector as no samples', async () => {
    let answer: unknown = success({ resultType: 'scalar', result: [1767261600, '42'] });
    const server = await serve((_req, res) => json(res, 200, answer));
    const client = new PrometheusClient({ url: server.url });
    expect(await client.query('scalar(vector(42))')).toEqual({
      resultType: 'scalar',
      warnings: [],
      samples: [{ labels: {}, value: 42, timestampMs: 1767261600000 }],
    });
    answer = success({ resultType: 'vector', result: [] });
    expect((await client.query('absent_metric')).samples).toEqual([]);
    expect(server.received[0]?.query.has('time')).toBe(false);
  });

  it('keeps NaN, +Inf and -Inf, and passes warnings through', async () => {
    const server = await serve((_req, res) =>
      json(res, 200, {
        ...(success({
          resultType: 'vector',
          result: ['NaN', '+Inf', '-Inf'].map((v, i) => ({ metric: { i: String(i) }, value: [1, v] })),
        }) as object),
        warnings: ['PromQL warning: encountered a mix of histograms and floats'],
      }),
    );
    const result = await new PrometheusClient({ url: server.url }).query('x');
    expect(result.samples.map((s) => s.value)).toEqual([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    expect(result.warnings).toEqual(['PromQL warning: encountered a mix of histograms and floats']);
  });

  it('rejects range vectors and strings with a hint', async () => {
    let answer: unknown = success({ resultType: 'matrix', result: [] });
    const server = await serve((_req, res) => json(res, 200, answer));
    const client = new PrometheusClient({ url: server.url });
    const matrix = await caught(client.query('x[5m]'));
    expect(matrix).toBeInstanceOf(PrometheusResponseError);
    expect(matrix.message).toContain('range vector');
    answer = success({ resultType: 'string', result: [1, 'a'] });
    expect(await caught(client.query('"a"'))).toBeInstanceOf(PrometheusResponseError);
    answer = success({ resultType: 'vector', result: [{ metric: {}, value: [1, 'abc'] }] });
    expect((await caught(client.query('x'))).message).toContain('not a number');
  });
});

describe('PrometheusClient: errors', () => {
  it('turns status:error into PrometheusQueryError with the errorType', async () => {
    const server = await serve((_req, res) =>
      json(res, 400, { status: 'error', errorType: 'bad_data', error: '1:5: parse error: unexpected "}"' }),
    );
    const error = await caught(new PrometheusClient({ url: server.url }).query('up{'));
    expect(error).toBeInstanceOf(PrometheusQueryError);
    expect(error).toMatchObject({
      name: 'PrometheusQueryError',
      retryable: false,
      errorType: 'bad_data',
      statusCode: 400,
    });
    expect(error.message).toBe(
      `Prometheus at ${server.url} answered bad_data (HTTP 400): 1:5: parse error: unexpected "}"`,
    );
  });

  it('maps Prometheus timeouts and unavailability to retryable errors', async () => {
    let answer = { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' };
    const server = await serve((_req, res) => json(res, 503, answer));
    const client = new PrometheusClient({ url: server.url });
    const timeout = await caught(client.query('x'));
    expect(timeout).toBeInstanceOf(PrometheusTimeoutError);
    expect(timeout).toMatchObject({ retryable: true });
    answer = { status: 'error', errorType: 'unavailable', error: 'TSDB not ready' };
    expect(await caught(client.query('x'))).toBeInstanceOf(PrometheusUnavailableError);
  });

  it.each([
    [500, 'text/plain', 'internal error', PrometheusUnavailableError, true],
    [502, 'text/html', '<html>bad gateway</html>', PrometheusUnavailableError, true],
    [429, 'text/plain', 'slow down', PrometheusUnavailableError, true],
    [404, 'text/plain', '404 page not found', PrometheusResponseError, false],
    [200, 'text/html', '<html>login</html>', PrometheusResponseError, false],
    [401, 'text/plain', 'unauthorized', PrometheusAuthError, false],
    [403, 'application/json', '{"message":"User is not authorized"}', PrometheusAuthError, false],
  ])('maps HTTP %i (%s) to a typed error', async (status, type, body, kind, retryable) => {
    const server = await serve((_req, res) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    });
    const error = await caught(new PrometheusClient({ url: server.url }).query('x'));
    expect(error).toBeInstanceOf(kind);
    expect(error).toMatchObject({ retryable, statusCode: status });
    expect(error.name).toMatch(/^Prometheus\w+Error$/);
  });

  it('times out a server that never answers', async () => {
    const server = await serve(() => {
      /* never answers */
    });
    const started = Date.now();
    const error = await caught(new PrometheusClient({ url: server.url, timeoutMs: 200 }).query('x'));
    expect(error).toBeInstanceOf(PrometheusTimeoutError);
    expect(error.message).toBe(`Prometheus at ${server.url} did not answer within 200 ms`);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('times out a body that stalls half way', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":"succ');
    });
    const error = await caught(new PrometheusClient({ url: server.url }).query('x', { timeoutMs: 200 }));
    expect(error).toBeInstanceOf(PrometheusTimeoutError);
  });

  it('stops on the abort signal, and before sending when already aborted', async () => {
    const server = await serve(() => {
      /* never answers */
    });
    const client = new PrometheusClient({ url: server.url, timeoutMs: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await caught(client.query('x', { signal: controller.signal }));
    expect(error).toBeInstanceOf(PrometheusAbortedError);
    expect(error).toMatchObject({ retryable: true });
    const before = server.received.length;
    expect(await caught(client.query('x', { signal: AbortSignal.abort() }))).toBeInstanceOf(
      PrometheusAbortedError,
    );
    expect(server.received.length).toBe(before);
  });

  it('reports connection refused as unavailable', async () => {
    // prepare: a port that was just freed
    const server = await startLoopback(() => undefined);
    await server.close();
    // act
    const error = await caught(new PrometheusClient({ url: server.url }).query('x'));
    // assess
    expect(error).toBeInstanceOf(PrometheusUnavailableError);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain(`Prometheus at ${server.url} is unavailable`);
  });

  it('refuses oversized answers', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(success({ resultType: 'vector', result: [] })).padEnd(5000, ' '));
    });
    const error = await caught(new PrometheusClient({ url: server.url, maxResponseBytes: 1000 }).query('x'));
    expect(error).toBeInstanceOf(PrometheusResponseError);
  });

  it('rejects unusable URLs at construction', () => {
    expect(() => new PrometheusClient({ url: 'not a url' })).toThrow(PrometheusConfigError);
    expect(() => new PrometheusClient({ url: 'ftp://x' })).toThrow(PrometheusConfigError);
    expect(() => new PrometheusClient({ url: 'http://x/?a=1' })).toThrow(PrometheusConfigError);
  });
});

describe('PrometheusClient: authentication', () => {
  const PASSWORD = 'pa55-w0rd-s3cret';
  const TOKEN = 'tok-very-s3cret-bearer';

  it('sends basic auth, from options or from the URL, and keeps userinfo out of the endpoint', async () => {
    const server = await serve((_req, res) => json(res, 200, success({ resultType: 'vector', result: [] })));
    await new PrometheusClient({
      url: server.url,
      auth: { type: 'basic', username: 'deployer', password: PASSWORD },
    }).query('x');
    const fromUrl = new PrometheusClient({
      url: `http://deployer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}/`,
    });
    await fromUrl.query('x');
    const expected = `Basic ${Buffer.from(`deployer:${PASSWORD}`).toString('base64')}`;
    expect(server.received.map((r) => r.headers.authorization)).toEqual([expected, expected]);
    expect(fromUrl.endpoint).toBe(server.url);
  });

  it('sends a bearer token and extra headers', async () => {
    const server = await serve((_req, res) => json(res, 200, success({ resultType: 'vector', result: [] })));
    await new PrometheusClient({
      url: server.url,
      auth: { type: 'bearer', token: TOKEN },
      headers: { 'X-Scope-OrgID': 'tenant-1' },
    }).query('x');
    expect(server.received[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(server.received[0]?.headers['x-scope-orgid']).toBe('tenant-1');
  });

  it('never puts credentials in error messages, even when the server echoes them', async () => {
    // prepare: a hostile or debugging proxy that echoes the Authorization header in every answer
    let status = 401;
    const server = await serve((req, res) => {
      if (status === 400) {
        json(res, 400, { status: 'error', errorType: 'bad_data', error: `bad ${req.headers.authorization}` });
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`you sent ${req.headers.authorization}`);
    });
    const basic = new PrometheusClient({
      url: server.url,
      auth: { type: 'basic', username: 'u', password: PASSWORD },
    });
    const bearer = new PrometheusClient({ url: server.url, auth: { type: 'bearer', token: TOKEN } });
    const encoded = Buffer.from(`u:${PASSWORD}`).toString('base64');
    // act
    const errors: Error[] = [];
    for (const s of [401, 500, 400]) {
      status = s;
      errors.push(await caught(basic.query('x')), await caught(bearer.query('x')));
    }
    const refusedUrl = `http://u:${PASSWORD}@127.0.0.1:${server.port}`;
    await server.close();
    errors.push(await caught(new PrometheusClient({ url: refusedUrl }).query('x')));
    errors.push(
      await caught(
        new PrometheusClient({ url: `${server.url}`, auth: { type: 'bearer', token: TOKEN } }).query('x'),
      ),
    );
    // assess
    for (const error of errors) {
      const text = everything(error);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(encoded);
    }
    expect(errors[0]?.message).toContain('***');
  });
});

/** An independent SigV4 verifier, written from the AWS specification, the way the service checks. */
function verifySigV4(
  request: Received,
  secretAccessKey: string,
): { ok: boolean; service: string; region: string } {
  const authorization = String(request.headers.authorization);
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (!match) return { ok: false, service: '', region: '' };
  const [, , date, region, service, signedHeaders, signature] = match as unknown as string[];
  const encode = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = [...request.query.entries()]
    .map(([k, v]) => [encode(k), encode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = (signedHeaders as string).split(';');
  const canonicalHeaders = names.map((name) => `${name}:${String(request.headers[name]).trim()}\n`).join('');
  const canonical = [
    request.method,
    request.path.split('/').map(encode).join('/'),
    query,
    canonicalHeaders,
    signedHeaders,
    createHash('sha256').update('').digest('hex'),
  ].join('\n');
  const amzDate = String(request.headers['x-amz-date']);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${secretAccessKey}`)
    .update(date as string)
    .digest();
  for (const part of [region, service, 'aws4_request'])
    key = createHmac('sha256', key)
      .update(part as string)
      .digest();
  const expected = createHmac('sha256', key).update(toSign).digest('hex');
  return { ok: expected === signature, service: service as string, region: region as string };
}

describe('PrometheusClient: SigV4 (Amazon Managed Service for Prometheus)', () => {
  const credentials = {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    sessionToken: 'session-token-s3cret',
  };

  it('signs the exact request it sends (service aps), with the session token', async () => {
    // prepare
    const server = await serve((_req, res) => json(res, 200, success({ resultType: 'vector', result: [] })));
    const client = new PrometheusClient({
      url: `${server.url}/workspaces/ws-1234`,
      auth: { type: 'sigv4', region: 'eu-west-1', credentials: async () => credentials },
    });
    // act: a query with every character class that encodes differently between encoders
    await client.query(`sum by (le) (rate(x{a=~"5..|4.*", b!="it's (quoted)"}[1m])) * 100 / 2`, {
      time: new Date('2026-01-01T00:00:00Z'),
    });
    // assess
    const request = server.received[0] as Received;
    expect(request.path).toBe('/workspaces/ws-1234/api/v1/query');
    expect(request.headers['x-amz-security-token']).toBe('session-token-s3cret');
    expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(verifySigV4(request, credentials.secretAccessKey)).toEqual({
      ok: true,
      service: 'aps',
      region: 'eu-west-1',
    });
    expect(verifySigV4(request, 'wrong-key').ok).toBe(false);
  });

  it('reads the Lambda runtime credentials from the environment at signing time', async () => {
    const server = await serve((_req, res) => json(res, 200, success({ resultType: 'vector', result: [] })));
    const saved = { ...process.env };
    process.env.AWS_ACCESS_KEY_ID = 'AKIDENV';
    process.env.AWS_SECRET_ACCESS_KEY = 'env-secret';
    delete process.env.AWS_SESSION_TOKEN;
    try {
      await new PrometheusClient({ url: server.url, auth: { type: 'sigv4', region: 'us-east-1' } }).query(
        'up',
      );
      expect(String(server.received[0]?.headers.authorization)).toContain('Credential=AKIDENV/');
      expect(verifySigV4(server.received[0] as Received, 'env-secret').ok).toBe(true);
      delete process.env.AWS_ACCESS_KEY_ID;
      const error = await caught(
        new PrometheusClient({ url: server.url, auth: { type: 'sigv4', region: 'us-east-1' } }).query('up'),
      );
      expect(error).toBeInstanceOf(PrometheusAuthError);
    } finally {
      process.env = saved;
    }
  });

  it('wraps a failing credential provider without its secrets', async () => {
    const client = new PrometheusClient({
      url: 'http://127.0.0.1:9',
      auth: {
        type: 'sigv4',
        region: 'us-east-1',
        credentials: () => Promise.reject(new Error('IMDS unreachable')),
      },
    });
    const error = await caught(client.query('up'));
    expect(error).toBeInstanceOf(PrometheusAuthError);
    expect(error.message).toBe('could not resolve SigV4 credentials');
  });
});

describe('PrometheusClient: through an agent (the SSM tunnel)', () => {
  it('sends every request over the Duplex the agent returns, whatever the URL host', async () => {
    // prepare: an agent whose connections are in-memory Duplex pairs handed to the server, like smux streams
    const server = await serve((_req, res) =>
      json(res, 200, success({ resultType: 'scalar', result: [1, '7'] })),
    );
    let connections = 0;
    class TunnelAgent extends http.Agent {
      override createConnection(): Duplex {
        connections += 1;
        const [client, remote] = duplexPair();
        server.server.emit('connection', remote);
        return client;
      }
    }
    const client = new PrometheusClient({
      url: 'http://prometheus.tunnel.invalid:9090',
      agent: new TunnelAgent(),
    });
    // act
    const result = await client.query('vector(7)');
    // assess
    expect(result.samples[0]?.value).toBe(7);
    expect(connections).toBe(1);
    expect(server.received[0]?.headers.host).toBe('prometheus.tunnel.invalid:9090');
  });

  it('passes a typed error from the agent through unchanged', async () => {
    const { DeployerError } = await import('../../../functions/lib/errors.js');
    class TunnelDownError extends DeployerError {
      override readonly name = 'TunnelDownError';
      readonly retryable = true;
    }
    class FailingAgent extends http.Agent {
      override createConnection(
        _options: http.ClientRequestArgs,
        callback?: (error: Error | null, stream: Duplex) => void,
      ): Duplex | null | undefined {
        // Like a tunnel that fails to open a stream: the error goes to the callback.
        setImmediate(() => callback?.(new TunnelDownError('session closed'), undefined as unknown as Duplex));
        return undefined;
      }
    }
    const error = await caught(
      new PrometheusClient({ url: 'http://prom:9090', agent: new FailingAgent() }).query('x'),
    );
    expect(error.name).toBe('TunnelDownError');
  });
});
