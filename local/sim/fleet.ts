/**
 * SIMULATOR — a fleet of simulated Swarm clusters for many-cluster scale tests (docs/simulator.md):
 * per cluster a simulated Engine API and a simulated Prometheus, each on its own 127.0.0.1 port,
 * and an SSM agent stand-in registered as the cluster's managed instance (mi-…). The agent
 * forwards a session to `localhost:<portNumber>` as the real agent does, so the cluster entry's
 * engine port and Prometheus tunnel port ARE the simulated endpoints' ports: the deployer reaches
 * them exactly as it reaches a real manager, through StartSession and the agent.
 *
 * Scale: one http.Server per kind behind per-port listeners (sim/ports.ts); per cluster two
 * listening sockets, the agent's control channel (two sockets when the stand-in is in this
 * process), and its state. Real dockerd clusters (local/fleet) stay the truth for behaviour.
 */
import type { ClusterConfig } from '../../functions/lib/config/schema.js';
import type { ServiceSpec } from '../../functions/lib/swarm/types.js';
import { type StandInAgent, startAgent } from '../ssm/agent.js';
import { type SsmStandIn, startSsmStandIn } from '../ssm/stand-in.js';
import { SimCluster, type SimClusterOptions } from './cluster.js';
import { engineHandler } from './engine.js';
import { PortRouter } from './ports.js';
import { ClusterSeries, prometheusHandler, type SimPrometheusOptions } from './prometheus.js';
import { SimRegistry } from './registry.js';

export interface SimFleetOptions {
  /** How many clusters. */
  clusters: number;
  /** Cluster names are `<prefix><n>`, n zero-padded (default `sim-`: sim-001 … sim-200). */
  namePrefix?: string;
  /** The region in the cluster entries (default us-east-1). */
  region?: string;
  /** The images that exist (default: an empty registry; add images to it). */
  registry?: SimRegistry;
  /** Per-cluster options: workers, versions, time scale, task timings. */
  cluster?: Partial<Omit<SimClusterOptions, 'name' | 'registry' | 'index'>>;
  prometheus?: SimPrometheusOptions;
  /** Services every cluster runs from the start (already running, as before a deployment). */
  services?: ServiceSpec[] | ((name: string, index: number) => ServiceSpec[]);
  /** Labels of each cluster entry, beside `simulated: "true"`. */
  labels?: (name: string, index: number) => Record<string, string>;
  /**
   * The Session Manager the agents register with: the message gateway URL of a stand-in already
   * running (the local runtime's), and its waitForAgent. Default: a stand-in started here.
   * `false`: no agents at all (the endpoints are reached directly).
   */
  ssm?: { mgsUrl: string; waitForAgent?: (target: string, timeoutMs?: number) => Promise<void> } | false;
  /** The agents' version (default: the stand-in agent's). */
  agentVersion?: string;
  /** Agents connecting at once while the fleet starts (default 100). */
  agentConcurrency?: number;
  /** Called as clusters come up (for progress output). */
  onProgress?: (started: number, total: number) => void;
}

/** One simulated cluster of the fleet. */
export interface SimFleetMember {
  /** The deployer's cluster entry (functions/lib/config/schema.ts clusterSchema, defaults applied). */
  config: ClusterConfig;
  cluster: SimCluster;
  enginePort: number;
  prometheusPort: number;
  agent: StandInAgent | undefined;
}

export interface SimFleet {
  /** The cluster entries, for the deployer's configuration. */
  readonly clusters: ClusterConfig[];
  readonly members: SimFleetMember[];
  readonly registry: SimRegistry;
  /** The SSM stand-in started for the fleet (undefined when one was given, or with ssm: false). */
  readonly standIn: SsmStandIn | undefined;
  /** The member of that name. @throws Error for an unknown name */
  member(name: string): SimFleetMember;
  /** Open connections to the simulated endpoints now. */
  connectionCount(): number;
  /** Stops agents, stand-in, ports and timers: nothing is left listening. */
  stop(): Promise<void>;
}

/** The managed instance id of the n-th simulated manager: `mi-` and 17 hex digits, as hybrid activations have. */
export const simTarget = (index: number) => `mi-5${index.toString(16).padStart(16, '0')}`;

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * Starts `clusters` simulated clusters, their Prometheus endpoints and SSM agents.
 * @returns the fleet; its `clusters` are entries the deployer's configuration accepts
 */
export async function startSimFleet(options: SimFleetOptions): Promise<SimFleet> {
  const count = options.clusters;
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`clusters must be a positive integer, not ${count}`);
  const prefix = options.namePrefix ?? 'sim-';
  const width = Math.max(3, String(count).length);
  const registry = options.registry ?? new SimRegistry();
  const engines = new PortRouter('127.0.0.1');
  const prometheus = new PortRouter('127.0.0.1');
  const members: SimFleetMember[] = [];
  let standIn: SsmStandIn | undefined;
  const unsubscribes: Array<() => void> = [];

  const stop = async () => {
    await inBatches(members, 200, async (m) => {
      await m.agent?.stop();
    });
    await standIn?.stop();
    for (const unsubscribe of unsubscribes) unsubscribe();
    for (const m of members) m.cluster.stop();
    await Promise.all([engines.closeAll(), prometheus.closeAll()]);
  };

  try {
    for (let i = 0; i < count; i++) {
      const name = `${prefix}${String(i + 1).padStart(width, '0')}`;
      const cluster = new SimCluster({ ...options.cluster, name, registry, index: i });
      const services = typeof options.services === 'function' ? options.services(name, i) : options.services;
      for (const spec of services ?? []) cluster.seedService(spec);
      const enginePort = await engines.open(0, engineHandler(cluster));
      const prometheusPort = await prometheus.open(
        0,
        prometheusHandler(new ClusterSeries(cluster, options.prometheus)),
      );
      unsubscribes.push(
        cluster.faults.onChange((what, down) => {
          const router = what === 'engine' ? engines : prometheus;
          const port = what === 'engine' ? enginePort : prometheusPort;
          return down ? router.suspend(port) : router.resume(port);
        }),
      );
      members.push({
        config: {
          name,
          region: options.region ?? 'us-east-1',
          target: simTarget(i),
          engine: { port: enginePort, document: 'AWS-StartPortForwardingSession' },
          prometheus: { tunnelPort: prometheusPort },
          labels: { simulated: 'true', ...options.labels?.(name, i) },
          minEngineVersion: '20.10.0',
          unreachableSeconds: 300,
        },
        cluster,
        enginePort,
        prometheusPort,
        agent: undefined,
      });
    }

    if (options.ssm !== false) {
      let ssm = options.ssm;
      if (!ssm) {
        standIn = await startSsmStandIn({ knownTargets: members.map((m) => m.config.target) });
        ssm = standIn;
      }
      const { mgsUrl, waitForAgent } = ssm;
      let started = 0;
      await inBatches(members, options.agentConcurrency ?? 100, async (m) => {
        m.agent = await startAgent({
          mgsUrl,
          target: m.config.target,
          ...(options.agentVersion ? { agentVersion: options.agentVersion } : {}),
        });
        await waitForAgent?.(m.config.target, 30_000);
        started += 1;
        options.onProgress?.(started, count);
      });
    }
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }

  const byName = new Map(members.map((m) => [m.config.name, m]));
  let stopping: Promise<void> | undefined;
  return {
    clusters: members.map((m) => m.config),
    members,
    registry,
    standIn,
    member(name) {
      const m = byName.get(name);
      if (!m) throw new Error(`no simulated cluster named ${name}`);
      return m;
    },
    connectionCount: () => engines.connectionCount() + prometheus.connectionCount(),
    stop() {
      stopping ??= stop();
      return stopping;
    },
  };
}
