import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { swarmPrometheusConfig } from '../../functions/lib/prometheus/scrape-config.js';
import { type ClusterLayout, ENGINE_PORT, ENGINE_TLS_PORT, PROMETHEUS_PORT } from './layout.js';
import { FleetError, spawnDaemon, tail, waitFor } from './sys.js';
import type { FleetTls } from './tls.js';

export interface ClusterPids {
  dockerd: number;
  prometheus: number;
}

/** Address pool for the swarm's own networks, clear of the fleet's 10.x.0.0/16 links. */
const SWARM_ADDR_POOL = '172.24.0.0/14';

/**
 * Starts dockerd inside the cluster's namespace, with data and exec roots of its own and trust for
 * the fleet's registry. The Engine API listens only on the namespace's loopback, as a manager
 * exposes it to the SSM agent: 127.0.0.1:2376 with mutual TLS (dockerd's own --tlsverify), and a
 * plain loopback shim on 127.0.0.1:2375 (socat to the Unix socket, as allowed for trials); the
 * Unix socket is the harness's own way in.
 */
export async function startEngine(c: ClusterLayout, registry: string, tls: FleetTls): Promise<number[]> {
  await mkdir(c.dir, { recursive: true });
  const log = join(c.dir, 'dockerd.log');
  const pid = spawnDaemon(
    c.netns,
    'dockerd',
    [
      `--data-root=${join(c.dir, 'data')}`,
      `--exec-root=${join(c.dir, 'exec')}`,
      `--pidfile=${join(c.dir, 'dockerd.pid')}`,
      `--host=unix://${c.socket}`,
      `--host=tcp://127.0.0.1:${ENGINE_TLS_PORT}`,
      '--tlsverify',
      `--tlscacert=${tls.ca}`,
      `--tlscert=${tls.serverCert}`,
      `--tlskey=${tls.serverKey}`,
      `--cgroup-parent=/${c.cgroupParent}`,
      `--insecure-registry=${registry}`,
      '--userland-proxy=false',
      '--log-level=warn',
    ],
    log,
  );
  const shim = spawnDaemon(
    c.netns,
    'socat',
    [`TCP-LISTEN:${ENGINE_PORT},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${c.socket}`],
    join(c.dir, 'engine-shim.log'),
  );
  const docker = engine(c);
  await waitFor(
    `dockerd of cluster ${c.name} to answer on ${c.socket}`,
    async () => ((await docker.ping()) ? true : undefined),
    30_000,
    () => tail(log).then((t) => `dockerd log (${log}):\n${t}`),
  );
  return [pid, shim];
}

/** A dockerode client on the harness's Unix socket of a cluster. */
export function engine(c: ClusterLayout): Docker {
  return new Docker({ socketPath: c.socket });
}

/** Makes the engine a single-node swarm whose manager advertises the namespace's address. */
export async function initSwarm(c: ClusterLayout): Promise<void> {
  const docker = engine(c);
  const info = await docker.info();
  if (info.Swarm?.LocalNodeState === 'active') return;
  try {
    await docker.swarmInit({
      ListenAddr: `0.0.0.0:2377`,
      AdvertiseAddr: c.address,
      DefaultAddrPool: [SWARM_ADDR_POOL],
      SubnetSize: 24,
    });
  } catch (err) {
    throw new FleetError(`swarm init on cluster ${c.name} failed: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  await waitFor(
    `cluster ${c.name} to report an active swarm`,
    async () => ((await docker.info()).Swarm?.ControlAvailable ? true : undefined),
    20_000,
  );
}

/** Where the local twin serves the deployer's own metrics (local/twin/metrics-server.ts), on every fleet. */
export const DEPLOYER_METRICS_PORT = 9464;

/**
 * Prometheus inside the cluster's namespace, scraping what the deployer analyses (every 5 s), and,
 * on the local fleet only, the twin's own metrics on the host side of the registry's link
 * (10.x.0.1): a target that is down until the twin runs.
 */
export function prometheusConfig(c: ClusterLayout): string {
  const config = JSON.parse(
    swarmPrometheusConfig({ cluster: c.name, socket: c.socket, intervalSeconds: 5, timeoutSeconds: 4 }),
  ) as { scrape_configs: unknown[] };
  const host = c.gateway.replace(/^(10\.\d+)\.\d+\.1$/, '$1.0.1');
  config.scrape_configs.push({
    job_name: 'swarm-deployer',
    scrape_interval: '5s',
    metrics_path: '/metrics',
    static_configs: [{ targets: [`${host}:${DEPLOYER_METRICS_PORT}`] }],
  });
  return JSON.stringify(config, null, 2);
}

export async function startPrometheus(c: ClusterLayout): Promise<number> {
  const dir = join(c.dir, 'prometheus');
  await mkdir(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, prometheusConfig(c));
  const log = join(dir, 'prometheus.log');
  const pid = spawnDaemon(
    c.netns,
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--storage.tsdb.retention.time=6h',
      `--web.listen-address=0.0.0.0:${PROMETHEUS_PORT}`,
      '--log.level=warn',
    ],
    log,
  );
  const url = prometheusUrl(c);
  await waitFor(
    `Prometheus of cluster ${c.name} at ${url}`,
    async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined),
    30_000,
    () => tail(log).then((t) => `prometheus log (${log}):\n${t}`),
  );
  return pid;
}

/** Prometheus as the root namespace reaches it; inside the namespace it is 127.0.0.1:9090 too. */
export const prometheusUrl = (c: ClusterLayout) => `http://${c.address}:${PROMETHEUS_PORT}`;
