/**
 * SIMULATOR — a Docker Engine API that answers the endpoints the deployer calls, for one
 * simulated swarm manager, in the engine's JSON shapes, status codes and `{"message": …}` errors.
 * It is for many-cluster scale tests only (docs/simulator.md): no container runs, nothing is
 * pulled, and behaviour that matters is checked against real dockerd clusters. It says so in
 * /version (a Components entry), /info (OperatingSystem) and an `X-Simulator` header on every
 * answer.
 *
 * Endpoints (with or without the /v1.xx prefix; a version above the engine's is refused as
 * dockerd does):
 *   GET  /_ping  HEAD /_ping  GET /version  GET /info  GET /swarm
 *   GET  /nodes  GET /nodes/{id}
 *   GET  /services  POST /services/create  GET /services/{id}  POST /services/{id}/update
 *        DELETE /services/{id}  GET /services/{id}/logs
 *   GET  /tasks  GET /tasks/{id}  GET /tasks/{id}/logs
 *   GET  /secrets  POST /secrets/create  GET /secrets/{id}  DELETE /secrets/{id}   (same for /configs)
 *   GET  /networks  POST /networks/create  GET /networks/{id}  DELETE /networks/{id}
 *   POST /images/create
 * Reference: https://docs.docker.com/reference/api/engine/version/v1.41/ and moby's
 * api/server/router (swarm, network, image), daemon/cluster.
 */
import type http from 'node:http';
import os from 'node:os';
import type { ServiceSpec } from '../../functions/lib/swarm/types.js';
import {
  parseFilters,
  SIMULATOR_HEADER,
  SimApiError,
  SimCluster,
  type SimClusterOptions,
} from './cluster.js';
import { PortRouter } from './ports.js';
import { ClusterSeries, prometheusHandler, type SimPrometheusOptions } from './prometheus.js';
import { SimRegistry } from './registry.js';

/** The simulator's own version, reported in /version's Components. */
export const SIMULATOR_VERSION = '1.0.0';
const SIMULATOR_HEADER_VALUE = 'swarm-deployer Engine API simulator (scale tests only)';
const MIN_API_VERSION = '1.12';
const MAX_BODY = 16 * 1024 * 1024;
const STARTED = new Date().toISOString();

function compare(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new SimApiError(413, 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new SimApiError(400, `invalid JSON: ${(err as Error).message}`);
  }
}

/** Docker's log stream without a TTY: an 8-byte header (stream, 0, 0, 0, uint32 BE size) per frame. */
export function multiplex(lines: Array<[1 | 2, string]>): Buffer {
  return Buffer.concat(
    lines.map(([stream, line]) => {
      const payload = Buffer.from(`${line}\n`, 'utf8');
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    }),
  );
}

interface Reply {
  status: number;
  json?: unknown;
  raw?: { body: Buffer | string; type: string };
}

const ok = (json: unknown, status = 200): Reply => ({ status, json });
const empty = (status: number): Reply => ({ status });

type Route = [
  method: string,
  pattern: RegExp,
  handler: (
    c: SimCluster,
    m: RegExpExecArray,
    q: URLSearchParams,
    body: unknown,
    req: http.IncomingMessage,
  ) => Reply,
];

function registryAuthOf(req: http.IncomingMessage): string | undefined {
  const value = req.headers['x-registry-auth'];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function logsReply(c: SimCluster, tasks: ReturnType<SimCluster['listTasks']>, q: URLSearchParams): Reply {
  const stdout = ['1', 'true'].includes(q.get('stdout') ?? '');
  const stderr = ['1', 'true'].includes(q.get('stderr') ?? '');
  if (!stdout && !stderr) throw new SimApiError(400, 'Bad parameters: you must choose at least one stream');
  let lines = tasks.flatMap((t) => c.taskLogs(t)).filter(([stream]) => (stream === 1 ? stdout : stderr));
  const tail = q.get('tail');
  if (tail && tail !== 'all' && Number.isInteger(Number(tail))) lines = lines.slice(-Number(tail));
  return { status: 200, raw: { body: multiplex(lines), type: 'application/vnd.docker.raw-stream' } };
}

const ROUTES: Route[] = [
  ['GET', /^\/version$/, (c) => ok(versionJson(c))],
  ['GET', /^\/info$/, (c) => ok(infoJson(c))],
  ['GET', /^\/swarm$/, (c) => ok(swarmJson(c))],
  ['GET', /^\/nodes$/, (c) => ok(c.nodes.map((n) => c.nodeJson(n)))],
  ['GET', /^\/nodes\/([^/]+)$/, (c, m) => ok(c.nodeJson(c.findNode(decodeURIComponent(m[1] ?? ''))))],
  [
    'GET',
    /^\/services$/,
    (c, _m, q) => ok(c.listServices(parseFilters(q.get('filters'))).map((s) => c.serviceJson(s))),
  ],
  [
    'POST',
    /^\/services\/create$/,
    (c, _m, _q, body, req) => {
      const service = c.createService(body as ServiceSpec | undefined, registryAuthOf(req));
      return ok({ ID: service.id }, 201);
    },
  ],
  [
    'POST',
    /^\/services\/([^/]+)\/update$/,
    (c, m, q, body, req) => {
      c.updateService(decodeURIComponent(m[1] ?? ''), q.get('version'), body as ServiceSpec | undefined, {
        rollback: q.get('rollback') === 'previous',
        registryAuth: registryAuthOf(req),
      });
      return ok({});
    },
  ],
  [
    'GET',
    /^\/services\/([^/]+)\/logs$/,
    (c, m, q) => logsReply(c, c.listTasks({ service: [decodeURIComponent(m[1] ?? '')] }), q),
  ],
  [
    'GET',
    /^\/services\/([^/]+)$/,
    (c, m) => ok(c.serviceJson(c.findService(decodeURIComponent(m[1] ?? '')))),
  ],
  [
    'DELETE',
    /^\/services\/([^/]+)$/,
    (c, m) => {
      c.removeService(decodeURIComponent(m[1] ?? ''));
      return { status: 200, raw: { body: '', type: 'text/plain; charset=utf-8' } };
    },
  ],
  [
    'GET',
    /^\/tasks$/,
    (c, _m, q) => ok(c.listTasks(parseFilters(q.get('filters'))).map((t) => c.taskJson(t))),
  ],
  [
    'GET',
    /^\/tasks\/([^/]+)\/logs$/,
    (c, m, q) => logsReply(c, [c.findTask(decodeURIComponent(m[1] ?? ''))], q),
  ],
  ['GET', /^\/tasks\/([^/]+)$/, (c, m) => ok(c.taskJson(c.findTask(decodeURIComponent(m[1] ?? ''))))],
  ...(['secret', 'config'] as const).flatMap((kind): Route[] => [
    [
      'GET',
      new RegExp(`^/${kind}s$`),
      (c, _m, q) => ok(c.listObjects(kind, parseFilters(q.get('filters'))).map((o) => c.objectJson(kind, o))),
    ],
    [
      'POST',
      new RegExp(`^/${kind}s/create$`),
      (c, _m, _q, body) => ok({ ID: c.createObject(kind, body as never).id }, 201),
    ],
    [
      'GET',
      new RegExp(`^/${kind}s/([^/]+)$`),
      (c, m) => ok(c.objectJson(kind, c.findObject(kind, decodeURIComponent(m[1] ?? '')))),
    ],
    [
      'DELETE',
      new RegExp(`^/${kind}s/([^/]+)$`),
      (c, m) => {
        c.removeObject(kind, decodeURIComponent(m[1] ?? ''));
        return empty(204);
      },
    ],
  ]),
  [
    'GET',
    /^\/networks$/,
    (c, _m, q) => ok(c.listNetworks(parseFilters(q.get('filters'))).map((n) => c.networkJson(n))),
  ],
  [
    'POST',
    /^\/networks\/create$/,
    (c, _m, _q, body) => ok({ Id: c.createNetwork(body as never).id, Warning: '' }, 201),
  ],
  [
    'GET',
    /^\/networks\/([^/]+)$/,
    (c, m) => ok(c.networkJson(c.findNetwork(decodeURIComponent(m[1] ?? '')))),
  ],
  [
    'DELETE',
    /^\/networks\/([^/]+)$/,
    (c, m) => {
      c.removeNetwork(decodeURIComponent(m[1] ?? ''));
      return empty(204);
    },
  ],
  [
    'POST',
    /^\/images\/create$/,
    (c, _m, q) => {
      const fromImage = q.get('fromImage') ?? '';
      if (!fromImage) throw new SimApiError(400, 'fromImage is required (importing images is not simulated)');
      const tag = q.get('tag') ?? '';
      const image = c.pull(fromImage, tag);
      const reference = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag || 'latest'}`;
      const lines = [
        { status: `Pulling from ${image.repository.split('/').slice(1).join('/')}`, id: tag || 'latest' },
        { status: `Digest: ${image.digest}` },
        { status: `Status: Image is up to date for ${reference}` },
      ];
      return {
        status: 200,
        raw: { body: `${lines.map((l) => JSON.stringify(l)).join('\r\n')}\r\n`, type: 'application/json' },
      };
    },
  ],
];

function versionJson(c: SimCluster): Record<string, unknown> {
  const details = {
    ApiVersion: c.apiVersion,
    Arch: 'amd64',
    BuildTime: STARTED,
    Experimental: 'false',
    GitCommit: 'simulated',
    GoVersion: 'go1.18.10',
    KernelVersion: os.release(),
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
  };
  return {
    Platform: { Name: 'Docker Engine - Swarm Engine API simulator' },
    Components: [
      { Name: 'Engine', Version: c.engineVersion, Details: details },
      {
        Name: 'Swarm Engine API simulator',
        Version: SIMULATOR_VERSION,
        Details: {
          Purpose: 'many-cluster scale tests of swarm-deployer; not a Docker engine',
          Cluster: c.name,
        },
      },
    ],
    Version: c.engineVersion,
    ApiVersion: c.apiVersion,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'simulated',
    GoVersion: 'go1.18.10',
    Os: 'linux',
    Arch: 'amd64',
    KernelVersion: os.release(),
    BuildTime: STARTED,
  };
}

function swarmJson(c: SimCluster): Record<string, unknown> {
  return {
    ID: c.swarmId,
    Version: { Index: 10 },
    CreatedAt: c.swarmCreatedAt,
    UpdatedAt: c.swarmCreatedAt,
    Spec: {
      Name: 'default',
      Labels: {},
      Orchestration: { TaskHistoryRetentionLimit: 5 },
      Raft: {
        SnapshotInterval: 10000,
        KeepOldSnapshots: 0,
        LogEntriesForSlowFollowers: 500,
        ElectionTick: 10,
        HeartbeatTick: 1,
      },
      Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
      CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
      TaskDefaults: {},
      EncryptionConfig: { AutoLockManagers: false },
    },
    TLSInfo: {},
    RootRotationInProgress: false,
    DefaultAddrPool: ['10.0.0.0/8'],
    SubnetSize: 24,
    DataPathPort: 4789,
  };
}

function infoJson(c: SimCluster): Record<string, unknown> {
  const running = [...c.tasks.values()].filter(
    (t) => t.state === 'running' && t.nodeId === c.manager.id,
  ).length;
  const manager = c.manager;
  return {
    ID: `SIM:${c.swarmId.slice(0, 20).toUpperCase()}`,
    Containers: running,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: 0,
    Images: c.registry.images().length,
    Driver: 'overlay2',
    Name: manager.hostname,
    ServerVersion: c.engineVersion,
    OperatingSystem: 'Swarm Engine API simulator (swarm-deployer scale tests)',
    OSType: 'linux',
    Architecture: 'x86_64',
    NCPU: 2,
    MemTotal: 4 * 1024 ** 3,
    KernelVersion: os.release(),
    Labels: ['simulator=true'],
    Plugins: {
      Volume: ['local'],
      Network: c.networkDrivers,
      Authorization: null,
      Log: ['awslogs', 'fluentd', 'gcplogs', 'gelf', 'journald', 'json-file', 'local', 'syslog'],
    },
    Swarm: {
      NodeID: manager.id,
      NodeAddr: manager.addr,
      LocalNodeState: 'active',
      ControlAvailable: true,
      Error: '',
      RemoteManagers: [{ NodeID: manager.id, Addr: `${manager.addr}:2377` }],
      Nodes: c.nodes.length,
      Managers: c.nodes.filter((n) => n.role === 'manager').length,
      Cluster: swarmJson(c),
    },
  };
}

function commonHeaders(c: SimCluster): Record<string, string> {
  return {
    'api-version': c.apiVersion,
    'docker-experimental': 'false',
    ostype: 'linux',
    server: `Docker/${c.engineVersion} (linux)`,
    [SIMULATOR_HEADER]: SIMULATOR_HEADER_VALUE,
  };
}

function send(res: http.ServerResponse, c: SimCluster, reply: Reply): void {
  const headers = commonHeaders(c);
  if (reply.raw) {
    res.writeHead(reply.status, { ...headers, 'content-type': reply.raw.type });
    res.end(reply.raw.body);
  } else if (reply.json === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
  } else {
    res.writeHead(reply.status, { ...headers, 'content-type': 'application/json' });
    res.end(`${JSON.stringify(reply.json)}\n`);
  }
}

/** Handles one Engine API request against `cluster`. */
export async function handleEngineRequest(
  cluster: SimCluster,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  try {
    const body = await readBody(req);
    if (cluster.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, cluster.faults.latencyMs));
    const url = new URL(req.url ?? '/', 'http://engine');
    let path = url.pathname;
    const versioned = /^\/v([0-9.]+)(\/.*)$/.exec(path);
    if (versioned) {
      const version = versioned[1] as string;
      path = versioned[2] as string;
      if (compare(version, cluster.apiVersion) > 0) {
        throw new SimApiError(
          400,
          `client version ${version} is too new. Maximum supported API version is ${cluster.apiVersion}`,
        );
      }
      if (compare(version, MIN_API_VERSION) < 0) {
        throw new SimApiError(
          400,
          `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
        );
      }
    }
    const method = req.method ?? 'GET';
    const fault = cluster.faults.intercept?.({ method, path });
    if (fault) throw fault;
    if (path === '/_ping' && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, {
        ...commonHeaders(cluster),
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-cache, no-store, must-revalidate',
        pragma: 'no-cache',
        swarm: 'active/manager',
      });
      res.end(method === 'HEAD' ? undefined : 'OK');
      return;
    }
    for (const [m, pattern, handler] of ROUTES) {
      if (m !== method) continue;
      const match = pattern.exec(path);
      if (!match) continue;
      send(res, cluster, handler(cluster, match, url.searchParams, parseJson(body), req));
      return;
    }
    send(res, cluster, { status: 404, json: { message: 'page not found' } });
  } catch (err) {
    if (err instanceof SimApiError)
      send(res, cluster, { status: err.status, json: { message: err.message } });
    else send(res, cluster, { status: 500, json: { message: `simulator: ${(err as Error).message}` } });
  }
}

/** The request listener of one simulated engine. */
export function engineHandler(
  cluster: SimCluster,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    void handleEngineRequest(cluster, req, res);
  };
}

export interface SimEngineOptions extends Partial<SimClusterOptions> {
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** The cluster's simulated Prometheus, on a port of its own. */
  prometheus?: SimPrometheusOptions;
}

/** One simulated engine (and its Prometheus) listening on ports of their own. */
export interface SimEngine {
  readonly cluster: SimCluster;
  readonly registry: SimRegistry;
  readonly host: string;
  /** The Engine API's port. */
  readonly port: number;
  readonly prometheusPort: number;
  stop(): Promise<void>;
}

/**
 * Starts one simulated swarm manager's Engine API and its Prometheus on 127.0.0.1 (a fleet of
 * them with SSM agents: sim/fleet.ts). `cluster.faults.down = true` closes the engine's port
 * (connections are refused) until it is set back; `prometheusDown` does the same for Prometheus.
 */
export async function startSimEngine(options: SimEngineOptions = {}): Promise<SimEngine> {
  const registry = options.registry ?? new SimRegistry();
  const cluster = new SimCluster({ name: 'sim-1', ...options, registry });
  const router = new PortRouter('127.0.0.1');
  const port = await router.open(options.port ?? 0, engineHandler(cluster));
  const prometheusPort = await router.open(
    0,
    prometheusHandler(new ClusterSeries(cluster, options.prometheus)),
  );
  const unsubscribe = cluster.faults.onChange((what, down) => {
    const p = what === 'engine' ? port : prometheusPort;
    return down ? router.suspend(p) : router.resume(p);
  });
  return {
    cluster,
    registry,
    host: '127.0.0.1',
    port,
    prometheusPort,
    async stop() {
      unsubscribe();
      cluster.stop();
      await router.closeAll();
    },
  };
}
