import { createHash } from 'node:crypto';
import http from 'node:http';

/**
 * A small client for the distribution registry's HTTP API V2, just what the ECR stand-in needs:
 * manifests by tag or digest (GET /v2/<name>/manifests/<reference>, Docker-Content-Digest) and
 * tag lists (GET /v2/<name>/tags/list, following `Link: <…>; rel="next"`), with basic auth over
 * a keep-alive agent that `close()` tears down.
 */

export interface RegistryOptions {
  /** host:port of the registry, e.g. 10.231.0.2:5000. */
  address: string;
  username?: string;
  password?: string;
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

/** Manifest types asked for, newest first (the registry answers in the type the image was pushed in). */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/**
 * A registry answer the stand-in cannot turn into an image: `code` is the registry's error code
 * (NAME_UNKNOWN, MANIFEST_UNKNOWN, UNAUTHORIZED, …) or UNREACHABLE when there was no answer.
 */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ManifestDescriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
}

export interface Manifest {
  digest: string;
  mediaType: string;
  /** The bytes exactly as served (the digest is over them). */
  body: string;
  config?: ManifestDescriptor;
  layers: ManifestDescriptor[];
  /** The entries of an image index or manifest list. */
  manifests: ManifestDescriptor[];
}

export class RegistryClient {
  readonly address: string;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: RegistryOptions) {
    this.address = options.address;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.authorization =
      options.username === undefined
        ? undefined
        : `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }

  /** @throws RegistryError NAME_UNKNOWN, MANIFEST_UNKNOWN, UNAUTHORIZED, UNREACHABLE, … */
  async manifest(repository: string, reference: string, accept = MANIFEST_MEDIA_TYPES): Promise<Manifest> {
    const response = await this.request(`/v2/${repository}/manifests/${reference}`, accept.join(', '));
    const body = response.body.toString('utf8');
    let json: {
      mediaType?: unknown;
      config?: ManifestDescriptor;
      layers?: ManifestDescriptor[];
      manifests?: ManifestDescriptor[];
    };
    try {
      json = JSON.parse(body) as typeof json;
    } catch (error) {
      throw new RegistryError(
        'MANIFEST_INVALID',
        `the manifest ${repository}:${reference} is not JSON`,
        200,
        {
          cause: error,
        },
      );
    }
    const header = response.headers['docker-content-digest'];
    const digest =
      typeof header === 'string' && header !== ''
        ? header
        : `sha256:${createHash('sha256').update(response.body).digest('hex')}`;
    const contentType = (response.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType;
    return {
      digest,
      mediaType,
      body,
      ...(json.config === undefined ? {} : { config: json.config }),
      layers: Array.isArray(json.layers) ? json.layers : [],
      manifests: Array.isArray(json.manifests) ? json.manifests : [],
    };
  }

  /** Every tag of a repository (an empty list when it has none). @throws RegistryError NAME_UNKNOWN, … */
  async tags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
    while (path !== undefined) {
      const response = await this.request(path, 'application/json');
      const page = JSON.parse(response.body.toString('utf8')) as { tags?: string[] | null };
      tags.push(...(page.tags ?? []));
      const link = response.headers.link;
      path = typeof link === 'string' ? /<([^>]+)>;\s*rel="?next"?/.exec(link)?.[1] : undefined;
    }
    return tags;
  }

  close(): void {
    this.agent.destroy();
  }

  private request(
    path: string,
    accept: string,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const [host, port] = splitAddress(this.address);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host,
          port,
          path,
          method: 'GET',
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            accept,
            ...(this.authorization === undefined ? {} : { authorization: this.authorization }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) =>
            reject(
              new RegistryError('UNREACHABLE', `the registry at ${this.address} failed: ${error.message}`),
            ),
          );
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve({ status, headers: res.headers, body });
              return;
            }
            reject(registryError(this.address, path, status, body));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (error) =>
        reject(
          new RegistryError(
            'UNREACHABLE',
            `the registry at ${this.address} is unreachable: ${error.message}`,
            undefined,
            {
              cause: error,
            },
          ),
        ),
      );
      req.end();
    });
  }
}

function registryError(address: string, path: string, status: number, body: Buffer): RegistryError {
  let code = status === 401 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : `HTTP_${status}`;
  let message = `the registry at ${address} answered ${status} to GET ${path}`;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    const first = parsed.errors?.[0];
    if (first?.code !== undefined) {
      code = first.code;
      message = `${message}: ${first.code} ${first.message ?? ''}`.trim();
    }
  } catch {
    // Not the registry's JSON error body: the status alone says enough.
  }
  return new RegistryError(code, message, status);
}

function splitAddress(address: string): [string, number] {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return match === null ? [address, 80] : [match[1] as string, Number(match[2])];
}
