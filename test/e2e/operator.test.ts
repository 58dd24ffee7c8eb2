import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  DeploymentPage,
  DeploymentSummary,
  DeploymentView,
  StartedResult,
} from '../../functions/lib/deploy/view.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import {
  baseline,
  clusterImages,
  deploymentIdOf,
  finished,
  policy,
  release,
  SERVICE,
  startRuntime,
} from './support.js';

const ALICE = 'arn:aws:iam::000000000000:user/alice';

/** The operators' API on the twin: every route, every refusal, and undo through the workflow. */
describe('the operators API', () => {
  let rt: LocalRuntime;
  const as = (method: string, path: string, body?: unknown) =>
    rt.callApi(method, path, rt.user('alice'), body);
  const view = async (id: string) => {
    const res = await as('GET', `/deployments/${id}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as unknown as DeploymentView;
  };
  /** Polls GET /deployments/{id} until `what` holds (a deployment still queued for its lock is a 404). */
  async function until(id: string, what: (v: DeploymentView) => boolean, timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await as('GET', `/deployments/${id}`);
      const v = res.body as unknown as DeploymentView;
      if (res.status === 200 && what(v)) return v;
      if (res.status !== 200 && res.status !== 404)
        throw new Error(`GET /deployments/${id}: ${res.status} ${JSON.stringify(res.body)}`);
      if (Date.now() > deadline)
        throw new Error(`deployment ${id} never got there: ${JSON.stringify(v).slice(0, 600)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  beforeAll(async () => {
    rt = await startRuntime(
      policy({
        analysis: {
          metrics: [
            {
              template: 'success-rate',
              params: { minSuccessRate: 0.9 },
              interval: '5s',
              window: '20s',
              count: 6,
              initialDelay: '5s',
              failureLimit: 0,
              inconclusiveLimit: 5,
            },
          ],
        },
      }),
    );
  });

  afterAll(async () => {
    await rt?.stop();
  });

  it('follows a deployment live, pauses it before its waves, skips its analysis on promote, and resumes it', async () => {
    await baseline(rt);
    const rel = await release(rt, { tag: 'v7.0.0' });
    const id = await deploymentIdOf(rt, rel.digest);
    // The canary is analysed: its rounds appear as they are measured
    const analysing = await until(id, (v) => v.analysis.rounds.length > 0);
    expect(analysing).toMatchObject({
      id,
      service: SERVICE,
      status: 'running',
      trigger: 'push',
      tag: 'v7.0.0',
    });
    expect(analysing.analysis.rounds[0]).toMatchObject({ round: 1, phase: 'Running' });
    expect(analysing.execution.consoleUrl).toMatch(
      new RegExp(
        `^https://us-east-1\\.console\\.aws\\.amazon\\.com/states/home\\?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:000000000000:execution:[^:]+:${id}$`,
      ),
    );
    expect(analysing.canary).toEqual({ cluster: 'c1', percent: 34 });
    expect(analysing.waves.map((w) => [w.name, w.state])).toEqual([
      ['first', 'pending'],
      ['rest', 'pending'],
    ]);
    // Act: pause (held before the first wave), then promote (the analysis ends now)
    const paused = await as('POST', `/deployments/${id}/pause`, { reason: 'change freeze at 5 pm' });
    expect(paused).toMatchObject({ status: 202, body: { action: 'pause', by: ALICE } });
    expect(await as('POST', `/deployments/${id}/pause`)).toMatchObject({
      status: 409,
      body: { message: expect.stringMatching(/paused already/), status: 'running' },
    });
    const promoted = await as('POST', `/deployments/${id}/promote`, { reason: 'metrics look fine' });
    expect(promoted).toMatchObject({ status: 202, body: { action: 'promote', by: ALICE } });
    const holding = await until(id, (v) => v.status === 'paused');
    // Assess: the analysis was skipped by alice, nothing past the canary changed while paused
    expect(holding.analysis.phase).toBe('Successful');
    expect(holding.analysis.decidedBy).toBe(`analysis skipped by ${ALICE}'s promote: metrics look fine`);
    expect(holding.waves.flatMap((w) => w.clusters.map((c) => [c.cluster, c.after]))).toEqual([
      ['c1', null],
      ['c2', null],
      ['c3', null],
    ]);
    expect(await as('POST', `/deployments/${id}/promote`)).toMatchObject({
      status: 409,
      body: { status: 'paused' },
    });
    // Act: resume
    const resumed = await as('POST', `/deployments/${id}/resume`);
    expect(resumed).toMatchObject({ status: 202, body: { outcome: 'resumed: the next wave starts now' } });
    const [execution] = await finished(rt, rel.digest);
    // Assess
    expect(execution?.status).toBe('SUCCEEDED');
    const done = await view(id);
    expect(done.status).toBe('succeeded');
    expect(done.waves.map((w) => w.state)).toEqual(['done', 'done']);
    for (const c of done.waves.flatMap((w) => w.clusters)) {
      expect(c).toMatchObject({
        step: 'promoted',
        after: rel.digest,
        progress: { desired: 3, runningOnTarget: 3 },
      });
      expect(c.before).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    expect(done.actions.map((a) => [a.action, a.by, a.reason ?? null])).toEqual([
      ['pause', ALICE, 'change freeze at 5 pm'],
      ['promote', ALICE, 'metrics look fine'],
      ['resume', ALICE, null],
    ]);
    expect(done.finishedAt).toBeDefined();
  });

  it('answers every refusal with the status and a message naming what is wrong', async () => {
    const [latest] = ((await as('GET', '/deployments?limit=1')).body as unknown as DeploymentPage).items;
    const id = (latest as DeploymentSummary).id;
    const cases: Array<[string, string, unknown, number, Record<string, unknown>]> = [
      [
        'GET',
        '/deployments/web-v0-000000000000',
        undefined,
        404,
        { message: 'no deployment web-v0-000000000000 is recorded' },
      ],
      ['GET', '/deployments/not%20an%20id', undefined, 400, { field: 'path.id' }],
      ['GET', '/deployments?limit=0', undefined, 400, { field: 'query.limit' }],
      ['GET', '/deployments?status=sleeping', undefined, 400, { field: 'query.status' }],
      ['GET', '/deployments?next=bm90LWEtdG9rZW4', undefined, 400, { field: 'query.next' }],
      ['GET', '/deployments?colour=red', undefined, 400, { field: 'query.colour' }],
      ['POST', `/deployments/${id}/approve`, undefined, 409, { status: 'succeeded' }],
      ['POST', `/deployments/${id}/resume`, undefined, 409, { status: 'succeeded' }],
      [
        'POST',
        `/deployments/${id}/dance`,
        undefined,
        404,
        { message: expect.stringMatching(/no action "dance"/) },
      ],
      ['POST', `/deployments/${id}/abort`, { reason: 5 }, 400, { field: 'body.reason' }],
      ['POST', `/deployments/${id}/abort`, 'not an object', 400, { field: 'body' }],
      ['POST', `/deployments/${id}/abort`, { why: 'x' }, 400, { field: 'body.why' }],
      ['POST', `/deployments/${id}/abort`, { reason: 'x'.repeat(501) }, 400, { field: 'body.reason' }],
      [
        'POST',
        '/services/nosuch/undo',
        undefined,
        404,
        { message: 'no deployment of service nosuch is recorded' },
      ],
      [
        'POST',
        `/services/${SERVICE}/retry`,
        undefined,
        409,
        { message: expect.stringMatching(/no failed or rolled-back/) },
      ],
      ['POST', `/services/${SERVICE}/retry`, { deploymentId: id }, 409, { status: 'succeeded' }],
      [
        'POST',
        `/services/${SERVICE}/rewind`,
        undefined,
        404,
        { message: expect.stringMatching(/use undo, retry or apply/) },
      ],
    ];
    for (const [method, path, body, status, expected] of cases) {
      const res = await as(method, path, body);
      expect([method, path, res.status], JSON.stringify(res.body)).toEqual([method, path, status]);
      expect(res.body).toMatchObject(expected);
    }
  });

  it('undoes a good release through the workflow, and the history lists both with who asked', async () => {
    const base = await baseline(rt);
    const rel = await release(rt, { tag: 'v7.1.0' });
    const id = await deploymentIdOf(rt, rel.digest);
    const promoted = await until(id, (v) => v.status === 'running' && v.analysis.rounds.length > 0);
    await as('POST', `/deployments/${promoted.id}/promote`);
    expect((await finished(rt, rel.digest))[0]?.status).toBe('SUCCEEDED');
    // Act
    const undo = await as('POST', `/services/${SERVICE}/undo`, { reason: 'customers report slowness' });
    // Assess: a new deployment of the digest every cluster ran before, through the same workflow
    expect(undo.status, JSON.stringify(undo.body)).toBe(202);
    const started = undo.body as unknown as StartedResult;
    expect(started).toMatchObject({ service: SERVICE, digest: base.digest, of: id, trigger: 'undo' });
    const undoView = await until(started.deploymentId, (v) => v.analysis.rounds.length > 0, 180_000);
    expect(undoView).toMatchObject({ trigger: 'undo', of: id, requestedBy: ALICE, digest: base.digest });
    await as('POST', `/deployments/${started.deploymentId}/promote`);
    await until(started.deploymentId, (v) => v.status === 'succeeded', 240_000);
    expect(Object.values(await clusterImages(rt))).toEqual(
      Array(3).fill({ image: base.digestReference, canary: false }),
    );
    // The audit trail: newest first, both deployments, digests before and after on every cluster
    const history = (await as('GET', `/deployments?service=${SERVICE}&limit=2`))
      .body as unknown as DeploymentPage;
    expect(history.items.map((d) => [d.id, d.trigger, d.status])).toEqual([
      [started.deploymentId, 'undo', 'succeeded'],
      [id, 'push', 'succeeded'],
    ]);
    const [undone, original] = history.items as [DeploymentSummary, DeploymentSummary];
    expect(undone.clusters).toEqual(
      ['c1', 'c2', 'c3'].map((cluster) => ({ cluster, before: rel.digest, after: base.digest })),
    );
    expect(original.clusters).toEqual(
      ['c1', 'c2', 'c3'].map((cluster) => ({ cluster, before: base.digest, after: rel.digest })),
    );
    expect(undone.actions).toEqual([
      expect.objectContaining({ action: 'undo', by: ALICE, reason: 'customers report slowness' }),
      expect.objectContaining({ action: 'promote', by: ALICE }),
    ]);
    // Filters and pages
    const succeeded = (await as('GET', `/deployments?status=succeeded&limit=1`))
      .body as unknown as DeploymentPage;
    expect(succeeded.items.map((d) => d.id)).toEqual([started.deploymentId]);
    expect(succeeded.next).toEqual(expect.any(String));
    const page2 = (await as('GET', `/deployments?status=succeeded&limit=1&next=${succeeded.next}`))
      .body as unknown as DeploymentPage;
    expect(page2.items.map((d) => d.id)).toEqual([id]);
  });
});
