import { createHash } from 'node:crypto';
import type https from 'node:https';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { PlannedCluster } from '../deploy/plan.js';
import { recordSessionOpen, recordSessionReuse } from '../metrics.js';
import { PrometheusClient, prometheusAuth, type SecretReader } from '../prometheus/index.js';
import type { SsmLogger, Tunnel } from '../ssm/index.js';
import { type PooledTunnelOptions, type TunnelLease, tunnelPool } from '../ssm/pool.js';
import type { Engine } from '../swarm/engine.js';

/**
 * Runs `fn` with the container's tunnel for `options` (functions/lib/ssm/pool.ts): reused when a
 * live one is pooled, opened otherwise, and given back afterwards, open for the next invocation.
 * An open records how long it took, a reuse that it happened. Aborting `signal` while `fn` runs
 * closes the tunnel (TerminateSession). Before returning, it waits for the sessions the pool is
 * ending (this call's when it was aborted, and those it replaced as gone or past their idle window),
 * so that none is left half-closed when Lambda freezes the container.
 */
async function withTunnel<T>(
  cluster: string,
  options: PooledTunnelOptions,
  signal: AbortSignal | undefined,
  fn: (tunnel: Tunnel) => Promise<T>,
): Promise<T> {
  const pool = tunnelPool();
  let lease: TunnelLease | undefined;
  try {
    lease = await pool.acquire(options, signal);
    if (lease.opened) recordSessionOpen(cluster, lease.openMs);
    else recordSessionReuse(cluster);
    return await fn(lease.tunnel);
  } finally {
    await lease?.release();
    await pool.settled();
  }
}

/**
 * The https.Agent of a pooled tunnel for one set of TLS material: made once and reused with the
 * tunnel (an agent per call would pile up on a tunnel that outlives the call). New material (a
 * rotated certificate) gets an agent of its own.
 */
const tlsAgents = new WeakMap<Tunnel, Map<string, https.Agent>>();

function tlsAgentOf(tunnel: Tunnel, tls: { ca: string; cert: string; key: string }): https.Agent {
  let agents = tlsAgents.get(tunnel);
  if (agents === undefined) {
    agents = new Map();
    tlsAgents.set(tunnel, agents);
  }
  const key = createHash('sha256')
    .update(JSON.stringify([tls.ca, tls.cert, tls.key]))
    .digest('hex');
  let agent = agents.get(key);
  if (agent === undefined) {
    agent = tunnel.createTlsAgent({ ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' });
    agents.set(key, agent);
  }
  return agent;
}

interface TunnelAccess {
  /** The SSM client of a region (the cluster's): one per region, built on first use. */
  ssmFor(region: string): SSMClient;
  /** Where the tunnels report session failures, resumes, reuses and terminations. */
  logger?: SsmLogger;
}

/** What reaching a cluster's Engine API takes. */
export interface EngineAccess extends TunnelAccess {
  /** Reads the {ca, cert, key} PEMs of an engine with mutual TLS from a SecureString parameter. */
  tlsCredentials?: (
    parameter: string,
    signal?: AbortSignal,
  ) => Promise<{ ca: string; cert: string; key: string }>;
}

/** What reaching a cluster's Prometheus takes. */
export interface MetricsAccess extends TunnelAccess {
  /** Reads the secrets a cluster's `prometheus.auth` references. */
  secrets?: SecretReader;
}

/**
 * Reaches a cluster's manager through the container's SSM tunnel to it (with an SSM client of the
 * cluster's region; reused across invocations while alive, see withTunnel), connects to its Engine
 * API through it (mutual TLS when configured) and runs `fn`.
 * @throws the tunnel's errors (SessionStartError, TunnelConnectError, …) and the Engine's
 */
export async function withEngine<T>(
  deps: EngineAccess,
  cluster: PlannedCluster,
  signal: AbortSignal | undefined,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const options: PooledTunnelOptions = {
    ssm: deps.ssmFor(cluster.region),
    region: cluster.region,
    target: cluster.target,
    documentName: cluster.engine.document,
    portNumber: cluster.engine.port,
    reason: `swarm-deployer: engine API of ${cluster.name}`,
    ...(deps.logger ? { logger: deps.logger } : {}),
  };
  return withTunnel(cluster.name, options, signal, async (tunnel) => {
    const tls =
      cluster.engine.tlsParameter && deps.tlsCredentials
        ? await deps.tlsCredentials(cluster.engine.tlsParameter, signal)
        : undefined;
    // Loaded here, on first use: dockerode (and docker-modem) stay out of every step that never
    // reaches an engine, in its bundle as at its cold start.
    const { Engine } = await import('../swarm/engine.js');
    const engine = await Engine.connect(
      {
        cluster: cluster.name,
        host: '127.0.0.1',
        port: cluster.engine.port,
        agent: tls ? tlsAgentOf(tunnel, tls) : tunnel.agent,
        ...(tls ? { tls } : {}),
      },
      signal,
    );
    return fn(engine);
  });
}

/**
 * A Prometheus client for a cluster: by URL, or through the container's SSM tunnel to the manager's
 * own port (see withTunnel), authenticated as `prometheus.auth` says (the secret is read here, for
 * this call only).
 * @throws SecretUnavailableError, SecretNotFoundError, SecretAccessDeniedError, SecretFormatError,
 * PrometheusConfigError, and the tunnel's errors
 */
export async function withPrometheus<T>(
  deps: MetricsAccess,
  cluster: PlannedCluster,
  signal: AbortSignal | undefined,
  fn: (client: PrometheusClient) => Promise<T>,
): Promise<T> {
  const prometheus = cluster.prometheus;
  const url = 'url' in prometheus ? prometheus.url : `http://127.0.0.1:${prometheus.tunnelPort}`;
  const auth = await prometheusAuth(prometheus.auth, deps.secrets, signal, { url, region: cluster.region });
  if ('url' in prometheus) return fn(new PrometheusClient({ url, ...(auth ? { auth } : {}) }));
  const options: PooledTunnelOptions = {
    ssm: deps.ssmFor(cluster.region),
    region: cluster.region,
    target: cluster.target,
    portNumber: prometheus.tunnelPort,
    reason: `swarm-deployer: Prometheus of ${cluster.name}`,
    ...(deps.logger ? { logger: deps.logger } : {}),
  };
  return withTunnel(cluster.name, options, signal, (tunnel) =>
    fn(new PrometheusClient({ url, agent: tunnel.agent, ...(auth ? { auth } : {}) })),
  );
}
