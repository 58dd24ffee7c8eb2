import { apiStatus, compareVersions, type Engine } from './engine.js';
import {
  EngineApiError,
  EngineVersionError,
  ImagePullError,
  InsufficientNodesError,
  InvalidOperationInputError,
  NetworkMismatchError,
  NoSuitableNodeError,
  NoSwarmLeaderError,
  NotSwarmManagerError,
  ServiceNotFoundError,
  SpecConflictError,
  TaskCrashError,
  UpdatePausedError,
} from './errors.js';
import { applyDesired, canonical, type ResolvedSpec, specParts } from './spec.js';
import type {
  DeploymentRef,
  Node,
  Progress,
  Service,
  ServiceSpec,
  Snapshot,
  Task,
  TaskFailure,
  UpdateConfig,
  UpdatePolicy,
} from './types.js';

/** Labels the deployer puts on what it creates or changes; Prometheus maps them to series labels. */
export const LABELS = {
  role: 'deployer.role',
  canaryOf: 'deployer.canary-of',
  deployment: 'deployer.deployment',
  digest: 'deployer.digest',
} as const;

const NS = 1_000_000_000;
export const canaryName = (service: string) => `${service}-canary`;

/** The digest of an image reference pinned by digest ("…@sha256:<64 hex>"), or null. */
export function digestOf(image: string): string | null {
  return /@(sha256:[a-f0-9]{64})$/.exec(image)?.[1] ?? null;
}

function requireDigest(image: string, what: string): string {
  const digest = digestOf(image);
  if (!digest) {
    throw new InvalidOperationInputError(
      `${what}: image "${image}" is not pinned by digest (…@sha256:<64 hex>): deploy digests, never tags`,
    );
  }
  return digest;
}

/** The service, or undefined when the cluster has none of that name. */
export async function inspectService(
  engine: Engine,
  name: string,
  signal?: AbortSignal,
): Promise<Service | undefined> {
  return engine.request<Service | undefined>({
    method: 'GET',
    path: `/services/${encodeURIComponent(name)}`,
    allow404: true,
    signal,
  });
}

async function mustInspect(engine: Engine, name: string, signal?: AbortSignal): Promise<Service> {
  const s = await inspectService(engine, name, signal);
  if (!s) throw new ServiceNotFoundError(`cluster ${engine.cluster}: service ${name} does not exist`);
  return s;
}

const replicasOf = (spec: ServiceSpec): number | null => spec.Mode?.Replicated?.Replicas ?? null;

// ---------------------------------------------------------------------------------------------
// Preflight

export interface PreflightInput {
  service: string;
  /** The oldest engine version the fleet accepts, e.g. "20.10.0". */
  minEngineVersion: string;
  /** Network drivers the service's networks need (the engine's network plugins must list them). */
  networkDrivers?: string[];
}

export interface PreflightResult {
  cluster: string;
  engineVersion: string;
  apiVersion: string;
  nodeId: string;
  readyNodes: number;
  requiredNodes: number;
  serviceId: string;
  replicas: number | null;
}

/**
 * Checks that a cluster can take a deployment before anything changes: the engine answers and is
 * recent enough, it is a swarm manager with a reachable leader, the service exists and enough
 * nodes are ready for its replicas.
 * @throws EngineUnreachableError, EngineVersionError, NotSwarmManagerError, NoSwarmLeaderError,
 *   ServiceNotFoundError, InsufficientNodesError
 */
export async function preflight(
  engine: Engine,
  input: PreflightInput,
  signal?: AbortSignal,
): Promise<PreflightResult> {
  const where = `cluster ${engine.cluster}`;
  if (compareVersions(engine.engineVersion, input.minEngineVersion) < 0) {
    throw new EngineVersionError(
      `${where}: engine ${engine.engineVersion} is older than the configured minimum ${input.minEngineVersion}`,
    );
  }
  const info = await engine.request<{
    Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string };
    Plugins?: { Network?: string[] };
  }>({
    method: 'GET',
    path: '/info',
    signal,
  });
  const swarm = info.Swarm ?? {};
  if (swarm.LocalNodeState !== 'active') {
    throw new NotSwarmManagerError(
      `${where}: the node is not part of a swarm (state "${swarm.LocalNodeState ?? 'inactive'}"); the endpoint must be a swarm manager`,
    );
  }
  if (!swarm.ControlAvailable) {
    throw new NotSwarmManagerError(
      `${where}: the node ${swarm.NodeID} is a swarm worker, not a manager; point the cluster at a manager`,
    );
  }
  const drivers = info.Plugins?.Network ?? [];
  const missing = (input.networkDrivers ?? []).filter((d) => !drivers.includes(d));
  if (missing.length > 0) {
    throw new NetworkMismatchError(
      `${where}: the engine has no network driver ${missing.join(', ')} (it has ${drivers.join(', ') || 'none'}), which the service's networks need`,
    );
  }
  const nodes = await engine.request<Node[]>({ method: 'GET', path: '/nodes', signal });
  const leader = nodes.find((n) => n.ManagerStatus?.Leader);
  if (leader?.ManagerStatus?.Reachability !== 'reachable') {
    throw new NoSwarmLeaderError(
      `${where}: the swarm has no reachable leader, so it cannot accept changes now`,
    );
  }
  const service = await mustInspect(engine, input.service, signal);
  const ready = nodes.filter(
    (n) => n.Status?.State === 'ready' && (n.Spec?.Availability ?? 'active') === 'active',
  );
  const replicas = replicasOf(service.Spec);
  const requiredNodes = requiredNodesFor(service.Spec);
  if (ready.length < requiredNodes) {
    throw new InsufficientNodesError(
      `${where}: service ${input.service} needs ${requiredNodes} ready node(s) for ${replicas} replica(s), the swarm has ${ready.length}`,
    );
  }
  return {
    cluster: engine.cluster,
    engineVersion: engine.engineVersion,
    apiVersion: engine.apiVersion,
    nodeId: String(swarm.NodeID),
    readyNodes: ready.length,
    requiredNodes,
    serviceId: service.ID,
    replicas,
  };
}

/** Nodes a replicated service needs: one per replica with a fixed host-mode port, or per MaxReplicas. */
export function requiredNodesFor(spec: ServiceSpec): number {
  const replicas = replicasOf(spec);
  if (replicas === null || replicas === 0) return replicas === 0 ? 0 : 1;
  const fixedHostPort = (spec.EndpointSpec?.Ports ?? []).some(
    (p) => p.PublishMode === 'host' && p.PublishedPort,
  );
  if (fixedHostPort) return replicas;
  const max = spec.TaskTemplate.Placement?.MaxReplicas;
  return max ? Math.ceil(replicas / max) : 1;
}

// ---------------------------------------------------------------------------------------------
// Snapshot

/**
 * Records the service exactly as it is, before anything changes: the only truth for rollback.
 * @throws EngineUnreachableError, ServiceNotFoundError
 */
export async function snapshot(engine: Engine, service: string, signal?: AbortSignal): Promise<Snapshot> {
  const s = await mustInspect(engine, service, signal);
  return {
    cluster: engine.cluster,
    service,
    serviceId: s.ID,
    specVersion: s.Version.Index,
    spec: s.Spec,
    image: s.Spec.TaskTemplate.ContainerSpec.Image,
    digest: digestOf(s.Spec.TaskTemplate.ContainerSpec.Image),
    replicas: replicasOf(s.Spec),
    takenAt: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Canary

export interface CanaryInput {
  ref: DeploymentRef;
  snapshot: Snapshot;
  image: string;
  /** Share of the primary's replicas, 0 < percent ≤ 100. */
  percent: number;
  registryAuth?: string;
  /** The policy's spec beyond the image, resolved on this cluster (the canary runs it first). */
  desired?: ResolvedSpec;
}

export interface CanaryResult {
  cluster: string;
  canaryService: string;
  serviceId: string;
  replicas: number;
  image: string;
  changed: boolean;
}

export const canaryReplicas = (primaryReplicas: number, percent: number) =>
  Math.max(1, Math.ceil((primaryReplicas * percent) / 100));

/** The canary's spec: the primary's, with the new image, its own name and replica count and labels. */
export function canarySpec(input: CanaryInput, replicas: number): ServiceSpec {
  const { snapshot: snap, ref, image } = input;
  const spec = applyDesired(snap.spec, input.desired);
  const digest = digestOf(image) as string;
  spec.Name = canaryName(snap.service);
  const labels = {
    [LABELS.role]: 'canary',
    [LABELS.canaryOf]: snap.service,
    [LABELS.deployment]: ref.deploymentId,
    [LABELS.digest]: digest,
  };
  spec.Labels = { ...spec.Labels, ...labels };
  spec.TaskTemplate.ContainerSpec = {
    ...spec.TaskTemplate.ContainerSpec,
    Image: image,
    Labels: { ...spec.TaskTemplate.ContainerSpec.Labels, ...labels },
  };
  spec.Mode = { Replicated: { Replicas: replicas } };
  // Same networks; the primary's name as an extra alias so a DNS-based proxy sends the canary its share.
  const withAlias = (nets: ServiceSpec['Networks']) =>
    nets?.map((n) => ({ ...n, Aliases: [...new Set([...(n.Aliases ?? []), snap.service])] }));
  if (spec.TaskTemplate.Networks) spec.TaskTemplate.Networks = withAlias(spec.TaskTemplate.Networks);
  if (spec.Networks) spec.Networks = withAlias(spec.Networks);
  // A fixed published port belongs to the primary; the canary's ports are assigned by the engine.
  if (spec.EndpointSpec?.Ports) {
    spec.EndpointSpec.Ports = spec.EndpointSpec.Ports.map(({ PublishedPort: _, ...p }) => p);
  }
  return spec;
}

/**
 * Creates or updates `<service>-canary` with the new digest. Idempotent: a retry finds the canary
 * already as wanted and changes nothing.
 * @throws InvalidOperationInputError, EngineUnreachableError, EngineApiError
 */
export async function deployCanary(
  engine: Engine,
  input: CanaryInput,
  signal?: AbortSignal,
): Promise<CanaryResult> {
  const where = `cluster ${engine.cluster}: canary of ${input.snapshot.service}`;
  requireDigest(input.image, where);
  if (!(input.percent > 0 && input.percent <= 100)) {
    throw new InvalidOperationInputError(`${where}: canary percent ${input.percent} must be in (0, 100]`);
  }
  const primaryReplicas = input.snapshot.replicas ?? 1;
  const replicas = canaryReplicas(primaryReplicas, input.percent);
  const want = canarySpec(input, replicas);
  const name = want.Name;
  for (let attempt = 0; ; attempt++) {
    const live = await inspectService(engine, name, signal);
    if (live && isCanaryAsWanted(live, want)) {
      return {
        cluster: engine.cluster,
        canaryService: name,
        serviceId: live.ID,
        replicas,
        image: input.image,
        changed: false,
      };
    }
    try {
      if (!live) {
        const created = await engine.request<{ ID: string }>({
          method: 'POST',
          path: '/services/create',
          body: want,
          registryAuth: input.registryAuth,
          signal,
        });
        return {
          cluster: engine.cluster,
          canaryService: name,
          serviceId: created.ID,
          replicas,
          image: input.image,
          changed: true,
        };
      }
      await updateService(engine, live, want, input.registryAuth, signal);
      return {
        cluster: engine.cluster,
        canaryService: name,
        serviceId: live.ID,
        replicas,
        image: input.image,
        changed: true,
      };
    } catch (err) {
      // A create raced by an earlier attempt that did reach the engine, or an update out of
      // sequence with it: look again (bounded).
      const { statusCode, engineMessage } = apiStatus(err);
      const raced = statusCode === 409 || /out of sequence|already exists/.test(engineMessage);
      if (!(err instanceof EngineApiError) || !raced || attempt >= 3) throw err;
    }
  }
}

function isCanaryAsWanted(live: Service, want: ServiceSpec): boolean {
  const l = live.Spec;
  return (
    l.TaskTemplate.ContainerSpec.Image === want.TaskTemplate.ContainerSpec.Image &&
    replicasOf(l) === replicasOf(want) &&
    l.Labels?.[LABELS.deployment] === want.Labels?.[LABELS.deployment]
  );
}

/** Sends `spec` as the service's new spec at its live version, with registry credentials when given. */
export async function updateService(
  engine: Engine,
  live: Service,
  spec: ServiceSpec,
  registryAuth: string | undefined,
  signal?: AbortSignal,
) {
  await engine.request({
    method: 'POST',
    path: `/services/${live.ID}/update`,
    query: { version: live.Version.Index },
    body: spec,
    registryAuth,
    signal,
  });
}

/**
 * Removes `<service>-canary` if it exists. Idempotent.
 * @throws EngineUnreachableError
 */
export async function removeCanary(
  engine: Engine,
  service: string,
  signal?: AbortSignal,
): Promise<{ removed: boolean }> {
  const name = canaryName(service);
  const live = await inspectService(engine, name, signal);
  if (!live) return { removed: false };
  try {
    await engine.request({ method: 'DELETE', path: `/services/${live.ID}`, signal });
  } catch (err) {
    if (apiStatus(err).statusCode !== 404) throw err;
  }
  return { removed: true };
}

// ---------------------------------------------------------------------------------------------
// Promote

export interface PromoteInput {
  ref: DeploymentRef;
  snapshot: Snapshot;
  image: string;
  update: UpdatePolicy;
  /** Swarm's rollback_config; default: the update policy. */
  rollbackConfig?: UpdatePolicy;
  registryAuth?: string;
  /** The policy's spec beyond the image, resolved on this cluster. */
  desired?: ResolvedSpec;
}

export interface PromoteResult {
  cluster: string;
  service: string;
  image: string;
  /** false when a retry found the promotion already applied. */
  changed: boolean;
}

/** update_config / rollback_config in the Engine API's units (nanoseconds). */
export function toUpdateConfig(p: UpdatePolicy): UpdateConfig {
  return {
    Parallelism: p.parallelism,
    Delay: Math.round(p.delaySeconds * NS),
    FailureAction: p.failureAction,
    Monitor: Math.round(p.monitorSeconds * NS),
    MaxFailureRatio: p.maxFailureRatio,
    Order: p.order,
  };
}

/**
 * Updates the primary to the digest with the policy's explicit update and rollback configuration,
 * at the snapshot's spec version, so that a change made by someone else in between is detected and
 * never overwritten. Idempotent: a retry that finds this deployment's promotion applied succeeds.
 * @throws SpecConflictError, ServiceNotFoundError, InvalidOperationInputError, EngineUnreachableError
 */
export async function promote(
  engine: Engine,
  input: PromoteInput,
  signal?: AbortSignal,
): Promise<PromoteResult> {
  const { snapshot: snap, ref } = input;
  const where = `cluster ${engine.cluster}: service ${snap.service}`;
  const digest = requireDigest(input.image, where);
  const live = await mustInspect(engine, snap.service, signal);
  const result = { cluster: engine.cluster, service: snap.service, image: input.image };
  const applied = (s: Service) =>
    s.Spec.TaskTemplate.ContainerSpec.Image === input.image &&
    s.Spec.Labels?.[LABELS.deployment] === ref.deploymentId;
  if (applied(live)) return { ...result, changed: false };
  // The version also moves when Swarm records an update's progress (UpdateStatus) or when the
  // deployer refreshes the stored registry credentials: only a different spec is someone's change.
  if (
    live.ID !== snap.serviceId ||
    (live.Version.Index !== snap.specVersion && !sameSpec(live.Spec, snap.spec))
  ) {
    throw new SpecConflictError(
      `${where} was changed by someone else since the snapshot (spec version ${snap.specVersion} → ${live.Version.Index}, image ${live.Spec.TaskTemplate.ContainerSpec.Image}); not overwriting it`,
    );
  }
  const spec = applyDesired(snap.spec, input.desired);
  spec.TaskTemplate.ContainerSpec.Image = input.image;
  spec.Labels = {
    ...spec.Labels,
    [LABELS.deployment]: ref.deploymentId,
    [LABELS.digest]: digest,
    [LABELS.role]: 'primary',
  };
  spec.UpdateConfig = toUpdateConfig(input.update);
  spec.RollbackConfig = toUpdateConfig(input.rollbackConfig ?? input.update);
  try {
    await engine.request({
      method: 'POST',
      path: `/services/${snap.serviceId}/update`,
      query: { version: live.Version.Index },
      body: spec,
      registryAuth: input.registryAuth,
      signal,
    });
  } catch (err) {
    if (/out of sequence/.test(apiStatus(err).engineMessage)) {
      // An earlier attempt, cut off by its signal after the engine had the request, may have landed
      // in between: that is our own change, not someone else's.
      if (applied(await mustInspect(engine, snap.service, signal))) return { ...result, changed: false };
      throw new SpecConflictError(
        `${where} was changed by someone else while promoting (update out of sequence); not overwriting it`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  return { ...result, changed: true };
}

// ---------------------------------------------------------------------------------------------
// Rollback

export interface RollbackResult {
  cluster: string;
  service: string;
  image: string;
  restored: boolean;
  canaryRemoved: boolean;
}

/**
 * Restores the snapshot's spec (image, update configuration, everything) on the primary and removes
 * the canary. Idempotent: a primary already equal to its snapshot is left alone.
 * @throws ServiceNotFoundError, EngineUnreachableError
 */
export async function rollback(
  engine: Engine,
  snap: Snapshot,
  signal?: AbortSignal,
  /** Fresh credentials for the snapshot's image (Swarm stores them for the tasks it schedules later). */
  registryAuth?: string,
): Promise<RollbackResult> {
  let restored = false;
  for (let attempt = 0; ; attempt++) {
    const live = await mustInspect(engine, snap.service, signal);
    if (sameSpec(live.Spec, snap.spec)) break;
    try {
      // Rollback wins over whatever happened since: the snapshot is the truth we promised to restore.
      await updateService(engine, live, snap.spec, registryAuth, signal);
      restored = true;
      break;
    } catch (err) {
      if (!/out of sequence/.test(apiStatus(err).engineMessage) || attempt >= 3) throw err;
    }
  }
  const { removed } = await removeCanary(engine, snap.service, signal);
  return {
    cluster: engine.cluster,
    service: snap.service,
    image: snap.image,
    restored,
    canaryRemoved: removed,
  };
}

function sameSpec(a: ServiceSpec, b: ServiceSpec): boolean {
  return canonical(a) === canonical(b);
}

// ---------------------------------------------------------------------------------------------
// Progress

export interface ProgressInput {
  service: string;
  image: string;
  /** Only task failures after this time count (the moment the change was made). */
  since?: string;
  /** Failed tasks of the new image tolerated before the verdict is failed (default 0). */
  toleratedTaskFailures?: number;
  /**
   * How long a task must have been running before it counts as converged (default 3 s): a task that
   * exits at start is "running" for a moment, and must not make a crashing canary look healthy.
   */
  stableSeconds?: number;
  registryAuth?: string;
}

const PULL_ERROR =
  /No such image|pull access denied|manifest unknown|not found|unauthorized|no basic auth|denied/i;

/**
 * Where a service stands against a target image: converged, progressing, or failed with the reason
 * (image pull denied, tasks exiting at start, no suitable node, update paused or rolled back by swarm).
 * A pull failure is diagnosed by pulling on the manager, which yields the registry's own message.
 * @throws ServiceNotFoundError, EngineUnreachableError
 */
export async function progress(
  engine: Engine,
  input: ProgressInput,
  signal?: AbortSignal,
): Promise<Progress> {
  const service = await mustInspect(engine, input.service, signal);
  const tasks = await engine.request<Task[]>({
    method: 'GET',
    path: '/tasks',
    query: { filters: JSON.stringify({ service: [service.ID] }) },
    signal,
  });
  const target = input.image;
  const since = input.since ? Date.parse(input.since) : 0;
  const imageOf = (t: Task) => t.Spec.ContainerSpec?.Image ?? '';
  const onTarget = (t: Task) => sameImage(imageOf(t), target);
  const live = tasks.filter((t) => t.DesiredState === 'running' || t.DesiredState === 'ready');
  const runningOnTarget = live.filter((t) => t.Status.State === 'running' && onTarget(t)).length;
  const runningOther = tasks.filter((t) => t.Status.State === 'running' && !onTarget(t)).length;
  const desired = replicasOf(service.Spec) ?? live.length;
  const failed = tasks
    .filter((t) => onTarget(t) && ['failed', 'rejected'].includes(t.Status.State))
    .filter((t) => !since || Date.parse(t.Status.Timestamp ?? t.CreatedAt ?? '') >= since)
    .sort((a, b) => (b.Status.Timestamp ?? '').localeCompare(a.Status.Timestamp ?? ''));
  const failedTasks: TaskFailure[] = failed.slice(0, 5).map((t) => ({
    taskId: t.ID,
    slot: t.Slot ?? null,
    state: t.Status.State,
    error: t.Status.Err ?? t.Status.Message ?? '',
    exitCode: t.Status.ContainerStatus?.ExitCode ?? null,
    at: t.Status.Timestamp ?? null,
  }));
  const base = {
    cluster: engine.cluster,
    service: input.service,
    image: target,
    desired,
    runningOnTarget,
    runningOther,
    failedTasks,
    updateState: service.UpdateStatus?.State ?? null,
    updateMessage: service.UpdateStatus?.Message ?? null,
    specParts: specParts(service.Spec),
  };
  const fail = (errorName: string, reason: string): Progress => ({
    ...base,
    verdict: 'failed',
    errorName,
    reason,
  });
  const where = `cluster ${engine.cluster}: service ${input.service}`;

  const updateState = base.updateState ?? '';
  // A pull failure first: when Swarm paused the update (or rolled it back) because the new tasks
  // could not pull their image, the pull is the cause a person can act on, whichever was seen first.
  const pull = failed.find((t) => t.Status.State === 'rejected' && PULL_ERROR.test(t.Status.Err ?? ''));
  if (pull) {
    const registryMessage = await diagnosePull(engine, target, input.registryAuth, signal);
    return fail(
      'ImagePullError',
      `${where}: image ${target} cannot be pulled: ${registryMessage ?? pull.Status.Err}`,
    );
  }
  if (updateState === 'paused' || updateState.startsWith('rollback_')) {
    const what = updateState === 'paused' ? 'paused the update' : `rolled the update back (${updateState})`;
    return fail('UpdatePausedError', `${where}: swarm ${what}: ${base.updateMessage ?? 'no message'}`);
  }
  if (failed.length > (input.toleratedTaskFailures ?? 0)) {
    const t = failed[0] as Task;
    const exit = t.Status.ContainerStatus?.ExitCode;
    const logs = await lastLogLine(engine, t.ID, signal);
    return fail(
      'TaskCrashError',
      `${where}: ${failed.length} task(s) of ${target} failed; latest: task ${t.Slot ?? t.ID} ${t.Status.State}` +
        `${exit !== undefined ? ` with exit code ${exit}` : ''}: ${t.Status.Err ?? t.Status.Message ?? ''}${logs ? ` (last log line: ${logs})` : ''}`,
    );
  }
  const unschedulable = live.find(
    (t) => t.Status.State === 'pending' && /no suitable node/i.test(t.Status.Err ?? ''),
  );
  if (unschedulable && onTarget(unschedulable)) {
    return fail(
      'NoSuitableNodeError',
      `${where}: no node can run the new tasks: ${unschedulable.Status.Err}`,
    );
  }
  const updating = updateState === 'updating';
  // Swarm itself watched the new tasks for update_config.monitor before it marked an update
  // completed; a service created (the canary) or left alone has no such watch: wait here instead.
  const completedAt = Date.parse(service.UpdateStatus?.CompletedAt ?? '');
  const swarmMonitored = updateState === 'completed' && completedAt >= since;
  const stableMs = swarmMonitored ? 0 : (input.stableSeconds ?? 3) * 1000;
  const stable = live.filter(
    (t) =>
      t.Status.State === 'running' &&
      onTarget(t) &&
      Date.now() - Date.parse(t.Status.Timestamp ?? '') >= stableMs,
  ).length;
  if (stable >= desired && runningOther === 0 && !updating) {
    return {
      ...base,
      verdict: 'converged',
      errorName: null,
      reason: `${where}: ${runningOnTarget}/${desired} task(s) run ${target}`,
    };
  }
  return {
    ...base,
    verdict: 'progressing',
    errorName: null,
    reason: `${where}: ${runningOnTarget}/${desired} task(s) on the new image (${stable} up for ${stableMs / 1000} s), ${runningOther} on others${updating ? ', update in progress' : ''}`,
  };
}

/** Same image, comparing digests when both have one (the engine may add or drop the tag). */
function sameImage(a: string, b: string): boolean {
  const da = digestOf(a);
  const db = digestOf(b);
  return da && db ? da === db : a === b;
}

async function diagnosePull(engine: Engine, image: string, auth: string | undefined, signal?: AbortSignal) {
  try {
    await engine.pullImage(image, auth, signal);
    return undefined; // pulls fine from the manager: the task's own error is all we know
  } catch (err) {
    if (err instanceof ImagePullError) return err.message.replace(/^cluster [^:]+: pulling \S+ failed: /, '');
    return undefined;
  }
}

/** The last line a task wrote (stdout or stderr), best effort, for crash reports. */
async function lastLogLine(
  engine: Engine,
  taskId: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    const raw = await engine.request<Buffer | string>({
      method: 'GET',
      path: `/tasks/${taskId}/logs`,
      query: { stdout: true, stderr: true, tail: 3 },
      signal,
    });
    const text = demultiplex(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw), 'binary'));
    return text.trim().split('\n').pop()?.slice(0, 300) || undefined;
  } catch {
    return undefined;
  }
}

/** Docker's log stream without a TTY: 8-byte frame headers (stream, 0, 0, 0, uint32 BE size). */
export function demultiplex(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return i === 0 ? buf.toString('utf8') : out;
}

/** Turns a failed Progress into the typed error the workflow routes on. */
export function progressError(p: Progress): Error {
  const Cls =
    { ImagePullError, TaskCrashError, NoSuitableNodeError, UpdatePausedError }[p.errorName ?? ''] ??
    TaskCrashError;
  return new Cls(p.reason);
}
