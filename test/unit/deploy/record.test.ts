import { randomBytes } from 'node:crypto';
import {
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeploymentAbortedError, RecordError } from '../../../functions/lib/deploy/errors.js';
import type { LockHolder } from '../../../functions/lib/deploy/ports.js';
import {
  createDeployerTable,
  DynamoDedupe,
  DynamoRecord,
  TABLE_TTL_ATTRIBUTE,
} from '../../../functions/lib/deploy/record/dynamodb.js';
import type { Snapshot } from '../../../functions/lib/swarm/types.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/index.js';
import { CREDENTIALS, caught, REGION } from '../aws/harness.js';

/** The DynamoDB deployment record against dynalite, reached through the AWS stand-in. */

const TABLE = 'deployer-record-test';
const NOW = Date.parse('2031-05-04T10:00:00.000Z');
const DAY = 86_400;

let aws: AwsStandIn;
let client: DynamoDBClient;
let record: DynamoRecord;
let unique = 0;

const id = (what: string) => `${what}-${++unique}`;

function dynamo(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
}

function holder(n: number, mode?: LockHolder['mode']): LockHolder {
  return {
    deploymentId: `dep-${n}`,
    executionArn: `arn:aws:states:us-east-1:000000000000:execution:deploy:dep-${n}`,
    digest: `sha256:${String(n).padStart(64, '0')}`,
    acquiredAt: new Date(NOW + n).toISOString(),
    ...(mode === undefined ? {} : { mode }),
  };
}

function snapshot(cluster: string, replicas: number, filler = ''): Snapshot {
  return {
    cluster,
    service: 'web',
    serviceId: `svc-${cluster}`,
    specVersion: replicas,
    spec: {
      Name: 'web',
      Labels: filler === '' ? {} : { filler },
      TaskTemplate: { ContainerSpec: { Image: 'registry/web:1@sha256:abc' } },
      Mode: { Replicated: { Replicas: replicas } },
    },
    image: 'registry/web:1@sha256:abc',
    digest: 'sha256:abc',
    replicas,
    takenAt: new Date(NOW).toISOString(),
  };
}

type RawItem = Record<string, { S?: string; N?: string; B?: Uint8Array }>;

async function rawItems(pk: string): Promise<RawItem[]> {
  const items: RawItem[] = [];
  let ExclusiveStartKey: Record<string, never> | undefined;
  do {
    const page = await client.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk } },
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    );
    items.push(...((page.Items ?? []) as typeof items));
    ExclusiveStartKey = page.LastEvaluatedKey as typeof ExclusiveStartKey;
  } while (ExclusiveStartKey !== undefined);
  return items;
}

async function rawItem(pk: string, sk: string) {
  const out = await client.send(
    new GetItemCommand({ TableName: TABLE, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }),
  );
  return out.Item;
}

beforeAll(async () => {
  aws = await startAwsStandIn({ host: '127.0.0.1', port: 0 });
  client = dynamo(aws.endpoint);
  await createDeployerTable(client, TABLE);
  record = new DynamoRecord(client, TABLE, { now: () => NOW });
});

afterAll(async () => {
  client.destroy();
  await aws.stop();
});

describe('createDeployerTable', () => {
  it('creates the table once and turns TTL on for expiresAt, idempotently', async () => {
    // prepare
    const name = 'deployer-create-test';

    // act
    const first = await createDeployerTable(client, name);
    const second = await createDeployerTable(client, name);
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));

    // assess
    expect(first).toEqual({ created: true });
    expect(second).toEqual({ created: false });
    expect(TABLE_TTL_ATTRIBUTE).toBe('expiresAt');
    expect(ttl.TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
    expect(aws.dynamodb.timeToLive(name)).toEqual({
      TimeToLiveStatus: 'ENABLED',
      AttributeName: 'expiresAt',
    });
  });

  it('answers the TTL actions in DynamoDB wire format through the stand-in', async () => {
    // prepare
    const name = 'deployer-ttl-test';
    await createDeployerTable(client, name);

    // act
    const again = await caught(() =>
      client.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        }),
      ),
    );
    const missing = await caught(() =>
      client.send(new DescribeTimeToLiveCommand({ TableName: 'no-such-table' })),
    );
    const disabled = await client.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: false },
      }),
    );
    const after = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));

    // assess
    expect(again.name).toBe('ValidationException');
    expect(again.message).toMatch(/already enabled/);
    expect(missing.name).toBe('ResourceNotFoundException');
    expect(disabled.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: false });
    expect(after.TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'DISABLED' });
  });
});

describe('the service lock', () => {
  it('goes to exactly one of 20 concurrent contenders; the others are told who holds it', async () => {
    // prepare
    const service = id('web');
    const contenders = Array.from({ length: 20 }, (_, n) => holder(n));

    // act
    const results = await Promise.all(contenders.map((h) => record.acquireLock(service, h)));

    // assess
    const winners = results.flatMap((r, n) => (r.acquired ? [contenders[n]] : []));
    expect(winners).toHaveLength(1);
    const winner = winners[0] as LockHolder;
    for (const r of results) if (!r.acquired) expect(r.holder).toEqual(winner);
    expect(await record.lockHolder(service)).toEqual(winner);
  });

  it('is released only by its holder, atomically', async () => {
    // prepare
    const service = id('web');
    await record.acquireLock(service, holder(1));

    // act
    const byOther = await record.releaseLock(service, holder(2).executionArn);
    const stillHeld = await record.lockHolder(service);
    const byHolder = await record.releaseLock(service, holder(1).executionArn);
    const twice = await record.releaseLock(service, holder(1).executionArn);

    // assess
    expect(byOther).toBe(false);
    expect(stillHeld).toEqual(holder(1));
    expect(byHolder).toBe(true);
    expect(twice).toBe(false);
    expect(await record.lockHolder(service)).toBeUndefined();
  });

  it('is taken over only from the expected holder, by exactly one of 20 concurrent contenders', async () => {
    // prepare
    const service = id('web');
    await record.acquireLock(service, holder(1));
    const rollbacks = Array.from({ length: 20 }, (_, n) => holder(100 + n, 'rollback'));

    // act
    const wrong = await record.takeOverLock(service, holder(9).executionArn, holder(99, 'rollback'));
    const results = await Promise.all(
      rollbacks.map((h) => record.takeOverLock(service, holder(1).executionArn, h)),
    );

    // assess
    expect(wrong).toBe(false);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = rollbacks[results.indexOf(true)];
    expect(await record.lockHolder(service)).toEqual(winner);
  });

  it('is taken over when nobody holds it, and can then be acquired by nobody else', async () => {
    // prepare
    const service = id('web');

    // act
    const taken = await record.takeOverLock(service, holder(1).executionArn, holder(2, 'rollback'));
    const other = await record.acquireLock(service, holder(3));

    // assess
    expect(taken).toBe(true);
    expect(other).toEqual({ acquired: false, holder: holder(2, 'rollback') });
  });
});

describe('pushes', () => {
  it('keeps the newest push, with a TTL refreshed on each write', async () => {
    // prepare
    const service = id('web');

    // act
    const none = await record.latestPush(service);
    await record.notePush(service, 'sha256:b', '2031-05-04T10:00:02Z');
    await record.notePush(service, 'sha256:a', '2031-05-04T10:00:01Z');
    const latest = await record.latestPush(service);
    const raw = await rawItem(`PUSH#${service}`, 'LATEST');

    // assess
    expect(none).toBeUndefined();
    expect(latest).toEqual({ digest: 'sha256:b', time: '2031-05-04T10:00:02Z' });
    expect(raw?.expiresAt?.N).toBe(String(NOW / 1000 + 90 * DAY));
  });
});

describe('snapshots and the plan', () => {
  it('keeps the first snapshot of a cluster, as gzip binary, and returns it to a retry', async () => {
    // prepare
    const deployment = id('dep');
    const first = snapshot('eu-1', 3);

    // act
    const saved = await record.saveSnapshot(deployment, first);
    const retries = await Promise.all(
      Array.from({ length: 10 }, (_, n) => record.saveSnapshot(deployment, snapshot('eu-1', 10 + n))),
    );
    const read = await record.snapshot(deployment, 'eu-1');
    const raw = await rawItem(`DEPLOYMENT#${deployment}`, 'SNAPSHOT#eu-1');

    // assess
    expect(saved).toEqual(first);
    for (const retry of retries) expect(retry).toEqual(first);
    expect(read).toEqual(first);
    expect(raw?.snapshot?.B).toBeInstanceOf(Uint8Array);
    expect(await record.snapshot(deployment, 'eu-2')).toBeUndefined();
  });

  it('refuses a snapshot over 400 KB with a RecordError naming service and cluster', async () => {
    // prepare
    const deployment = id('dep');
    const big = snapshot('eu-big', 1, randomBytes(450_000).toString('base64'));

    // act
    const error = await caught(() => record.saveSnapshot(deployment, big));

    // assess
    expect(error).toBeInstanceOf(RecordError);
    expect(error.message).toMatch(/web/);
    expect(error.message).toMatch(/eu-big/);
    expect(await record.snapshot(deployment, 'eu-big')).toBeUndefined();
  });

  it('keeps the first plan and marks the deployment running', async () => {
    // prepare
    const deployment = id('dep');

    // act
    const before = await record.phase(deployment);
    await record.savePlan(deployment, { waves: [['eu-1']], n: 1 });
    await record.savePlan(deployment, { waves: [['us-1']], n: 2 });

    // assess
    expect(before).toBeUndefined();
    expect(await record.plan(deployment)).toEqual({ waves: [['eu-1']], n: 1 });
    expect(await record.phase(deployment)).toBe('running');
    expect(await record.plan(id('dep'))).toBeUndefined();
  });
});

describe('the touched list and the rollback fence', () => {
  it('lists touched clusters sorted, with leases; a retry refreshes the lease; endLease removes it', async () => {
    // prepare
    const deployment = id('dep');
    await record.markTouched(deployment, 'us-1', 'primary', '2031-05-04T10:05:00.000Z');
    await record.markTouched(deployment, 'eu-1', 'primary', '2031-05-04T10:05:00.000Z');
    await record.markTouched(deployment, 'eu-1', 'canary', '2031-05-04T10:05:00.000Z');

    // act
    await record.markTouched(deployment, 'eu-1', 'primary', '2031-05-04T10:09:00.000Z');
    await record.endLease(deployment, 'eu-1', 'canary');
    await record.endLease(deployment, 'eu-1', 'canary');
    await record.endLease(deployment, 'never', 'primary');
    const touched = await record.touched(deployment);

    // assess
    expect(touched).toEqual([
      { cluster: 'eu-1', what: 'canary' },
      { cluster: 'eu-1', what: 'primary', leaseUntil: '2031-05-04T10:09:00.000Z' },
      { cluster: 'us-1', what: 'primary', leaseUntil: '2031-05-04T10:05:00.000Z' },
    ]);
    expect(await record.phase(deployment)).toBe('running');
    expect(await record.touched(id('dep'))).toEqual([]);
  });

  it('refuses markTouched once the fence is up, and does not add the cluster', async () => {
    // prepare
    const deployment = id('dep');
    await record.markTouched(deployment, 'eu-1', 'canary', '2031-05-04T10:05:00.000Z');

    // act
    const atFence = await record.beginRollback(deployment);
    const error = await caught(() =>
      record.markTouched(deployment, 'us-1', 'primary', '2031-05-04T10:05:00.000Z'),
    );
    const retry = await caught(() =>
      record.markTouched(deployment, 'eu-1', 'canary', '2031-05-04T10:09:00.000Z'),
    );

    // assess
    expect(atFence).toEqual([{ cluster: 'eu-1', what: 'canary', leaseUntil: '2031-05-04T10:05:00.000Z' }]);
    expect(await record.phase(deployment)).toBe('rolling-back');
    expect(error).toBeInstanceOf(DeploymentAbortedError);
    expect(error.name).toBe('DeploymentAbortedError');
    expect(error.message).toMatch(/rolling back/);
    expect(retry).toBeInstanceOf(DeploymentAbortedError);
    expect(await record.touched(deployment)).toEqual(atFence);
  });

  it('returns from beginRollback every cluster whose concurrent markTouched succeeded, and no other', async () => {
    // prepare
    const deployment = id('dep');
    await record.savePlan(deployment, {});
    const clusters = Array.from({ length: 20 }, (_, n) => `c${String(n).padStart(2, '0')}`);

    // act
    const mark = (cluster: string) =>
      record.markTouched(deployment, cluster, 'primary', '2031-05-04T10:05:00.000Z').then(
        () => ({ cluster, ok: true as const }),
        (error: unknown) => ({ cluster, ok: false as const, error }),
      );
    // the fence goes up while the marks are in flight: some land before it, some after
    const before = clusters.slice(0, 10).map(mark);
    const fence = record.beginRollback(deployment);
    const after = clusters.slice(10).map(mark);
    const [outcomes, atFence] = await Promise.all([Promise.all([...before, ...after]), fence]);

    // assess
    const succeeded = outcomes.filter((o) => o.ok).map((o) => o.cluster);
    for (const o of outcomes) if (!o.ok) expect(o.error).toBeInstanceOf(DeploymentAbortedError);
    expect(atFence.map((t) => t.cluster)).toEqual(succeeded.sort());
    expect(await record.touched(deployment)).toEqual(atFence);
  });

  it('records restored clusters, sorted and once each', async () => {
    // prepare
    const deployment = id('dep');

    // act
    const none = await record.restored(deployment);
    await record.markRestored(deployment, 'us-1');
    await record.markRestored(deployment, 'eu-1');
    await record.markRestored(deployment, 'us-1');

    // assess
    expect(none).toEqual([]);
    expect(await record.restored(deployment)).toEqual(['eu-1', 'us-1']);
  });
});

describe('waiting tasks, aborts and unreachable clusters', () => {
  it('keeps one waiting task per kind until cleared', async () => {
    // prepare
    const deployment = id('dep');
    await record.saveWaitingTask(deployment, { kind: 'approval', token: 'token-a' });
    await record.saveWaitingTask(deployment, { kind: 'bake', token: 'token-b1', key: 'wave-1' });

    // act
    await record.saveWaitingTask(deployment, { kind: 'bake', token: 'token-b2', key: 'wave-2' });
    await record.clearWaitingTask(deployment, 'approval');
    await record.clearWaitingTask(deployment, 'approval');

    // assess
    expect(await record.waitingTask(deployment, 'approval')).toBeUndefined();
    expect(await record.waitingTask(deployment, 'bake')).toEqual({
      kind: 'bake',
      token: 'token-b2',
      key: 'wave-2',
    });
  });

  it('keeps the first abort reason', async () => {
    // prepare
    const deployment = id('dep');

    // act
    const none = await record.abortRequested(deployment);
    await record.requestAbort(deployment, 'superseded by sha256:b');
    await record.requestAbort(deployment, 'aborted through the API');

    // assess
    expect(none).toBeUndefined();
    expect(await record.abortRequested(deployment)).toBe('superseded by sha256:b');
  });

  it('keeps the first time a cluster was unreachable until it is reached', async () => {
    // prepare
    const deployment = id('dep');
    const times = Array.from({ length: 10 }, (_, n) => `2031-05-04T10:0${n}:00.000Z`);

    // act
    const concurrent = await Promise.all(times.map((t) => record.unreachableSince(deployment, 'eu-1', t)));
    const later = await record.unreachableSince(deployment, 'eu-1', '2031-05-04T11:00:00.000Z');
    await record.reached(deployment, 'eu-1');
    const afterReached = await record.unreachableSince(deployment, 'eu-1', '2031-05-04T12:00:00.000Z');

    // assess
    expect(new Set(concurrent).size).toBe(1);
    expect(later).toBe(concurrent[0]);
    expect(afterReached).toBe('2031-05-04T12:00:00.000Z');
  });
});

describe('finish', () => {
  it('puts expiresAt on every item of the deployment except the kept snapshots, over every page', async () => {
    // prepare
    const deployment = id('dep');
    const finishing = new DynamoRecord(client, TABLE, { now: () => NOW, retentionDays: 7 });
    await record.savePlan(deployment, { waves: [] });
    // four snapshots of ~290 KB: the partition is over 1 MB, so the Query takes more than one page
    for (const cluster of ['c1', 'c2', 'c3', 'c4'])
      await record.saveSnapshot(deployment, snapshot(cluster, 1, randomBytes(290_000).toString('base64')));
    await record.markTouched(deployment, 'c1', 'primary', '2031-05-04T10:05:00.000Z');
    await record.saveWaitingTask(deployment, { kind: 'approval', token: 't' });
    await record.unreachableSince(deployment, 'c3', '2031-05-04T10:00:00.000Z');
    await record.requestAbort(deployment, 'api');

    const firstPage = await client.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: `DEPLOYMENT#${deployment}` } },
        ProjectionExpression: 'pk, sk',
      }),
    );

    // act
    await finishing.finish(deployment, 'rolled-back', { keepSnapshotsOf: ['c2'] });
    const items = await rawItems(`DEPLOYMENT#${deployment}`);

    // assess
    const expected = String(NOW / 1000 + 7 * DAY);
    const bySk: Record<string, RawItem> = Object.fromEntries(items.map((item) => [item.sk?.S, item]));
    expect(Object.keys(bySk).sort()).toEqual([
      'META',
      'PLAN',
      'SNAPSHOT#c1',
      'SNAPSHOT#c2',
      'SNAPSHOT#c3',
      'SNAPSHOT#c4',
      'UNREACHABLE#c3',
      'WAITING#approval',
    ]);
    for (const [sk, item] of Object.entries(bySk)) {
      if (sk === 'SNAPSHOT#c2') expect(item[TABLE_TTL_ATTRIBUTE]).toBeUndefined();
      else expect(item[TABLE_TTL_ATTRIBUTE]?.N, sk).toBe(expected);
    }
    expect(bySk.META?.phase?.S).toBe('rolled-back');
    expect(await record.phase(deployment)).toBe('rolled-back');
    expect(firstPage.LastEvaluatedKey).toBeDefined();
  });

  it('defaults to 30 days, and a later finish without kept snapshots lets them expire too', async () => {
    // prepare
    const deployment = id('dep');
    await record.saveSnapshot(deployment, snapshot('c1', 1));
    await record.finish(deployment, 'failed', { keepSnapshotsOf: ['c1'] });
    const kept = await rawItem(`DEPLOYMENT#${deployment}`, 'SNAPSHOT#c1');

    // act
    await record.markRestored(deployment, 'c1');
    await record.finish(deployment, 'rolled-back');
    const released = await rawItem(`DEPLOYMENT#${deployment}`, 'SNAPSHOT#c1');

    // assess
    expect(kept?.[TABLE_TTL_ATTRIBUTE]).toBeUndefined();
    expect(released?.[TABLE_TTL_ATTRIBUTE]?.N).toBe(String(NOW / 1000 + 30 * DAY));
    expect(await record.phase(deployment)).toBe('rolled-back');
  });

  it('raises no fence-breaking markTouched after finishing', async () => {
    // prepare
    const deployment = id('dep');
    await record.savePlan(deployment, {});
    await record.finish(deployment, 'succeeded');

    // act
    const error = await caught(() =>
      record.markTouched(deployment, 'eu-1', 'primary', '2031-05-04T10:05:00.000Z'),
    );

    // assess
    expect(error).toBeInstanceOf(DeploymentAbortedError);
    expect(await record.touched(deployment)).toEqual([]);
  });
});

describe('notification dedupe', () => {
  it('says firstTime once among 20 concurrent callers, with a TTL of 3 days, and again after forget', async () => {
    // prepare
    const dedupe = new DynamoDedupe(client, TABLE, { now: () => NOW });
    const key = id('canary-failed');

    // act
    const results = await Promise.all(Array.from({ length: 20 }, () => dedupe.firstTime(key)));
    const raw = await rawItem(`NOTIFIED#${key}`, 'NOTIFIED');
    await dedupe.forget(key);
    const afterForget = await dedupe.firstTime(key);

    // assess
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(raw?.[TABLE_TTL_ATTRIBUTE]?.N).toBe(String(NOW / 1000 + 3 * DAY));
    expect(afterForget).toBe(true);
  });

  it('treats an expired marker that DynamoDB has not deleted yet as absent', async () => {
    // prepare
    const key = id('promoted');
    await new DynamoDedupe(client, TABLE, { now: () => NOW }).firstTime(key);
    const later = new DynamoDedupe(client, TABLE, { now: () => NOW + 4 * DAY * 1000 });

    // act
    const first = await later.firstTime(key);
    const second = await later.firstTime(key);

    // assess
    expect(first).toBe(true);
    expect(second).toBe(false);
  });
});

describe('failures', () => {
  it('turns a stand-in that is down into a retryable RecordError naming the operation and key, not values', async () => {
    // prepare
    const down = await startAwsStandIn({ host: '127.0.0.1', port: 0 });
    await down.stop();
    const downClient = dynamo(down.endpoint);
    const downRecord = new DynamoRecord(downClient, TABLE);

    // act
    const read = await caught(() => downRecord.lockHolder('web'));
    const write = await caught(() => downRecord.requestAbort('dep-x', 'a secret reason'));
    const dedupe = await caught(() => new DynamoDedupe(downClient, TABLE).firstTime('k'));
    downClient.destroy();

    // assess
    for (const error of [read, write, dedupe]) {
      expect(error).toBeInstanceOf(RecordError);
      expect(error.name).toBe('RecordError');
      expect(error.retryable).toBe(true);
      expect(error.cause).toBeDefined();
    }
    expect(read.message).toMatch(/GetItem of LOCK#web LOCK/);
    expect(write.message).toMatch(/UpdateItem of DEPLOYMENT#dep-x META/);
    expect(write.message).not.toMatch(/secret/);
  });

  it('passes the abort signal to the SDK: an aborted call is a RecordError', async () => {
    // prepare
    const controller = new AbortController();
    controller.abort();

    // act
    const error = await caught(() => record.lockHolder('web', controller.signal));

    // assess
    expect(error).toBeInstanceOf(RecordError);
    expect((error.cause as Error).name).toMatch(/Abort/);
  });
});
