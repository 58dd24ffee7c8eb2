/**
 * Benchmark: the SSM-forwarded Engine API against the direct socket, in one run, on the local fleet.
 *   latency     /_ping and /services, sequential requests: through the tunnel (SSM stand-in, agent in
 *               the cluster's namespace, smux, a kept-alive http.Agent) vs the engine's Unix socket
 *   throughput  MiB/s of uploads to a TCP sink inside the cluster namespace (socat to /dev/null):
 *               1 and 16 parallel streams through one session vs direct TCP from the root namespace
 * Uses the shared fleet (npm run fleet -- up). Usage: npm run bench:ssm [-- --requests 200 --mib 32]
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { openTunnel } from '../functions/lib/ssm/index.js';
import { status } from '../local/fleet/fleet.js';
import { startSessionManager } from '../test/integration/swarm/support.js';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '200' }, mib: { type: 'string', default: '32' } },
});
const REQUESTS = Number(values.requests);
const MIB = Number(values.mib);
const SINK_PORT = 9999;

const f = await status();
const c = f.clusters[0] as (typeof f.clusters)[number];
const sessions = await startSessionManager(f);
const sink = spawn(
  'nsenter',
  [
    `--net=/run/netns/${c.namespace}`,
    'socat',
    '-u',
    `TCP-LISTEN:${SINK_PORT},fork,reuseaddr`,
    'OPEN:/dev/null',
  ],
  { stdio: 'ignore' },
);
await new Promise((r) => setTimeout(r, 300));

function get(path: string, opts: http.RequestOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...opts, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end();
  });
}

async function latency(opts: http.RequestOptions, path: string): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 10; i++) await get(path, opts); // warm up
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    await get(path, opts);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return {
    p50: samples[Math.floor(samples.length * 0.5)] as number,
    p99: samples[Math.floor(samples.length * 0.99)] as number,
  };
}

/** Sends `bytes` on each of `streams` connections; MiB/s of all of them together, until every one is closed. */
async function throughput(
  open: () => net.Socket | import('node:stream').Duplex,
  streams: number,
  bytes: number,
): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const s = open();
      let sent = 0;
      while (sent < bytes) {
        const n = Math.min(chunk.length, bytes - sent);
        if (!s.write(chunk.subarray(0, n))) await new Promise((r) => s.once('drain', r));
        sent += n;
      }
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.once('close', () => resolve());
        s.end();
        // the sink never writes back: the stream closes once our FIN is through and the agent closes its side
        s.resume?.();
      });
    }),
  );
  return (streams * bytes) / 2 ** 20 / ((performance.now() - t0) / 1000);
}

const tunnel = await openTunnel({ ssm: sessions.ssm, target: c.target, portNumber: 2375 });
const tunnelAgent = tunnel.agent;
const direct = {
  socketPath: c.dockerHost.replace('unix://', ''),
  agent: new http.Agent({ keepAlive: true }),
};
const viaTunnel = { host: '127.0.0.1', port: 2375, agent: tunnelAgent };
const rows: string[] = [];
for (const path of ['/_ping', '/services']) {
  const d = await latency(direct, path);
  const t = await latency(viaTunnel, path);
  rows.push(
    `| ${path} latency p50 / p99 (ms) | ${d.p50.toFixed(2)} / ${d.p99.toFixed(2)} | ${t.p50.toFixed(2)} / ${t.p99.toFixed(2)} | ${(t.p50 / d.p50).toFixed(1)}× / ${(t.p99 / d.p99).toFixed(1)}× |`,
  );
}
await tunnel.close();

const sinkTunnel = await openTunnel({ ssm: sessions.ssm, target: c.target, portNumber: SINK_PORT });
for (const streams of [1, 16]) {
  const per = Math.floor((MIB * 2 ** 20) / streams);
  const d = await throughput(() => net.connect(SINK_PORT, c.address), streams, per);
  const t = await throughput(() => sinkTunnel.connect(), streams, per);
  rows.push(
    `| throughput, ${streams} stream(s), ${MIB} MiB in all (MiB/s) | ${d.toFixed(1)} | ${t.toFixed(2)} | ${(d / t).toFixed(0)}× slower |`,
  );
}
await sinkTunnel.close();
sink.kill();
await sessions.stop();

const table = ['| measure | direct | SSM tunnel | ratio |', '|---|---:|---:|---:|', ...rows].join('\n');
console.log(`\n${REQUESTS} requests per latency figure\n${table}`);
await mkdir('bench/results', { recursive: true });
await writeFile(
  'bench/results/ssm-tunnel.json',
  JSON.stringify({ date: new Date().toISOString(), requests: REQUESTS, mib: MIB, table }, null, 2),
);
