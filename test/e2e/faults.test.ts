import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alertJson } from '../../functions/lib/notify/notifier.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import {
  alertOf,
  alerts,
  baseline,
  blockRegistry,
  callApi,
  clusterImages,
  deploymentIdOf,
  executionsFor,
  finished,
  functionOf,
  policy,
  release,
  runningImages,
  setPolicy,
  startRuntime,
} from './support.js';

const everywhere = (image: string) => ({
  c1: { image, canary: false },
  c2: { image, canary: false },
  c3: { image, canary: false },
});
const runningEverywhere = (image: string) => ({ c1: [image], c2: [image], c3: [image] });

/** A policy whose first wave (c1) bakes long enough for a test to act while it runs the new digest. */
const baking = (over: Record<string, unknown> = {}) =>
  policy({
    waves: [
      { name: 'first', clusters: ['c1'], bakeSeconds: 60 },
      { name: 'rest', clusters: ['c2', 'c3'] },
    ],
    ...over,
  });

/** Every path ends with each cluster on one known digest, and the alert says why. */
describe('safe under every fault', () => {
  let rt: LocalRuntime;
  let sfn: SFNClient;
  const undo: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    rt = await startRuntime(baking());
    sfn = new SFNClient(rt.clientConfig);
  });
  afterEach(async () => {
    for (const u of undo.splice(0)) await u();
    await setPolicy(rt, baking());
  });
  afterAll(async () => {
    sfn?.destroy();
    await rt?.stop();
  });

  it('restores every touched cluster from the record when stopped after the tag moved on and the policy changed', async () => {
    // Prepare: c1 runs the release and bakes
    const base = await baseline(rt);
    const rel = await release(rt, { tag: 'v9.1.0', version: '9.1.0' });
    await alertOf(rt, rel.digest, 'wave-promoted');
    const [running] = await executionsFor(rt, rel.digest);
    // The world moves on: the policy no longer deploys this tag nor lists c1, and the tag points elsewhere.
    await setPolicy(
      rt,
      policy({
        tags: { glob: 'never-*' },
        clusters: ['c2', 'c3'],
        canary: { cluster: 'c2', percent: 34 },
        waves: undefined,
      }),
    );
    const moved = await release(rt, { tag: 'v9.1.0', version: '9.1.1' });
    expect(moved.digest).not.toBe(rel.digest);
    // Act
    await sfn.send(
      new StopExecutionCommand({
        executionArn: running?.executionArn,
        error: 'OperatorStop',
        cause: 'stopped',
      }),
    );
    // Assess: the reaper's rollback worked from the stored plan and snapshot
    const rolledBack = await alertOf(rt, rel.digest, 'rolled-back');
    expect(rolledBack.summary).toMatch(/rolled back on c1: ExecutionStoppedError/);
    expect(await clusterImages(rt)).toEqual(everywhere(base.digestReference));
    expect(await runningImages(rt)).toEqual(runningEverywhere(base.digestReference));
  });

  it('reaps an execution that failed outside its catch paths (payload limit) and restores the canary cluster, with an alert', async () => {
    // Prepare: a push the registry announces while no policy deploys it, then a policy with many metrics
    const base = await baseline(rt);
    const manyMetrics = {
      metrics: Array.from({ length: 8 }, (_, i) => ({
        name: `success-rate-${i}`,
        template: 'success-rate',
        params: { minSuccessRate: 0.5 },
        interval: '5s',
        window: '20s',
        count: 6,
        initialDelay: '10s',
        failureLimit: 0,
        inconclusiveLimit: 5,
      })),
    };
    await setPolicy(rt, baking({ tags: { glob: 'never-*' } }));
    const rel = await release(rt, { tag: 'pad-1.0', version: '9.2.0' });
    const [ignored] = await finished(rt, rel.digest);
    const event = JSON.parse(ignored?.input ?? '{}') as Record<string, unknown>;
    await setPolicy(rt, baking({ tags: { glob: 'pad-*' }, analysis: manyMetrics }));
    // The state before the first change is the event, the plan, the lock and the preflight: size the
    // padding so that the state crosses 256 KiB only once the canary runs and the analysis record grows.
    const planned = await functionOf(rt, 'plan').invoke({ event, executionName: 'sizing' });
    const before = JSON.stringify({ event, plan: planned }).length + 1_500;
    const padded = { ...event, resources: ['x'.repeat(262_144 - before - 2_500)] };
    // Act
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: rt.stateMachineArn,
        name: `padded-${rel.digest.slice(7, 19)}`,
        input: JSON.stringify(padded),
      }),
    );
    // Assess
    const rolledBack = await alertOf(rt, rel.digest, 'rolled-back', 300_000);
    const all = await finished(rt, rel.digest);
    const failed = all.find((e) => e.executionArn === started.executionArn);
    expect(failed?.status).toBe('FAILED');
    expect(failed?.error).toBe('States.DataLimitExceeded');
    expect(rolledBack.summary).toMatch(
      /rolled back on c1: ExecutionFailedError: .*States\.DataLimitExceeded/,
    );
    expect(await clusterImages(rt)).toEqual(everywhere(base.digestReference));
  });

  it('never runs the reaper’s rollback beside a queued deployment of the same service', async () => {
    // Prepare: A bakes on c1; B is queued behind it
    await baseline(rt);
    const a = await release(rt, { tag: 'v9.3.0', version: '9.3.0' });
    await alertOf(rt, a.digest, 'wave-promoted');
    const [runningA] = await executionsFor(rt, a.digest);
    await setPolicy(rt, policy()); // B does not bake
    const b = await release(rt, { tag: 'v9.4.0', version: '9.4.0' });
    while ((await executionsFor(rt, b.digest)).length === 0) await new Promise((r) => setTimeout(r, 200));
    // Act
    await sfn.send(new StopExecutionCommand({ executionArn: runningA?.executionArn, error: 'OperatorStop' }));
    // Assess: A's rollback concluded before B started, and B then deployed everywhere
    await finished(rt, b.digest);
    const order = rt.aws.sns
      .messages(rt.topicArn)
      .map((m) => alertJson(m.message) as { transition: string; digest: string; at: string })
      .filter(
        (m) =>
          (m.digest === a.digest && m.transition === 'rolled-back') ||
          (m.digest === b.digest && m.transition === 'started'),
      )
      .map((m) => `${m.digest === a.digest ? 'A' : 'B'} ${m.transition}`);
    expect(order).toEqual(['A rolled-back', 'B started']);
    expect(await clusterImages(rt)).toEqual(everywhere(b.digestReference));
  });

  it('restores a cluster that fails within the wave’s budget, and names it in the outcome', async () => {
    // Prepare: c3 cannot pull from the registry; the second wave allows one failure
    await setPolicy(
      rt,
      policy({
        waves: [
          { name: 'first', clusters: ['c1'] },
          { name: 'rest', clusters: ['c2', 'c3'], maxFailures: 1 },
        ],
      }),
    );
    const base = await baseline(rt);
    undo.push(await blockRegistry(rt, 'c3'));
    // Act
    const rel = await release(rt, { tag: 'v9.5.0', version: '9.5.0' });
    const [execution] = await finished(rt, rel.digest);
    // Assess
    expect(execution?.status).toBe('SUCCEEDED');
    const output = JSON.parse(execution?.output ?? '{}');
    expect(output.deployed).toEqual(['c1', 'c2']);
    expect(output.failed).toEqual([
      expect.objectContaining({
        cluster: 'c3',
        restored: true,
        reason: expect.stringMatching(/^ImagePullError/),
      }),
    ]);
    expect(await clusterImages(rt)).toEqual({
      c1: { image: rel.digestReference, canary: false },
      c2: { image: rel.digestReference, canary: false },
      c3: { image: base.digestReference, canary: false },
    });
    expect((await runningImages(rt)).c3).toEqual([base.digestReference]);
    const done = await alertOf(rt, rel.digest, 'succeeded');
    expect(done.summary).toMatch(
      /runs v9\.5\.0 .* on c1, c2; failed within the budget and restored: c3 \(ImagePullError/,
    );
  });

  it('ends at once when aborted during the approval wait, and restores the canary cluster', async () => {
    // Prepare: a manual policy with a long approval timeout
    await setPolicy(
      rt,
      policy({ promotion: { mode: 'manual', approvalTimeoutSeconds: 1800, onTimeout: 'rollback' } }),
    );
    const base = await baseline(rt);
    const rel = await release(rt, { tag: 'v9.6.0', version: '9.6.0' });
    await alertOf(rt, rel.digest, 'awaiting-approval');
    const id = await deploymentIdOf(rt, rel.digest);
    // Act
    const res = await callApi(rt, id, 'abort', 'arn:aws:iam::000000000000:user/carol', {
      reason: 'bad idea',
    });
    // Assess: the approval wait was interrupted; the execution did not wait out the 30 minutes
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      action: 'abort',
      by: 'arn:aws:iam::000000000000:user/carol',
      outcome: 'abort requested: it rolls back now (its approval wait was ended)',
    });
    const [execution] = await finished(rt, rel.digest, 120_000);
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('DeploymentAbortedError');
    expect(await clusterImages(rt)).toEqual(everywhere(base.digestReference));
    expect((await alertOf(rt, rel.digest, 'rolled-back')).summary).toMatch(
      /rolled back on c1: .*carol: bad idea/,
    );
  });

  it('fails a malformed delivered event with its validation details, and alerts', async () => {
    // Prepare: an ECR push event whose digest is not a digest
    const event = {
      version: '0',
      id: 'malformed-1',
      'detail-type': 'ECR Image Action',
      source: 'aws.ecr',
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: {
        result: 'SUCCESS',
        'repository-name': 'demo',
        'image-digest': 'sha256:not-a-digest',
        'action-type': 'PUSH',
        'image-tag': 'v9.7.0',
      },
    };
    // Act
    rt.bus.publish(event as never);
    await rt.bus.idle();
    // Assess
    let failed: Awaited<ReturnType<typeof executionsFor>>[number] | undefined;
    for (let i = 0; i < 60 && failed?.status !== 'FAILED'; i++) {
      [failed] = (await executionsFor(rt, 'sha256:not-a-digest')).filter((e) => e.status !== 'RUNNING');
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(failed?.error).toBe('InvalidEventError');
    expect(failed?.cause).toMatch(/detail\.image-digest/);
    const alert = rt.aws.sns
      .messages(rt.topicArn)
      .map((m) => alertJson(m.message) as { transition: string; summary: string })
      .find((m) => m.transition === 'deployment-failed' && /InvalidEventError/.test(m.summary));
    expect(alert?.summary).toMatch(/detail\.image-digest/);
  });

  it('deploys two images whose names sanitise alike, and a digest deployed before when pushed under a new tag', async () => {
    await setPolicy(rt, policy());
    await baseline(rt);
    // Act: two tags that sanitise to the same text, then a revert to the first under a new tag
    const dotted = await release(rt, { tag: 'v9.8-1', version: '9.8.1' });
    const [first] = await finished(rt, dotted.digest);
    const dashed = await release(rt, { tag: 'v9-8.1', version: '9.8.2' });
    const [second] = await finished(rt, dashed.digest);
    const revert = await release(rt, { tag: 'v9.8.3', version: '9.8.1' });
    // Assess
    expect(revert.digest).toBe(dotted.digest);
    expect(first?.status).toBe('SUCCEEDED');
    expect(second?.status).toBe('SUCCEEDED');
    expect(first?.name).not.toBe(second?.name);
    while ((await executionsFor(rt, revert.digest)).length < 2) await new Promise((r) => setTimeout(r, 200));
    const again = (await finished(rt, revert.digest)).filter((e) => e.name !== first?.name);
    expect(again.map((e) => e.status)).toEqual(['SUCCEEDED']);
    expect(JSON.parse(again[0]?.output ?? '{}').deployed).toEqual(['c1', 'c2', 'c3']);
    expect(await clusterImages(rt)).toEqual(everywhere(dotted.digestReference));
    expect(alerts(rt, dotted.digest).filter((a) => a.transition === 'succeeded')).toHaveLength(2);
  });
});
