import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { which } from './preflight.js';
import { FleetError, run } from './sys.js';

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'demo-app');
const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
const CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json';
const LAYER_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const EPOCH = new Date(0);

/** How a demo build behaves by default; a service's env can still override each value. */
export interface DemoBuild {
  tag: string;
  /** Baked into /app/VERSION and reported by demo_build_info{version}. Defaults to the tag. */
  version?: string;
  repository?: string;
  errorRate?: number;
  latencyMs?: number;
  trafficRps?: number;
  crash?: boolean;
}

export interface PushedImage {
  repository: string;
  tag: string;
  digest: string;
  /** registry/repository:tag */
  reference: string;
  /** registry/repository@sha256:… : deploy digests, never tags. */
  digestReference: string;
}

export interface RegistryAccess {
  address: string;
  username: string;
  password: string;
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarball(entries: (pack: tar.Pack) => Promise<void>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  await entries(pack);
  pack.finalize();
  return done;
}

function add(
  pack: tar.Pack,
  header: Partial<tar.Header> & { name: string },
  body: Buffer = Buffer.alloc(0),
): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ ...header, mtime: EPOCH, uid: 0, gid: 0 } as tar.Header, body, (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

/**
 * The demo app's single layer, FROM scratch: a static busybox with its applets as symlinks, and the
 * app's start and handler scripts. Deterministic: the same build inputs give the same digest.
 */
export async function demoLayer(version: string): Promise<Buffer> {
  const busyboxPath = await which('busybox');
  if (!busyboxPath) throw new FleetError('busybox not found', 'apt-get install -y busybox-static');
  const busybox = await readFile(busyboxPath);
  const applets = (await run(busyboxPath, ['--list'])).stdout
    .split('\n')
    .map((a) => a.trim())
    .filter((a) => a && a !== 'busybox')
    .sort();
  const start = await readFile(join(APP_DIR, 'start.sh'));
  const handler = await readFile(join(APP_DIR, 'handler.sh'));
  return tarball(async (pack) => {
    for (const dir of ['bin/', 'app/', 'etc/', 'proc/', 'dev/', 'sys/'])
      await add(pack, { name: dir, type: 'directory', mode: 0o755 });
    await add(pack, { name: 'tmp/', type: 'directory', mode: 0o1777 });
    await add(pack, { name: 'bin/busybox', mode: 0o755 }, busybox);
    for (const a of applets)
      await add(pack, { name: `bin/${a}`, type: 'symlink', linkname: 'busybox', mode: 0o777 });
    await add(pack, { name: 'app/start.sh', mode: 0o755 }, start);
    await add(pack, { name: 'app/handler.sh', mode: 0o755 }, handler);
    await add(pack, { name: 'app/VERSION', mode: 0o644 }, Buffer.from(`${version}\n`));
    await add(pack, { name: 'etc/passwd', mode: 0o644 }, Buffer.from('root:x:0:0:root:/:/bin/sh\n'));
  });
}

function checkBuild(b: DemoBuild): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(b.tag))
    throw new FleetError(`demo image tag "${b.tag}" is not a valid tag`);
  if (b.errorRate !== undefined && !(b.errorRate >= 0 && b.errorRate <= 1)) {
    throw new FleetError(`demo image error rate ${b.errorRate}: use a share from 0 to 1`);
  }
  for (const [k, v] of [
    ['latency', b.latencyMs],
    ['traffic', b.trafficRps],
  ] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0))
      throw new FleetError(`demo image ${k} ${v}: use a number ≥ 0`);
  }
}

/** Builds the demo image FROM scratch and pushes it to the registry over its HTTP API (no Docker needed). */
export async function buildAndPushDemoImage(
  registry: RegistryAccess,
  build: DemoBuild,
): Promise<PushedImage> {
  checkBuild(build);
  const repository = build.repository ?? 'demo';
  const version = build.version ?? build.tag;
  const layerTar = await demoLayer(version);
  const layer = gzipSync(layerTar, { level: 6 });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: EPOCH.toISOString(),
      config: {
        Env: [
          'PATH=/bin',
          'PORT=8080',
          `ERROR_RATE=${build.errorRate ?? 0}`,
          `LATENCY_MS=${build.latencyMs ?? 0}`,
          `TRAFFIC_RPS=${build.trafficRps ?? 5}`,
          `CRASH=${build.crash ? 1 : 0}`,
        ],
        Entrypoint: ['/bin/sh', '/app/start.sh'],
        ExposedPorts: { '8080/tcp': {} },
        WorkingDir: '/',
        Labels: {
          'org.opencontainers.image.version': version,
          'org.opencontainers.image.title': 'swarm-deployer demo app',
        },
      },
      rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
      history: [
        { created: EPOCH.toISOString(), created_by: 'swarm-deployer demo image builder (FROM scratch)' },
      ],
    }),
  );
  const client = registryClient(registry);
  const configDigest = await client.pushBlob(repository, config);
  const layerDigest = await client.pushBlob(repository, layer);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: CONFIG_TYPE, size: config.length, digest: configDigest },
    layers: [{ mediaType: LAYER_TYPE, size: layer.length, digest: layerDigest }],
  });
  const digest = await client.putManifest(repository, build.tag, manifest);
  return {
    repository,
    tag: build.tag,
    digest,
    reference: `${registry.address}/${repository}:${build.tag}`,
    digestReference: `${registry.address}/${repository}@${digest}`,
  };
}

/** The few registry v2 calls a push needs, with basic auth. */
function registryClient(r: RegistryAccess) {
  const base = `http://${r.address}`;
  const headers = { authorization: `Basic ${Buffer.from(`${r.username}:${r.password}`).toString('base64')}` };
  const fail = async (what: string, res: Response) => {
    const body = (await res.text()).slice(0, 300);
    return new FleetError(`registry ${r.address}: ${what} answered HTTP ${res.status}: ${body}`);
  };
  return {
    async pushBlob(repo: string, blob: Buffer): Promise<string> {
      const digest = sha256(blob);
      const head = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers });
      if (head.ok) return digest;
      const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
      if (start.status !== 202) throw await fail('starting a blob upload', start);
      const location = new URL(start.headers.get('location') ?? '', base);
      location.searchParams.set('digest', digest);
      const put = await fetch(location, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/octet-stream' },
        body: blob,
      });
      if (put.status !== 201) throw await fail(`uploading blob ${digest}`, put);
      return digest;
    },
    async putManifest(repo: string, tag: string, manifest: string): Promise<string> {
      const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': MANIFEST_TYPE },
        body: manifest,
      });
      if (res.status !== 201) throw await fail(`putting manifest ${repo}:${tag}`, res);
      return res.headers.get('docker-content-digest') ?? sha256(manifest);
    },
  };
}
