import type { Agent } from 'node:http';
import Docker from 'dockerode';
import {
  EngineApiError,
  EngineUnreachableError,
  EngineVersionError,
  ImagePullError,
  OperationAbortedError,
} from './errors.js';
import { compareVersions } from './version.js';

/**
 * How to reach one manager's Engine API: a Unix socket (the local harness), or host/port with an
 * http.Agent whose connections are streams of the SSM tunnel, optionally with mutual TLS.
 */
export interface EngineEndpoint {
  /** The cluster's name, for messages. */
  cluster: string;
  socketPath?: string;
  host?: string;
  port?: number;
  agent?: Agent;
  tls?: { ca: string; cert: string; key: string };
  /** Per-request timeout in ms (default 20 s): no call waits for long. */
  timeoutMs?: number;
}

/** The newest Engine API version this client speaks; older engines are used at their own version. */
export const CLIENT_API_VERSION = '1.41';
/** The oldest Engine API version the operations work with (Docker 19.03: MaxReplicas, swarm jobs not needed). */
export const MIN_API_VERSION = '1.40';

export interface Request {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  /** X-Registry-Auth value (already encoded); never logged, never put in an error. */
  registryAuth?: string;
  signal?: AbortSignal;
  /** Return `undefined` for a 404 instead of failing (inspecting what may not exist). */
  allow404?: boolean;
}

export { compareVersions } from './version.js';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * A thin transport over docker-modem: versioned paths, abort signals, and every failure turned
 * into one of the project's errors. dockerode's own errors are plain Errors with statusCode/json.
 */
export class Engine {
  readonly cluster: string;
  private constructor(
    private readonly docker: Docker,
    readonly apiVersion: string,
    readonly engineVersion: string,
    cluster: string,
  ) {
    this.cluster = cluster;
  }

  /** Connects and negotiates the API version: min(engine's, ours); an engine below MIN_API_VERSION fails. */
  static async connect(endpoint: EngineEndpoint, signal?: AbortSignal): Promise<Engine> {
    const base = Engine.client(endpoint);
    const probe = new Engine(base, '', '', endpoint.cluster);
    // /version is served unversioned by every engine: the place to negotiate.
    const v = await probe.request<{ Version: string; ApiVersion: string }>({
      method: 'GET',
      path: '/version',
      signal,
    });
    if (compareVersions(v.ApiVersion, MIN_API_VERSION) < 0) {
      throw new EngineVersionError(
        `cluster ${endpoint.cluster}: engine ${v.Version} speaks Engine API ${v.ApiVersion}, older than the minimum ${MIN_API_VERSION}`,
      );
    }
    const apiVersion =
      compareVersions(v.ApiVersion, CLIENT_API_VERSION) < 0 ? v.ApiVersion : CLIENT_API_VERSION;
    return new Engine(Engine.client(endpoint, apiVersion), apiVersion, v.Version, endpoint.cluster);
  }

  private static client(e: EngineEndpoint, apiVersion?: string): Docker {
    const common = { timeout: e.timeoutMs ?? 20_000, ...(apiVersion ? { version: `v${apiVersion}` } : {}) };
    if (e.socketPath) return new Docker({ socketPath: e.socketPath, ...common });
    return new Docker({
      host: e.host ?? '127.0.0.1',
      port: e.port ?? (e.tls ? 2376 : 2375),
      protocol: e.tls ? 'https' : 'http',
      ...(e.tls ? { ca: e.tls.ca, cert: e.tls.cert, key: e.tls.key } : {}),
      ...(e.agent ? { agent: e.agent } : {}),
      ...common,
    } as Docker.DockerOptions);
  }

  /** One Engine API call. Returns the parsed JSON body (or undefined for 404 when `allow404`). */
  async request<T>(r: Request): Promise<T> {
    if (r.signal?.aborted) throw this.aborted(r);
    const hasQuery = r.query && Object.keys(r.query).length > 0;
    const options: Record<string, unknown> = {};
    if (hasQuery) options._query = r.query;
    if (r.body !== undefined) options._body = r.body;
    const statusCodes: Record<number, boolean | string> = { 200: true, 201: true, 204: true, 304: true };
    try {
      const result = await new Promise<T>((resolve, reject) => {
        this.docker.modem.dial(
          {
            path: `${r.path}${hasQuery ? '?' : ''}`,
            method: r.method,
            options,
            statusCodes,
            ...(r.registryAuth ? { authconfig: { base64: r.registryAuth } } : {}),
            ...(r.signal ? { abortSignal: r.signal } : {}),
          } as unknown as Parameters<Docker['modem']['dial']>[0],
          (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as T)),
        );
      });
      return result;
    } catch (err) {
      if (r.allow404 && (err as { statusCode?: number }).statusCode === 404) return undefined as T;
      throw this.translate(err, r);
    }
  }

  /**
   * Pulls an image on this engine and waits for the end of the progress stream. A pull can fail
   * before the stream (an HTTP error) or inside it (an `{error}` event after a 200): both become
   * ImagePullError with the registry's message.
   */
  async pullImage(image: string, registryAuth: string | undefined, signal?: AbortSignal): Promise<void> {
    const r: Request = { method: 'POST', path: '/images/create', signal };
    const [fromImage, tag] = splitReference(image);
    try {
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
        this.docker.modem.dial(
          {
            path: '/images/create?',
            method: 'POST',
            options: { _query: { fromImage, tag } },
            isStream: true,
            statusCodes: { 200: true },
            ...(registryAuth ? { authconfig: { base64: registryAuth } } : {}),
            ...(signal ? { abortSignal: signal } : {}),
          } as unknown as Parameters<Docker['modem']['dial']>[0],
          (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
        );
      });
      let text = '';
      for await (const chunk of stream) text += chunk.toString();
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        const message = event.errorDetail?.message ?? event.error;
        if (message) throw new ImagePullError(`cluster ${this.cluster}: pulling ${image} failed: ${message}`);
      }
    } catch (err) {
      if (err instanceof ImagePullError) throw err;
      const translated = this.translate(err, r);
      if (translated instanceof EngineApiError) {
        throw new ImagePullError(
          `cluster ${this.cluster}: pulling ${image} failed: ${apiStatus(translated).engineMessage}`,
          {
            cause: err,
          },
        );
      }
      throw translated;
    }
  }

  private aborted(r: Request): OperationAbortedError {
    return new OperationAbortedError(`cluster ${this.cluster}: ${r.method} ${r.path} was aborted`);
  }

  private translate(err: unknown, r: Request): Error {
    const e = err as {
      name?: string;
      code?: string;
      statusCode?: number;
      json?: { message?: string } | null;
      message?: string;
    };
    if (r.signal?.aborted || e.name === 'AbortError') return this.aborted(r);
    const what = `cluster ${this.cluster}: ${r.method} ${r.path}`;
    if (e.statusCode === undefined) {
      if (e.code && NETWORK_CODES.has(e.code)) {
        return new EngineUnreachableError(`${what}: engine unreachable (${e.code})`, { cause: err });
      }
      return new EngineUnreachableError(`${what}: ${e.message ?? String(err)}`, { cause: err });
    }
    const message = e.json?.message ?? e.message ?? '';
    const error = new EngineApiError(`${what}: HTTP ${e.statusCode}: ${message}`, { cause: err });
    Object.assign(error, { statusCode: e.statusCode, engineMessage: message });
    return error;
  }
}

/** The HTTP status and engine message of an EngineApiError, for operations that route on them. */
export function apiStatus(err: unknown): { statusCode?: number; engineMessage: string } {
  const e = err as { statusCode?: number; engineMessage?: string };
  return { statusCode: e?.statusCode, engineMessage: e?.engineMessage ?? '' };
}

/** Splits "registry/repo@sha256:…" or "registry/repo:tag" into the /images/create fromImage and tag. */
export function splitReference(image: string): [string, string] {
  const at = image.indexOf('@');
  if (at >= 0) return [image.slice(0, at), image.slice(at + 1)];
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return [image.slice(0, colon), image.slice(colon + 1)];
  return [image, 'latest'];
}
