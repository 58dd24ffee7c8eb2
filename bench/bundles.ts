/**
 * Benchmark: the Lambda bundles (`npm run build` runs first): each one's size (bytes, and gzip -9
 * as a stand-in for the deployment zip) and its cold import time in a fresh Node 22 process (the
 * time of `await import(bundle)` in the child, from a copy outside the repository; median of 5).
 * Aim for the steps that never reach Docker: under 500 KB and 150 ms.
 * Usage: npm run bench:bundles
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import {
  bundlePath,
  DOCKER_STEPS,
  handlerNames,
  NODE,
  ROOT,
  removeStaged,
  runBundle,
} from '../test/bundles/support.js';

const RUNS = 5;
const AIM = { bytes: 500_000, importMs: 150 };

const built = spawnSync(NODE, [join(ROOT, 'functions', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
if (built.status !== 0) throw new Error('npm run build failed');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

const rows: Array<{
  bundle: string;
  docker: boolean;
  bytes: number;
  gzipBytes: number;
  importMs: number[];
  medianImportMs: number;
  meetsAim: boolean | null;
}> = [];
try {
  for (const name of handlerNames()) {
    const text = await readFile(bundlePath(name));
    const importMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await runBundle(name);
      if (run.code !== 0) throw new Error(`${name}: the import failed\n${run.stderr}`);
      importMs.push(Math.round(run.importMs * 10) / 10);
    }
    const docker = DOCKER_STEPS.has(name);
    const bytes = text.length;
    const medianImportMs = median(importMs);
    rows.push({
      bundle: name,
      docker,
      bytes,
      gzipBytes: gzipSync(text, { level: constants.Z_BEST_COMPRESSION }).length,
      importMs,
      medianImportMs,
      meetsAim: docker ? null : bytes < AIM.bytes && medianImportMs < AIM.importMs,
    });
  }
} finally {
  removeStaged();
}

const kb = (n: number) => (n / 1000).toFixed(0);
const table = [
  '| bundle | reaches Docker | size (KB) | gzip (KB) | cold import, median of 5 (ms) | aim met |',
  '|---|---|---:|---:|---:|---|',
  ...rows.map(
    (r) =>
      `| ${r.bundle} | ${r.docker ? 'yes' : 'no'} | ${kb(r.bytes)} | ${kb(r.gzipBytes)} | ${r.medianImportMs.toFixed(0)} | ${r.meetsAim === null ? '(no aim)' : r.meetsAim ? 'yes' : 'no'} |`,
  ),
].join('\n');

await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
await writeFile(
  join(ROOT, 'bench', 'results', 'bundles.json'),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim(),
      runs: RUNS,
      aim: { ...AIM, for: 'steps that never reach Docker' },
      bundles: rows,
    },
    null,
    2,
  )}\n`,
);
console.log(table);
