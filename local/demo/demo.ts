/**
 * `npm run demo`: the product in a few minutes on this machine. The twin (the stack as the Pulumi
 * program describes it, running the built bundles) against 3 real Swarm clusters, a real registry
 * and real Prometheus; a service already running v1 everywhere; a good release promoted through the
 * canary, its analysis and two waves; a bad release rolled back; an undo through the workflow; the
 * live view while each runs; a summary table of the audit trail. Everything it started is stopped
 * at the end (a fleet that was already up is left up).
 */
import { readFile } from 'node:fs/promises';
import { ApiClient } from '../../cli/client.js';
import type { Io } from '../../cli/io.js';
import { shortDigest, table } from '../../cli/render.js';
import { watch } from '../../cli/watch.js';
import type { DeploymentPage, DeploymentSummary } from '../../functions/lib/deploy/view.js';
import {
  createDemoService,
  dockerFor,
  pushDemo,
  registryAuth,
  removeServiceQuietly,
  waitForRunning,
} from '../../test/integration/support/fleet.js';
import { down, status } from '../fleet/fleet.js';
import { preflight } from '../fleet/preflight.js';
import { FleetError, run } from '../fleet/sys.js';
import { type LocalRuntime, REGION, startLocalRuntime } from '../runtime/runtime.js';

const SERVICE = 'web';
const began = Date.now();
const say = (line = '') => process.stdout.write(`${line}\n`);
const elapsed = () => `${((Date.now() - began) / 1000).toFixed(0)} s`;

/** One message naming the missing prerequisite and its fix, then exit 1. */
function missing(what: string, fix: string): never {
  process.stderr.write(`demo: ${what}\n  fix: ${fix}\n`);
  process.exit(1);
}

if (Number(process.versions.node.split('.')[0]) < 22)
  missing(
    `Node ${process.versions.node} runs this; the deployer needs Node 22`,
    'run it as `npm run demo` after `npm ci` (the project pins Node 22 as a dev dependency)',
  );
if (process.getuid?.() !== 0)
  missing(
    'the demo runs a local fleet (network namespaces, dockerd), which needs root',
    'sudo npm run demo (and `sudo ./local/setup.sh` first on a fresh machine)',
  );
try {
  await preflight();
} catch (err) {
  if (!(err instanceof FleetError)) throw err;
  missing(
    err.message.split('\n')[0] as string,
    'sudo ./local/setup.sh (installs every package the demo needs)',
  );
}

const wasUp = await status().then(
  (s) => s.clusters.length >= 3 && s.healthy,
  () => false,
);
say(`1/6 building the Lambda bundles (what Lambda would run)…`);
await run('node', [new URL('../../functions/build.mjs', import.meta.url).pathname]);

const base = JSON.parse(await readFile(new URL('../runtime/config.json', import.meta.url), 'utf8')) as {
  clusters: unknown[];
  services: Array<Record<string, unknown>>;
};
// Demo-sized timings: two analysis rounds 5 s apart after 10 s, a 5 s bake after the first wave.
const policy = {
  ...(base.services[0] as Record<string, unknown>),
  analysis: {
    metrics: [
      {
        template: 'success-rate',
        params: { minSuccessRate: 0.95 },
        interval: '5s',
        window: '15s',
        count: 2,
        initialDelay: '10s',
        failureLimit: 0,
        inconclusiveLimit: 1,
      },
    ],
  },
  pollSeconds: 1,
};
say(`2/6 starting the fleet (3 Swarm clusters, a registry, Prometheus each) and the twin…`);
let rt: LocalRuntime | undefined;
let exitCode = 0;
try {
  rt = await startLocalRuntime({
    fleet: { clusters: 3 },
    config: { clusters: base.clusters, services: [policy] },
  });
  const twin = rt;
  const operator = rt.user('demo-operator');
  const client = new ApiClient({
    url: rt.api.url,
    region: REGION,
    credentials: async () => operator,
    describe: 'the local twin',
  });
  const io: Io = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  };

  say(`3/6 baseline: ${SERVICE} runs v1 on every cluster (3 replicas), as a team's existing service would`);
  const v1 = await pushDemo(twin.fleet, { tag: 'base-v1', version: 'v1' });
  for (const c of twin.fleet.clusters) {
    const docker = dockerFor(c);
    await removeServiceQuietly(docker, `${SERVICE}-canary`);
    await removeServiceQuietly(docker, SERVICE);
    await createDemoService(docker, {
      name: SERVICE,
      image: v1.digestReference,
      replicas: 3,
      auth: registryAuth(twin.fleet),
    });
  }
  for (const c of twin.fleet.clusters) await waitForRunning(dockerFor(c), SERVICE, 3);

  const seen = new Set<string>();
  /** The newest deployment of the service that was not seen before (a push starts one). */
  async function next(timeoutMs = 120_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const page = await client.get<DeploymentPage>('/deployments', { service: SERVICE, limit: 5 });
      const fresh = page.items.find((d) => !seen.has(d.id));
      if (fresh) {
        seen.add(fresh.id);
        return fresh.id;
      }
      if (Date.now() > deadline) throw new Error('no deployment started: see the twin log above');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const follow = (id: string) => watch(client, io, { id, intervalMs: 1000 });

  say();
  say(
    `4/6 a good release: v2 is pushed; canary on c1, analysis, then waves "first" (c1) and "rest" (c2, c3)`,
  );
  await pushDemo(twin.fleet, { tag: 'v2.0.0', version: 'v2' });
  await follow(await next());

  say();
  say(
    `5/6 a bad release: v3 answers 50% of requests with 500; the canary's analysis fails and c1 is rolled back`,
  );
  await pushDemo(twin.fleet, { tag: 'v3.0.0', version: 'v3', errorRate: 0.5 });
  await follow(await next());

  say();
  say(`6/6 undo: back to the digest the last good release replaced (v1), through the same workflow`);
  const { body: undo } = await client.undo(SERVICE, 'demo: undo v2');
  seen.add(undo.deploymentId);
  await follow(undo.deploymentId);

  const history = await client.get<DeploymentPage>('/deployments', { service: SERVICE, limit: 10 });
  const rows = [...history.items]
    .reverse()
    .map((d: DeploymentSummary) => [
      d.trigger,
      d.tag,
      d.status,
      `${((Date.parse(d.finishedAt ?? d.startedAt) - Date.parse(d.startedAt)) / 1000).toFixed(0)} s`,
      ...d.clusters.map((c) => `${shortDigest(c.before)}→${c.after ? shortDigest(c.after) : 'unchanged'}`),
      (d.reason ?? '').slice(0, 60),
    ]);
  say();
  say('summary (the audit trail: `deployer history web --local`)');
  for (const line of table(['trigger', 'tag', 'outcome', 'took', 'c1', 'c2', 'c3', 'why'], rows))
    say(`  ${line}`);
  const outcomes = history.items.map((d) => d.status);
  if (outcomes.filter((s) => s === 'succeeded').length !== 2 || !outcomes.includes('rolled-back')) {
    say(`demo: unexpected outcomes ${outcomes.join(', ')}`);
    exitCode = 1;
  }
  say(`v1 ${shortDigest(v1.digest)} runs everywhere again.`);
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  exitCode = 1;
} finally {
  await rt?.stop();
  if (!wasUp) await down();
  say(
    `done in ${elapsed()}; ${wasUp ? 'the fleet was up before the demo and is left up' : 'nothing is left running (twin stopped, fleet down)'}.`,
  );
}
process.exit(exitCode);
