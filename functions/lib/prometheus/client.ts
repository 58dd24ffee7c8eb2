import http from 'node:http';
import https from 'node:https';
import { DeployerError } from '../errors.js';
import {
  PrometheusAbortedError,
  PrometheusAuthError,
  PrometheusConfigError,
  PrometheusQueryError,
  PrometheusResponseError,
  PrometheusTimeoutError,
  PrometheusUnavailableError,
} from './errors.js';
import { parseQueryData, type QueryResult } from './result.js';
import { type CredentialsInput, signSigV4 } from './sigv4.js';

/** How the client authenticates. Secrets given here never appear in an error message. */
export type PrometheusAuth =
  | { type: 'basic'; username: string; password: string }
  | { type: 'bearer'; token: string }
  /** AWS Signature V4, for Amazon Managed Service for Prometheus (signing name `aps`). */
  | { type: 'sigv4'; region: string; service?: string; credentials?: CredentialsInput };

export interface PrometheusClientOptions {
  /**
   * Base URL including any path prefix, e.g. `http://127.0.0.1:9090`, `https://prom.example/prometheus`,
   * or `https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-…`. `/api/v1/query` is appended.
   * Credentials in the URL (`user:pass@`) become basic auth and are removed from the URL.
   */
  url: string;
  /**
   * The connection agent, e.g. the SSM tunnel's agent whose createConnection returns a Duplex. It is
   * used as given: through a plain `http.Agent` tunnel use an `http://` URL.
   */
  agent?: http.Agent;
  auth?: PrometheusAuth;
  /** Whole-request timeout (connect, send, headers and body), default 10 s. */
  timeoutMs?: number;
  /** Extra headers (for example `X-Scope-OrgID` for Mimir or Cortex). */
  headers?: Record<string, string>;
  /** Largest response body accepted, default 4 MiB. */
  maxResponseBytes?: number;
}

export interface InstantQueryOptions {
  /** Evaluation time; Prometheus uses its own clock when omitted. */
  time?: Date;
  signal?: AbortSignal;
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number;
}

/**
 * The shape the measurement round calls: one instant query, evaluated at `time`, abortable.
 * Any error it throws is recorded as an Error measurement.
 */
export type QueryFn = (promql: string, signal?: AbortSignal, time?: Date) => Promise<QueryResult>;

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** RFC 3986 encoding, the one SigV4 canonicalises with: what is signed is exactly what is sent. */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * An instant-query client for the Prometheus HTTP API over node:http/node:https (not fetch, so the
 * SSM tunnel's agent can carry it).
 */
export class PrometheusClient {
  private readonly protocol: 'http:' | 'https:';
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly basePath: string;
  private readonly auth: PrometheusAuth | undefined;
  private readonly agent: http.Agent | undefined;
  private readonly timeoutMs: number;
  private readonly extraHeaders: Record<string, string>;
  private readonly maxResponseBytes: number;
  /** Where errors say the request went: scheme, host and path prefix, never userinfo. */
  readonly endpoint: string;

  /** @throws PrometheusConfigError for a URL that is not http(s) or cannot be parsed. */
  constructor(options: PrometheusClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (error) {
      throw new PrometheusConfigError('Prometheus URL is not a valid URL', { cause: redactCause(error) });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PrometheusConfigError(`Prometheus URL must be http or https, not ${url.protocol}`);
    }
    if (url.search || url.hash) {
      throw new PrometheusConfigError('Prometheus URL must not carry a query string or fragment');
    }
    let auth = options.auth;
    if (url.username || url.password) {
      if (auth) throw new PrometheusConfigError('Prometheus URL carries credentials and auth is also given');
      auth = {
        type: 'basic',
        username: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
      };
    }
    this.protocol = url.protocol;
    this.hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port ? Number(url.port) : undefined;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.auth = auth;
    this.agent = options.agent;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.extraHeaders = Object.fromEntries(
      Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.endpoint = `${url.protocol}//${url.host}${this.basePath}`;
  }

  /**
   * Runs one instant query (`GET /api/v1/query?query=&time=`).
   * @throws PrometheusUnavailableError connection refused/reset, DNS, 429, 5xx without a Prometheus error
   * @throws PrometheusTimeoutError the client timeout, or Prometheus's own `errorType: timeout`
   * @throws PrometheusAbortedError the caller's signal fired
   * @throws PrometheusQueryError Prometheus rejected the query (`bad_data`, `execution`, ...)
   * @throws PrometheusAuthError HTTP 401/403, or SigV4 credentials that cannot be resolved
   * @throws PrometheusResponseError not an instant-query answer (404, not JSON, matrix, oversized)
   */
  async query(promql: string, options: InstantQueryOptions = {}): Promise<QueryResult> {
    const { signal } = options;
    if (signal?.aborted) throw new PrometheusAbortedError('Prometheus query aborted before it was sent');
    const query: Record<string, string> = { query: promql };
    if (options.time) query.time = (options.time.getTime() / 1000).toFixed(3);
    const path = `${this.basePath}/api/v1/query`;
    const search = Object.keys(query)
      .sort()
      .map((key) => `${encodeRfc3986(key)}=${encodeRfc3986(query[key] ?? '')}`)
      .join('&');
    const host = this.port === undefined ? this.hostHeader() : `${this.hostHeader()}:${this.port}`;
    const headers: Record<string, string> = {
      ...this.extraHeaders,
      host,
      accept: 'application/json',
    };
    const secrets = this.secrets();
    if (this.auth?.type === 'basic') {
      const encoded = Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64');
      headers.authorization = `Basic ${encoded}`;
      secrets.push(encoded);
    } else if (this.auth?.type === 'bearer') {
      headers.authorization = `Bearer ${this.auth.token}`;
    } else if (this.auth?.type === 'sigv4') {
      const signed = await signSigV4(
        { protocol: this.protocol, hostname: this.hostname, port: this.port, path, query, headers },
        this.auth,
      );
      Object.assign(headers, signed);
      if (signed.authorization) secrets.push(signed.authorization);
      if (signed['x-amz-security-token']) secrets.push(signed['x-amz-security-token']);
    }
    const { statusCode, body } = await this.send(`${path}?${search}`, headers, options, secrets);
    return this.interpret(statusCode, body, secrets);
  }

  /** A {@link QueryFn} bound to this client, for `runRound`. */
  queryFn(): QueryFn {
    return (promql, signal, time) => this.query(promql, { signal, time });
  }

  private hostHeader(): string {
    return this.hostname.includes(':') ? `[${this.hostname}]` : this.hostname;
  }

  private secrets(): string[] {
    const auth = this.auth;
    if (!auth) return [];
    if (auth.type === 'basic') return [auth.password].filter((s) => s.length > 0);
    if (auth.type === 'bearer') return [auth.token].filter((s) => s.length > 0);
    return [];
  }

  private send(
    pathAndQuery: string,
    headers: Record<string, string>,
    options: InstantQueryOptions,
    secrets: string[],
  ): Promise<{ statusCode: number; body: string }> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const { signal } = options;
    const transport = this.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (error: Error | undefined, value?: { statusCode: number; body: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else if (value) resolve(value);
      };
      let request: http.ClientRequest;
      try {
        request = transport.request({
          protocol: this.protocol,
          hostname: this.hostname,
          port: this.port,
          path: pathAndQuery,
          method: 'GET',
          headers,
          agent: this.agent,
        });
      } catch (error) {
        // Node validates headers synchronously (ERR_INVALID_CHAR): a configuration problem.
        const detail = error instanceof Error ? redact(error.message, secrets) : 'invalid request';
        reject(new PrometheusConfigError(`cannot build the request to ${this.endpoint}: ${detail}`));
        return;
      }
      timer = setTimeout(() => {
        const error = new PrometheusTimeoutError(
          `Prometheus at ${this.endpoint} did not answer within ${timeoutMs} ms`,
        );
        finish(error);
        request.destroy();
      }, timeoutMs);
      const onAbort = () => {
        const error = new PrometheusAbortedError(`Prometheus query to ${this.endpoint} aborted`);
        finish(error);
        request.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (error) => finish(this.networkError(error, secrets)));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          if (settled) return;
          size += chunk.length;
          if (size > this.maxResponseBytes) {
            const error = new PrometheusResponseError(
              `Prometheus answer from ${this.endpoint} is larger than ${this.maxResponseBytes} bytes`,
              { statusCode: response.statusCode },
            );
            finish(error);
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (error) => finish(this.networkError(error, secrets)));
        response.on('aborted', () =>
          finish(
            new PrometheusUnavailableError(`Prometheus at ${this.endpoint} closed the connection mid-answer`),
          ),
        );
        response.on('end', () =>
          finish(undefined, {
            statusCode: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      request.end();
    });
  }

  private networkError(error: Error, secrets: string[]): Error {
    if (error instanceof DeployerError) return error; // ours, or a typed error from the tunnel's agent
    const code = (error as NodeJS.ErrnoException).code;
    const detail = redact(code ? `${code}: ${error.message}` : error.message, secrets);
    const cause = redactCause(error, secrets);
    if (code !== undefined && NETWORK_CODES.has(code)) {
      return new PrometheusUnavailableError(`Prometheus at ${this.endpoint} is unavailable (${detail})`, {
        cause,
      });
    }
    return new PrometheusUnavailableError(`request to Prometheus at ${this.endpoint} failed (${detail})`, {
      cause,
    });
  }

  private interpret(statusCode: number, body: string, secrets: string[]): QueryResult {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const where = `Prometheus at ${this.endpoint}`;
    if (statusCode === 401 || statusCode === 403) {
      throw new PrometheusAuthError(
        `${where} refused the credentials (HTTP ${statusCode}${snippet(body, secrets, ': ')})`,
        { statusCode },
      );
    }
    const answer = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : undefined;
    if (answer?.status === 'success' && statusCode >= 200 && statusCode < 300) {
      const warnings = [answer.warnings, answer.infos]
        .flatMap((list) => (Array.isArray(list) ? list : []))
        .filter((w): w is string => typeof w === 'string')
        .map((w) => redact(w, secrets));
      return parseQueryData(answer.data, warnings);
    }
    if (answer?.status === 'error') {
      const errorType = typeof answer.errorType === 'string' ? answer.errorType : 'unknown';
      const message = redact(truncate(typeof answer.error === 'string' ? answer.error : '', 500), secrets);
      const text = `${where} answered ${errorType} (HTTP ${statusCode}): ${message}`;
      if (errorType === 'timeout') throw new PrometheusTimeoutError(text);
      if (errorType === 'canceled' || errorType === 'unavailable') {
        throw new PrometheusUnavailableError(text, { statusCode });
      }
      throw new PrometheusQueryError(text, { errorType, statusCode });
    }
    if (statusCode === 429 || statusCode >= 500) {
      throw new PrometheusUnavailableError(
        `${where} answered HTTP ${statusCode}${snippet(body, secrets, ': ')}`,
        {
          statusCode,
        },
      );
    }
    if (statusCode === 404) {
      throw new PrometheusResponseError(`${where} answered HTTP 404: check the URL's path prefix`, {
        statusCode,
      });
    }
    throw new PrometheusResponseError(
      `${where} answered HTTP ${statusCode} with something that is not a Prometheus answer${snippet(body, secrets, ': ')}`,
      { statusCode },
    );
  }
}

/** Builds a client; see {@link PrometheusClientOptions}. @throws PrometheusConfigError */
export function createPrometheusClient(options: PrometheusClientOptions): PrometheusClient {
  return new PrometheusClient(options);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function snippet(body: string, secrets: string[], prefix: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  return text ? `${prefix}${redact(truncate(text, 200), secrets)}` : '';
}

function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}

/** Keeps the low-level error as cause, without any message text that could echo a secret. */
function redactCause(error: unknown, secrets: string[] = []): unknown {
  if (!(error instanceof Error)) return undefined;
  const copy = new Error(redact(error.message, secrets));
  copy.name = error.name;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}
