/**
 * Benchmark: promote + converge through the deployer's operations, against `docker service update
 * --image` on the same engine, image and update_config, in one run. Both pull nothing (images are
 * pulled first) and both send registry credentials.
 *   ours        promote() then progress() polled every 250 ms until converged
 *   cli-detach  `docker service update --detach --image …` then the same progress() poll
 *   cli-wait    `docker service update --image …` with the CLI's own wait (what a user types)
 * Runs its own 1-cluster fleet (name dplb, 10.235.0.0/16) and removes it at the end.
 * Usage: npm run bench:promote [-- --runs 3]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Engine } from '../functions/lib/swarm/engine.js';
import { progress, promote, snapshot } from '../functions/lib/swarm/operations.js';
import type { UpdatePolicy } from '../functions/lib/swarm/types.js';
import { down, up } from '../local/fleet/fleet.js';
import {
  createDemoService,
  dockerFor,
  pushDemo,
  registryAuth,
  waitForRunning,
} from '../test/integration/support/fleet.js';

const exec = promisify(execFile);
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const base = { name: 'dplb', subnet: 235, clusters: 1 };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const policies: Record<string, UpdatePolicy> = {
  'parallelism 0, monitor 1 s': {
    parallelism: 0,
    delaySeconds: 0,
    monitorSeconds: 1,
    failureAction: 'pause',
    maxFailureRatio: 0,
    order: 'stop-first',
  },
  'parallelism 1, monitor 5 s (Swarm defaults)': {
    parallelism: 1,
    delaySeconds: 0,
    monitorSeconds: 5,
    failureAction: 'pause',
    maxFailureRatio: 0,
    order: 'stop-first',
  },
};

await down(base);
const f = await up(base);
const c = f.clusters[0] as (typeof f.clusters)[number];
const docker = dockerFor(c);
const engine = await Engine.connect({ cluster: c.name, socketPath: c.dockerHost.replace('unix://', '') });
const auth = registryAuth(f);
const images = [
  await pushDemo(f, { tag: 'bench-a', trafficRps: 1 }),
  await pushDemo(f, { tag: 'bench-b', trafficRps: 1 }),
] as const;
for (const img of images) await engine.pullImage(img.digestReference, auth);
const dockerConfig = await mkdtemp(join(tmpdir(), 'bench-docker-'));
const basic = Buffer.from(`${f.registry.username}:${f.registry.password}`).toString('base64');
await writeFile(
  join(dockerConfig, 'config.json'),
  JSON.stringify({ auths: { [f.registry.address]: { auth: basic } } }),
);
const cliEnv = { ...process.env, DOCKER_HOST: c.dockerHost, DOCKER_CONFIG: dockerConfig };

await createDemoService(docker, { name: 'bench', image: images[0].digestReference, replicas: 3, auth });
await waitForRunning(docker, 'bench', 3);
let current = 0;

async function untilConverged(image: string): Promise<void> {
  for (;;) {
    const p = await progress(engine, { service: 'bench', image });
    if (p.verdict === 'converged') return;
    if (p.verdict === 'failed') throw new Error(p.reason);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function cliArgs(p: UpdatePolicy, image: string, detach: boolean): string[] {
  return [
    'service',
    'update',
    '--quiet',
    `--detach=${detach}`,
    '--with-registry-auth',
    '--image',
    image,
    `--update-parallelism=${p.parallelism}`,
    `--update-delay=${p.delaySeconds}s`,
    `--update-monitor=${p.monitorSeconds}s`,
    `--update-failure-action=${p.failureAction}`,
    `--update-max-failure-ratio=${p.maxFailureRatio}`,
    `--update-order=${p.order}`,
    'bench',
  ];
}

const results: Array<{ policy: string; ours: number[]; cliDetach: number[]; cliWait: number[] }> = [];
for (const [name, policy] of Object.entries(policies)) {
  const r = { policy: name, ours: [] as number[], cliDetach: [] as number[], cliWait: [] as number[] };
  for (let i = 0; i < runs; i++) {
    for (const method of ['ours', 'cliDetach', 'cliWait'] as const) {
      const next = (current === 0 ? images[1] : images[0]).digestReference;
      const t0 = performance.now();
      if (method === 'ours') {
        const snap = await snapshot(engine, 'bench');
        await promote(engine, {
          ref: { deploymentId: `bench-${i}-${name}`, cluster: c.name, service: 'bench' },
          snapshot: snap,
          image: next,
          update: policy,
          registryAuth: auth,
        });
        await untilConverged(next);
      } else if (method === 'cliDetach') {
        await exec('docker', cliArgs(policy, next, true), { env: cliEnv });
        await untilConverged(next);
      } else {
        await exec('docker', cliArgs(policy, next, false), { env: cliEnv });
      }
      r[method].push((performance.now() - t0) / 1000);
      current = 1 - current;
      await untilConverged(next); // every method starts from a converged service
    }
  }
  results.push(r);
  console.log(
    `${name}: ours ${r.ours.map((x) => x.toFixed(2))} s, cli --detach + poll ${r.cliDetach.map((x) => x.toFixed(2))} s, cli waiting ${r.cliWait.map((x) => x.toFixed(2))} s`,
  );
}
await down(base);

const table = [
  `| update_config (3 replicas) | promote + converge, ours (s) | \`docker service update --detach\` + same poll (s) | ratio | \`docker service update\` with CLI wait (s) | ratio |`,
  '|---|---:|---:|---:|---:|---:|',
  ...results.map((r) => {
    const o = median(r.ours);
    const d = median(r.cliDetach);
    const w = median(r.cliWait);
    return `| ${r.policy} | ${o.toFixed(2)} | ${d.toFixed(2)} | ${(o / d).toFixed(2)} | ${w.toFixed(2)} | ${(o / w).toFixed(2)} |`;
  }),
].join('\n');
console.log(`\nmedians of ${runs} runs\n${table}`);
await mkdir('bench/results', { recursive: true });
await writeFile(
  'bench/results/promote.json',
  JSON.stringify({ date: new Date().toISOString(), runs, results }, null, 2),
);
