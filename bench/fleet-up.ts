/**
 * Benchmark: time of `up` for 1 and 3 clusters from nothing, and the memory of the whole fleet (sum
 * of RSS of every fleet process: dockerd, containerd, shims, containers, Prometheus, registry),
 * idle and with the demo service (2 replicas, 5 rps each) on every cluster.
 * Runs its own fleet (name dplb, 10.235.0.0/16) and removes it at the end.
 * Usage: npm run bench:fleet [-- --runs 3]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { down, fleetMemory, up } from '../local/fleet/fleet.js';
import {
  createDemoService,
  dockerFor,
  pushDemo,
  registryAuth,
  waitForRunning,
} from '../test/integration/support/fleet.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const base = { name: 'dplb', subnet: 235 };
const MiB = 2 ** 20;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const rows: Array<{
  clusters: number;
  upSeconds: number[];
  idleMiB: number;
  withDemoMiB: number;
  processes: number;
}> = [];
for (const clusters of [1, 3]) {
  const upSeconds: number[] = [];
  let idle = 0;
  let withDemo = 0;
  let processes = 0;
  for (let i = 0; i < runs; i++) {
    await down(base);
    const t0 = performance.now();
    const s = await up({ ...base, clusters });
    upSeconds.push((performance.now() - t0) / 1000);
    if (!s.healthy) throw new Error('fleet came up unhealthy');
    if (i === runs - 1) {
      await new Promise((r) => setTimeout(r, 5000)); // let Prometheus settle into its steady state
      idle = (await fleetMemory(base)).rssBytes;
      const image = await pushDemo(s, { tag: 'bench' });
      for (const c of s.clusters) {
        await createDemoService(dockerFor(c), {
          name: 'bench',
          image: image.digestReference,
          replicas: 2,
          auth: registryAuth(s),
        });
      }
      for (const c of s.clusters) await waitForRunning(dockerFor(c), 'bench', 2);
      await new Promise((r) => setTimeout(r, 15000));
      const m = await fleetMemory(base);
      withDemo = m.rssBytes;
      processes = m.processes;
    }
  }
  rows.push({ clusters, upSeconds, idleMiB: idle / MiB, withDemoMiB: withDemo / MiB, processes });
  console.log(
    `clusters=${clusters} up: ${upSeconds.map((s) => s.toFixed(2)).join(' ')} s; RSS idle ${(idle / MiB).toFixed(0)} MiB, with demo ${(withDemo / MiB).toFixed(0)} MiB (${processes} processes)`,
  );
}
await down(base);

const table = [
  '| clusters | `up` from nothing, median of ' +
    runs +
    ' (s) | fleet RSS idle (MiB) | fleet RSS with demo service (MiB) | processes |',
  '|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.clusters} | ${median(r.upSeconds).toFixed(1)} | ${r.idleMiB.toFixed(0)} | ${r.withDemoMiB.toFixed(0)} | ${r.processes} |`,
  ),
].join('\n');
console.log(`\n${table}`);
await mkdir('bench/results', { recursive: true });
await writeFile(
  'bench/results/fleet-up.json',
  JSON.stringify({ date: new Date().toISOString(), runs, rows }, null, 2),
);
