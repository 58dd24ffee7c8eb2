import { gunzipSync, gzipSync } from 'node:zlib';
import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Snapshot } from '../../swarm/types.js';
import { DeploymentAbortedError, RecordError } from '../errors.js';
import type {
  ClusterNote,
  DeployedSpec,
  DeploymentPhase,
  DeploymentRecord,
  LockHolder,
  NotificationDedupe,
  TouchedCluster,
  WaitingTask,
} from '../ports.js';
import type {
  ActionEntry,
  AnalysisRoundView,
  DeploymentPage,
  DeploymentStatus,
  DeploymentSummary,
  HistoryEntry,
} from '../view.js';
import { attempt, FAILED_CONDITION, type Key, must, recordError } from './calls.js';
import { DynamoHistory } from './history.js';

/** The attribute DynamoDB's Time to Live reads (epoch seconds) on every item that may expire. */
export const TABLE_TTL_ATTRIBUTE = 'expiresAt';

/** DynamoDB's item size limit (400 KB, attribute names included). */
const MAX_ITEM_BYTES = 400 * 1024;
const DAY_SECONDS = 86_400;
/** How many items `finish` updates at once. */
const FINISH_CONCURRENCY = 16;
/** Attribute-name prefix of a touched-cluster entry inside a deployment's META item. */
const TOUCHED_PREFIX = 'touched#';
/** The sort key of a deployment's audit-trail entry (functions/lib/deploy/record/history.ts). */
const HISTORY_SK = 'HISTORY';

type Item = Record<string, unknown>;
/** Options of {@link DynamoRecord}. */
export interface DynamoRecordOptions {
  /** Days a finished deployment's items are kept before DynamoDB's TTL removes them (default 30). */
  retentionDays?: number;
  /** Days the newest push of a service is kept after it was last noted (default 90). */
  pushRetentionDays?: number;
  /** The clock in milliseconds since the epoch (default `Date.now`), for tests. */
  now?: () => number;
}

/** Options of {@link DynamoDedupe}. */
export interface DynamoDedupeOptions {
  /** Days a notification marker is kept (default 3: longer than any retry of a step). */
  ttlDays?: number;
  /** The clock in milliseconds since the epoch (default `Date.now`), for tests. */
  now?: () => number;
}

/**
 * The deployment record in one DynamoDB table (single-table design, string keys `pk` and `sk`).
 *
 * | pk                  | sk                     | attributes                                                     |
 * | ------------------- | ---------------------- | -------------------------------------------------------------- |
 * | `LOCK#<service>`    | `LOCK`                 | the {@link LockHolder} fields (no TTL: released, never expired) |
 * | `PUSH#<service>`    | `LATEST`               | digest, time, pushedAtMs, expiresAt (90 days, refreshed)       |
 * | `DEPLOYMENT#<id>`   | `META`                 | phase, startedAt, `touched#<cluster>#<what>` (one map each: cluster, what, leaseUntil?), restored (string set), abortReason, abortRequestedAt, finishedAt |
 * | `DEPLOYMENT#<id>`   | `PLAN`                 | plan (gzip JSON, binary)                                       |
 * | `DEPLOYMENT#<id>`   | `SNAPSHOT#<cluster>`   | cluster, service, takenAt, snapshot (gzip JSON, binary)        |
 * | `DEPLOYMENT#<id>`   | `WAITING#<kind>`       | kind, token, key?                                              |
 * | `DEPLOYMENT#<id>`   | `UNREACHABLE#<cluster>`| cluster, since                                                 |
 * | `NOTIFIED#<key>`    | `NOTIFIED`             | notifiedAt, expiresAt ({@link DynamoDedupe})                   |
 * | `SPEC#<service>`    | `<cluster>`            | parts (hash per spec part), deploymentId, at (no TTL)           |
 *
 * The rollback fence is atomic without transactions: the touched entries live in the META item,
 * beside the phase, so `markTouched` is one UpdateItem conditional on the phase being "running"
 * and `beginRollback` one UpdateItem setting "rolling-back"; DynamoDB serializes writes to one
 * item, so no cluster can be added once the fence is up. `finish` puts `expiresAt` on every item
 * of the deployment (except the snapshots still needed), so the table does not grow without bound.
 * Every read is strongly consistent. Conditional-check failures are answers (false, the current
 * holder, the first value); every other failure is a RecordError (retryable) naming the
 * operation and the key, never the values.
 */
export class DynamoRecord implements DeploymentRecord {
  private readonly doc: DynamoDBDocumentClient;
  private readonly retentionSeconds: number;
  private readonly pushRetentionSeconds: number;
  private readonly now: () => number;
  private readonly hist: DynamoHistory;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoRecordOptions = {},
  ) {
    this.doc = documentClient(client);
    this.retentionSeconds = Math.round((options.retentionDays ?? 30) * DAY_SECONDS);
    this.pushRetentionSeconds = Math.round((options.pushRetentionDays ?? 90) * DAY_SECONDS);
    this.now = options.now ?? Date.now;
    this.hist = new DynamoHistory(this.doc, tableName, this.now);
  }

  // -- the service lock ------------------------------------------------------------------------

  /**
   * Takes the lock if nobody holds it (PutItem with `attribute_not_exists(pk)`); otherwise says who does.
   * @throws RecordError when DynamoDB did not answer
   */
  async acquireLock(
    service: string,
    holder: LockHolder,
    signal?: AbortSignal,
  ): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }> {
    const key = keys.lock(service);
    for (let attempt = 0; attempt < 5; attempt++) {
      let returned: Record<string, AttributeValue> | undefined;
      const put = await this.attempt('PutItem', key, signal, async (abortSignal) => {
        try {
          await this.doc.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { ...key, ...holderItem(holder) },
              ConditionExpression: 'attribute_not_exists(pk)',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
            { abortSignal },
          );
        } catch (err) {
          returned = (err as { Item?: Record<string, AttributeValue> }).Item;
          throw err;
        }
      });
      if (put !== FAILED_CONDITION) return { acquired: true };
      // DynamoDB returns the holder with the failure; a store that does not is read (consistent).
      const current =
        returned !== undefined ? holderFrom(plainStrings(returned)) : await this.lockHolder(service, signal);
      if (current !== undefined) return { acquired: false, holder: current };
      // released in between: try again
    }
    throw new RecordError(`the lock ${key.pk} changed hands on every one of 5 attempts to take it`);
  }

  /**
   * Takes the lock over from `expectedExecutionArn`, or takes it when nobody holds it (one
   * conditional PutItem): false when someone else holds it.
   * @throws RecordError when DynamoDB did not answer
   */
  async takeOverLock(
    service: string,
    expectedExecutionArn: string,
    holder: LockHolder,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const key = keys.lock(service);
    const put = await this.attempt('PutItem', key, signal, (abortSignal) =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, ...holderItem(holder) },
          ConditionExpression: 'attribute_not_exists(pk) OR #arn = :expected',
          ExpressionAttributeNames: { '#arn': 'executionArn' },
          ExpressionAttributeValues: { ':expected': expectedExecutionArn },
        }),
        { abortSignal },
      ),
    );
    return put !== FAILED_CONDITION;
  }

  /**
   * Releases the lock only if `executionArn` holds it (DeleteItem conditional on the holder).
   * @throws RecordError when DynamoDB did not answer
   */
  async releaseLock(service: string, executionArn: string, signal?: AbortSignal): Promise<boolean> {
    const key = keys.lock(service);
    const deleted = await this.attempt('DeleteItem', key, signal, (abortSignal) =>
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: key,
          ConditionExpression: '#arn = :arn',
          ExpressionAttributeNames: { '#arn': 'executionArn' },
          ExpressionAttributeValues: { ':arn': executionArn },
        }),
        { abortSignal },
      ),
    );
    return deleted !== FAILED_CONDITION;
  }

  /**
   * Who holds the service's lock (strongly consistent read), or undefined.
   * @throws RecordError when DynamoDB did not answer
   */
  async lockHolder(service: string, signal?: AbortSignal): Promise<LockHolder | undefined> {
    const item = await this.get(keys.lock(service), signal);
    return item === undefined ? undefined : holderFrom(item);
  }

  // -- pushes ------------------------------------------------------------------------------------

  /**
   * Records a push as the newest of its service unless a newer one is already recorded (one
   * conditional PutItem on the push time); each write refreshes the item's TTL.
   * @throws TypeError when `time` is not a date
   * @throws RecordError when DynamoDB did not answer
   */
  async notePush(service: string, digest: string, time: string, signal?: AbortSignal): Promise<void> {
    const pushedAtMs = Date.parse(time);
    if (Number.isNaN(pushedAtMs)) throw new TypeError(`the push time of ${service} is not a date`);
    const key = keys.push(service);
    await this.attempt('PutItem', key, signal, (abortSignal) =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...key,
            digest,
            time,
            pushedAtMs,
            [TABLE_TTL_ATTRIBUTE]: this.epochSeconds() + this.pushRetentionSeconds,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #at <= :at',
          ExpressionAttributeNames: { '#at': 'pushedAtMs' },
          ExpressionAttributeValues: { ':at': pushedAtMs },
        }),
        { abortSignal },
      ),
    );
  }

  /**
   * The newest push recorded for the service, or undefined.
   * @throws RecordError when DynamoDB did not answer
   */
  async latestPush(
    service: string,
    signal?: AbortSignal,
  ): Promise<{ digest: string; time: string } | undefined> {
    const item = await this.get(keys.push(service), signal);
    return item === undefined ? undefined : { digest: String(item.digest), time: String(item.time) };
  }

  // -- the deployment ------------------------------------------------------------------------------

  /**
   * Stores the plan the deployment started from, once (a retry keeps the first), and marks the
   * deployment running if it has no phase yet.
   * @throws RecordError when the plan is over DynamoDB's item size, or DynamoDB did not answer
   */
  async savePlan(deploymentId: string, plan: unknown, signal?: AbortSignal): Promise<void> {
    const key = keys.plan(deploymentId);
    await this.createOnce(
      key,
      { ...key, plan: gzipSync(JSON.stringify(plan)) },
      `the plan of deployment ${deploymentId}`,
      signal,
    );
    const meta = keys.meta(deploymentId);
    await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression:
            'SET #phase = if_not_exists(#phase, :running), #started = if_not_exists(#started, :now)',
          ExpressionAttributeNames: { '#phase': 'phase', '#started': 'startedAt' },
          ExpressionAttributeValues: { ':running': 'running', ':now': this.isoNow() },
        }),
        { abortSignal },
      ),
    );
    await this.hist.begin(deploymentId, plan, signal);
  }

  /**
   * The plan the deployment started from, parsed, or undefined.
   * @throws RecordError when DynamoDB did not answer
   */
  async plan(deploymentId: string, signal?: AbortSignal): Promise<unknown | undefined> {
    const item = await this.get(keys.plan(deploymentId), signal);
    return item === undefined ? undefined : unzipJson(item.plan);
  }

  /**
   * The deployment's phase, or undefined when nothing of it is recorded.
   * @throws RecordError when DynamoDB did not answer
   */
  async phase(deploymentId: string, signal?: AbortSignal): Promise<DeploymentPhase | undefined> {
    const item = await this.get(keys.meta(deploymentId), signal);
    return item?.phase as DeploymentPhase | undefined;
  }

  /**
   * Raises the rollback fence (phase "rolling-back"; a finished deployment keeps its phase) and
   * returns the touched list read after the write (strongly consistent).
   * @throws RecordError when DynamoDB did not answer
   */
  async beginRollback(deploymentId: string, signal?: AbortSignal): Promise<TouchedCluster[]> {
    const meta = keys.meta(deploymentId);
    await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'SET #phase = :rb, #since = if_not_exists(#since, :now)',
          ConditionExpression: 'attribute_not_exists(#phase) OR #phase = :running OR #phase = :rb',
          ExpressionAttributeNames: { '#phase': 'phase', '#since': 'rollbackStartedAt' },
          ExpressionAttributeValues: { ':rb': 'rolling-back', ':running': 'running', ':now': this.isoNow() },
        }),
        { abortSignal },
      ),
    );
    await this.hist.status(deploymentId, 'rolling-back', {}, signal);
    return this.touched(deploymentId, signal);
  }

  // -- snapshots and the touched list ---------------------------------------------------------------

  /**
   * Stores a cluster's snapshot once (PutItem with `attribute_not_exists`, gzip JSON as binary):
   * a retry keeps the first one and returns it.
   * @throws RecordError when the snapshot is over DynamoDB's item size, or DynamoDB did not answer
   */
  async saveSnapshot(deploymentId: string, snap: Snapshot, signal?: AbortSignal): Promise<Snapshot> {
    const key = keys.snapshot(deploymentId, snap.cluster);
    const item = {
      ...key,
      cluster: snap.cluster,
      service: snap.service,
      takenAt: snap.takenAt,
      snapshot: gzipSync(JSON.stringify(snap)),
    };
    const created = await this.createOnce(
      key,
      item,
      `the snapshot of ${snap.service} on ${snap.cluster}`,
      signal,
    );
    const first = created ? snap : await this.snapshot(deploymentId, snap.cluster, signal);
    if (first === undefined)
      throw new RecordError(`the snapshot ${key.pk} ${key.sk} exists but could not be read`);
    await this.hist.before(deploymentId, first.cluster, first.digest, signal);
    return first;
  }

  /**
   * Records the spec a deployment left running on a cluster (a hash per part), for the next
   * deployment's drift check. Last writer wins.
   * @throws RecordError when DynamoDB did not answer
   */
  async saveDeployedSpec(spec: DeployedSpec, signal?: AbortSignal): Promise<void> {
    const key = keys.deployedSpec(spec.service, spec.cluster);
    await this.must('PutItem', key, signal, (abortSignal) =>
      this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...key, ...spec } }), {
        abortSignal,
      }),
    );
  }

  /**
   * The spec the last deployment left running on a cluster, or undefined.
   * @throws RecordError when DynamoDB did not answer
   */
  async deployedSpec(
    service: string,
    cluster: string,
    signal?: AbortSignal,
  ): Promise<DeployedSpec | undefined> {
    const item = await this.get(keys.deployedSpec(service, cluster), signal);
    return item === undefined
      ? undefined
      : {
          service,
          cluster,
          parts: item.parts as Record<string, string>,
          deploymentId: String(item.deploymentId),
          at: String(item.at),
        };
  }

  /**
   * A cluster's snapshot, or undefined.
   * @throws RecordError when DynamoDB did not answer
   */
  async snapshot(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<Snapshot | undefined> {
    const item = await this.get(keys.snapshot(deploymentId, cluster), signal);
    return item === undefined ? undefined : (unzipJson(item.snapshot) as Snapshot);
  }

  /**
   * Records, before a change, that a cluster is about to be touched, with its lease: one UpdateItem
   * on the META item conditional on the phase being "running" (a retry refreshes the lease).
   * @throws DeploymentAbortedError once the rollback fence is up (or the deployment finished)
   * @throws RecordError when DynamoDB did not answer
   */
  async markTouched(
    deploymentId: string,
    cluster: string,
    what: 'canary' | 'primary',
    leaseUntil: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const meta = keys.meta(deploymentId);
    const entry: TouchedCluster = { cluster, what, leaseUntil };
    const updated = await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'SET #entry = :entry, #phase = if_not_exists(#phase, :running)',
          ConditionExpression: 'attribute_not_exists(#phase) OR #phase = :running',
          ExpressionAttributeNames: { '#entry': touchedAttribute(cluster, what), '#phase': 'phase' },
          ExpressionAttributeValues: { ':entry': entry, ':running': 'running' },
        }),
        { abortSignal },
      ),
    );
    if (updated !== FAILED_CONDITION) {
      await this.hist.cluster(
        deploymentId,
        cluster,
        { step: what === 'canary' ? 'canary-deploying' : 'promoting', message: null },
        signal,
      );
      return;
    }
    const phase = await this.phase(deploymentId, signal);
    throw new DeploymentAbortedError(
      phase === 'rolling-back' || phase === undefined
        ? `deployment ${deploymentId} is rolling back: ${cluster} (${what}) may not be touched any more`
        : `deployment ${deploymentId} has ended (${phase}): ${cluster} (${what}) may not be touched any more`,
    );
  }

  /**
   * The change on `cluster` has landed (or failed): its lease ends (nothing when it was never marked).
   * @throws RecordError when DynamoDB did not answer
   */
  async endLease(
    deploymentId: string,
    cluster: string,
    what: 'canary' | 'primary',
    signal?: AbortSignal,
  ): Promise<void> {
    const meta = keys.meta(deploymentId);
    await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'REMOVE #entry.#lease',
          ConditionExpression: 'attribute_exists(#entry)',
          ExpressionAttributeNames: { '#entry': touchedAttribute(cluster, what), '#lease': 'leaseUntil' },
        }),
        { abortSignal },
      ),
    );
  }

  /**
   * The touched clusters, sorted by cluster name then what.
   * @throws RecordError when DynamoDB did not answer
   */
  async touched(deploymentId: string, signal?: AbortSignal): Promise<TouchedCluster[]> {
    const item = await this.get(keys.meta(deploymentId), signal);
    if (item === undefined) return [];
    const out: TouchedCluster[] = [];
    for (const [name, value] of Object.entries(item)) {
      if (!name.startsWith(TOUCHED_PREFIX) || value === null || typeof value !== 'object') continue;
      const entry = value as Partial<TouchedCluster>;
      if (typeof entry.cluster !== 'string' || (entry.what !== 'canary' && entry.what !== 'primary'))
        continue;
      out.push(
        entry.leaseUntil === undefined
          ? { cluster: entry.cluster, what: entry.what }
          : { cluster: entry.cluster, what: entry.what, leaseUntil: String(entry.leaseUntil) },
      );
    }
    return out.sort((a, b) =>
      a.cluster === b.cluster ? compare(a.what, b.what) : compare(a.cluster, b.cluster),
    );
  }

  /**
   * A touched cluster was restored from its snapshot (added to the META item's string set).
   * @throws RecordError when DynamoDB did not answer
   */
  async markRestored(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<void> {
    const meta = keys.meta(deploymentId);
    await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'ADD #restored :cluster',
          ExpressionAttributeNames: { '#restored': 'restored' },
          ExpressionAttributeValues: { ':cluster': new Set([cluster]) },
        }),
        { abortSignal },
      ),
    );
    await this.hist.restored(deploymentId, cluster, signal);
  }

  /**
   * The restored clusters, sorted.
   * @throws RecordError when DynamoDB did not answer
   */
  async restored(deploymentId: string, signal?: AbortSignal): Promise<string[]> {
    const item = await this.get(keys.meta(deploymentId), signal);
    const set = item?.restored;
    return set instanceof Set ? [...(set as Set<string>)].map(String).sort(compare) : [];
  }

  // -- waiting tasks and aborts ----------------------------------------------------------------------

  /**
   * Stores the waiting task of its kind (a later one of the same kind replaces it).
   * @throws RecordError when DynamoDB did not answer
   */
  async saveWaitingTask(deploymentId: string, task: WaitingTask, signal?: AbortSignal): Promise<void> {
    const key = keys.waiting(deploymentId, task.kind);
    await this.attempt('PutItem', key, signal, (abortSignal) =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...key,
            kind: task.kind,
            token: task.token,
            ...(task.key === undefined ? {} : { key: task.key }),
          },
        }),
        { abortSignal },
      ),
    );
    if (task.kind === 'approval') await this.hist.status(deploymentId, 'awaiting-approval', {}, signal);
    if (task.kind === 'pause') await this.hist.status(deploymentId, 'paused', {}, signal);
    if (task.kind === 'bake' && task.key) await this.hist.baking(deploymentId, task.key, signal);
  }

  /**
   * The waiting task of that kind, or undefined.
   * @throws RecordError when DynamoDB did not answer
   */
  async waitingTask(
    deploymentId: string,
    kind: WaitingTask['kind'],
    signal?: AbortSignal,
  ): Promise<WaitingTask | undefined> {
    const item = await this.get(keys.waiting(deploymentId, kind), signal);
    if (item === undefined) return undefined;
    return item.key === undefined
      ? { kind, token: String(item.token) }
      : { kind, token: String(item.token), key: String(item.key) };
  }

  /**
   * Forgets the waiting task of that kind (nothing when there is none).
   * @throws RecordError when DynamoDB did not answer
   */
  async clearWaitingTask(
    deploymentId: string,
    kind: WaitingTask['kind'],
    signal?: AbortSignal,
  ): Promise<void> {
    const key = keys.waiting(deploymentId, kind);
    await this.attempt('DeleteItem', key, signal, (abortSignal) =>
      this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: key }), { abortSignal }),
    );
    if (kind !== 'bake' && (await this.phase(deploymentId, signal)) === 'running')
      await this.hist.status(deploymentId, 'running', {}, signal);
  }

  /**
   * Records an abort request; the first reason is kept.
   * @throws RecordError when DynamoDB did not answer
   */
  async requestAbort(deploymentId: string, reason: string, signal?: AbortSignal): Promise<void> {
    const meta = keys.meta(deploymentId);
    await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'SET #reason = if_not_exists(#reason, :reason), #at = if_not_exists(#at, :now)',
          ExpressionAttributeNames: { '#reason': 'abortReason', '#at': 'abortRequestedAt' },
          ExpressionAttributeValues: { ':reason': reason, ':now': this.isoNow() },
        }),
        { abortSignal },
      ),
    );
  }

  /**
   * The reason of the abort request, or undefined when none was made.
   * @throws RecordError when DynamoDB did not answer
   */
  async abortRequested(deploymentId: string, signal?: AbortSignal): Promise<string | undefined> {
    const item = await this.get(keys.meta(deploymentId), signal);
    return item?.abortReason === undefined ? undefined : String(item.abortReason);
  }

  // -- unreachable clusters ---------------------------------------------------------------------------

  /**
   * The first time a step could not reach `cluster`: `now` on the first call (set with
   * `if_not_exists`, atomically), the stored time afterwards.
   * @throws RecordError when DynamoDB did not answer
   */
  async unreachableSince(
    deploymentId: string,
    cluster: string,
    now: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const key = keys.unreachable(deploymentId, cluster);
    const out = await this.must('UpdateItem', key, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET #since = if_not_exists(#since, :now), #cluster = :cluster',
          ExpressionAttributeNames: { '#since': 'since', '#cluster': 'cluster' },
          ExpressionAttributeValues: { ':now': now, ':cluster': cluster },
          ReturnValues: 'ALL_NEW',
        }),
        { abortSignal },
      ),
    );
    return String(out.Attributes?.since ?? now);
  }

  /**
   * The cluster was reached: its unreachable-since time is forgotten.
   * @throws RecordError when DynamoDB did not answer
   */
  async reached(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<void> {
    const key = keys.unreachable(deploymentId, cluster);
    await this.attempt('DeleteItem', key, signal, (abortSignal) =>
      this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: key }), { abortSignal }),
    );
  }

  // -- the end ---------------------------------------------------------------------------------------

  /**
   * Sets the final phase and puts `expiresAt` (now + the retention) on every item of the
   * deployment (a Query of its partition, every page), except the snapshots of `keepSnapshotsOf`,
   * whose TTL is removed. Items are only updated if they still exist; a retry does the same.
   * @throws RecordError when DynamoDB did not answer
   */
  async finish(
    deploymentId: string,
    phase: 'succeeded' | 'rolled-back' | 'failed',
    options: { keepSnapshotsOf?: string[]; reason?: string } = {},
    signal?: AbortSignal,
  ): Promise<void> {
    await this.hist.status(deploymentId, phase, options.reason ? { reason: options.reason } : {}, signal);
    const expiresAt = this.epochSeconds() + this.retentionSeconds;
    const keep = new Set(options.keepSnapshotsOf ?? []);
    const meta = keys.meta(deploymentId);
    await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'SET #phase = :phase, #finished = :now, #ttl = :ttl',
          ExpressionAttributeNames: {
            '#phase': 'phase',
            '#finished': 'finishedAt',
            '#ttl': TABLE_TTL_ATTRIBUTE,
          },
          ExpressionAttributeValues: { ':phase': phase, ':now': this.isoNow(), ':ttl': expiresAt },
        }),
        { abortSignal },
      ),
    );
    const partition = { pk: meta.pk, sk: '*' };
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.must('Query', partition, signal, (abortSignal) =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#pk = :pk',
            ProjectionExpression: '#pk, #sk, #ttl',
            ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk', '#ttl': TABLE_TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':pk': meta.pk },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
          { abortSignal },
        ),
      );
      const updates: Array<() => Promise<unknown>> = [];
      for (const item of page.Items ?? []) {
        const key = { pk: String(item.pk), sk: String(item.sk) };
        // The META item has its TTL already; the audit trail never expires.
        if (key.sk === meta.sk || key.sk === HISTORY_SK) continue;
        const kept = key.sk.startsWith('SNAPSHOT#') && keep.has(key.sk.slice('SNAPSHOT#'.length));
        if (kept && item[TABLE_TTL_ATTRIBUTE] === undefined) continue;
        if (!kept && item[TABLE_TTL_ATTRIBUTE] === expiresAt) continue;
        updates.push(() =>
          this.attempt('UpdateItem', key, signal, (abortSignal) =>
            this.doc.send(
              new UpdateCommand({
                TableName: this.tableName,
                Key: key,
                UpdateExpression: kept ? 'REMOVE #ttl' : 'SET #ttl = :ttl',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeNames: { '#ttl': TABLE_TTL_ATTRIBUTE },
                ...(kept ? {} : { ExpressionAttributeValues: { ':ttl': expiresAt } }),
              }),
              { abortSignal },
            ),
          ),
        );
      }
      for (let i = 0; i < updates.length; i += FINISH_CONCURRENCY)
        await Promise.all(updates.slice(i, i + FINISH_CONCURRENCY).map((update) => update()));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  }

  // -- operators' requests ------------------------------------------------------------------------------

  /** Sets a request flag on META while the deployment runs (false: it is not running). */
  private async setRequest(
    deploymentId: string,
    attribute: string,
    entry: ActionEntry,
    signal?: AbortSignal,
  ) {
    const meta = keys.meta(deploymentId);
    const out = await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'SET #request = :entry',
          ConditionExpression: '#phase = :running',
          ExpressionAttributeNames: { '#request': attribute, '#phase': 'phase' },
          ExpressionAttributeValues: { ':entry': entry, ':running': 'running' },
        }),
        { abortSignal },
      ),
    );
    return out !== FAILED_CONDITION;
  }

  private async request(deploymentId: string, attribute: string, signal?: AbortSignal) {
    const item = await this.get(keys.meta(deploymentId), signal);
    return item?.[attribute] as ActionEntry | undefined;
  }

  requestPause(deploymentId: string, by: ActionEntry, signal?: AbortSignal): Promise<boolean> {
    return this.setRequest(deploymentId, 'pauseRequest', by, signal);
  }

  async clearPause(deploymentId: string, signal?: AbortSignal): Promise<boolean> {
    const meta = keys.meta(deploymentId);
    const out = await this.attempt('UpdateItem', meta, signal, (abortSignal) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: meta,
          UpdateExpression: 'REMOVE #request',
          ConditionExpression: 'attribute_exists(#request)',
          ExpressionAttributeNames: { '#request': 'pauseRequest' },
        }),
        { abortSignal },
      ),
    );
    return out !== FAILED_CONDITION;
  }

  pauseRequested(deploymentId: string, signal?: AbortSignal): Promise<ActionEntry | undefined> {
    return this.request(deploymentId, 'pauseRequest', signal);
  }

  requestPromote(deploymentId: string, by: ActionEntry, signal?: AbortSignal): Promise<boolean> {
    return this.setRequest(deploymentId, 'promoteRequest', by, signal);
  }

  promoteRequested(deploymentId: string, signal?: AbortSignal): Promise<ActionEntry | undefined> {
    return this.request(deploymentId, 'promoteRequest', signal);
  }

  // -- the audit trail ----------------------------------------------------------------------------------

  noteStatus(
    deploymentId: string,
    status: DeploymentStatus,
    extra: { reason?: string; approver?: string; approvalDeadline?: string } = {},
    signal?: AbortSignal,
  ): Promise<void> {
    return this.hist.status(deploymentId, status, extra, signal);
  }

  noteCluster(deploymentId: string, cluster: string, note: ClusterNote, signal?: AbortSignal): Promise<void> {
    return this.hist.cluster(deploymentId, cluster, note, signal);
  }

  noteRound(deploymentId: string, round: AnalysisRoundView, signal?: AbortSignal): Promise<void> {
    return this.hist.round(deploymentId, round, signal);
  }

  noteAction(deploymentId: string, action: ActionEntry, signal?: AbortSignal): Promise<void> {
    return this.hist.action(deploymentId, action, signal);
  }

  history(deploymentId: string, signal?: AbortSignal): Promise<HistoryEntry | undefined> {
    return this.hist.entry(deploymentId, signal);
  }

  listHistory(
    filter: { service?: string; status?: DeploymentStatus; limit: number; next?: string },
    signal?: AbortSignal,
  ): Promise<DeploymentPage> {
    return this.hist.list(filter, signal);
  }

  findHistory(
    service: string,
    where: (d: DeploymentSummary) => boolean,
    limit: number,
    signal?: AbortSignal,
  ): Promise<DeploymentSummary[]> {
    return this.hist.find(service, where, limit, signal);
  }

  // -- plumbing ----------------------------------------------------------------------------------------

  private epochSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private isoNow(): string {
    return new Date(this.now()).toISOString();
  }

  /**
   * Writes `item` only if its key is free (a retry keeps the first write); false when it was taken.
   * @throws RecordError naming `what` when the item is over DynamoDB's item size
   */
  private async createOnce(key: Key, item: Item, what: string, signal: AbortSignal | undefined) {
    const size = itemSize(item);
    if (size > MAX_ITEM_BYTES)
      throw new RecordError(`${what} is ${size} bytes compressed, over DynamoDB's 400 KB item limit`);
    const put = await this.attempt(
      'PutItem',
      key,
      signal,
      (abortSignal) =>
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
          { abortSignal },
        ),
      () => `${what} is over DynamoDB's 400 KB item limit`,
    );
    return put !== FAILED_CONDITION;
  }

  private async get(key: Key, signal: AbortSignal | undefined): Promise<Item | undefined> {
    const out = await this.must('GetItem', key, signal, (abortSignal) =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }), {
        abortSignal,
      }),
    );
    return out.Item;
  }

  private attempt<T>(
    operation: string,
    key: Key,
    signal: AbortSignal | undefined,
    send: (abortSignal: AbortSignal | undefined) => Promise<T>,
    tooBig?: () => string,
  ): Promise<T | typeof FAILED_CONDITION> {
    return attempt(this.tableName, operation, key, signal, send, tooBig);
  }

  private must<T>(
    operation: string,
    key: Key,
    signal: AbortSignal | undefined,
    send: (abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    return must(this.tableName, operation, key, signal, send);
  }
}

/**
 * Marks a notification as sent once, in the deployer's table (pk `NOTIFIED#<key>`, sk `NOTIFIED`),
 * with a TTL of a few days.
 *
 * A create-only marker (PutItem with `attribute_not_exists`, or over an expired marker DynamoDB
 * has not deleted yet) rather than Powertools Idempotency: the dedupe guards one side effect
 * inside a step, not a whole handler's result, so there is no response to cache and no
 * in-progress state to recover; Powertools would add a dependency and a persistence layer for
 * the same single conditional write.
 */
export class DynamoDedupe implements NotificationDedupe {
  private readonly doc: DynamoDBDocumentClient;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDedupeOptions = {},
  ) {
    this.doc = documentClient(client);
    this.ttlSeconds = Math.round((options.ttlDays ?? 3) * DAY_SECONDS);
    this.now = options.now ?? Date.now;
  }

  /**
   * True for the first call with `key` (the marker is created), false for every later one.
   * @throws RecordError when DynamoDB did not answer
   */
  async firstTime(key: string, signal?: AbortSignal): Promise<boolean> {
    const itemKey = keys.notified(key);
    const nowSeconds = Math.floor(this.now() / 1000);
    const put = await attempt(this.tableName, 'PutItem', itemKey, signal, (abortSignal) =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...itemKey,
            notifiedAt: new Date(this.now()).toISOString(),
            [TABLE_TTL_ATTRIBUTE]: nowSeconds + this.ttlSeconds,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
          ExpressionAttributeNames: { '#ttl': TABLE_TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':now': nowSeconds },
        }),
        { abortSignal },
      ),
    );
    return put !== FAILED_CONDITION;
  }

  /**
   * Removes the marker, so that the next `firstTime(key)` is true again (after a failed send).
   * @throws RecordError when DynamoDB did not answer
   */
  async forget(key: string, signal?: AbortSignal): Promise<void> {
    const itemKey = keys.notified(key);
    await must(this.tableName, 'DeleteItem', itemKey, signal, (abortSignal) =>
      this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: itemKey }), { abortSignal }),
    );
  }
}

/**
 * Creates the deployer's table (string keys `pk` and `sk`, on-demand capacity), waits until it
 * is active and turns on its Time to Live on {@link TABLE_TTL_ATTRIBUTE}. Idempotent: an existing
 * table, or a TTL already on, is left as it is.
 * @returns whether the table was created by this call
 * @throws RecordError when DynamoDB did not answer, or TTL is on for another attribute
 */
export async function createDeployerTable(
  client: DynamoDBClient,
  tableName: string,
  signal?: AbortSignal,
): Promise<{ created: boolean }> {
  const table = { pk: `table ${tableName}`, sk: '' };
  let created = true;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    if ((err as Error).name !== 'ResourceInUseException')
      throw recordError(tableName, 'CreateTable', table, err);
    created = false;
  }
  try {
    await waitUntilTableExists(
      {
        client,
        maxWaitTime: 300,
        minDelay: 1,
        maxDelay: 5,
        ...(signal === undefined ? {} : { abortSignal: signal }),
      },
      { TableName: tableName },
    );
  } catch (err) {
    throw recordError(tableName, 'DescribeTable', table, err);
  }
  const ttl = await must(tableName, 'DescribeTimeToLive', table, signal, (abortSignal) =>
    client.send(new DescribeTimeToLiveCommand({ TableName: tableName }), { abortSignal }),
  );
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') {
    if (ttl.TimeToLiveDescription?.AttributeName === TABLE_TTL_ATTRIBUTE) return { created };
    throw new RecordError(
      `table ${tableName} has Time to Live on ${ttl.TimeToLiveDescription?.AttributeName}, not ${TABLE_TTL_ATTRIBUTE}`,
    );
  }
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_TTL_ATTRIBUTE, Enabled: true },
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    // Another caller turned it on in between.
    if ((err as Error).name === 'ValidationException' && /already enabled/i.test((err as Error).message))
      return { created };
    throw recordError(tableName, 'UpdateTimeToLive', table, err);
  }
  return { created };
}

// -- helpers -------------------------------------------------------------------------------------------

const keys = {
  lock: (service: string): Key => ({ pk: `LOCK#${service}`, sk: 'LOCK' }),
  push: (service: string): Key => ({ pk: `PUSH#${service}`, sk: 'LATEST' }),
  meta: (id: string): Key => ({ pk: `DEPLOYMENT#${id}`, sk: 'META' }),
  plan: (id: string): Key => ({ pk: `DEPLOYMENT#${id}`, sk: 'PLAN' }),
  snapshot: (id: string, cluster: string): Key => ({ pk: `DEPLOYMENT#${id}`, sk: `SNAPSHOT#${cluster}` }),
  deployedSpec: (service: string, cluster: string): Key => ({ pk: `SPEC#${service}`, sk: cluster }),
  waiting: (id: string, kind: string): Key => ({ pk: `DEPLOYMENT#${id}`, sk: `WAITING#${kind}` }),
  unreachable: (id: string, cluster: string): Key => ({
    pk: `DEPLOYMENT#${id}`,
    sk: `UNREACHABLE#${cluster}`,
  }),
  notified: (key: string): Key => ({ pk: `NOTIFIED#${key}`, sk: 'NOTIFIED' }),
};

function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
}

function touchedAttribute(cluster: string, what: string): string {
  return `${TOUCHED_PREFIX}${cluster}#${what}`;
}

function holderItem(holder: LockHolder): Item {
  return {
    deploymentId: holder.deploymentId,
    executionArn: holder.executionArn,
    digest: holder.digest,
    acquiredAt: holder.acquiredAt,
    ...(holder.mode === undefined ? {} : { mode: holder.mode }),
  };
}

function holderFrom(item: Item): LockHolder {
  const holder: LockHolder = {
    deploymentId: String(item.deploymentId),
    executionArn: String(item.executionArn),
    digest: String(item.digest),
    acquiredAt: String(item.acquiredAt),
  };
  if (item.mode === 'deploy' || item.mode === 'rollback') holder.mode = item.mode;
  return holder;
}

/** The string attributes of a raw item (a ConditionalCheckFailedException's `Item` is not unmarshalled). */
function plainStrings(item: Record<string, AttributeValue>): Item {
  const out: Item = {};
  for (const [name, value] of Object.entries(item)) if (value.S !== undefined) out[name] = value.S;
  return out;
}

function unzipJson(value: unknown): unknown {
  if (!(value instanceof Uint8Array)) throw new RecordError('a stored document is not binary');
  return JSON.parse(gunzipSync(value).toString('utf8'));
}

/** DynamoDB's item size: attribute names plus values (strings in UTF-8, binaries in bytes). */
function itemSize(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name);
    if (typeof value === 'string') size += Buffer.byteLength(value);
    else if (value instanceof Uint8Array) size += value.byteLength;
    else size += Buffer.byteLength(JSON.stringify(value) ?? '');
  }
  return size;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
