import { access, chmod, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engine, initSwarm, prometheusUrl, startEngine, startPrometheus } from './cluster.js';
import {
  type ClusterLayout,
  clusterLayout,
  ENGINE_PORT,
  ENGINE_TLS_PORT,
  type FleetOptions,
  registryLayout,
  resolveOptions,
} from './layout.js';
import {
  addForwardRule,
  checkConflicts,
  createLink,
  fleetInterfaces,
  fleetNamespaces,
  fleetRules,
  removeNetwork,
} from './network.js';
import { preflight } from './preflight.js';
import {
  eventsUrl,
  type RegistryCredentials,
  registryAnswers,
  startRegistry,
  tokenKeyFile,
} from './registry.js';
import {
  alive,
  FleetError,
  killQuietly,
  netnsId,
  pidsInNetns,
  rssBytes,
  run,
  spawnDaemon as spawnDaemonWith,
  waitFor,
} from './sys.js';
import { makeFleetTls, tlsFiles } from './tls.js';

/** What `status --json` prints: everything a test or a person needs to use the fleet. */
export interface FleetStatus {
  name: string;
  stateDir: string;
  healthy: boolean;
  /** PEM files of the engines' mutual TLS: the CA, and the client certificate and key the deployer presents. */
  tls: { ca: string; cert: string; key: string };
  clusters: ClusterStatus[];
  registry: {
    /** host:port, as it appears in image references. */
    address: string;
    url: string;
    username: string;
    password: string;
    /**
     * The HMAC key (file, mode 0600) of the ECR tokens the registry's gate accepts until they
     * expire: user AWS, password `<expiresAt>.<mac>` (see registryTokenPassword in local/aws/ecr.ts).
     */
    tokenKeyFile: string;
    eventsUrl: string;
    healthy: boolean;
  };
}

export interface ClusterStatus {
  name: string;
  namespace: string;
  /** The manager's address inside its namespace. */
  address: string;
  /** For the docker CLI in the root namespace: `DOCKER_HOST=<this> docker service ls`. */
  dockerHost: string;
  /** The manager's SSM managed-instance id: the target of StartSession. */
  target: string;
  /** Where the Engine API listens inside the namespace, as a manager exposes it to the SSM agent. */
  engineEndpoint: string;
  /** The same API with mutual TLS (client certificate from `tls`). */
  engineTlsEndpoint: string;
  prometheusUrl: string;
  swarm?: { nodeId: string; state: string; manager: boolean };
  healthy: boolean;
}

interface FleetState {
  options: FleetOptions;
  credentials: RegistryCredentials;
  pids: number[];
  createdAt: string;
}

const stateFile = (o: FleetOptions) => join(o.stateDir, 'fleet.json');

async function readState(o: FleetOptions): Promise<FleetState | undefined> {
  const text = await readFile(stateFile(o), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as FleetState) : undefined;
}

/**
 * Brings the fleet up: idempotent (a healthy fleet of the same shape is left as it is) and
 * self-healing (the leftovers of a crashed or killed earlier run are removed first).
 */
export async function up(
  partial: Partial<FleetOptions> = {},
  log: (line: string) => void = () => {},
): Promise<FleetStatus> {
  const o = resolveOptions(partial);
  await preflight();
  const previous = await readState(o);
  if (previous && previous.options.clusters === o.clusters) {
    const current = await status(o);
    if (current.healthy) {
      log(`fleet ${o.name} is already up with ${o.clusters} cluster(s)`);
      return current;
    }
    if (await repair(o, current, log)) return status(o);
    log(`fleet ${o.name} is not healthy: rebuilding it`);
  }
  // A fleet of another size is this fleet's: take all of it down (its clusters beyond the new count
  // too) before its addresses are counted as somebody else's.
  if (previous && previous.options.clusters !== o.clusters) {
    log(`fleet ${o.name} has ${previous.options.clusters} cluster(s): rebuilding it with ${o.clusters}`);
    await down({ ...o, clusters: previous.options.clusters });
  }
  await checkConflicts(o);
  await down(o);

  await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
  const r = registryLayout(o);
  const clusters = Array.from({ length: o.clusters }, (_, i) => clusterLayout(o, i + 1));
  for (const link of [r, ...clusters]) await createLink(link);
  await addForwardRule(o);

  const registryAddress = `${r.address}:${r.port}`;
  const tls = await makeFleetTls(o.stateDir);
  const [registry, ...clusterPids] = await Promise.all([
    startRegistry(o, r),
    ...clusters.map(async (c) => {
      const engines = await startEngine(c, registryAddress, tls);
      await initSwarm(c);
      const prometheus = await startPrometheus(c);
      log(`cluster ${c.name} up: swarm manager at ${c.address}, Prometheus at ${prometheusUrl(c)}`);
      return [...engines, prometheus];
    }),
  ]);
  const state: FleetState = {
    options: o,
    credentials: registry.credentials,
    pids: [...registry.pids, ...clusterPids.flat()],
    createdAt: new Date().toISOString(),
  };
  await writeFile(stateFile(o), JSON.stringify(state, null, 2), { mode: 0o600 });
  await chmod(stateFile(o), 0o600);
  log(`registry up at ${registryAddress} (user ${registry.credentials.username})`);
  return status(o);
}

/**
 * Restarts what stopped (an engine, a Prometheus) in a fleet whose namespaces and registry are
 * intact, so that one stopped daemon does not cost everyone's services a rebuild. False when the
 * fleet needs rebuilding.
 */
async function repair(o: FleetOptions, current: FleetStatus, log: (line: string) => void): Promise<boolean> {
  if (!current.registry.healthy) return false;
  const namespaces = new Set(await fleetNamespaces(o));
  for (const c of current.clusters) {
    if (c.healthy) continue;
    if (!namespaces.has(c.namespace)) return false;
    try {
      const layout = clusterLayout(o, Number(c.name.slice(1)));
      const answers = await withTimeout(engine(layout).ping(), 3000, c.name).then(
        () => true,
        () => false,
      );
      if (!answers) {
        log(`cluster ${c.name}: engine down, restarting it`);
        await stopClusterEngine(c.name, o);
        await startClusterEngine(c.name, o);
      }
      const fresh = await clusterStatus(layout);
      if (fresh.swarm?.state !== 'active' || !fresh.swarm.manager) return false;
      if (!fresh.healthy) {
        log(`cluster ${c.name}: Prometheus down, restarting it`);
        await stopClusterPrometheus(c.name, o);
        await startClusterPrometheus(c.name, o);
      }
      if (!(await clusterStatus(layout)).healthy) return false;
    } catch (err) {
      log(`cluster ${c.name} could not be repaired (${(err as Error).message})`);
      return false;
    }
  }
  return (await status(o)).healthy;
}

/** Everything about the fleet, checked live: each engine's swarm, each Prometheus, the registry. */
export async function status(partial: Partial<FleetOptions> = {}): Promise<FleetStatus> {
  const o = resolveOptions(partial);
  const state = await readState(o);
  if (!state) throw new FleetError(`fleet ${o.name} is not up (no ${stateFile(o)})`, 'npm run fleet -- up');
  const opts = state.options;
  const r = registryLayout(opts);
  const clusters = await Promise.all(
    Array.from({ length: opts.clusters }, (_, i) => clusterStatus(clusterLayout(opts, i + 1))),
  );
  const registryUrl = `http://${r.address}:${r.port}`;
  // The gate and the registry behind it both answer (a fleet from before the gate, with no token
  // key, is rebuilt).
  const registryHealthy =
    (await access(tokenKeyFile(r)).then(
      () => true,
      () => false,
    )) && (await registryAnswers(`${registryUrl}/v2/`, state.credentials).catch(() => false));
  const t = tlsFiles(opts.stateDir);
  return {
    name: opts.name,
    stateDir: opts.stateDir,
    healthy: registryHealthy && clusters.every((c) => c.healthy),
    tls: { ca: t.ca, cert: t.clientCert, key: t.clientKey },
    clusters,
    registry: {
      address: `${r.address}:${r.port}`,
      url: registryUrl,
      username: state.credentials.username,
      password: state.credentials.password,
      tokenKeyFile: tokenKeyFile(r),
      eventsUrl: eventsUrl(opts, r),
      healthy: registryHealthy,
    },
  };
}

async function clusterStatus(c: ClusterLayout): Promise<ClusterStatus> {
  const base = {
    name: c.name,
    namespace: c.netns,
    address: c.address,
    dockerHost: `unix://${c.socket}`,
    target: c.target,
    engineEndpoint: `tcp://127.0.0.1:${ENGINE_PORT}`,
    engineTlsEndpoint: `tcp://127.0.0.1:${ENGINE_TLS_PORT}`,
    prometheusUrl: prometheusUrl(c),
  };
  try {
    const info = await withTimeout(engine(c).info(), 3000, `engine of ${c.name}`);
    const swarm = {
      nodeId: String(info.Swarm?.NodeID ?? ''),
      state: String(info.Swarm?.LocalNodeState ?? 'inactive'),
      manager: Boolean(info.Swarm?.ControlAvailable),
    };
    const promReady = await fetch(`${prometheusUrl(c)}/-/ready`, { signal: AbortSignal.timeout(3000) })
      .then((res) => res.ok)
      .catch(() => false);
    return { ...base, swarm, healthy: swarm.state === 'active' && swarm.manager && promReady };
  } catch {
    return { ...base, healthy: false };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** cgroup directories (every hierarchy) under which dockerd put the fleet's containers. */
async function fleetCgroups(o: FleetOptions): Promise<string[]> {
  const dirs: string[] = [];
  const root = '/sys/fs/cgroup';
  const hierarchies = await readdir(root).catch(() => [] as string[]);
  const pattern = new RegExp(`^${o.name}-c\\d+$`);
  for (const h of ['', ...hierarchies]) {
    const entries = await readdir(join(root, h)).catch(() => [] as string[]);
    for (const e of entries) if (pattern.test(e)) dirs.push(join(root, h, e));
  }
  return dirs;
}

async function walkCgroup(dir: string): Promise<{ dirs: string[]; pids: number[] }> {
  const out = { dirs: [dir], pids: [] as number[] };
  const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  out.pids.push(...procs.split('\n').filter(Boolean).map(Number));
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const sub = await walkCgroup(join(dir, e.name));
    out.dirs.push(...sub.dirs);
    out.pids.push(...sub.pids);
  }
  return out;
}

/** Every process of the fleet: daemons (by network namespace) and containers (by cgroup). */
export async function fleetProcesses(partial: Partial<FleetOptions> = {}): Promise<number[]> {
  const o = resolveOptions(partial);
  const ids = new Set<string>();
  for (const ns of await fleetNamespaces(o)) {
    const id = await netnsId(ns);
    if (id) ids.add(id);
  }
  const pids = new Set(await pidsInNetns(ids));
  for (const dir of await fleetCgroups(o)) for (const pid of (await walkCgroup(dir)).pids) pids.add(pid);
  const state = await readState(o);
  for (const pid of state?.pids ?? []) {
    // A recorded daemon pid counts only while it still runs the program we started.
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(o.stateDir)) pids.add(pid);
  }
  const living: number[] = [];
  for (const pid of pids) if (await alive(pid)) living.push(pid);
  return living;
}

/** Sum of resident memory of every fleet process, in bytes. */
export async function fleetMemory(
  partial: Partial<FleetOptions> = {},
): Promise<{ processes: number; rssBytes: number }> {
  const pids = await fleetProcesses(partial);
  let total = 0;
  for (const pid of pids) total += await rssBytes(pid);
  return { processes: pids.length, rssBytes: total };
}

/** Mount points at or under a directory, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/**
 * Tears the fleet down to nothing: processes, namespaces, veths, cgroups, mounts, iptables rules and
 * the state directory. Works from names alone, so it also cleans up after a crash or a kill -9.
 */
export async function down(partial: Partial<FleetOptions> = {}): Promise<void> {
  const o = resolveOptions(partial);
  for (let round = 0; ; round++) {
    const pids = await fleetProcesses(o);
    if (pids.length === 0) break;
    if (round > 50) throw new FleetError(`fleet processes survive SIGKILL: ${pids.join(' ')}`);
    for (const pid of pids) killQuietly(pid);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const dir of await fleetCgroups(o)) {
    const { dirs } = await walkCgroup(dir);
    for (const d of dirs.reverse()) await rmdir(d).catch(() => {});
  }
  await removeNetwork(o);
  for (const m of await mountsUnder(o.stateDir)) await run('umount', ['-l', m], { allowFail: true });
  await rm(o.stateDir, { recursive: true, force: true });
}

/**
 * Stops one cluster's Prometheus (for "Prometheus is down" tests); `startClusterPrometheus` brings it
 * back with the same configuration and data. The rest of the fleet is untouched.
 */
export async function stopClusterPrometheus(
  cluster: string,
  partial: Partial<FleetOptions> = {},
): Promise<void> {
  const c = await findCluster(cluster, partial);
  const id = await netnsId(c.netns);
  if (!id)
    throw new FleetError(`cluster ${cluster} has no namespace: is the fleet up?`, 'npm run fleet -- up');
  for (const pid of await pidsInNetns(new Set([id]))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('prometheus\0')) killQuietly(pid, 'SIGKILL');
  }
  const url = `${prometheusUrl(c)}/-/ready`;
  for (let i = 0; i < 50; i++) {
    if (
      !(await fetch(url, { signal: AbortSignal.timeout(500) }).then(
        () => true,
        () => false,
      ))
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new FleetError(`Prometheus of cluster ${cluster} still answers after SIGKILL`);
}

export async function startClusterPrometheus(
  cluster: string,
  partial: Partial<FleetOptions> = {},
): Promise<void> {
  const c = await findCluster(cluster, partial);
  const o = resolveOptions(partial);
  const pid = await startPrometheus(c);
  const state = await readState(o);
  if (state) {
    state.pids.push(pid);
    await writeFile(stateFile(o), JSON.stringify(state, null, 2), { mode: 0o600 });
  }
}

/**
 * Stops one cluster's Docker engine (dockerd and its loopback shim), as when a manager's engine is
 * down; `startClusterEngine` starts it again on the same data (the swarm comes back).
 */
export async function stopClusterEngine(cluster: string, partial: Partial<FleetOptions> = {}): Promise<void> {
  const c = await findCluster(cluster, partial);
  const id = await netnsId(c.netns);
  if (!id)
    throw new FleetError(`cluster ${cluster} has no namespace: is the fleet up?`, 'npm run fleet -- up');
  for (let round = 0; round < 100; round++) {
    const pids: number[] = [];
    for (const pid of await pidsInNetns(new Set([id]))) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.startsWith('dockerd\0') || (cmd.startsWith('socat\0') && cmd.includes(c.socket)))
        pids.push(pid);
    }
    if (pids.length === 0) return;
    for (const pid of pids) killQuietly(pid, round < 50 ? 'SIGTERM' : 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new FleetError(`the engine of cluster ${cluster} does not stop`);
}

export async function startClusterEngine(
  cluster: string,
  partial: Partial<FleetOptions> = {},
): Promise<void> {
  const c = await findCluster(cluster, partial);
  const o = resolveOptions(partial);
  const state = await readState(o);
  if (!state) throw new FleetError(`fleet ${o.name} is not up`, 'npm run fleet -- up');
  const r = registryLayout(state.options);
  const pids = await startEngine(c, `${r.address}:${r.port}`, tlsFiles(state.options.stateDir));
  await waitFor(
    `cluster ${cluster} to be a swarm manager again`,
    async () => {
      const swarm = (await engine(c).info()).Swarm;
      return swarm?.LocalNodeState === 'active' && swarm.ControlAvailable ? true : undefined;
    },
    60_000,
  );
  state.pids.push(...pids);
  await writeFile(stateFile(o), JSON.stringify(state, null, 2), { mode: 0o600 });
}

async function findCluster(name: string, partial: Partial<FleetOptions>): Promise<ClusterLayout> {
  const o = resolveOptions(partial);
  const state = await readState(o);
  if (!state) throw new FleetError(`fleet ${o.name} is not up`, 'npm run fleet -- up');
  const index = Number(/^c(\d+)$/.exec(name)?.[1]);
  if (!(index >= 1 && index <= state.options.clusters))
    throw new FleetError(`fleet ${o.name} has no cluster "${name}"`);
  return clusterLayout(state.options, index);
}

const AGENT_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'ssm', 'agent-main.ts');
const TSX_CLI = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'node_modules',
  'tsx',
  'dist',
  'cli.mjs',
);

async function agentPids(c: ClusterLayout): Promise<number[]> {
  const id = await netnsId(c.netns);
  if (!id) return [];
  const pids: number[] = [];
  for (const pid of await pidsInNetns(new Set([id]))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('agent-main.ts')) pids.push(pid);
  }
  return pids;
}

/**
 * Starts an SSM agent stand-in inside every cluster's namespace, connecting out to the message
 * gateway at `mgsUrl` (like amazon-ssm-agent's outbound channel) as the cluster's managed
 * instance, and dialling that namespace's own loopback for sessions. Agents of an earlier gateway
 * are replaced. Returns once the processes are started; the gateway sees them connect.
 */
export async function startAgents(
  mgsUrl: string,
  partial: Partial<FleetOptions> = {},
): Promise<Array<{ cluster: string; target: string; pid: number }>> {
  const o = resolveOptions(partial);
  const state = await readState(o);
  if (!state) throw new FleetError(`fleet ${o.name} is not up`, 'npm run fleet -- up');
  await stopAgents(partial);
  const started = [];
  for (let i = 1; i <= state.options.clusters; i++) {
    const c = clusterLayout(state.options, i);
    const pid = spawnDaemonWith(
      c.netns,
      process.execPath,
      [TSX_CLI, AGENT_MAIN, '--mgs', mgsUrl, '--target', c.target],
      join(c.dir, 'ssm-agent.log'),
    );
    started.push({ cluster: c.name, target: c.target, pid });
  }
  return started;
}

/** Stops every cluster's agent stand-in (sessions through them end). */
export async function stopAgents(partial: Partial<FleetOptions> = {}): Promise<void> {
  const o = resolveOptions(partial);
  const state = await readState(o);
  if (!state) return;
  for (let i = 1; i <= state.options.clusters; i++) {
    const c = clusterLayout(state.options, i);
    for (let round = 0; round < 50; round++) {
      const pids = await agentPids(c);
      if (pids.length === 0) break;
      for (const pid of pids) killQuietly(pid, round === 0 ? 'SIGTERM' : 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** What a fleet left behind, if anything: the check behind "down leaves nothing". */
export async function leftovers(partial: Partial<FleetOptions> = {}) {
  const o = resolveOptions(partial);
  return {
    processes: await fleetProcesses(o),
    namespaces: await fleetNamespaces(o),
    interfaces: await fleetInterfaces(o),
    cgroups: await fleetCgroups(o),
    mounts: await mountsUnder(o.stateDir),
    iptablesRules: await fleetRules(o),
    stateDir: await readdir(o.stateDir).then(
      () => true,
      () => false,
    ),
  };
}
