import { createHash } from 'node:crypto';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushedImage } from '../../local/fleet/demo-image.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import { dockerFor, promQuery } from '../integration/support/fleet.js';
import {
  alertOf,
  alerts,
  baseline,
  clusterImages,
  finished,
  functionOf,
  policy,
  release,
  SERVICE,
  setPolicy,
  startRuntime,
} from './support.js';

/** What `web` needs besides its image: two secrets from SecureString parameters, env, a memory limit. */
const spec = (over: Record<string, unknown> = {}) => ({
  env: { GREETING: 'hello' },
  resources: { limits: { memory: '64m' } },
  secrets: [
    { name: 'db-password', source: { parameter: '/app/web/db-password' } },
    { name: 'api-key', source: { parameter: '/app/web/api-key' }, target: 'api.key' },
  ],
  ...over,
});
/** Every secret value this file writes: none may appear in anything the runs produce. */
const VALUES = {
  v1: 'pw-one-7f3a9c2e41d8',
  v2: 'pw-two-b81e06d95c3f',
  v3: 'pw-three-4ac7e2f0d19b',
  apiKey: 'key-5e0b9d7c13a8f2',
};
const version = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 12);

interface Mounted {
  SecretName: string;
  File: { Name: string };
}
interface Inspected {
  Spec: {
    TaskTemplate: {
      ContainerSpec: { Image: string; Env?: string[]; Secrets?: Mounted[] };
      Resources?: { Limits?: { MemoryBytes?: number } };
    };
  };
}

/** The secrets, env and memory limit a service runs with on one cluster (undefined: no such service). */
async function specOf(rt: LocalRuntime, cluster: string, service: string) {
  const rtCluster = rt.fleet.clusters.find((c) => c.name === cluster);
  if (!rtCluster) throw new Error(`no cluster ${cluster}`);
  const s = (await dockerFor(rtCluster)
    .getService(service)
    .inspect()
    .catch(() => undefined)) as Inspected | undefined;
  if (!s) return undefined;
  const c = s.Spec.TaskTemplate.ContainerSpec;
  return {
    secrets: (c.Secrets ?? []).map((m) => m.SecretName).sort(),
    env: c.Env ?? [],
    memory: s.Spec.TaskTemplate.Resources?.Limits?.MemoryBytes,
  };
}

/** The Docker secrets of `web` on each cluster, by name. */
async function secretsOn(rt: LocalRuntime): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const c of rt.fleet.clusters) {
    const list = await dockerFor(c).listSecrets({ filters: { label: [`deployer.object-of=${SERVICE}`] } });
    out[c.name] = list.map((x: { Spec?: { Name?: string } }) => x.Spec?.Name ?? '').sort();
  }
  return out;
}

/** Removes every Docker secret of `web` (no service uses them once the baseline replaced it). */
async function removeSecrets(rt: LocalRuntime): Promise<void> {
  for (const c of rt.fleet.clusters) {
    const d = dockerFor(c);
    for (const s of await d.listSecrets({ filters: { label: [`deployer.object-of=${SERVICE}`] } })) {
      await d.getSecret(s.ID).remove();
    }
  }
}

describe('a release through the whole workflow', () => {
  let rt: LocalRuntime;
  let base: PushedImage;
  let good: PushedImage;
  let ssm: SSMClient;
  const putSecret = (name: string, value: string) =>
    ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }));

  beforeAll(async () => {
    // The stack is made with the policy's secret references: its roles may read exactly those.
    rt = await startRuntime(policy({ spec: spec() }));
    ssm = new SSMClient(rt.clientConfig);
  });
  afterAll(async () => {
    ssm?.destroy();
    await rt?.stop();
  });

  it('refuses a release whose secret source is missing, naming it, before changing anything', async () => {
    // Prepare: the database password exists, the API key was never stored
    base = await baseline(rt);
    await removeSecrets(rt); // versions an earlier run left on the shared fleet
    await putSecret('/app/web/db-password', VALUES.v1);
    const before = await clusterImages(rt);
    // Act
    const refused = await release(rt, { tag: 'v1.0.9' });
    const [execution] = await finished(rt, refused.digest);
    // Assess: the plan refused it, naming the policy field and the parameter; nothing changed
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('SecretSourceError');
    expect(JSON.parse(execution?.cause ?? '{}').errorMessage).toMatch(
      /policy "web" spec\.secrets\[1\]\.source \(api-key\): .*parameter \/app\/web\/api-key/,
    );
    expect(await clusterImages(rt)).toEqual(before);
    expect(await secretsOn(rt)).toEqual({ c1: [], c2: [], c3: [] });
    expect((await alertOf(rt, refused.digest, 'deployment-failed')).summary).toMatch(/api-key/);
  });

  it('canaries, judges and promotes a good release to all 3 clusters, then removes the canary', async () => {
    // Prepare
    await putSecret('/app/web/api-key', VALUES.apiKey);
    // Act
    good = await release(rt, { tag: 'v1.1.0' });
    // The canary runs the new secret versions first, while the other clusters still run without them
    await alertOf(rt, good.digest, 'canary-ready');
    const first = [`api-key-${version(VALUES.apiKey)}`, `db-password-${version(VALUES.v1)}`];
    expect(await specOf(rt, 'c1', `${SERVICE}-canary`)).toEqual({
      secrets: first,
      env: ['GREETING=hello'],
      memory: 64 * 1024 * 1024,
    });
    expect((await specOf(rt, 'c2', SERVICE))?.secrets).toEqual([]);
    const [execution] = await finished(rt, good.digest);
    // Assess
    expect(execution?.status, `${execution?.error}: ${execution?.cause}`).toBe('SUCCEEDED');
    const output = JSON.parse(execution?.output ?? '{}');
    expect(output).toMatchObject({
      outcome: 'succeeded',
      digest: good.digest,
      deployed: ['c1', 'c2', 'c3'],
      failed: [],
      deployment: { service: 'web', tag: 'v1.1.0', image: good.digestReference },
    });
    expect(output.before.map((b: { cluster: string; digest: string }) => [b.cluster, b.digest])).toEqual([
      ['c1', base.digest],
      ['c2', base.digest],
      ['c3', base.digest],
    ]);
    expect(output.analysis).toMatch(
      /^analysis Successful after \d+ round\(s\): success-rate = [\d.]+ met condition "result >= 0.9"/,
    );
    expect(await clusterImages(rt)).toEqual({
      c1: { image: good.digestReference, canary: false },
      c2: { image: good.digestReference, canary: false },
      c3: { image: good.digestReference, canary: false },
    });
    expect(alerts(rt, good.digest).map((a) => a.transition)).toEqual([
      'started',
      'canary-ready',
      'wave-promoted',
      'wave-promoted',
      'succeeded',
    ]);
    // Then the waves: every primary runs the same versions, env and limit
    for (const c of ['c1', 'c2', 'c3']) {
      expect(await specOf(rt, c, SERVICE)).toEqual({
        secrets: first,
        env: ['GREETING=hello'],
        memory: 64 * 1024 * 1024,
      });
    }
    expect(await secretsOn(rt)).toEqual({ c1: first, c2: first, c3: first });
  });

  it('rolls back a release whose canary fails analysis, naming the metric and its value', async () => {
    // Prepare: the release comes with a new database password
    const before = await clusterImages(rt);
    const secretsBefore = await secretsOn(rt);
    await putSecret('/app/web/db-password', VALUES.v2);
    // Act: a release whose every request fails 40% of the time
    const bad = await release(rt, { tag: 'v1.2.0', errorRate: 0.4 });
    await alertOf(rt, bad.digest, 'canary-ready');
    expect((await specOf(rt, 'c1', `${SERVICE}-canary`))?.secrets).toContain(
      `db-password-${version(VALUES.v2)}`,
    );
    const [execution] = await finished(rt, bad.digest);
    // Assess
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('AnalysisFailedError');
    expect(JSON.parse(execution?.cause ?? '{}').errorMessage).toMatch(
      /^analysis Failed on c1: success-rate = 0\.[0-8]\d* failed condition "result >= 0\.9"/,
    );
    expect(await clusterImages(rt)).toEqual(before); // every cluster keeps or gets back its digest, no canary left
    // …and its secrets: the old version in use everywhere, the new one removed from every cluster
    expect(await secretsOn(rt)).toEqual(secretsBefore);
    for (const c of ['c1', 'c2', 'c3']) {
      expect((await specOf(rt, c, SERVICE))?.secrets).toContain(`db-password-${version(VALUES.v1)}`);
    }
    const sent = alerts(rt, bad.digest);
    expect(sent.map((a) => a.transition)).toEqual([
      'started',
      'canary-ready',
      'analysis-failed',
      'rolled-back',
    ]);
    const rolledBack = sent.find((a) => a.transition === 'rolled-back');
    expect(rolledBack?.summary).toMatch(
      /rolled back on c1: AnalysisFailedError: analysis Failed on c1: success-rate = 0\.\d+ failed condition/,
    );
    expect(rolledBack?.attributes).toMatchObject({
      transition: { DataType: 'String', StringValue: 'rolled-back' },
      severity: { StringValue: 'warning' },
      service: { StringValue: 'web' },
    });
  });

  it('records a tag outside the policy as ignored and changes nothing', async () => {
    const before = await clusterImages(rt);
    const other = await release(rt, { tag: 'nightly-7' });
    const [execution] = await finished(rt, other.digest);
    expect(execution?.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution?.output ?? '{}').plan).toEqual({
      outcome: 'ignored',
      reason: 'no service policy deploys demo:nightly-7',
    });
    expect(await clusterImages(rt)).toEqual(before);
    expect(alerts(rt, other.digest)).toEqual([]);
  });

  it("emits the deployer's own metrics for the good and the bad release, and the fleet's Prometheus scrapes them", async () => {
    // Prepare: the two tests above deployed a good release and rolled back a bad one
    const emf = (handler: string) =>
      functionOf(rt, handler)
        .logs.filter((l) => l.includes('"_aws"'))
        .map(
          (l) =>
            JSON.parse(l) as Record<string, unknown> & {
              _aws: { CloudWatchMetrics: Array<{ Namespace: string }> };
            },
        );
    // Act: CloudWatch would read these EMF records from the functions' logs
    const completed = emf('complete').filter((r) => r.DeploymentsSucceeded !== undefined);
    const rolledBack = emf('conclude-rollback').filter((r) => r.DeploymentsRolledBack !== undefined);
    // Assess: one record each, in the deployer's namespace, by service, with the time it took
    expect(completed).toEqual([expect.objectContaining({ service: 'web', DeploymentsSucceeded: 1 })]);
    expect(completed[0]?._aws.CloudWatchMetrics[0]?.Namespace).toBe('SwarmDeployer');
    expect(rolledBack).toEqual([expect.objectContaining({ service: 'web', DeploymentsRolledBack: 1 })]);
    // How long each took, in records of their own
    expect(emf('complete').some((r) => r.service === 'web' && typeof r.TimeToDeploy === 'number')).toBe(true);
    expect(
      emf('conclude-rollback').some((r) => r.service === 'web' && typeof r.TimeToRollBack === 'number'),
    ).toBe(true);
    expect(emf('analyze').some((r) => r.AnalysisVerdicts !== undefined && r.verdict === 'Failed')).toBe(true);
    // …and locally the same numbers are in the fleet's Prometheus (job swarm-deployer, every 5 s)
    const prometheus = rt.fleet.clusters[0]?.prometheusUrl as string;
    const deadline = Date.now() + 30_000;
    let seen = { succeeded: 0, rolledBack: 0 };
    while (Date.now() < deadline) {
      const [succeeded] = await promQuery(
        prometheus,
        'sum(swarm_deployer_deployments_succeeded_total{service="web"})',
      );
      const [rolled] = await promQuery(
        prometheus,
        'sum(swarm_deployer_deployments_rolled_back_total{service="web"})',
      );
      seen = { succeeded: succeeded?.value ?? 0, rolledBack: rolled?.value ?? 0 };
      if (seen.succeeded >= 1 && seen.rolledBack >= 1) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(seen).toEqual({ succeeded: 1, rolledBack: 1 });
    const [latency] = await promQuery(prometheus, 'count(swarm_deployer_step_latency_seconds_count)');
    expect(latency?.value).toBeGreaterThan(5);
  });

  it('applies a spec-only change through canary, analysis and waves, reporting drift first', async () => {
    // Prepare: someone changed c2's environment by hand; the policy now wants another greeting, a
    // larger memory limit and a rotated database password, for the image every cluster already runs
    await dockerFor(rt.fleet.clusters[1] as never)
      .getService(SERVICE)
      .inspect()
      .then(async (s: { Version: { Index: number }; Spec: Inspected['Spec'] & Record<string, unknown> }) => {
        const next = structuredClone(s.Spec);
        next.TaskTemplate.ContainerSpec.Env = [...(next.TaskTemplate.ContainerSpec.Env ?? []), 'DEBUG=1'];
        await dockerFor(rt.fleet.clusters[1] as never)
          .getService(SERVICE)
          .update({ version: s.Version.Index, ...next });
      });
    await putSecret('/app/web/db-password', VALUES.v3);
    await setPolicy(
      rt,
      policy({ spec: spec({ env: { GREETING: 'bonjour' }, resources: { limits: { memory: '96MiB' } } }) }),
    );
    const running = (await clusterImages(rt)).c1?.image;
    // Act
    const res = await rt.callApi('POST', `/services/${SERVICE}/apply`, rt.user('alice'), {
      reason: 'rotate the database password',
    });
    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const [execution] = await finished(rt, good.digest).then((list) =>
      list.filter((e) => e.input.includes('swarm-deployer.operator')),
    );
    expect(execution?.status, `${execution?.error}: ${execution?.cause}`).toBe('SUCCEEDED');
    const output = JSON.parse(execution?.output ?? '{}');
    expect(output).toMatchObject({ outcome: 'succeeded', deployed: ['c1', 'c2', 'c3'] });
    expect(output.analysis).toMatch(/^analysis Successful/);
    // The drift is in the execution's report of each cluster before the change, and in an alert
    expect(
      output.before.map((b: { cluster: string; drift?: string[] }) => [b.cluster, b.drift ?? []]),
    ).toEqual([
      ['c1', []],
      ['c2', ['env']],
      ['c3', []],
    ]);
    // The plan carries where each secret comes from and at which version, never its value
    expect(output.deployment.spec.secrets.map((x: { source: unknown }) => x.source)).toEqual([
      { parameter: '/app/web/db-password', version: '3' },
      { parameter: '/app/web/api-key', version: '1' },
    ]);
    const transitions = alerts(rt, good.digest)
      .filter((a) => JSON.stringify(a).includes(output.deployment.id))
      .map((a) => a.transition);
    expect(transitions).toEqual(
      expect.arrayContaining(['started', 'drift', 'canary-ready', 'wave-promoted', 'succeeded']),
    );
    const drift = alerts(rt, good.digest).find((a) => a.transition === 'drift');
    expect(drift?.summary).toMatch(/web on c2 drifted since deployment .*: env changed outside the deployer/);
    const v3 = [`api-key-${version(VALUES.apiKey)}`, `db-password-${version(VALUES.v3)}`];
    for (const c of ['c1', 'c2', 'c3']) {
      expect(await specOf(rt, c, SERVICE)).toEqual({
        secrets: v3,
        env: ['GREETING=bonjour'],
        memory: 96 * 1024 * 1024,
      });
    }
    expect((await clusterImages(rt)).c2).toEqual({ image: running, canary: false });
    // The old versions are pruned after the success, on every cluster
    expect(await secretsOn(rt)).toEqual({ c1: v3, c2: v3, c3: v3 });
  });

  it('puts no secret value in any execution input, output or history, log line or alert', async () => {
    // Prepare: everything the runs above produced
    const produced: string[] = [];
    const { executions } = await rt.engine.listExecutions({ stateMachineArn: rt.stateMachineArn });
    for (const e of executions) {
      produced.push(JSON.stringify(await rt.engine.describeExecution(e.executionArn)));
      let nextToken: string | undefined;
      do {
        const page = await rt.engine.getExecutionHistory({ executionArn: e.executionArn, nextToken });
        produced.push(JSON.stringify(page.events));
        nextToken = page.nextToken;
      } while (nextToken);
    }
    for (const f of rt.functions.values()) produced.push(...f.logs);
    produced.push(...rt.aws.sns.messages(rt.topicArn).map((m) => JSON.stringify(m)));
    const text = produced.join('\n');
    // Act / Assess: the runs did produce a record (the pruned versions are named in it), never a value
    expect(text).toContain(`db-password-${version(VALUES.v1)}`);
    for (const [which, value] of Object.entries(VALUES)) {
      expect(text.includes(value), `secret ${which} appears in what the runs produced`).toBe(false);
      expect(
        text.includes(Buffer.from(value).toString('base64')),
        `secret ${which} appears base64-encoded`,
      ).toBe(false);
    }
  });
});
