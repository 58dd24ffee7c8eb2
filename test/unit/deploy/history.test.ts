import { createHash } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterSchema, servicePolicySchema } from '../../../functions/lib/config/schema.js';
import type { Config } from '../../../functions/lib/config/store.js';
import { type ImageCatalog, type Plan, planDeployment } from '../../../functions/lib/deploy/plan.js';
import {
  createDeployerTable,
  DynamoRecord,
  TABLE_TTL_ATTRIBUTE,
} from '../../../functions/lib/deploy/record/dynamodb.js';
import { InvalidPageTokenError } from '../../../functions/lib/deploy/record/history.js';
import { OPERATOR_SOURCE, type OperatorRequest } from '../../../functions/lib/deploy/request.js';
import type { AnalysisRoundView, DeploymentSummary } from '../../../functions/lib/deploy/view.js';
import type { Snapshot } from '../../../functions/lib/swarm/types.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/index.js';
import { CREDENTIALS, caught, REGION } from '../aws/harness.js';

/**
 * The audit trail (DynamoHistory) as the DynamoDB record exposes it, against dynalite through the
 * AWS stand-in: what an operator sees of a deployment from its plan to its end, and the listing.
 */

const TABLE = 'deployer-history-test';
const NOW = Date.parse('2031-05-04T10:00:00.000Z');
const DAY = 86_400;
const REGISTRY = { account: '123456789012', region: 'eu-west-1' };

let aws: AwsStandIn;
let client: DynamoDBClient;
/** The record's clock: tests move it forward to order deployments. */
let clock = NOW;
let record: DynamoRecord;
let unique = 0;

const uniqueName = (what: string) => `${what}-${++unique}`;
const iso = (ms: number) => new Date(ms).toISOString();
const sha = (what: string) => `sha256:${createHash('sha256').update(what).digest('hex')}`;

type DeployPlan = Extract<Plan, { outcome: 'deploy' }>;

/** A policy over five clusters in two waves, the canary on eu-1, as the configuration store parses it. */
function configFor(service: string): Config {
  const clusters = ['eu-1', 'eu-2', 'eu-3', 'us-1', 'us-2'];
  return {
    clusters: new Map(
      clusters.map((name) => [
        name,
        clusterSchema.parse({
          name,
          region: name.startsWith('eu') ? 'eu-west-1' : 'us-east-1',
          target: `mi-${name.replace('-', '')}`,
          prometheus: { tunnelPort: 9090 },
        }),
      ]),
    ),
    policies: [
      servicePolicySchema.parse({
        name: `${service}-policy`,
        service,
        repository: `${service}-repo`,
        tags: { glob: '*' },
        clusters,
        canary: { cluster: 'eu-1', percent: 10 },
        waves: [
          { name: 'europe', clusters: ['eu-1', 'eu-2', 'eu-3'], bakeSeconds: 300, maxFailures: 1 },
          { name: 'americas', clusters: ['us-1', 'us-2'] },
        ],
        analysis: { metrics: [{ template: 'success-rate' }] },
      }),
    ],
  };
}

const catalogFor = (digest: string): ImageCatalog => ({
  digestOf: async () => digest,
  registryHost: async (r) => `${r.account}.dkr.ecr.${r.region}.amazonaws.com`,
  hasDigest: async (_r, _repository, d) => d === digest,
});

function pushOf(service: string, tag: string, digest: string) {
  return {
    version: '0',
    id: uniqueName('event'),
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: REGISTRY.account,
    time: iso(clock),
    region: REGISTRY.region,
    resources: [],
    detail: {
      result: 'SUCCESS',
      'repository-name': `${service}-repo`,
      'image-digest': digest,
      'action-type': 'PUSH',
      'image-tag': tag,
    },
  };
}

/** The plan the Plan step makes for a push (or an operator's request) of `service`. */
async function planFor(
  service: string,
  o: { tag?: string; digest?: string; request?: OperatorRequest } = {},
): Promise<DeployPlan> {
  const digest = o.request?.detail.digest ?? o.digest ?? sha(uniqueName('image'));
  const plan = await planDeployment(
    o.request ?? pushOf(service, o.tag ?? 'v1.0.0', digest),
    configFor(service),
    catalogFor(digest),
    new Date(clock),
    { executionName: uniqueName(`${service}-deploy`) },
  );
  if (plan.outcome !== 'deploy') throw new Error(`the fixture did not plan a deployment: ${plan.reason}`);
  return plan;
}

function snapshotOf(plan: DeployPlan, cluster: string, digest: string): Snapshot {
  const image = `${REGISTRY.account}.dkr.ecr.${REGISTRY.region}.amazonaws.com/${plan.deployment.repository}@${digest}`;
  return {
    cluster,
    service: plan.deployment.service,
    serviceId: `svc-${cluster}`,
    specVersion: 12,
    spec: {
      Name: plan.deployment.service,
      TaskTemplate: { ContainerSpec: { Image: image } },
      Mode: { Replicated: { Replicas: 3 } },
    },
    image,
    digest,
    replicas: 3,
    takenAt: iso(clock),
  };
}

function round(n: number, phase: AnalysisRoundView['phase'], summary = `round ${n}`): AnalysisRoundView {
  return {
    round: n,
    at: iso(NOW + n * 60_000),
    phase,
    summary,
    measurements: [
      {
        metric: 'success-rate',
        value: phase === 'Failed' ? 0.82 : 0.998,
        phase: phase === 'Running' ? 'Successful' : (phase as 'Successful' | 'Failed'),
        sentence: `success-rate = ${phase === 'Failed' ? 0.82 : 0.998} in round ${n}`,
        at: iso(NOW + n * 60_000),
      },
    ],
  };
}

type RawItem = Record<string, { S?: string; N?: string; M?: unknown }>;

async function rawItem(pk: string, sk: string, table = TABLE): Promise<RawItem | undefined> {
  const out = await client.send(
    new GetItemCommand({ TableName: table, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }),
  );
  return out.Item as RawItem | undefined;
}

async function rawPartition(pk: string, table = TABLE): Promise<RawItem[]> {
  const out = await client.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: pk } },
      ConsistentRead: true,
    }),
  );
  return (out.Items ?? []) as RawItem[];
}

const pending = (cluster: string, wave: string) => ({
  cluster,
  wave,
  before: null,
  after: null,
  step: 'pending',
  progress: null,
  message: null,
  updatedAt: null,
});

beforeAll(async () => {
  aws = await startAwsStandIn({ host: '127.0.0.1', port: 0 });
  client = new DynamoDBClient({
    endpoint: aws.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    maxAttempts: 1,
  });
  await createDeployerTable(client, TABLE);
  record = new DynamoRecord(client, TABLE, { now: () => clock });
});

afterAll(async () => {
  client.destroy();
  await aws.stop();
});

describe('the entry of a deployment', () => {
  it('lists every planned cluster pending, canary first, with no digest before or after', async () => {
    // prepare
    clock = NOW;
    const service = uniqueName('web');
    const plan = await planFor(service, { tag: 'v2.3.0' });
    const d = plan.deployment;

    // act
    const none = await record.history(d.id);
    await record.savePlan(d.id, plan);
    const entry = await record.history(d.id);

    // assess
    expect(none).toBeUndefined();
    expect(entry).toEqual({
      id: d.id,
      service,
      policy: `${service}-policy`,
      repository: `${service}-repo`,
      tag: 'v2.3.0',
      digest: d.digest,
      image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${service}-repo@${d.digest}`,
      registry: REGISTRY,
      status: 'running',
      trigger: 'push',
      startedAt: iso(NOW),
      canary: { cluster: 'eu-1', percent: 10 },
      waves: [
        { name: 'europe', bakeSeconds: 300, clusters: ['eu-1', 'eu-2', 'eu-3'] },
        { name: 'americas', bakeSeconds: 0, clusters: ['us-1', 'us-2'] },
      ],
      clusters: ['eu-1', 'eu-2', 'eu-3', 'us-1', 'us-2'].map((cluster) => ({
        cluster,
        before: null,
        after: null,
      })),
      clusterStates: {
        'eu-1': pending('eu-1', 'europe'),
        'eu-2': pending('eu-2', 'europe'),
        'eu-3': pending('eu-3', 'europe'),
        'us-1': pending('us-1', 'americas'),
        'us-2': pending('us-2', 'americas'),
      },
      actions: [],
      rounds: [],
    });
  });

  it('is created once: a retried savePlan keeps the first entry and its index items', async () => {
    // prepare
    clock = NOW;
    const service = uniqueName('web');
    const plan = await planFor(service, { tag: 'v1' });
    await record.savePlan(plan.deployment.id, plan);
    const first = await record.history(plan.deployment.id);

    // act
    clock = NOW + 60_000;
    const other = await planFor(service, { tag: 'v9' });
    await record.savePlan(plan.deployment.id, {
      ...other,
      deployment: { ...other.deployment, id: plan.deployment.id },
    });
    await record.savePlan(plan.deployment.id, plan);
    const again = await record.history(plan.deployment.id);
    const listed = await record.listHistory({ service, limit: 10 });

    // assess
    expect(again).toEqual(first);
    expect(again?.tag).toBe('v1');
    expect(listed.items.map((i) => i.id)).toEqual([plan.deployment.id]);
    expect(listed.next).toBeUndefined();
    expect(await rawPartition(`HISTORY#${service}`)).toHaveLength(1);
  });

  it('keeps nothing for people of a plan that is not a deployment', async () => {
    // prepare
    const id = uniqueName('not-a-deploy');

    // act
    await record.savePlan(id, { outcome: 'ignored', reason: 'no policy' });

    // assess
    expect(await record.history(id)).toBeUndefined();
    expect(await record.phase(id)).toBe('running');
  });

  it("records an operator's undo with its trigger, source, caller and the caller's action", async () => {
    // prepare
    clock = NOW;
    const service = uniqueName('web');
    const digest = sha(uniqueName('image'));
    const by = 'arn:aws:iam::123456789012:user/alice';
    const request: OperatorRequest = {
      source: OPERATOR_SOURCE,
      'detail-type': 'Redeploy Requested',
      id: uniqueName('undo'),
      time: iso(clock),
      detail: {
        trigger: 'undo',
        policy: `${service}-policy`,
        repository: `${service}-repo`,
        tag: 'v1.4.0',
        digest,
        registry: REGISTRY,
        of: 'web-deploy-earlier',
        requestedBy: by,
        reason: 'v1.5.0 leaks memory',
      },
    };
    const plan = await planFor(service, { request });

    // act
    await record.savePlan(plan.deployment.id, plan);
    const entry = await record.history(plan.deployment.id);

    // assess
    expect(entry).toMatchObject({
      trigger: 'undo',
      of: 'web-deploy-earlier',
      requestedBy: by,
      digest,
      tag: 'v1.4.0',
      status: 'running',
    });
    expect(entry?.actions).toEqual([{ action: 'undo', by, at: iso(NOW), reason: 'v1.5.0 leaks memory' }]);
  });
});

describe('the clusters of a deployment', () => {
  it('takes the digest before from the first snapshot; a retried snapshot does not change it', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const d = plan.deployment;
    await record.savePlan(d.id, plan);
    const old = sha('old');

    // act
    await record.saveSnapshot(d.id, snapshotOf(plan, 'eu-1', old));
    await record.saveSnapshot(d.id, snapshotOf(plan, 'eu-1', sha('taken-later')));
    await record.saveSnapshot(d.id, snapshotOf(plan, 'us-2', old));
    // a cluster the plan does not list is not followed
    await record.saveSnapshot(d.id, snapshotOf(plan, 'ap-1', old));
    const entry = await record.history(d.id);

    // assess
    expect(entry?.clusters).toEqual([
      { cluster: 'eu-1', before: old, after: null },
      { cluster: 'eu-2', before: null, after: null },
      { cluster: 'eu-3', before: null, after: null },
      { cluster: 'us-1', before: null, after: null },
      { cluster: 'us-2', before: old, after: null },
    ]);
    expect(entry?.clusterStates['eu-1']).toEqual({
      ...pending('eu-1', 'europe'),
      before: old,
      updatedAt: iso(NOW),
    });
    expect(entry?.clusterStates['ap-1']).toBeUndefined();
    expect(await record.snapshot(d.id, 'ap-1')).toBeDefined();
  });

  it('follows the canary, the promotion, a failure and the restore of every touched cluster', async () => {
    // prepare
    clock = NOW;
    const service = uniqueName('web');
    const plan = await planFor(service, { tag: 'v3.0.0' });
    const d = plan.deployment;
    const old = sha('v2.9.0');
    await record.savePlan(d.id, plan);
    for (const c of ['eu-1', 'eu-2', 'eu-3']) await record.saveSnapshot(d.id, snapshotOf(plan, c, old));

    // act: the canary on eu-1
    clock = NOW + 10_000;
    await record.markTouched(d.id, 'eu-1', 'canary', iso(clock + 300_000));
    const deploying = (await record.history(d.id))?.clusterStates['eu-1'];
    clock = NOW + 20_000;
    await record.noteCluster(d.id, 'eu-1', {
      step: 'canary-running',
      progress: { desired: 1, runningOnTarget: 1, updateState: 'completed' },
      message: null,
    });
    const canaryRunning = (await record.history(d.id))?.clusterStates['eu-1'];
    // the europe wave: eu-1 and eu-2 promoted, eu-3 fails
    clock = NOW + 30_000;
    for (const c of ['eu-1', 'eu-2', 'eu-3'])
      await record.markTouched(d.id, c, 'primary', iso(clock + 300_000));
    const promoting = (await record.history(d.id))?.clusterStates['eu-2'];
    clock = NOW + 40_000;
    for (const c of ['eu-1', 'eu-2'])
      await record.noteCluster(d.id, c, {
        step: 'promoted',
        progress: { desired: 3, runningOnTarget: 3, updateState: 'completed' },
        message: null,
        after: d.digest,
      });
    await record.noteCluster(d.id, 'eu-3', {
      step: 'failed',
      progress: { desired: 3, runningOnTarget: 1, updateState: 'paused' },
      message: 'task exited (1): connection refused',
    });
    const promoted = await record.history(d.id);
    // the rollback restores the three touched clusters
    clock = NOW + 50_000;
    await record.beginRollback(d.id);
    const rollingBack = await record.history(d.id);
    for (const c of ['eu-1', 'eu-2', 'eu-3']) await record.markRestored(d.id, c);
    clock = NOW + 60_000;
    await record.finish(d.id, 'rolled-back', { reason: 'WaveFailedError: wave europe: eu-3 failed' });
    const entry = await record.history(d.id);

    // assess
    expect(deploying).toMatchObject({
      step: 'canary-deploying',
      message: null,
      updatedAt: iso(NOW + 10_000),
    });
    expect(canaryRunning).toEqual({
      cluster: 'eu-1',
      wave: 'europe',
      before: old,
      after: null,
      step: 'canary-running',
      progress: { desired: 1, runningOnTarget: 1, updateState: 'completed' },
      message: null,
      updatedAt: iso(NOW + 20_000),
    });
    expect(promoting).toMatchObject({ step: 'promoting', before: old, after: null });
    expect(promoted?.clusters).toEqual([
      { cluster: 'eu-1', before: old, after: d.digest },
      { cluster: 'eu-2', before: old, after: d.digest },
      { cluster: 'eu-3', before: old, after: null },
      { cluster: 'us-1', before: null, after: null },
      { cluster: 'us-2', before: null, after: null },
    ]);
    expect(promoted?.clusterStates['eu-3']).toMatchObject({
      step: 'failed',
      message: 'task exited (1): connection refused',
      progress: { desired: 3, runningOnTarget: 1, updateState: 'paused' },
    });
    expect(rollingBack?.status).toBe('rolling-back');
    expect(entry?.status).toBe('rolled-back');
    expect(entry?.reason).toBe('WaveFailedError: wave europe: eu-3 failed');
    expect(entry?.finishedAt).toBe(iso(NOW + 60_000));
    // restored: every touched cluster runs what it ran before; the untouched wave was never changed
    expect(entry?.clusters).toEqual([
      { cluster: 'eu-1', before: old, after: old },
      { cluster: 'eu-2', before: old, after: old },
      { cluster: 'eu-3', before: old, after: old },
      { cluster: 'us-1', before: null, after: null },
      { cluster: 'us-2', before: null, after: null },
    ]);
    for (const c of ['eu-1', 'eu-2', 'eu-3'])
      expect(entry?.clusterStates[c]).toMatchObject({ step: 'restored', updatedAt: iso(NOW + 50_000) });
    expect(entry?.clusterStates['us-1']).toEqual(pending('us-1', 'americas'));
  });

  it('leaves the entry alone for a cluster the plan does not list, or a deployment without an entry', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    await record.savePlan(plan.deployment.id, plan);
    const before = await record.history(plan.deployment.id);
    const orphan = uniqueName('orphan');

    // act
    await record.noteCluster(plan.deployment.id, 'ap-1', { step: 'promoted', after: sha('x') });
    await record.markRestored(plan.deployment.id, 'ap-1');
    await record.noteCluster(orphan, 'eu-1', { step: 'promoted' });
    await record.noteRound(orphan, round(1, 'Running'));
    await record.noteAction(orphan, {
      action: 'pause',
      by: 'arn:aws:iam::123456789012:user/bob',
      at: iso(NOW),
    });
    await record.noteStatus(orphan, 'paused');

    // assess
    expect(await record.history(plan.deployment.id)).toEqual(before);
    expect(await record.history(orphan)).toBeUndefined();
    expect(await rawItem(`DEPLOYMENT#${orphan}`, 'HISTORY')).toBeUndefined();
  });
});

describe('rounds, actions and status', () => {
  it('keeps one round per number (a retried round replaces itself), sorted by number', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const id = plan.deployment.id;
    await record.savePlan(id, plan);

    // act
    await record.noteRound(id, round(1, 'Running'));
    await record.noteRound(id, round(2, 'Running'));
    await record.noteRound(id, round(2, 'Running'));
    await record.noteRound(id, round(3, 'Running'));
    await record.noteRound(id, round(3, 'Successful', 'success-rate = 0.998 met condition >= 0.99'));
    await record.noteRound(id, round(10, 'Running'));
    const entry = await record.history(id);

    // assess
    expect(entry?.rounds.map((r) => [r.round, r.phase])).toEqual([
      [1, 'Running'],
      [2, 'Running'],
      [3, 'Successful'],
      [10, 'Running'],
    ]);
    expect(entry?.rounds[2]).toEqual(round(3, 'Successful', 'success-rate = 0.998 met condition >= 0.99'));
  });

  it('appends actions in order, with who and why', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const id = plan.deployment.id;
    await record.savePlan(id, plan);
    const pause = { action: 'pause' as const, by: 'arn:aws:iam::123456789012:user/bob', at: iso(NOW + 1000) };
    const resume = {
      action: 'resume' as const,
      by: 'arn:aws:sts::123456789012:assumed-role/oncall/carol',
      at: iso(NOW + 2000),
      reason: 'dashboards are green',
    };

    // act
    await record.noteAction(id, pause);
    await record.noteAction(id, resume);

    // assess
    expect((await record.history(id))?.actions).toEqual([pause, resume]);
  });

  it('follows waiting tasks: awaiting approval, paused, running again once cleared (a bake changes nothing)', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const id = plan.deployment.id;
    await record.savePlan(id, plan);
    const status = async () => (await record.history(id))?.status;

    // act
    await record.saveWaitingTask(id, { kind: 'approval', token: 'approval-token' });
    const awaiting = await status();
    await record.clearWaitingTask(id, 'approval');
    const approved = await status();
    await record.saveWaitingTask(id, { kind: 'bake', token: 'bake-token', key: 'europe' });
    const baking = await status();
    await record.saveWaitingTask(id, { kind: 'pause', token: 'hold-token', key: 'americas' });
    const paused = await status();
    await record.clearWaitingTask(id, 'pause');
    const resumed = await status();
    await record.noteStatus(id, 'running', { approver: 'arn:aws:iam::123456789012:user/alice' });

    // assess
    expect([awaiting, approved, baking, paused, resumed]).toEqual([
      'awaiting-approval',
      'running',
      'running',
      'paused',
      'running',
    ]);
    expect((await record.history(id))?.approver).toBe('arn:aws:iam::123456789012:user/alice');
    expect((await record.listHistory({ service: plan.deployment.service, limit: 5 })).items[0]?.status).toBe(
      'running',
    );
  });

  it('keeps a final status, its reason and its time: later statuses of a late step do not replace them', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const { id, service } = plan.deployment;
    await record.savePlan(id, plan);
    clock = NOW + 60_000;
    await record.finish(id, 'failed', { reason: 'the execution ended TIMED_OUT' });

    // act
    clock = NOW + 120_000;
    await record.noteStatus(id, 'running');
    await record.saveWaitingTask(id, { kind: 'approval', token: 'late-token' });
    await record.saveWaitingTask(id, { kind: 'pause', token: 'late-hold' });
    await record.clearWaitingTask(id, 'approval');
    await record.beginRollback(id);
    await record.finish(id, 'failed', { reason: 'a second reason' });
    const entry = await record.history(id);

    // assess
    expect(entry?.status).toBe('failed');
    expect(entry?.reason).toBe('the execution ended TIMED_OUT');
    expect(entry?.finishedAt).toBe(iso(NOW + 60_000));
    // the index items follow the entry's status: the listing filters on them
    expect(
      (await record.listHistory({ service, status: 'failed', limit: 5 })).items.map((i) => i.id),
    ).toEqual([id]);
    for (const status of ['running', 'awaiting-approval', 'paused', 'rolling-back'] as const)
      expect((await record.listHistory({ service, status, limit: 5 })).items).toEqual([]);
    for (const pk of ['HISTORY', `HISTORY#${service}`])
      expect((await rawItem(pk, `${iso(NOW)}#${id}`))?.status?.S).toBe('failed');
  });

  it('keeps the first final status when a second, different one is noted (a final status is kept)', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const id = plan.deployment.id;
    await record.savePlan(id, plan);
    await record.finish(id, 'succeeded');

    // act
    await record.noteStatus(id, 'failed', { reason: 'late' });

    // assess
    expect((await record.history(id))?.status).toBe('succeeded');
    expect((await record.history(id))?.reason).toBeUndefined();
  });
});

describe('finish and the TTL', () => {
  it('puts expiresAt on the items of the deployment, never on its entry or its two index items', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const { id, service } = plan.deployment;
    await record.savePlan(id, plan);
    await record.saveSnapshot(id, snapshotOf(plan, 'eu-1', sha('old')));
    await record.markTouched(id, 'eu-1', 'canary', iso(NOW + 300_000));
    await record.saveWaitingTask(id, { kind: 'approval', token: 'token' });
    await record.noteRound(id, round(1, 'Successful'));

    // act
    await record.finish(id, 'succeeded');
    const items = await rawPartition(`DEPLOYMENT#${id}`);
    const all = await rawItem('HISTORY', `${iso(NOW)}#${id}`);
    const ofService = await rawItem(`HISTORY#${service}`, `${iso(NOW)}#${id}`);

    // assess
    const bySk: Record<string, RawItem> = Object.fromEntries(items.map((item) => [item.sk?.S, item]));
    expect(Object.keys(bySk).sort()).toEqual([
      'HISTORY',
      'META',
      'PLAN',
      'SNAPSHOT#eu-1',
      'WAITING#approval',
    ]);
    for (const [sk, item] of Object.entries(bySk)) {
      if (sk === 'HISTORY') expect(item[TABLE_TTL_ATTRIBUTE], sk).toBeUndefined();
      else expect(item[TABLE_TTL_ATTRIBUTE]?.N, sk).toBe(String(NOW / 1000 + 30 * DAY));
    }
    for (const index of [all, ofService]) {
      expect(index).toBeDefined();
      expect(index?.[TABLE_TTL_ATTRIBUTE]).toBeUndefined();
      expect(index?.status?.S).toBe('succeeded');
      expect(index?.id?.S).toBe(id);
      expect(index?.service?.S).toBe(service);
    }
    expect((await record.history(id))?.status).toBe('succeeded');
    expect(await record.history(id)).not.toHaveProperty(TABLE_TTL_ATTRIBUTE);
  });
});

describe('listing deployments', () => {
  /**
   * Five deployments of two services a minute apart, on a table of their own (the HISTORY partition
   * lists every deployment of its table).
   */
  async function fiveDeployments() {
    const table = uniqueName('deployer-history-list');
    await createDeployerTable(client, table);
    const listing = new DynamoRecord(client, table, { now: () => clock });
    const api = uniqueName('api');
    const web = uniqueName('web');
    const made: Array<{ id: string; service: string }> = [];
    const endings = ['succeeded', 'failed', undefined, 'succeeded', 'rolled-back'] as const;
    for (const [n, service] of [web, api, web, api, web].entries()) {
      clock = NOW + n * 60_000;
      const plan = await planFor(service, { tag: `v1.${n}.0` });
      await listing.savePlan(plan.deployment.id, plan);
      const ending = endings[n];
      if (ending) await listing.finish(plan.deployment.id, ending);
      made.push({ id: plan.deployment.id, service });
    }
    clock = NOW;
    return { listing, api, web, newestFirst: made.reverse() };
  }

  it('lists newest first, by service and by status, as summaries', async () => {
    // prepare
    const { listing, api, web, newestFirst } = await fiveDeployments();

    // act
    const everything = await listing.listHistory({ limit: 10 });
    const ofWeb = await listing.listHistory({ service: web, limit: 10 });
    const succeeded = await listing.listHistory({ status: 'succeeded', limit: 10 });
    const apiRunning = await listing.listHistory({ service: api, status: 'running', limit: 10 });
    const webRunning = await listing.listHistory({ service: web, status: 'running', limit: 10 });

    // assess
    expect(everything.items.map((i) => i.id)).toEqual(newestFirst.map((m) => m.id));
    expect(everything.items.map((i) => i.status)).toEqual([
      'rolled-back',
      'succeeded',
      'running',
      'failed',
      'succeeded',
    ]);
    expect(everything.next).toBeUndefined();
    expect(ofWeb.items.map((i) => i.id)).toEqual(
      newestFirst.filter((m) => m.service === web).map((m) => m.id),
    );
    expect(succeeded.items.map((i) => i.id)).toEqual([newestFirst[1]?.id, newestFirst[4]?.id]);
    expect(apiRunning.items).toEqual([]);
    expect(webRunning.items.map((i) => i.id)).toEqual([newestFirst[2]?.id]);
    // a summary: what GET /deployments lists, without the plan's details
    const summary = everything.items[0] as DeploymentSummary;
    expect(Object.keys(summary).sort()).toEqual(
      [
        'actions',
        'clusters',
        'digest',
        'finishedAt',
        'id',
        'policy',
        'repository',
        'service',
        'startedAt',
        'status',
        'tag',
        'trigger',
      ].sort(),
    );
    expect(summary.clusters).toHaveLength(5);
  });

  it('pages with next: limit 2 over 5 deployments is 3 pages, each deployment once, in order', async () => {
    // prepare
    const { listing, newestFirst } = await fiveDeployments();

    // act
    const pages = [];
    let next: string | undefined;
    do {
      const page = await listing.listHistory({ limit: 2, ...(next ? { next } : {}) });
      pages.push(page);
      next = page.next;
    } while (next && pages.length < 10);

    // assess
    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 1]);
    const ids = pages.flatMap((p) => p.items.map((i) => i.id));
    expect(new Set(ids).size).toBe(5);
    expect(ids).toEqual(newestFirst.map((m) => m.id));
    expect(pages[2]?.next).toBeUndefined();
  });

  it('pages a filtered listing too', async () => {
    // prepare
    const { listing, web, newestFirst } = await fiveDeployments();

    // act
    const first = await listing.listHistory({ service: web, status: 'succeeded', limit: 1 });
    const firstAll = await listing.listHistory({ status: 'succeeded', limit: 1 });
    const secondAll = await listing.listHistory({
      status: 'succeeded',
      limit: 1,
      ...(firstAll.next ? { next: firstAll.next } : {}),
    });

    // assess
    expect(first.items.map((i) => i.id)).toEqual([newestFirst[4]?.id]);
    expect(firstAll.items.map((i) => i.id)).toEqual([newestFirst[1]?.id]);
    expect(firstAll.next).toBeDefined();
    expect(secondAll.items.map((i) => i.id)).toEqual([newestFirst[4]?.id]);
  });

  it('rejects a next token it did not hand out, or one of another listing', async () => {
    // prepare
    const { listing, web } = await fiveDeployments();
    const ofAll = await listing.listHistory({ limit: 1 });
    const forged = [
      'not-a-token',
      Buffer.from('{"pk":"HISTORY"}').toString('base64url'),
      Buffer.from(JSON.stringify(['LOCK#web', 'LOCK'])).toString('base64url'),
      Buffer.from(JSON.stringify(['HISTORY', 42])).toString('base64url'),
    ];

    // act
    const errors = await Promise.all(
      forged.map((next) => caught(() => listing.listHistory({ limit: 2, next }))),
    );
    const crossed = await caught(() =>
      listing.listHistory({ service: web, limit: 2, ...(ofAll.next ? { next: ofAll.next } : {}) }),
    );

    // assess
    expect(ofAll.next).toBeDefined();
    for (const error of [...errors, crossed]) {
      expect(error).toBeInstanceOf(InvalidPageTokenError);
      expect(error.name).toBe('InvalidPageTokenError');
      expect(error.retryable).toBe(false);
    }
  });

  it('finds the newest deployments of a service that match, at most limit', async () => {
    // prepare
    const { listing, web, api, newestFirst } = await fiveDeployments();

    // act
    const newestSucceeded = await listing.findHistory(web, (d) => d.status === 'succeeded', 1);
    const ended = await listing.findHistory(web, (d) => d.status !== 'running', 5);
    const none = await listing.findHistory(api, (d) => d.status === 'rolled-back', 3);
    const unknown = await listing.findHistory(uniqueName('nothing'), () => true, 3);

    // assess
    expect(newestSucceeded.map((d) => d.id)).toEqual([newestFirst[4]?.id]);
    expect(ended.map((d) => d.id)).toEqual([newestFirst[0]?.id, newestFirst[4]?.id]);
    expect(none).toEqual([]);
    expect(unknown).toEqual([]);
  });
});

describe("operators' requests", () => {
  const by = (action: 'pause' | 'promote') => ({
    action,
    by: 'arn:aws:iam::123456789012:user/alice',
    at: iso(NOW),
  });

  it('sets a pause request only while the deployment runs; clearPause says whether there was one', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const id = plan.deployment.id;
    await record.savePlan(id, plan);
    const finished = await planFor(uniqueName('web'));
    await record.savePlan(finished.deployment.id, finished);
    await record.finish(finished.deployment.id, 'succeeded');
    const rollingBack = await planFor(uniqueName('web'));
    await record.savePlan(rollingBack.deployment.id, rollingBack);
    await record.beginRollback(rollingBack.deployment.id);

    // act
    const none = await record.pauseRequested(id);
    const set = await record.requestPause(id, by('pause'));
    const requested = await record.pauseRequested(id);
    const cleared = await record.clearPause(id);
    const clearedTwice = await record.clearPause(id);
    const afterClear = await record.pauseRequested(id);
    const onFinished = await record.requestPause(finished.deployment.id, by('pause'));
    const onRollingBack = await record.requestPause(rollingBack.deployment.id, by('pause'));
    const onUnknown = await record.requestPause(uniqueName('unknown'), by('pause'));

    // assess
    expect(none).toBeUndefined();
    expect(set).toBe(true);
    expect(requested).toEqual(by('pause'));
    expect(cleared).toBe(true);
    expect(clearedTwice).toBe(false);
    expect(afterClear).toBeUndefined();
    expect(onFinished).toBe(false);
    expect(onRollingBack).toBe(false);
    expect(onUnknown).toBe(false);
    expect(await record.pauseRequested(finished.deployment.id)).toBeUndefined();
    expect(await record.clearPause(uniqueName('unknown'))).toBe(false);
  });

  it('sets a promote request only while the deployment runs', async () => {
    // prepare
    clock = NOW;
    const plan = await planFor(uniqueName('web'));
    const id = plan.deployment.id;
    await record.savePlan(id, plan);

    // act
    const none = await record.promoteRequested(id);
    const set = await record.requestPromote(id, by('promote'));
    const requested = await record.promoteRequested(id);
    await record.finish(id, 'succeeded');
    const afterFinish = await record.requestPromote(id, by('promote'));

    // assess
    expect(none).toBeUndefined();
    expect(set).toBe(true);
    expect(requested).toEqual(by('promote'));
    expect(afterFinish).toBe(false);
  });
});
