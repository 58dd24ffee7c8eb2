/**
 * Benchmark: what one workflow step pays to reach a cluster's Engine API through Session Manager,
 * under the AWS-like latency model (local/latency: profiles, delaying proxies in front of the SSM
 * stand-in, the agent paced as the real one), without and with tunnel reuse.
 *
 * One step = reach the engine + the first Engine API calls, as withEngine does
 * (functions/lib/clusters/connect.ts): Engine.connect over the tunnel's agent (which negotiates
 * with GET /version), GET /_ping, GET /services/<name>; then the tunnel's end.
 *   no reuse  openTunnel … tunnel.close() every step (StartSession, websocket, handshake, calls,
 *             TerminateSession flag and API): what the deployer did before the pool
 *   reuse     a TunnelPool (functions/lib/ssm/pool.ts): acquire (the first step opens, later steps
 *             probe the agent and reuse), release, settled; the session ends at shutdown
 * Each mode starts with a new SSMClient (a new container: its first API call opens a connection).
 * The engine is one simulated engine (local/sim) on loopback next to the agent, as dockerd is
 * next to the agent on a manager.
 *
 * Usage: npx tsx bench/step-overhead.ts [--steps 20] [--profiles loopback,aws-ec2,aws-onprem]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openTunnel, type Tunnel } from '../functions/lib/ssm/index.js';
import { TunnelPool } from '../functions/lib/ssm/pool.js';
import { Engine } from '../functions/lib/swarm/engine.js';
import { inspectService } from '../functions/lib/swarm/operations.js';
import {
  type LatencyProfile,
  type LinkModel,
  newConnectionMs,
  profile as profileNamed,
  SOURCES,
  startModelledSsm,
} from '../local/latency/index.js';
import { startSimEngine } from '../local/sim/index.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    profiles: { type: 'string', default: 'loopback,aws-ec2,aws-onprem' },
  },
});
const STEPS = Number(values.steps);
if (!Number.isInteger(STEPS) || STEPS < 3)
  throw new Error(`--steps must be an integer ≥ 3, not ${values.steps}`);
const PROFILES = values.profiles.split(',').map((name) => profileNamed(name.trim()));

const TARGET = 'mi-0b5e7c1a2d3f40001';
const CLUSTER = 'bench-1';
const SERVICE = 'web';
const REGION = 'us-east-1';

/** Phases of one step, ms. */
interface Step {
  /** openTunnel, or the pool's acquire (open, or probe and reuse). */
  reach: number;
  /** Engine.connect (GET /version), GET /_ping, GET /services/<name>. */
  calls: number;
  /** tunnel.close(), or release and settled. */
  end: number;
  total: number;
}

interface Summary {
  /** The first step of a new container (new SSMClient; with reuse, the one that opens). */
  first: Step;
  /** Steps 2…N. */
  steady: { median: Step; p90: Step; count: number };
  /** API calls during the steps. */
  startSession: number;
  terminateSession: number;
  resumeSession: number;
  /** With reuse: the TerminateSession calls of closing the pool after the steps. */
  terminateAtShutdown?: number;
}

const sim = await startSimEngine({ name: CLUSTER });
sim.cluster.seedService({
  Name: SERVICE,
  Labels: { 'deployer.scrape': 'true' },
  TaskTemplate: { ContainerSpec: { Image: sim.registry.add({ tag: 'v1' }).digestReference } },
  Mode: { Replicated: { Replicas: 3 } },
});

/** The step's Engine API calls over a tunnel, as withEngine makes them. */
async function engineCalls(tunnel: Tunnel): Promise<void> {
  const engine = await Engine.connect({
    cluster: CLUSTER,
    host: '127.0.0.1',
    port: sim.port,
    agent: tunnel.agent,
  });
  await engine.request({ method: 'GET', path: '/_ping' });
  const service = await inspectService(engine, SERVICE);
  if (service === undefined) throw new Error(`service ${SERVICE} is missing on the simulated engine`);
}

async function measure(profile: LatencyProfile): Promise<{ noReuse: Summary; reuse: Summary }> {
  const model = await startModelledSsm({ profile, standIn: { knownTargets: [TARGET] } });
  try {
    await model.startAgent(TARGET);
    const options = {
      target: TARGET,
      portNumber: sim.port,
      documentName: 'AWS-StartPortForwardingSession',
      reason: `swarm-deployer: engine API of ${CLUSTER}`,
    };

    // (i) No reuse: a session per step.
    const plain = model.client();
    const plainSteps: Step[] = [];
    for (let i = 0; i < STEPS; i++) {
      const t0 = performance.now();
      const tunnel = await openTunnel({ ssm: plain.ssm, ...options });
      const t1 = performance.now();
      await engineCalls(tunnel);
      const t2 = performance.now();
      await tunnel.close();
      const t3 = performance.now();
      plainSteps.push({ reach: t1 - t0, calls: t2 - t1, end: t3 - t2, total: t3 - t0 });
    }
    const noReuse = summarise(plainSteps, plain.count('StartSession'), plain.count('TerminateSession'));
    noReuse.resumeSession = plain.count('ResumeSession');

    // (ii) Reuse: the pool, as withTunnel uses it (acquire, calls, release, settled).
    const pooled = model.client();
    const pool = new TunnelPool();
    const pooledSteps: Step[] = [];
    for (let i = 0; i < STEPS; i++) {
      const t0 = performance.now();
      const lease = await pool.acquire({ ssm: pooled.ssm, region: REGION, ...options });
      const t1 = performance.now();
      try {
        await engineCalls(lease.tunnel);
      } finally {
        const t2 = performance.now();
        await lease.release();
        await pool.settled();
        const t3 = performance.now();
        pooledSteps.push({ reach: t1 - t0, calls: t2 - t1, end: t3 - t2, total: t3 - t0 });
      }
    }
    const reuse = summarise(pooledSteps, pooled.count('StartSession'), pooled.count('TerminateSession'));
    reuse.resumeSession = pooled.count('ResumeSession');
    const stats = pool.stats();
    if (stats.opened !== 1 || stats.reused !== STEPS - 1) {
      throw new Error(
        `the pool opened ${stats.opened} and reused ${stats.reused} times, expected 1 and ${STEPS - 1}`,
      );
    }
    const before = pooled.count('TerminateSession');
    await pool.closeAll();
    reuse.terminateAtShutdown = pooled.count('TerminateSession') - before;
    return { noReuse, reuse };
  } finally {
    await model.stop();
  }
}

function summarise(steps: Step[], startSession: number, terminateSession: number): Summary {
  const [first, ...rest] = steps as [Step, ...Step[]];
  const pick = (q: number): Step => ({
    reach: quantile(
      rest.map((s) => s.reach),
      q,
    ),
    calls: quantile(
      rest.map((s) => s.calls),
      q,
    ),
    end: quantile(
      rest.map((s) => s.end),
      q,
    ),
    total: quantile(
      rest.map((s) => s.total),
      q,
    ),
  });
  return {
    first,
    steady: { median: pick(0.5), p90: pick(0.9), count: rest.length },
    startSession,
    terminateSession,
    resumeSession: 0,
  };
}

/** Nearest-rank quantile. */
function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
const phases = (s: Step): string => `${ms(s.reach)} / ${ms(s.calls)} / ${ms(s.end)}`;

const started = performance.now();
const results: Array<{ profile: LatencyProfile; noReuse: Summary; reuse: Summary }> = [];
for (const profile of PROFILES) {
  const t = performance.now();
  results.push({ profile, ...(await measure(profile)) });
  console.error(`measured ${profile.name} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
await sim.stop();

const rows: string[] = [];
for (const { profile, noReuse, reuse } of results) {
  rows.push(
    `| ${profile.name} | no reuse | ${ms(noReuse.first.total)} | ${ms(noReuse.steady.median.total)} | ${ms(noReuse.steady.p90.total)} | ${phases(noReuse.steady.median)} | ${noReuse.startSession} | ${noReuse.terminateSession} |`,
    `| ${profile.name} | reuse | ${ms(reuse.first.total)} | ${ms(reuse.steady.median.total)} | ${ms(reuse.steady.p90.total)} | ${phases(reuse.steady.median)} | ${reuse.startSession} | ${reuse.terminateSession} (+${reuse.terminateAtShutdown} at shutdown) |`,
  );
}
const table = [
  `| profile | mode | first step (ms) | steady median (ms) | steady p90 (ms) | steady median: reach / calls / end (ms) | StartSession | TerminateSession |`,
  '|---|---|---:|---:|---:|---:|---:|---:|',
  ...rows,
].join('\n');

const link = (l: LinkModel): string =>
  `RTT ${l.rttMs} ms, new connection ${ms(newConnectionMs(l))} ms to first byte${l.responseDelayMs ? `, answer ${l.responseDelayMs} ms` : ''}`;
const profileLines = results.map(
  ({ profile: p }) =>
    `- ${p.name}: ${p.description}. (a) Lambda→API: ${link(p.lambdaToApi)}; (b) Lambda→ssmmessages: ${link(p.lambdaToMessages)}; (c) agent→ssmmessages: ${link(p.agentToMessages)}; agent pacing ${p.agent.outputPacingMs} ms per 1 KiB message`,
);
console.log(
  `\n${STEPS} steps per mode; steady = steps 2…${STEPS}; step = reach the engine + Engine.connect (GET /version), GET /_ping, GET /services/${SERVICE} + end\n${table}\n\n${profileLines.join('\n')}\n\nnode ${process.version}, ${((performance.now() - started) / 1000).toFixed(1)} s in all`,
);

const round = (step: Step): Step => ({
  reach: Number(step.reach.toFixed(2)),
  calls: Number(step.calls.toFixed(2)),
  end: Number(step.end.toFixed(2)),
  total: Number(step.total.toFixed(2)),
});
const roundSummary = (s: Summary): Summary => ({
  ...s,
  first: round(s.first),
  steady: { median: round(s.steady.median), p90: round(s.steady.p90), count: s.steady.count },
});
await mkdir('bench/results', { recursive: true });
await writeFile(
  'bench/results/step-overhead.json',
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      steps: STEPS,
      step: `reach the engine, Engine.connect (GET /version), GET /_ping, GET /services/${SERVICE}, end`,
      profiles: results.map(({ profile, noReuse, reuse }) => ({
        ...profile,
        noReuse: roundSummary(noReuse),
        reuse: roundSummary(reuse),
      })),
      sources: SOURCES,
      table,
    },
    null,
    2,
  )}\n`,
);
