import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';

/** Real SDK clients and loopback servers for the AWS stand-in tests (nothing beyond 127.0.0.1). */

export const REGION = 'us-east-1';
export const CREDENTIALS = { accessKeyId: 'AKIASTANDINTEST', secretAccessKey: 'not-checked' };

export interface Clients {
  ssm: SSMClient;
  sns: SNSClient;
  sfn: SFNClient;
  ecr: ECRClient;
  destroy(): void;
}

/** One client per service, all pointed at the stand-in, with no retries so errors surface at once. */
export function clients(endpoint: string): Clients {
  const config = { endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 };
  const made = {
    ssm: new SSMClient(config),
    sns: new SNSClient(config),
    sfn: new SFNClient(config),
    ecr: new ECRClient(config),
  };
  return {
    ...made,
    destroy: () => {
      for (const client of Object.values(made)) client.destroy();
    },
  };
}

/** Runs `call` and returns what it threw (fails when it does not throw). */
export async function caught(call: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await call();
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

export interface Loopback {
  server: http.Server;
  port: number;
  address: string;
  close(): Promise<void>;
}

export async function listen(server: http.Server): Promise<Loopback> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

interface StoredManifest {
  mediaType: string;
  body: Buffer;
}

/**
 * A fake distribution registry: basic auth, GET /v2/, tags/list (two tags a page, with a Link
 * header to the next page, as distribution paginates), and GET/HEAD manifests by tag or digest,
 * answering with the registry's error codes (NAME_UNKNOWN, MANIFEST_UNKNOWN, UNAUTHORIZED).
 */
export class FakeRegistry {
  readonly username = 'deployer';
  readonly password = 's3cret';
  readonly requests: Array<{ method: string; path: string; authorization: string | undefined }> = [];
  private readonly repositories = new Map<
    string,
    { manifests: Map<string, StoredManifest>; tags: Map<string, string> }
  >();
  private loopback: Loopback | undefined;

  get address(): string {
    if (this.loopback === undefined) throw new Error('the fake registry is not started');
    return this.loopback.address;
  }

  async start(): Promise<this> {
    this.loopback = await listen(http.createServer((req, res) => this.serve(req, res)));
    return this;
  }

  close(): Promise<void> {
    return this.loopback?.close() ?? Promise.resolve();
  }

  /** Stores a manifest (and tags it) and returns its digest. */
  putManifest(repository: string, manifest: object, tags: string[] = []): string {
    const body = Buffer.from(JSON.stringify(manifest, null, 3));
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const repo = this.repositories.get(repository) ?? { manifests: new Map(), tags: new Map() };
    repo.manifests.set(digest, { mediaType: (manifest as { mediaType: string }).mediaType, body });
    for (const tag of tags) repo.tags.set(tag, digest);
    this.repositories.set(repository, repo);
    return digest;
  }

  /** A Docker image manifest (schema 2) with layers of the given sizes. */
  putImage(repository: string, tags: string[], layerSizes: number[], salt = ''): string {
    return this.putManifest(repository, imageManifest(layerSizes, salt), tags);
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://registry');
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      authorization: req.headers.authorization,
    });
    const expected = `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.setHeader('www-authenticate', 'Basic realm="fake-registry"');
      return error(res, 401, 'UNAUTHORIZED', 'authentication required');
    }
    if (url.pathname === '/v2/') return json(res, 200, {});
    const tagsList = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (tagsList !== null) {
      const repo = this.repositories.get(tagsList[1] as string);
      if (repo === undefined) return error(res, 404, 'NAME_UNKNOWN', 'repository name not known to registry');
      const all = [...repo.tags.keys()].sort();
      const last = url.searchParams.get('last');
      const start = last === null ? 0 : all.findIndex((tag) => tag > last);
      const page = start < 0 ? [] : all.slice(start, start + 2);
      const lastTag = page.at(-1);
      if (start >= 0 && start + 2 < all.length && lastTag !== undefined) {
        res.setHeader('link', `</v2/${tagsList[1]}/tags/list?last=${lastTag}&n=2>; rel="next"`);
      }
      return json(res, 200, { name: tagsList[1], tags: page });
    }
    const manifests = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifests !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      const repo = this.repositories.get(manifests[1] as string);
      if (repo === undefined) return error(res, 404, 'NAME_UNKNOWN', 'repository name not known to registry');
      const reference = manifests[2] as string;
      const digest = reference.includes(':') ? reference : repo.tags.get(reference);
      const stored = digest === undefined ? undefined : repo.manifests.get(digest);
      const accept = req.headers.accept ?? '';
      if (digest === undefined || stored === undefined || !accept.includes(stored.mediaType)) {
        return error(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
      }
      res.writeHead(200, {
        'content-type': stored.mediaType,
        'content-length': stored.body.length,
        'docker-content-digest': digest,
      });
      res.end(req.method === 'HEAD' ? undefined : stored.body);
      return;
    }
    error(res, 404, 'NOT_FOUND', 'not served by the fake registry');
  }
}

export function imageManifest(layerSizes: number[], salt = ''): object {
  const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
  return {
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.dockerConfig, size: 1469, digest: digestOf(`config${salt}`) },
    layers: layerSizes.map((size, index) => ({
      mediaType: MEDIA.dockerLayer,
      size,
      digest: digestOf(`layer${index}${salt}`),
    })),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function error(res: http.ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { errors: [{ code, message, detail: null }] });
}
