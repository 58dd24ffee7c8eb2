/**
 * Benchmark: state transitions of one deployment per scenario, counted from the interpreter's event
 * log (states entered + retries, as Standard workflows bill), and their price at $0.025 per 1,000
 * transitions (us-east-1). Runs on the local runtime with the shared 3-cluster fleet.
 * Usage: npm run bench:cost
 */
import { mkdir, writeFile } from 'node:fs/promises';
import {
  alertOf,
  baseline,
  callApi,
  deploymentIdOf,
  finished,
  policy,
  release,
  setPolicy,
  startRuntime,
} from '../test/e2e/support.js';

const PRICE = 0.025 / 1000;
const tenRounds = policy({
  analysis: {
    metrics: [
      {
        template: 'success-rate',
        params: { minSuccessRate: 0.9 },
        interval: '3s',
        window: '20s',
        count: 10,
        initialDelay: '20s',
        inconclusiveLimit: 2,
      },
    ],
  },
});
const rt = await startRuntime(tenRounds);
const rows: Array<{ scenario: string; status: string; transitions: number; seconds: number }> = [];
async function measure(scenario: string, run: () => Promise<string>) {
  const t0 = Date.now();
  const digest = await run();
  const executions = await finished(rt, digest);
  for (const e of executions) {
    rows.push({
      scenario,
      status: e.status,
      transitions: rt.engine.stateTransitions(e.executionArn),
      seconds: (Date.now() - t0) / 1000,
    });
  }
}

await baseline(rt);
await measure(
  'good release, 3 clusters in 2 waves, 10 analysis rounds',
  async () => (await release(rt, { tag: 'v7.0.0' })).digest,
);
await measure(
  'bad release (error rate 0.4): analysis fails, canary rolled back',
  async () => (await release(rt, { tag: 'v7.1.0', errorRate: 0.4 })).digest,
);
await measure('tag outside the policy: ignored', async () => (await release(rt, { tag: 'nightly' })).digest);
await setPolicy(
  rt,
  policy({ promotion: { mode: 'manual', approvalTimeoutSeconds: 120, onTimeout: 'rollback' } }),
);
await measure('manual approval, approved', async () => {
  const rel = await release(rt, { tag: 'v7.2.0' });
  await alertOf(rt, rel.digest, 'awaiting-approval');
  await callApi(rt, await deploymentIdOf(rt, rel.digest), 'approve', 'arn:aws:iam::000000000000:user/bench');
  return rel.digest;
});
await rt.stop();

const table = [
  '| scenario | outcome | state transitions | cost per deployment (USD) | wall time (s) |',
  '|---|---|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.status} | ${r.transitions} | ${(r.transitions * PRICE).toFixed(5)} | ${r.seconds.toFixed(0)} |`,
  ),
].join('\n');
console.log(`\n${table}`);
await mkdir('bench/results', { recursive: true });
await writeFile(
  'bench/results/workflow-cost.json',
  JSON.stringify({ date: new Date().toISOString(), pricePerTransition: PRICE, rows }, null, 2),
);
