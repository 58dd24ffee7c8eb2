/**
 * SIMULATOR — the state and the Swarm-like behaviour of one simulated cluster, for many-cluster
 * scale tests (docs/simulator.md). Nothing runs: no container, no image, no network. Tasks only
 * move through Swarm's task states on timers, services are updated slot by slot as swarmkit's
 * updater does (update_config parallelism, delay, monitor, failure action, order), and the
 * answers are shaped like the Engine API's. Real dockerd clusters stay the truth for behaviour.
 *
 * Sources of the behaviour copied here: swarmkit manager/controlapi (service.go, secret.go,
 * config.go, network.go: validation order, error codes and messages),
 * manager/orchestrator/update/updater.go (the updater), manager/orchestrator/restart (restarts),
 * and moby api/server/httpstatus (gRPC code → HTTP status).
 */
import { randomBytes } from 'node:crypto';
import { canonical } from '../../functions/lib/swarm/spec.js';
import type { NetworkAttachment, ServiceSpec, UpdateConfig } from '../../functions/lib/swarm/types.js';
import type { SimImage, SimRegistry } from './registry.js';

/** The header every simulated answer (Engine API and Prometheus) carries. */
export const SIMULATOR_HEADER = 'x-simulator';

/** An Engine API error: the HTTP status and the `message` of the `{"message": …}` body. */
export class SimApiError extends Error {
  override readonly name = 'SimApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A swarmkit error as moby reports it: `rpc error: code = <Code> desc = <message>`, with its HTTP status. */
function rpcError(code: keyof typeof RPC_STATUS, message: string): SimApiError {
  return new SimApiError(RPC_STATUS[code], `rpc error: code = ${code} desc = ${message}`);
}

/** moby api/server/httpstatus statusCodeFromGRPCError. */
const RPC_STATUS = {
  InvalidArgument: 400,
  NotFound: 404,
  AlreadyExists: 409,
  FailedPrecondition: 400,
  Unimplemented: 501,
  Unknown: 500,
} as const;

export type TaskState =
  | 'new'
  | 'pending'
  | 'assigned'
  | 'accepted'
  | 'preparing'
  | 'ready'
  | 'starting'
  | 'running'
  | 'complete'
  | 'shutdown'
  | 'failed'
  | 'rejected'
  | 'remove'
  | 'orphaned';

/** swarmkit's TaskState numbers: states compare by them ("at least running"). */
const STATE_ORDER: Record<TaskState, number> = {
  new: 0,
  pending: 64,
  assigned: 192,
  accepted: 256,
  preparing: 320,
  ready: 384,
  starting: 448,
  running: 512,
  complete: 576,
  shutdown: 640,
  failed: 704,
  rejected: 768,
  remove: 800,
  orphaned: 832,
};
const atLeast = (state: TaskState, than: TaskState) => STATE_ORDER[state] >= STATE_ORDER[than];
const isTerminal = (state: TaskState) => atLeast(state, 'complete');

/** The Status.Message the engine reports in each state. */
const STATE_MESSAGE: Partial<Record<TaskState, string>> = {
  new: 'created',
  pending: 'pending task scheduling',
  assigned: 'scheduler assigned task to node',
  preparing: 'preparing',
  starting: 'starting',
  running: 'started',
  shutdown: 'shutdown',
};

/** Failure injection for one simulated cluster. */
export class SimFaults {
  /** Milliseconds added before every Engine API answer. */
  latencyMs = 0;
  /**
   * Digests (sha256:…) that fail to pull on this cluster only, with the message POST
   * /images/create answers (default: the registry's "manifest unknown").
   */
  readonly failPull = new Map<string, string | undefined>();
  /** Answers a request with an error before the simulator sees it (undefined: no fault). */
  intercept: ((request: { method: string; path: string }) => SimApiError | undefined) | undefined;
  private engineDown = false;
  private prometheusIsDown = false;
  private pending: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<
    (what: 'engine' | 'prometheus', down: boolean) => void | Promise<void>
  >();

  /**
   * The engine refuses connections (its port is closed at once), as a stopped dockerd. Setting it
   * back reopens the port: await {@link settled} before calling again.
   */
  get down(): boolean {
    return this.engineDown;
  }
  set down(value: boolean) {
    if (value === this.engineDown) return;
    this.engineDown = value;
    this.notify('engine', value);
  }

  /** The cluster's simulated Prometheus refuses connections. */
  get prometheusDown(): boolean {
    return this.prometheusIsDown;
  }
  set prometheusDown(value: boolean) {
    if (value === this.prometheusIsDown) return;
    this.prometheusIsDown = value;
    this.notify('prometheus', value);
  }

  private notify(what: 'engine' | 'prometheus', down: boolean): void {
    const results = [...this.listeners].map((listener) => listener(what, down));
    this.pending = Promise.all([this.pending, ...results]).then(() => {});
  }

  /** Resolves once the ports reflect `down` and `prometheusDown`. */
  settled(): Promise<void> {
    return this.pending;
  }

  /** Called when `down` or `prometheusDown` changes (the listeners close or reopen the port). */
  onChange(listener: (what: 'engine' | 'prometheus', down: boolean) => void | Promise<void>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface SimClusterOptions {
  name: string;
  registry: SimRegistry;
  /** Worker nodes beside the one manager (default 2). */
  workers?: number;
  /** What /version and /info report (default 20.10.24, API 1.41: the local fleet's engine). */
  engineVersion?: string;
  apiVersion?: string;
  /**
   * Multiplies every simulated duration: task start and stop, update delay and monitor, restart
   * delay, the Prometheus scrape interval (default 1). 0.05 makes a one-second task start 50 ms.
   */
  timeScale?: number;
  /** A task's time from `new` to `running`, before the time scale (default 1000 ms). */
  taskStartMs?: number;
  /** A running task's time to reach `shutdown` once asked to stop (default 500 ms). */
  taskStopMs?: number;
  /** How long a CRASH=1 task runs before it exits with code 3 (default 200 ms). */
  crashAfterMs?: number;
  /** Network drivers /info lists (Plugins.Network). */
  networkDrivers?: string[];
  /** Old tasks kept per slot (swarm's TaskHistoryRetentionLimit, default 5). */
  taskHistoryLimit?: number;
  /** Seed for the node addresses (10.x.y.z), to keep clusters apart in reports. */
  index?: number;
}

export interface SimNode {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  availability: 'active' | 'pause' | 'drain';
  state: 'ready' | 'down';
  addr: string;
  leader: boolean;
  reachability: 'reachable' | 'unreachable';
  labels: Record<string, string>;
  createdAt: string;
  version: number;
}

export interface SimService {
  id: string;
  createdAt: string;
  updatedAt: string;
  version: number;
  spec: ServiceSpec;
  previousSpec: ServiceSpec | undefined;
  updateStatus: { State: string; Message: string; StartedAt?: string; CompletedAt?: string } | undefined;
  /** The last X-Registry-Auth sent with a create or update (swarm keeps it for later pulls). */
  registryAuth: string | undefined;
  /** Slots whose task ended and may not restart (restart condition none, max attempts). */
  deadSlots: Set<string>;
  restarts: Map<string, number>;
  updater: Updater | undefined;
}

export interface SimTask {
  id: string;
  serviceId: string;
  serviceName: string;
  /** Replicated services: the slot number. Global services: undefined. */
  slot: number | undefined;
  /** The slot number, or `node:<id>` for a global service. */
  slotKey: string;
  nodeId: string | undefined;
  createdAt: string;
  updatedAt: string;
  version: number;
  desiredState: TaskState;
  state: TaskState;
  message: string;
  err: string | undefined;
  timestamp: string;
  containerId: string | undefined;
  pid: number | undefined;
  exitCode: number | undefined;
  spec: ServiceSpec['TaskTemplate'];
  image: string;
  /** The image's environment with the service's Env over it. */
  env: Record<string, string>;
  imageVersion: string | undefined;
  /** When the task reached running, and when it stopped running (epoch ms). */
  runningFrom: number | undefined;
  runningUntil: number | undefined;
  timer: NodeJS.Timeout | undefined;
  waiters: Array<() => void>;
}

export interface SimObject {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  name: string;
  labels: Record<string, string>;
  data: Buffer;
}

export interface SimNetwork {
  id: string;
  name: string;
  driver: string;
  scope: 'swarm' | 'local';
  attachable: boolean;
  ingress: boolean;
  internal: boolean;
  options: Record<string, string>;
  labels: Record<string, string>;
  created: string;
  subnet: string;
  version: number;
}

/** Docker's filters query: `{"key": ["v", …]}` or the old `{"key": {"v": true}}`. */
export type Filters = Record<string, string[]>;

export function parseFilters(raw: string | null): Filters {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new SimApiError(400, `invalid filter: ${(err as Error).message}`);
  }
  const out: Filters = {};
  if (typeof parsed !== 'object' || parsed === null) return out;
  for (const [key, value] of Object.entries(parsed)) {
    if (Array.isArray(value)) out[key] = value.map(String);
    else if (typeof value === 'object' && value !== null)
      out[key] = Object.entries(value)
        .filter(([, on]) => on)
        .map(([v]) => v);
  }
  return out;
}

function checkFilters(filters: Filters, accepted: string[]): void {
  for (const key of Object.keys(filters)) {
    if (!accepted.includes(key)) throw new SimApiError(400, `invalid filter '${key}'`);
  }
}

/** `label` filter values: `key` (present) or `key=value`. */
function matchLabels(labels: Record<string, string> | undefined, wanted: string[] | undefined): boolean {
  if (!wanted || wanted.length === 0) return true;
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return labels !== undefined && Object.hasOwn(labels, w);
    return labels?.[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

const prefixOf = (values: string[] | undefined, value: string) =>
  !values || values.length === 0 || values.some((v) => value.startsWith(v));
const oneOf = (values: string[] | undefined, value: string) =>
  !values || values.length === 0 || values.includes(value);

/** swarmkit identity.NewID: 128 random bits in base 36, 25 characters. */
export function newId(): string {
  const n = BigInt(`0x${randomBytes(16).toString('hex')}`);
  return n.toString(36).padStart(25, '0').slice(-25);
}

const iso = (ms: number = Date.now()) => new Date(ms).toISOString();
const NS_PER_MS = 1_000_000;

/** update_config's fields with swarmkit's defaults (defaults.Service.Update) when the spec has none. */
function effectiveUpdateConfig(config: UpdateConfig | undefined): Required<UpdateConfig> {
  if (!config) {
    return {
      Parallelism: 1,
      Delay: 0,
      FailureAction: 'pause',
      Monitor: 5_000 * NS_PER_MS,
      MaxFailureRatio: 0,
      Order: 'stop-first',
    };
  }
  // A present config's omitted fields are Go zero values; moby sends no Monitor for 0 (default 5 s).
  return {
    Parallelism: config.Parallelism ?? 0,
    Delay: config.Delay ?? 0,
    FailureAction: config.FailureAction || 'pause',
    Monitor: config.Monitor || 5_000 * NS_PER_MS,
    MaxFailureRatio: config.MaxFailureRatio ?? 0,
    Order: config.Order || 'stop-first',
  };
}

/**
 * The spec as the engine reports it back: the defaults the daemon fills in (Mode, ForceUpdate,
 * Runtime, Isolation, EndpointSpec.Mode) and the zero durations Go's omitempty drops. Idempotent.
 */
export function normalizeSpec(input: ServiceSpec): ServiceSpec {
  const spec = structuredClone(input);
  const task = spec.TaskTemplate;
  task.ForceUpdate ??= 0;
  task.Runtime ??= 'container';
  task.ContainerSpec.Isolation ??= 'default';
  if (!spec.Mode) spec.Mode = { Replicated: { Replicas: 1 } };
  if (spec.Mode.Replicated && spec.Mode.Replicated.Replicas === undefined) spec.Mode.Replicated.Replicas = 1;
  for (const key of ['UpdateConfig', 'RollbackConfig'] as const) {
    const config = spec[key];
    if (!config) continue;
    if (!config.Delay) delete config.Delay;
    if (!config.Monitor) delete config.Monitor;
    if (!config.FailureAction) delete config.FailureAction;
  }
  spec.EndpointSpec = { Mode: 'vip', ...spec.EndpointSpec };
  return spec;
}

function envOf(spec: ServiceSpec['TaskTemplate']): Record<string, string> {
  const out: Record<string, string> = {};
  const list = (spec.ContainerSpec as { Env?: unknown }).Env;
  if (!Array.isArray(list)) return out;
  for (const entry of list) {
    const text = String(entry);
    const eq = text.indexOf('=');
    if (eq > 0) out[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return out;
}

/** One simulated swarm: a manager, workers, and the swarm objects the deployer uses. */
export class SimCluster {
  readonly name: string;
  readonly registry: SimRegistry;
  readonly faults = new SimFaults();
  readonly engineVersion: string;
  readonly apiVersion: string;
  readonly timeScale: number;
  readonly networkDrivers: string[];
  readonly swarmId = newId();
  readonly swarmCreatedAt = iso();
  readonly nodes: SimNode[] = [];
  readonly services = new Map<string, SimService>();
  readonly tasks = new Map<string, SimTask>();
  readonly secrets = new Map<string, SimObject>();
  readonly configs = new Map<string, SimObject>();
  readonly networks = new Map<string, SimNetwork>();
  private index = 10;
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly taskStartMs: number;
  private readonly taskStopMs: number;
  private readonly crashAfterMs: number;
  private readonly historyLimit: number;
  private readonly addressBase: string;
  private nextSubnet = 1;

  constructor(options: SimClusterOptions) {
    this.name = options.name;
    this.registry = options.registry;
    this.engineVersion = options.engineVersion ?? '20.10.24';
    this.apiVersion = options.apiVersion ?? '1.41';
    this.timeScale = options.timeScale ?? 1;
    this.taskStartMs = options.taskStartMs ?? 1000;
    this.taskStopMs = options.taskStopMs ?? 500;
    this.crashAfterMs = options.crashAfterMs ?? 200;
    this.historyLimit = options.taskHistoryLimit ?? 5;
    this.networkDrivers = options.networkDrivers ?? [
      'bridge',
      'host',
      'ipvlan',
      'macvlan',
      'null',
      'overlay',
    ];
    const i = options.index ?? 0;
    this.addressBase = `10.${100 + Math.floor(i / 250)}.${i % 250}`;
    const workers = options.workers ?? 2;
    for (let n = 0; n <= workers; n++) {
      const manager = n === 0;
      this.nodes.push({
        id: newId(),
        hostname: manager ? `${this.name}-manager` : `${this.name}-worker-${n}`,
        role: manager ? 'manager' : 'worker',
        availability: 'active',
        state: 'ready',
        addr: `${this.addressBase}.${n + 2}`,
        leader: manager,
        reachability: 'reachable',
        labels: {},
        createdAt: this.swarmCreatedAt,
        version: this.bump(),
      });
    }
    const local = (name: string, driver: string): SimNetwork => ({
      id: randomBytes(32).toString('hex'),
      name,
      driver,
      scope: 'local',
      attachable: false,
      ingress: false,
      internal: false,
      options: {},
      labels: {},
      created: this.swarmCreatedAt,
      subnet: '',
      version: this.bump(),
    });
    for (const n of [local('bridge', 'bridge'), local('host', 'host'), local('none', 'null')]) {
      this.networks.set(n.id, n);
    }
    const ingress: SimNetwork = {
      ...local('ingress', 'overlay'),
      id: newId(),
      scope: 'swarm',
      ingress: true,
      subnet: '10.0.0.0/24',
      options: { 'com.docker.network.driver.overlay.vxlanid_list': '4096' },
    };
    this.networks.set(ingress.id, ingress);
  }

  /** The manager the Engine API endpoint is. */
  get manager(): SimNode {
    return this.nodes[0] as SimNode;
  }

  /** The store's next version index (swarm's raft index: one counter for every object). */
  private bump(): number {
    this.index += 1;
    return this.index;
  }

  /** A real-world duration in ms, scaled. */
  scaled(ms: number): number {
    return Math.max(0, ms * this.timeScale);
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private cancelTimer(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Resolves after `ms` (or at once when the signal aborts or the cluster stops). */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || this.stopped) return resolve();
      const onAbort = () => {
        this.cancelTimer(timer);
        resolve();
      };
      const timer = this.after(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops every timer and update: the cluster is frozen as it is. */
  stop(): void {
    this.stopped = true;
    for (const service of this.services.values()) service.updater?.cancel();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Nodes

  /** Marks a node down or ready (a lost worker, or a manager whose leader is gone). */
  setNodeState(id: string, state: 'ready' | 'down'): void {
    const node = this.nodes.find((n) => n.id === id || n.hostname === id);
    if (!node) throw new Error(`cluster ${this.name}: no node ${id}`);
    node.state = state;
    if (node.role === 'manager') node.reachability = state === 'ready' ? 'reachable' : 'unreachable';
    node.version = this.bump();
  }

  setNodeAvailability(id: string, availability: SimNode['availability']): void {
    const node = this.nodes.find((n) => n.id === id || n.hostname === id);
    if (!node) throw new Error(`cluster ${this.name}: no node ${id}`);
    node.availability = availability;
    node.version = this.bump();
  }

  findNode(ref: string): SimNode {
    const node =
      this.nodes.find((n) => n.id === ref) ??
      this.nodes.find((n) => n.hostname === ref) ??
      this.uniquePrefix(this.nodes, ref, (n) => n.id);
    if (!node) throw new SimApiError(404, `node ${ref} not found`);
    return node;
  }

  /** The one item whose ID starts with `ref`; several are ambiguous (400), as moby says. */
  private uniquePrefix<T>(
    items: Iterable<T>,
    ref: string,
    id: (t: T) => string,
    what?: string,
  ): T | undefined {
    if (ref === '') return undefined;
    const found = [...items].filter((i) => id(i).startsWith(ref));
    if (found.length > 1 && what) {
      throw new SimApiError(400, `${what} ${ref} is ambiguous (${found.length} matches found)`);
    }
    return found.length === 1 ? found[0] : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Services

  /** By full ID, then name, then unique ID prefix (moby's getService). */
  findService(ref: string): SimService {
    const found =
      this.services.get(ref) ??
      [...this.services.values()].find((s) => s.spec.Name === ref) ??
      this.uniquePrefix(this.services.values(), ref, (s) => s.id, 'service');
    if (!found) throw new SimApiError(404, `service ${ref} not found`);
    return found;
  }

  listServices(filters: Filters): SimService[] {
    checkFilters(filters, ['id', 'label', 'mode', 'name']);
    return [...this.services.values()].filter(
      (s) =>
        prefixOf(filters.id, s.id) &&
        prefixOf(filters.name, s.spec.Name) &&
        matchLabels(s.spec.Labels, filters.label) &&
        oneOf(filters.mode, s.spec.Mode?.Global ? 'global' : 'replicated'),
    );
  }

  private validateSpec(spec: ServiceSpec | undefined): asserts spec is ServiceSpec {
    if (!spec || typeof spec !== 'object') throw rpcError('InvalidArgument', 'invalid argument');
    if (!spec.Name) throw rpcError('InvalidArgument', 'meta: name must be provided');
    if (!spec.TaskTemplate?.ContainerSpec?.Image) {
      throw rpcError('InvalidArgument', 'ContainerSpec: image reference must be provided');
    }
    const replicas = spec.Mode?.Replicated?.Replicas;
    if (replicas !== undefined && replicas < 0) {
      throw rpcError('InvalidArgument', 'Number of replicas must be non-negative');
    }
  }

  /** Network targets by name become IDs, as the daemon resolves them; an unknown one is a 404. */
  private resolveNetworks(spec: ServiceSpec): void {
    const resolve = (list: NetworkAttachment[] | undefined) =>
      list?.map((n) => ({ ...n, Target: this.findNetwork(n.Target).id }));
    if (spec.TaskTemplate.Networks) spec.TaskTemplate.Networks = resolve(spec.TaskTemplate.Networks);
    if (spec.Networks) spec.Networks = resolve(spec.Networks);
  }

  /** swarmkit checkSecretExistence / checkConfigExistence. */
  private checkReferences(spec: ServiceSpec): void {
    const container = spec.TaskTemplate.ContainerSpec as {
      Secrets?: Array<{ SecretID?: string; SecretName?: string }>;
      Configs?: Array<{ ConfigID?: string; ConfigName?: string }>;
    };
    const missing = (
      refs: Array<{ id?: string; name?: string }>,
      store: Map<string, SimObject>,
      what: 'secret' | 'config',
    ) => {
      const failed = refs
        .filter((r) => {
          const o = store.get(r.id ?? '');
          return !o || o.name !== r.name;
        })
        .map((r) => r.name ?? '');
      if (failed.length > 0) {
        throw rpcError(
          'InvalidArgument',
          `${what}${failed.length === 1 ? '' : 's'} not found: ${failed.join(', ')}`,
        );
      }
    };
    missing(
      (container.Secrets ?? []).map((s) => ({ id: s.SecretID, name: s.SecretName })),
      this.secrets,
      'secret',
    );
    missing(
      (container.Configs ?? []).map((c) => ({ id: c.ConfigID, name: c.ConfigName })),
      this.configs,
      'config',
    );
  }

  /** POST /services/create. @returns the new service. */
  createService(input: ServiceSpec | undefined, registryAuth?: string): SimService {
    this.validateSpec(input);
    const spec = normalizeSpec(input);
    this.resolveNetworks(spec);
    this.checkReferences(spec);
    const lower = spec.Name.toLowerCase();
    if ([...this.services.values()].some((s) => s.spec.Name.toLowerCase() === lower)) {
      throw rpcError(
        'AlreadyExists',
        `name conflicts with an existing object: service ${spec.Name} already exists`,
      );
    }
    const now = iso();
    const service: SimService = {
      id: newId(),
      createdAt: now,
      updatedAt: now,
      version: this.bump(),
      spec,
      previousSpec: undefined,
      updateStatus: undefined,
      registryAuth,
      deadSlots: new Set(),
      restarts: new Map(),
      updater: undefined,
    };
    this.services.set(service.id, service);
    this.reconcile(service);
    return service;
  }

  /**
   * A service that has been running for a while: its tasks are already running (created an hour
   * ago), with no update status, as a cluster looks before a deployment.
   */
  seedService(input: ServiceSpec): SimService {
    this.validateSpec(input);
    const spec = normalizeSpec(input);
    this.resolveNetworks(spec);
    this.checkReferences(spec);
    const then = Date.now() - 3_600_000;
    const service: SimService = {
      id: newId(),
      createdAt: iso(then),
      updatedAt: iso(then),
      version: this.bump(),
      spec,
      previousSpec: undefined,
      updateStatus: undefined,
      registryAuth: undefined,
      deadSlots: new Set(),
      restarts: new Map(),
      updater: undefined,
    };
    this.services.set(service.id, service);
    for (const key of this.wantedSlots(service)) {
      const task = this.createTask(service, key, 'ready', then);
      task.desiredState = 'running';
      const node = this.pickNode(service, task);
      if (!node || !this.pullable(task.image).ok || task.env.CRASH === '1') {
        // Not something that could have been running for an hour: it starts now, and fails as it would.
        this.progress(task);
        continue;
      }
      Object.assign(task, {
        nodeId: node.id,
        state: 'running',
        message: STATE_MESSAGE.running,
        containerId: randomBytes(32).toString('hex'),
        pid: 1000 + (task.slot ?? 0),
        exitCode: 0,
        runningFrom: then,
      });
    }
    return service;
  }

  /**
   * POST /services/{id}/update, in swarmkit's order of checks: the spec, the service, the
   * references, mode and name, then the version (a stale one is "update out of sequence").
   */
  updateService(
    ref: string,
    rawVersion: string | null,
    input: ServiceSpec | undefined,
    options: { rollback?: boolean; registryAuth?: string } = {},
  ): SimService {
    const version = rawVersion === null ? Number.NaN : Number(rawVersion);
    if (!/^\d+$/.test(rawVersion ?? '') || !Number.isSafeInteger(version)) {
      throw new SimApiError(
        400,
        `invalid service version '${rawVersion ?? ''}': strconv.ParseUint: parsing "${rawVersion ?? ''}": invalid syntax`,
      );
    }
    this.validateSpec(input);
    const service = this.findService(ref);
    const spec = normalizeSpec(input);
    this.resolveNetworks(spec);
    this.checkReferences(spec);
    if (Boolean(service.spec.Mode?.Global) !== Boolean(spec.Mode?.Global)) {
      throw rpcError('Unimplemented', 'service mode change is not allowed');
    }
    if (service.spec.Name !== spec.Name) {
      throw rpcError('Unimplemented', 'renaming services is not supported');
    }
    if (version !== service.version) throw rpcError('Unknown', 'update out of sequence');
    if (options.rollback) {
      if (!service.previousSpec) {
        throw rpcError('FailedPrecondition', `service ${service.id} does not have a previous spec`);
      }
      const current = service.spec;
      service.spec = service.previousSpec;
      service.previousSpec = current;
      service.updateStatus = {
        State: 'rollback_started',
        Message: 'manually requested rollback',
        StartedAt: iso(),
      };
    } else {
      service.previousSpec = service.spec;
      service.spec = spec;
      service.updateStatus = undefined;
    }
    if (options.registryAuth) service.registryAuth = options.registryAuth;
    service.deadSlots.clear();
    service.restarts.clear();
    service.version = this.bump();
    service.updatedAt = iso();
    this.reconcile(service);
    return service;
  }

  /** DELETE /services/{id}: the service and its tasks go at once. */
  removeService(ref: string): void {
    const service = this.findService(ref);
    service.updater?.cancel();
    this.services.delete(service.id);
    for (const task of [...this.tasks.values()]) {
      if (task.serviceId !== service.id) continue;
      this.cancelTimer(task.timer);
      this.tasks.delete(task.id);
    }
  }

  private setUpdateStatus(service: SimService, status: SimService['updateStatus']): void {
    service.updateStatus = status;
    service.version = this.bump();
    service.updatedAt = iso();
  }

  // -------------------------------------------------------------------------------------------
  // Orchestration

  /** The slot keys the service wants: 1…replicas, or one per eligible node for a global service. */
  private wantedSlots(service: SimService): string[] {
    if (service.spec.Mode?.Global) {
      return this.nodes
        .filter((n) => n.state === 'ready' && n.availability === 'active' && this.fits(service, n))
        .map((n) => `node:${n.id}`);
    }
    const replicas = service.spec.Mode?.Replicated?.Replicas ?? 1;
    return Array.from({ length: replicas }, (_, i) => String(i + 1));
  }

  /** Tasks of the service whose desired state is running or ready, by slot. */
  liveSlots(service: SimService): Map<string, SimTask[]> {
    const slots = new Map<string, SimTask[]>();
    for (const task of this.tasks.values()) {
      if (task.serviceId !== service.id) continue;
      if (!(task.desiredState === 'running' || task.desiredState === 'ready')) continue;
      const list = slots.get(task.slotKey) ?? [];
      list.push(task);
      slots.set(task.slotKey, list);
    }
    return slots;
  }

  /** swarmkit IsTaskDirty: the task runs another task template than the service's. */
  isDirty(service: SimService, task: SimTask): boolean {
    return canonical(task.spec) !== canonical(service.spec.TaskTemplate);
  }

  /** What the replicated/global orchestrator does on a service change: scale, then update. */
  private reconcile(service: SimService): void {
    if (!this.services.has(service.id) || this.stopped) return;
    const wanted = this.wantedSlots(service);
    const live = this.liveSlots(service);
    for (const [key, tasks] of live) {
      if (!wanted.includes(key)) for (const t of tasks) this.stopTask(t);
    }
    for (const key of wanted) {
      if (!live.has(key) && !service.deadSlots.has(key)) this.createTask(service, key, 'running');
    }
    const dirty = wanted.filter((key) => {
      const tasks = live.get(key);
      return tasks !== undefined && (tasks.length > 1 || tasks.some((t) => this.isDirty(service, t)));
    });
    this.runUpdater(service, dirty);
  }

  /** update.Supervisor.Update: one updater per service, replaced when the goal changes. */
  private runUpdater(service: SimService, dirty: string[]): void {
    const goal = canonical(service.spec);
    if (service.updater && !service.updater.done) {
      if (service.updater.goal === goal) return;
      service.updater.cancel();
    }
    service.updater = undefined;
    const state = service.updateStatus?.State;
    if (state === 'paused' || state === 'rollback_paused') return;
    if (dirty.length === 0) {
      if (state === 'updating' || state === 'rollback_started') this.completeUpdate(service);
      return;
    }
    const updater = new Updater(this, service, dirty, goal);
    service.updater = updater;
    void updater.run();
  }

  /** @internal the updater's steps */
  startUpdate(service: SimService): void {
    if (service.updateStatus) return;
    this.setUpdateStatus(service, { State: 'updating', Message: 'update in progress', StartedAt: iso() });
  }

  /** @internal */
  pauseUpdate(service: SimService, message: string): void {
    if (!service.updateStatus) return;
    const state = service.updateStatus.State === 'rollback_started' ? 'rollback_paused' : 'paused';
    this.setUpdateStatus(service, { ...service.updateStatus, State: state, Message: message });
  }

  /** @internal swarm's own rollback: the previous spec, then an update with rollback_config. */
  rollbackUpdate(service: SimService, message: string): void {
    if (!service.updateStatus || !service.previousSpec) return;
    service.spec = service.previousSpec;
    service.previousSpec = undefined;
    this.setUpdateStatus(service, { ...service.updateStatus, State: 'rollback_started', Message: message });
    service.deadSlots.clear();
    service.restarts.clear();
    this.reconcile(service);
  }

  /** @internal */
  completeUpdate(service: SimService): void {
    if (!service.updateStatus || !this.services.has(service.id)) return;
    const rolledBack = service.updateStatus.State === 'rollback_started';
    this.setUpdateStatus(service, {
      ...service.updateStatus,
      State: rolledBack ? 'rollback_completed' : 'completed',
      Message: rolledBack ? 'rollback completed' : 'update completed',
      CompletedAt: iso(),
    });
  }

  /** Nodes that satisfy the placement constraints (node.role, node.hostname, node.id, node.labels.*, node.platform.*). */
  private fits(service: SimService, node: SimNode): boolean {
    const constraints = service.spec.TaskTemplate.Placement?.Constraints ?? [];
    return constraints.every((c) => {
      const m = /^\s*([\w.-]+)\s*(==|!=)\s*(.+?)\s*$/.exec(c);
      if (!m) return false;
      const [, key = '', op, value] = m;
      let actual: string | undefined;
      if (key === 'node.role') actual = node.role;
      else if (key === 'node.hostname') actual = node.hostname;
      else if (key === 'node.id') actual = node.id;
      else if (key === 'node.platform.os') actual = 'linux';
      else if (key === 'node.platform.arch') actual = 'x86_64';
      else if (key.startsWith('node.labels.')) actual = node.labels[key.slice('node.labels.'.length)];
      else return false;
      return op === '==' ? actual === value : actual !== value;
    });
  }

  /** The spread strategy: the eligible node with the fewest of the service's tasks, or undefined. */
  private pickNode(service: SimService, task: SimTask): SimNode | undefined {
    if (task.slotKey.startsWith('node:')) {
      const node = this.nodes.find((n) => `node:${n.id}` === task.slotKey);
      return node?.state === 'ready' ? node : undefined;
    }
    const max = service.spec.TaskTemplate.Placement?.MaxReplicas;
    const load = new Map<string, number>();
    for (const t of this.tasks.values()) {
      if (t.serviceId === service.id && t.nodeId && !isTerminal(t.state) && t.id !== task.id) {
        load.set(t.nodeId, (load.get(t.nodeId) ?? 0) + 1);
      }
    }
    const eligible = this.nodes
      .filter((n) => n.state === 'ready' && n.availability === 'active' && this.fits(service, n))
      .filter((n) => !max || (load.get(n.id) ?? 0) < max);
    eligible.sort((a, b) => (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0));
    return eligible[0];
  }

  private unschedulableReason(service: SimService): string {
    const ready = this.nodes.filter((n) => n.state === 'ready' && n.availability === 'active');
    const fitting = ready.filter((n) => this.fits(service, n));
    const s = (n: number) => `${n} node${n === 1 ? '' : 's'}`;
    if (fitting.length === 0) {
      return `no suitable node (scheduling constraints not satisfied on ${s(this.nodes.length)})`;
    }
    return `no suitable node (max replicas per node limit exceed; scheduling constraints not satisfied on ${s(this.nodes.length - fitting.length)})`;
  }

  /** Whether this cluster can pull the image: it is in the registry and no fault refuses it here. */
  pullable(image: string): { ok: true; image: SimImage } | { ok: false; message: string } {
    const found = this.registry.lookup(image);
    const digest = found?.digest ?? /@(sha256:[a-f0-9]{64})$/.exec(image)?.[1];
    if (digest && this.faults.failPull.has(digest)) {
      return {
        ok: false,
        message:
          this.faults.failPull.get(digest) ??
          `manifest for ${image} not found: manifest unknown: manifest unknown`,
      };
    }
    if (!found)
      return { ok: false, message: `manifest for ${image} not found: manifest unknown: manifest unknown` };
    return { ok: true, image: found };
  }

  /** POST /images/create?fromImage=&tag=: the image, or the registry's error (HTTP 404). */
  pull(fromImage: string, tag: string): SimImage {
    const reference = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag || 'latest'}`;
    const result = this.pullable(reference);
    if (!result.ok) throw new SimApiError(404, result.message);
    return result.image;
  }

  // -------------------------------------------------------------------------------------------
  // Tasks

  /** @internal A new task of the service's current spec in a slot; `running` starts it now, `ready` waits. */
  createTask(service: SimService, slotKey: string, desired: 'running' | 'ready', at = Date.now()): SimTask {
    const spec = structuredClone(service.spec.TaskTemplate);
    const image = spec.ContainerSpec.Image;
    const found = this.registry.lookup(image);
    const task: SimTask = {
      id: newId(),
      serviceId: service.id,
      serviceName: service.spec.Name,
      slot: slotKey.startsWith('node:') ? undefined : Number(slotKey),
      slotKey,
      nodeId: undefined,
      createdAt: iso(at),
      updatedAt: iso(at),
      version: this.bump(),
      desiredState: desired,
      state: 'new',
      message: 'created',
      err: undefined,
      timestamp: iso(at),
      containerId: undefined,
      pid: undefined,
      exitCode: undefined,
      spec,
      image,
      env: { ...found?.env, ...envOf(spec) },
      imageVersion: found?.version,
      runningFrom: undefined,
      runningUntil: undefined,
      timer: undefined,
      waiters: [],
    };
    this.tasks.set(task.id, task);
    this.pruneHistory(service, slotKey);
    if (desired === 'running') this.progress(task);
    return task;
  }

  /** Keeps at most `taskHistoryLimit` finished tasks per slot (the task reaper). */
  private pruneHistory(service: SimService, slotKey: string): void {
    const old = [...this.tasks.values()]
      .filter(
        (t) =>
          t.serviceId === service.id &&
          t.slotKey === slotKey &&
          isTerminal(t.state) &&
          !(t.desiredState === 'running' || t.desiredState === 'ready'),
      )
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    while (old.length > this.historyLimit) {
      const t = old.shift() as SimTask;
      this.tasks.delete(t.id);
    }
  }

  /** @internal Lets a task created `ready` start (its restart or stop-first delay is over). */
  release(task: SimTask): void {
    if (task.desiredState !== 'ready' || !this.tasks.has(task.id)) return;
    task.desiredState = 'running';
    this.touch(task);
    this.progress(task);
  }

  /** A new status: state, message, error; Status.Timestamp moves. */
  private change(task: SimTask, state: TaskState, message: string, err?: string): void {
    task.state = state;
    task.message = message;
    task.err = err;
    task.timestamp = iso();
    this.touch(task);
  }

  /** The task object changed (a new version); its waiters look again. */
  private touch(task: SimTask): void {
    task.version = this.bump();
    task.updatedAt = iso();
    const waiters = task.waiters;
    task.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once the task's state satisfies `ok` (it is re-checked at each change), or on abort. */
  waitTask(task: SimTask, ok: (t: SimTask) => boolean, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (ok(task) || signal?.aborted || !this.tasks.has(task.id) || this.stopped) {
          signal?.removeEventListener('abort', check);
          resolve();
        } else task.waiters.push(check);
      };
      signal?.addEventListener('abort', check, { once: true });
      check();
    });
  }

  /** new → pending → assigned → preparing → starting → running, one step per fifth of the start time. */
  private progress(task: SimTask): void {
    if (task.desiredState !== 'running' || isTerminal(task.state) || task.state === 'running') return;
    const step = this.scaled(this.taskStartMs) / 5;
    this.cancelTimer(task.timer);
    task.timer = this.after(step, () => {
      task.timer = undefined;
      if (!this.tasks.has(task.id) || task.desiredState !== 'running') return;
      const service = this.services.get(task.serviceId);
      if (!service) return;
      switch (task.state) {
        case 'new':
          this.change(task, 'pending', STATE_MESSAGE.pending as string);
          break;
        case 'pending': {
          const node = this.pickNode(service, task);
          if (!node) {
            // Stays pending; the scheduler tries again (nodes may come back).
            this.change(task, 'pending', STATE_MESSAGE.pending as string, this.unschedulableReason(service));
            task.timer = this.after(this.scaled(this.taskStartMs), () => this.progress(task));
            return;
          }
          task.nodeId = node.id;
          this.change(task, 'assigned', STATE_MESSAGE.assigned as string);
          break;
        }
        case 'assigned':
        case 'accepted':
          this.change(task, 'preparing', STATE_MESSAGE.preparing as string);
          break;
        case 'preparing':
        case 'ready': {
          if (!this.pullable(task.image).ok) {
            // The pull fails, the create that follows finds no image (moby's container controller).
            this.endTask(task, 'rejected', 'preparing', `No such image: ${task.image}`);
            return;
          }
          this.change(task, 'starting', STATE_MESSAGE.starting as string);
          break;
        }
        case 'starting': {
          task.containerId = randomBytes(32).toString('hex');
          task.pid = 1000 + Math.floor(Math.random() * 30_000);
          task.exitCode = 0;
          task.runningFrom = Date.now();
          this.change(task, 'running', STATE_MESSAGE.running as string);
          if (task.env.CRASH === '1') {
            task.timer = this.after(this.scaled(this.crashAfterMs), () => {
              task.timer = undefined;
              task.pid = 0;
              task.exitCode = 3;
              this.endTask(task, 'failed', 'started', 'task: non-zero exit (3)');
            });
          }
          return;
        }
        default:
          return;
      }
      this.progress(task);
    });
  }

  /** @internal Desired state shutdown; a running task reaches `shutdown` after the stop time. */
  stopTask(task: SimTask): void {
    if (task.desiredState === 'shutdown' || task.desiredState === 'remove') return;
    task.desiredState = 'shutdown';
    this.touch(task);
    if (isTerminal(task.state)) return;
    this.cancelTimer(task.timer);
    const wasRunning = task.state === 'running';
    task.timer = this.after(wasRunning ? this.scaled(this.taskStopMs) : 0, () => {
      task.timer = undefined;
      if (task.runningFrom !== undefined && task.runningUntil === undefined) task.runningUntil = Date.now();
      if (wasRunning) task.exitCode = 0;
      this.change(task, 'shutdown', STATE_MESSAGE.shutdown as string);
    });
  }

  /** A task fails or is rejected: the update watches it, the restart policy may replace it. */
  private endTask(task: SimTask, state: 'failed' | 'rejected', message: string, err: string): void {
    this.cancelTimer(task.timer);
    task.timer = undefined;
    if (task.runningFrom !== undefined && task.runningUntil === undefined) task.runningUntil = Date.now();
    const wasLive = task.desiredState === 'running';
    // restart.Supervisor.Restart: the failed task's desired state becomes shutdown.
    task.desiredState = 'shutdown';
    this.change(task, state, message, err);
    const service = this.services.get(task.serviceId);
    if (!service) return;
    service.updater?.taskEnded(task);
    if (wasLive) this.restart(service, task);
  }

  /** restart.Supervisor: condition, max attempts, and the delay before the replacement starts. */
  private restart(service: SimService, failed: SimTask): void {
    if (!this.services.has(service.id)) return;
    if (!this.wantedSlots(service).includes(failed.slotKey)) return;
    if ((this.liveSlots(service).get(failed.slotKey) ?? []).length > 0) return;
    const policy = (service.spec.TaskTemplate.RestartPolicy ?? {}) as {
      Condition?: string;
      Delay?: number;
      MaxAttempts?: number;
    };
    if (policy.Condition === 'none') {
      service.deadSlots.add(failed.slotKey);
      return;
    }
    const attempts = (service.restarts.get(failed.slotKey) ?? 0) + 1;
    if (policy.MaxAttempts && attempts > policy.MaxAttempts) {
      service.deadSlots.add(failed.slotKey);
      return;
    }
    service.restarts.set(failed.slotKey, attempts);
    const replacement = this.createTask(service, failed.slotKey, 'ready');
    const delayMs = (policy.Delay ?? 5_000 * NS_PER_MS) / NS_PER_MS;
    this.after(this.scaled(delayMs), () => this.release(replacement));
  }

  findTask(ref: string): SimTask {
    const task = this.tasks.get(ref) ?? this.uniquePrefix(this.tasks.values(), ref, (t) => t.id);
    if (!task) throw new SimApiError(404, `task ${ref} not found`);
    return task;
  }

  /** GET /tasks filters: service (ID or name; an unknown one is a 404), node, desired-state, id, name, label. */
  listTasks(filters: Filters): SimTask[] {
    checkFilters(filters, ['service', 'node', 'desired-state', 'id', 'name', 'label', '_up-to-date']);
    const serviceIds = filters.service?.map((ref) => this.findService(ref).id);
    const nodeIds = filters.node?.map((ref) => this.findNode(ref).id);
    return [...this.tasks.values()].filter(
      (t) =>
        (!serviceIds || serviceIds.includes(t.serviceId)) &&
        (!nodeIds || (t.nodeId !== undefined && nodeIds.includes(t.nodeId))) &&
        oneOf(filters['desired-state'], t.desiredState) &&
        prefixOf(filters.id, t.id) &&
        prefixOf(filters.name, `${t.serviceName}.${t.slot ?? t.nodeId}`) &&
        matchLabels({}, filters.label),
    );
  }

  /** The lines a task wrote (the demo app's), as [stream, line]: 1 stdout, 2 stderr. */
  taskLogs(task: SimTask): Array<[1 | 2, string]> {
    if (task.runningFrom === undefined) return [];
    if (task.env.CRASH === '1') return [[2, 'demo: CRASH=1 requested, exiting at start']];
    const env = task.env;
    return [
      [
        1,
        `demo: version ${task.imageVersion ?? 'unknown'} on :${env.PORT ?? '8080'} error_rate=${env.ERROR_RATE ?? 0} latency_ms=${env.LATENCY_MS ?? 0} traffic_rps=${env.TRAFFIC_RPS ?? 0}`,
      ],
    ];
  }

  // -------------------------------------------------------------------------------------------
  // Secrets and configs

  private store(kind: 'secret' | 'config'): Map<string, SimObject> {
    return kind === 'secret' ? this.secrets : this.configs;
  }

  findObject(kind: 'secret' | 'config', ref: string): SimObject {
    const store = this.store(kind);
    const found =
      store.get(ref) ??
      [...store.values()].find((o) => o.name === ref) ??
      this.uniquePrefix(store.values(), ref, (o) => o.id);
    if (!found) throw new SimApiError(404, `${kind} ${ref} not found`);
    return found;
  }

  /** GET /secrets, /configs: `name` matches prefixes, `names` exact names, `id` prefixes, `label`. */
  listObjects(kind: 'secret' | 'config', filters: Filters): SimObject[] {
    checkFilters(filters, ['names', 'name', 'id', 'label']);
    return [...this.store(kind).values()].filter(
      (o) =>
        oneOf(filters.names, o.name) &&
        prefixOf(filters.name, o.name) &&
        prefixOf(filters.id, o.id) &&
        matchLabels(o.labels, filters.label),
    );
  }

  /** POST /secrets/create, /configs/create (swarmkit validateSecretSpec / validateConfigSpec). */
  createObject(
    kind: 'secret' | 'config',
    body: { Name?: string; Labels?: Record<string, string>; Data?: string } | undefined,
  ): SimObject {
    const name = body?.Name ?? '';
    if (!/^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/.test(name) || name.length > 64) {
      throw rpcError(
        'InvalidArgument',
        'invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]',
      );
    }
    const data = Buffer.from(body?.Data ?? '', 'base64');
    const max = kind === 'secret' ? 500 * 1024 : 1000 * 1024;
    if (data.length === 0 || data.length >= max) {
      throw rpcError('InvalidArgument', `${kind} data must be larger than 0 and less than ${max / 1024} KB`);
    }
    const store = this.store(kind);
    if ([...store.values()].some((o) => o.name === name)) {
      throw rpcError('AlreadyExists', `${kind} ${name} already exists`);
    }
    const now = iso();
    const object: SimObject = {
      id: newId(),
      version: this.bump(),
      createdAt: now,
      updatedAt: now,
      name,
      labels: { ...body?.Labels },
      data,
    };
    store.set(object.id, object);
    return object;
  }

  /** DELETE /secrets/{id}: refused while a service references it (swarmkit RemoveSecret). */
  removeObject(kind: 'secret' | 'config', ref: string): void {
    const object = this.findObject(kind, ref);
    const users = [...this.services.values()].filter((s) => {
      const c = s.spec.TaskTemplate.ContainerSpec as {
        Secrets?: Array<{ SecretID?: string }>;
        Configs?: Array<{ ConfigID?: string }>;
      };
      const ids = kind === 'secret' ? c.Secrets?.map((r) => r.SecretID) : c.Configs?.map((r) => r.ConfigID);
      return ids?.includes(object.id);
    });
    if (users.length > 0) {
      throw rpcError(
        'InvalidArgument',
        `${kind} '${object.name}' is in use by the following service${users.length === 1 ? '' : 's'}: ${users
          .map((s) => s.spec.Name)
          .join(', ')}`,
      );
    }
    this.store(kind).delete(object.id);
  }

  // -------------------------------------------------------------------------------------------
  // Networks

  /** By full ID, then name, then ID prefix (moby FindNetwork). */
  findNetwork(ref: string): SimNetwork {
    const found =
      this.networks.get(ref) ??
      [...this.networks.values()].find((n) => n.name === ref) ??
      this.uniquePrefix(this.networks.values(), ref, (n) => n.id);
    if (!found) throw new SimApiError(404, `network ${ref} not found`);
    return found;
  }

  /** GET /networks filters: name (substring), id (prefix), driver, scope, label. */
  listNetworks(filters: Filters): SimNetwork[] {
    checkFilters(filters, ['name', 'id', 'driver', 'scope', 'label', 'type', 'dangling']);
    return [...this.networks.values()].filter(
      (n) =>
        (!filters.name || filters.name.some((v) => n.name.includes(v))) &&
        prefixOf(filters.id, n.id) &&
        oneOf(filters.driver, n.driver) &&
        oneOf(filters.scope, n.scope) &&
        matchLabels(n.labels, filters.label),
    );
  }

  /** POST /networks/create. A name taken is a conflict (409), an unknown driver a 404. */
  createNetwork(
    body:
      | {
          Name?: string;
          Driver?: string;
          Scope?: string;
          Attachable?: boolean;
          Internal?: boolean;
          Options?: Record<string, string>;
          Labels?: Record<string, string>;
        }
      | undefined,
  ): SimNetwork {
    const name = body?.Name ?? '';
    if (!name) throw new SimApiError(400, 'network name must not be empty');
    const driver = body?.Driver || 'bridge';
    if (!this.networkDrivers.includes(driver)) throw new SimApiError(404, `plugin "${driver}" not found`);
    if ([...this.networks.values()].some((n) => n.name === name)) {
      throw new SimApiError(409, `network with name ${name} already exists`);
    }
    const swarm = driver === 'overlay' || body?.Scope === 'swarm';
    const subnet = `10.${Math.floor(this.nextSubnet / 256)}.${this.nextSubnet % 256}.0/24`;
    this.nextSubnet += 1;
    const network: SimNetwork = {
      id: swarm ? newId() : randomBytes(32).toString('hex'),
      name,
      driver,
      scope: swarm ? 'swarm' : 'local',
      attachable: Boolean(body?.Attachable),
      ingress: false,
      internal: Boolean(body?.Internal),
      options: {
        ...(driver === 'overlay'
          ? { 'com.docker.network.driver.overlay.vxlanid_list': String(4096 + this.nextSubnet) }
          : {}),
        ...body?.Options,
      },
      labels: { ...body?.Labels },
      created: iso(),
      subnet,
      version: this.bump(),
    };
    this.networks.set(network.id, network);
    return network;
  }

  /** DELETE /networks/{id}: refused while a service uses it (swarmkit RemoveNetwork). */
  removeNetwork(ref: string): void {
    const network = this.findNetwork(ref);
    if (['bridge', 'host', 'none'].includes(network.name) && network.scope === 'local') {
      throw new SimApiError(403, `${network.name} is a pre-defined network and cannot be removed`);
    }
    const user = [...this.services.values()].find((s) =>
      [...(s.spec.TaskTemplate.Networks ?? []), ...(s.spec.Networks ?? [])].some(
        (n) => n.Target === network.id,
      ),
    );
    if (user) {
      throw rpcError('FailedPrecondition', `network ${network.id} is in use by service ${user.id}`);
    }
    this.networks.delete(network.id);
  }

  // -------------------------------------------------------------------------------------------
  // Engine API shapes

  nodeJson(n: SimNode): Record<string, unknown> {
    return {
      ID: n.id,
      Version: { Index: n.version },
      CreatedAt: n.createdAt,
      UpdatedAt: n.createdAt,
      Spec: { Labels: n.labels, Role: n.role, Availability: n.availability },
      Description: {
        Hostname: n.hostname,
        Platform: { Architecture: 'x86_64', OS: 'linux' },
        Resources: { NanoCPUs: 2_000_000_000, MemoryBytes: 4 * 1024 ** 3 },
        Engine: {
          EngineVersion: this.engineVersion,
          Plugins: this.networkDrivers.map((Name) => ({ Type: 'Network', Name })),
        },
      },
      Status: { State: n.state, Addr: n.addr },
      ...(n.role === 'manager'
        ? { ManagerStatus: { Leader: n.leader, Reachability: n.reachability, Addr: `${n.addr}:2377` } }
        : {}),
    };
  }

  serviceJson(s: SimService): Record<string, unknown> {
    const ports = s.spec.EndpointSpec?.Ports;
    return {
      ID: s.id,
      Version: { Index: s.version },
      CreatedAt: s.createdAt,
      UpdatedAt: s.updatedAt,
      Spec: s.spec,
      ...(s.previousSpec ? { PreviousSpec: s.previousSpec } : {}),
      Endpoint: { Spec: s.spec.EndpointSpec ?? {}, ...(ports?.length ? { Ports: ports } : {}) },
      ...(s.updateStatus ? { UpdateStatus: s.updateStatus } : {}),
    };
  }

  taskJson(t: SimTask): Record<string, unknown> {
    const networks = t.spec.Networks ?? [];
    return {
      ID: t.id,
      Version: { Index: t.version },
      CreatedAt: t.createdAt,
      UpdatedAt: t.updatedAt,
      Labels: {},
      Spec: t.spec,
      ServiceID: t.serviceId,
      ...(t.slot === undefined ? {} : { Slot: t.slot }),
      ...(t.nodeId ? { NodeID: t.nodeId } : {}),
      Status: {
        Timestamp: t.timestamp,
        State: t.state,
        Message: t.message,
        ...(t.err ? { Err: t.err } : {}),
        ...(t.containerId
          ? { ContainerStatus: { ContainerID: t.containerId, PID: t.pid ?? 0, ExitCode: t.exitCode ?? 0 } }
          : {}),
        PortStatus: {},
      },
      DesiredState: t.desiredState,
      ...(networks.length > 0 && t.nodeId
        ? {
            NetworksAttachments: networks.map((n) => {
              const net = this.networks.get(n.Target);
              const subnet = net?.subnet || '10.0.0.0/24';
              return {
                Network: net ? this.networkJson(net) : { ID: n.Target },
                Addresses: [subnet.replace(/0\/24$/, `${(t.slot ?? 1) + 10}/24`)],
              };
            }),
          }
        : {}),
    };
  }

  objectJson(kind: 'secret' | 'config', o: SimObject): Record<string, unknown> {
    return {
      ID: o.id,
      Version: { Index: o.version },
      CreatedAt: o.createdAt,
      UpdatedAt: o.updatedAt,
      Spec: {
        Name: o.name,
        Labels: o.labels,
        ...(kind === 'config' ? { Data: o.data.toString('base64') } : {}),
      },
    };
  }

  networkJson(n: SimNetwork): Record<string, unknown> {
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: n.scope,
      Driver: n.driver,
      EnableIPv6: false,
      IPAM: {
        Driver: 'default',
        Options: null,
        Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.subnet.replace(/0\/24$/, '1') }] : [],
      },
      Internal: n.internal,
      Attachable: n.attachable,
      Ingress: n.ingress,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: {},
      Options: n.options,
      Labels: n.labels,
    };
  }
}

/**
 * swarmkit's update.Updater for one service change: dirty slots go to `parallelism` workers (all
 * at once for 0), each replaces its slot (stop-first or start-first), waits for the new task to
 * run, then waits `delay`; a new task that fails within `monitor` of running counts against
 * max_failure_ratio and triggers the failure action (pause, rollback, continue). Once every slot
 * is done it watches for `monitor` more, then marks the update completed.
 */
export class Updater {
  readonly goal: string;
  done = false;
  private readonly abort = new AbortController();
  private stopped = false;
  private failures = 0;
  private readonly counted = new Set<string>();
  private readonly created = new Set<string>();
  private config: Required<UpdateConfig> = effectiveUpdateConfig(undefined);
  private monitorMs = 0;
  /** Aborts the final monitoring wait when a failure stops the update. */
  private readonly monitorAbort = new AbortController();

  constructor(
    private readonly cluster: SimCluster,
    private readonly service: SimService,
    private readonly slots: string[],
    goal: string,
  ) {
    this.goal = goal;
  }

  cancel(): void {
    this.done = true;
    this.abort.abort();
    this.monitorAbort.abort();
  }

  async run(): Promise<void> {
    const { cluster, service } = this;
    cluster.startUpdate(service);
    const rollingBack = service.updateStatus?.State === 'rollback_started';
    this.config = effectiveUpdateConfig(
      rollingBack ? service.spec.RollbackConfig : service.spec.UpdateConfig,
    );
    this.monitorMs = cluster.scaled((this.config.Monitor ?? 0) / NS_PER_MS);
    const delayMs = cluster.scaled((this.config.Delay ?? 0) / NS_PER_MS);
    const parallelism = this.config.Parallelism || this.slots.length;
    const queue = [...this.slots].sort((a, b) => Number(a) - Number(b));
    const signal = this.abort.signal;
    const worker = async () => {
      for (;;) {
        if (this.stopped || signal.aborted) return;
        const key = queue.shift();
        if (key === undefined) return;
        await this.updateSlot(key);
        if (delayMs > 0) await cluster.sleep(delayMs, signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallelism, this.slots.length) }, worker));
    if (!this.stopped && !signal.aborted) await cluster.sleep(this.monitorMs, this.monitorAbort.signal);
    if (!this.stopped && !signal.aborted && service.updater === this) cluster.completeUpdate(service);
    this.done = true;
  }

  private async updateSlot(key: string): Promise<void> {
    const { cluster, service } = this;
    const signal = this.abort.signal;
    if (!cluster.services.has(service.id)) return;
    const tasks = cluster.liveSlots(service).get(key) ?? [];
    const clean =
      tasks.find((t) => !cluster.isDirty(service, t) && t.desiredState === 'running') ??
      tasks.find((t) => !cluster.isDirty(service, t));
    if (clean) {
      for (const t of tasks) if (t !== clean) cluster.stopTask(t);
      cluster.release(clean);
      return;
    }
    const fresh = cluster.createTask(service, key, 'ready');
    this.created.add(fresh.id);
    if (this.config.Order === 'start-first') {
      cluster.release(fresh);
      await cluster.waitTask(fresh, (t) => atLeast(t.state, 'running'), signal);
      if (signal.aborted) return;
      for (const t of tasks) cluster.stopTask(t);
      return;
    }
    for (const t of tasks) cluster.stopTask(t);
    await Promise.all(tasks.map((t) => cluster.waitTask(t, (x) => isTerminal(x.state), signal)));
    if (signal.aborted) return;
    cluster.release(fresh);
    await cluster.waitTask(fresh, (t) => atLeast(t.state, 'running'), signal);
  }

  /** A task of this service failed or was rejected. */
  taskEnded(task: SimTask): void {
    if (this.done || this.stopped || this.config.FailureAction === 'continue') return;
    if (!this.created.has(task.id) || this.counted.has(task.id)) return;
    const startedAt = task.runningFrom;
    if (startedAt !== undefined && Date.now() - startedAt > this.monitorMs) return;
    this.counted.add(task.id);
    this.failures += 1;
    if (this.failures / this.slots.length <= (this.config.MaxFailureRatio ?? 0)) return;
    this.stopped = true;
    this.done = true;
    this.monitorAbort.abort();
    const rollingBack = this.service.updateStatus?.State === 'rollback_started';
    if (this.config.FailureAction === 'rollback' && !rollingBack) {
      this.cluster.rollbackUpdate(
        this.service,
        `update rolled back due to failure or early termination of task ${task.id}`,
      );
    } else {
      this.cluster.pauseUpdate(
        this.service,
        `${rollingBack ? 'rollback' : 'update'} paused due to failure or early termination of task ${task.id}`,
      );
    }
  }
}
