import type { SSMClient } from '@aws-sdk/client-ssm';
import type { PlannedCluster } from '../deploy/plan.js';
import { recordSessionOpen } from '../metrics.js';
import { PrometheusClient, prometheusAuth, type SecretReader } from '../prometheus/index.js';
import { type OpenTunnelOptions, openTunnel, type SsmLogger, type Tunnel } from '../ssm/index.js';
import type { Engine } from '../swarm/engine.js';

/** Opens an SSM tunnel to `cluster`, recording how long the session took to open (StartSession to handshake). */
async function timedTunnel(cluster: string, options: OpenTunnelOptions): Promise<Tunnel> {
  const started = Date.now();
  const tunnel = await openTunnel(options);
  recordSessionOpen(cluster, Date.now() - started);
  return tunnel;
}

interface TunnelAccess {
  /** The SSM client of a region (the cluster's): one per region, built on first use. */
  ssmFor(region: string): SSMClient;
  /** Where the tunnels report session failures, resumes and terminations. */
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
 * Opens the SSM tunnel to a cluster's manager (with an SSM client of the cluster's region),
 * connects to its Engine API through it (mutual TLS when configured), runs `fn`, and always closes
 * the tunnel.
 * @throws the tunnel's errors (SessionStartError, TunnelConnectError, …) and the Engine's
 */
export async function withEngine<T>(
  deps: EngineAccess,
  cluster: PlannedCluster,
  signal: AbortSignal | undefined,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const tunnel = await timedTunnel(cluster.name, {
    ssm: deps.ssmFor(cluster.region),
    target: cluster.target,
    documentName: cluster.engine.document,
    portNumber: cluster.engine.port,
    reason: `swarm-deployer: engine API of ${cluster.name}`,
    ...(signal ? { signal } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  try {
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
        agent: tls
          ? tunnel.createTlsAgent({ ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' })
          : tunnel.agent,
        ...(tls ? { tls } : {}),
      },
      signal,
    );
    return await fn(engine);
  } finally {
    await tunnel.close().catch(() => {});
  }
}

/**
 * A Prometheus client for a cluster: by URL, or through an SSM tunnel to the manager's own port,
 * authenticated as `prometheus.auth` says (the secret is read here, for this call only).
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
  let tunnel: Tunnel | undefined;
  try {
    tunnel = await timedTunnel(cluster.name, {
      ssm: deps.ssmFor(cluster.region),
      target: cluster.target,
      portNumber: prometheus.tunnelPort,
      reason: `swarm-deployer: Prometheus of ${cluster.name}`,
      ...(signal ? { signal } : {}),
      ...(deps.logger ? { logger: deps.logger } : {}),
    });
    return await fn(new PrometheusClient({ url, agent: tunnel.agent, ...(auth ? { auth } : {}) }));
  } finally {
    await tunnel?.close().catch(() => {});
  }
}
