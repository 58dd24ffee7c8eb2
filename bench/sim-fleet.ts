/**
 * Benchmark of the Engine API SIMULATOR (local/sim, docs/simulator.md): what a simulated fleet
 * costs to start and hold, per size, each size in a fresh child process (--expose-gc):
 *   start      startSimFleet: clusters, ports, SSM stand-in and one agent per cluster, connected
 *   rss, heap  growth over the process before the fleet (after a GC), total and per cluster
 *   fds        open file descriptors with the fleet up (listeners, agent control channels)
 *   ping       GET /_ping on every engine directly, 100 at a time
 *   preflight  the deployer's preflight() on every cluster directly, 100 at a time
 *   tunnel     StartSession + handshake + GET /info through the agent, median of 20 clusters
 *   stop       stop(); fds after it (nothing of the fleet may stay open)
 * Usage: npx tsx bench/sim-fleet.ts [--clusters 200,1000] [--workers 2] [--replicas 3]
 */
import { fork } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SSMClient } from '@aws-sdk/client-ssm';
import { openTunnel } from '../functions/lib/ssm/index.js';
import { Engine } from '../functions/lib/swarm/engine.js';
import { preflight } from '../functions/lib/swarm/operations.js';
import { SimRegistry, startSimFleet } from '../local/sim/index.js';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '200,1000' },
    workers: { type: 'string', default: '2' },
    replicas: { type: 'string', default: '3' },
    child: { type: 'string' },
  },
});

interface Row {
  clusters: number;
  startMs: number;
  rssMiB: number;
  heapMiB: number;
  rssKiBPerCluster: number;
  fds: number;
  pingMs: number;
  preflightMs: number;
  tunnelMedianMs: number;
  stopMs: number;
  fdsAfterStop: number;
}

const fds = () => readdirSync('/proc/self/fd').length;
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

function ping(port: number, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/_ping', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

async function measure(clusters: number): Promise<Row> {
  const registry = new SimRegistry();
  const image = registry.add({ tag: 'v1' });
  gc();
  const before = process.memoryUsage();
  const fdsBefore = fds();
  const t0 = performance.now();
  const fleet = await startSimFleet({
    clusters,
    registry,
    cluster: { workers: Number(values.workers) },
    services: [
      {
        Name: 'web',
        Labels: { 'deployer.scrape': 'true' },
        TaskTemplate: { ContainerSpec: { Image: image.digestReference } },
        Mode: { Replicated: { Replicas: Number(values.replicas) } },
      },
    ],
  });
  const startMs = performance.now() - t0;
  gc();
  const after = process.memoryUsage();
  const fdsUp = fds();

  const agent = new http.Agent({ keepAlive: false, maxSockets: 100 });
  let t = performance.now();
  await inBatches(fleet.members, 100, (m) => ping(m.enginePort, agent));
  const pingMs = performance.now() - t;

  t = performance.now();
  await inBatches(fleet.members, 100, async (m) => {
    const engine = await Engine.connect({ cluster: m.config.name, host: '127.0.0.1', port: m.enginePort });
    await preflight(engine, { service: 'web', minEngineVersion: '20.10.0' });
  });
  const preflightMs = performance.now() - t;

  const ssm = new SSMClient({
    endpoint: fleet.standIn?.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIABENCH', secretAccessKey: 'not-checked' },
  });
  const samples: number[] = [];
  const step = Math.max(1, Math.floor(clusters / 20));
  for (let i = 0; i < clusters; i += step) {
    const m = fleet.members[i];
    if (!m) break;
    const s = performance.now();
    const tunnel = await openTunnel({ ssm, target: m.config.target, portNumber: m.enginePort });
    const engine = await Engine.connect({
      cluster: m.config.name,
      host: '127.0.0.1',
      port: m.enginePort,
      agent: tunnel.agent,
    });
    await engine.request({ method: 'GET', path: '/info' });
    samples.push(performance.now() - s);
    await tunnel.close();
  }
  ssm.destroy();
  samples.sort((a, b) => a - b);

  t = performance.now();
  await fleet.stop();
  const stopMs = performance.now() - t;
  agent.destroy();
  await new Promise((r) => setTimeout(r, 200));
  return {
    clusters,
    startMs: Math.round(startMs),
    rssMiB: mib(after.rss - before.rss),
    heapMiB: mib(after.heapUsed - before.heapUsed),
    rssKiBPerCluster: Math.round((after.rss - before.rss) / 1024 / clusters),
    fds: fdsUp - fdsBefore,
    pingMs: Math.round(pingMs),
    preflightMs: Math.round(preflightMs),
    tunnelMedianMs: Math.round(samples[Math.floor(samples.length / 2)] ?? 0),
    stopMs: Math.round(stopMs),
    fdsAfterStop: fds() - fdsBefore,
  };
}

if (values.child) {
  const row = await measure(Number(values.child));
  process.send?.(row);
  process.exit(0);
} else {
  const sizes = values.clusters.split(',').map(Number);
  const rows: Row[] = [];
  for (const size of sizes) {
    const row = await new Promise<Row>((resolve, reject) => {
      const child = fork(
        fileURLToPath(import.meta.url),
        ['--child', String(size), ...process.argv.slice(2)],
        {
          execArgv: [...process.execArgv, '--expose-gc'],
        },
      );
      child.once('message', (m) => resolve(m as Row));
      child.once('exit', (code) =>
        code === 0 ? undefined : reject(new Error(`child for ${size} exited ${code}`)),
      );
    });
    rows.push(row);
    console.error(`measured ${size} clusters`);
  }
  const columns: Array<[keyof Row, string]> = [
    ['clusters', 'clusters'],
    ['startMs', 'start ms'],
    ['rssMiB', 'RSS +MiB'],
    ['heapMiB', 'heap +MiB'],
    ['rssKiBPerCluster', 'KiB/cluster'],
    ['fds', 'fds'],
    ['pingMs', 'ping all ms'],
    ['preflightMs', 'preflight all ms'],
    ['tunnelMedianMs', 'tunnel+/info ms'],
    ['stopMs', 'stop ms'],
    ['fdsAfterStop', 'fds after stop'],
  ];
  console.log(`| ${columns.map(([, h]) => h).join(' | ')} |`);
  console.log(`|${columns.map(() => '---:').join('|')}|`);
  for (const row of rows) console.log(`| ${columns.map(([k]) => row[k]).join(' | ')} |`);
  console.log(`\nnode ${process.version}, workers ${values.workers}, replicas ${values.replicas}`);
}
