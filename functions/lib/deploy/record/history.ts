import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DeployerError } from '../../errors.js';
import type { ClusterNote } from '../ports.js';
import {
  type ActionEntry,
  type AnalysisRoundView,
  type ClusterView,
  type DeploymentPage,
  type DeploymentStatus,
  type DeploymentSummary,
  FINAL_STATUSES,
  type HistoryEntry,
  type Trigger,
} from '../view.js';
import { attempt, FAILED_CONDITION, type Key, must } from './calls.js';

/**
 * The audit trail: one item per deployment that never expires, and two small index items to list
 * them newest first, all in the deployer's table.
 *
 * | pk                  | sk                       | attributes                                             |
 * | ------------------- | ------------------------ | ------------------------------------------------------ |
 * | `DEPLOYMENT#<id>`   | `HISTORY`                | the {@link HistoryEntry}: clusters (`cl`, a map by name), rounds (`rd`, a map by number), actions |
 * | `HISTORY#<service>` | `<startedAt>#<id>`       | id, service, status (the service's deployments)       |
 * | `HISTORY`           | `<startedAt>#<id>`       | id, service, status (every deployment)                |
 *
 * Nothing here carries a TTL: the record's own items expire after the retention, the audit trail
 * stays (what ran where, when, and who allowed it) past Step Functions' 90 days of execution history.
 * Writes are idempotent for a retried step: the entry is created once, clusters and rounds are map
 * entries set by key, a final status is never replaced by a running one.
 */
export class DynamoHistory {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number,
  ) {}

  /** Creates the entry of a deployment from its plan, once. */
  async begin(deploymentId: string, plan: unknown, signal?: AbortSignal): Promise<void> {
    const p = plan as PlanShape;
    if (!p?.deployment?.service) return; // not a deploy plan: nothing for people to follow
    const d = p.deployment;
    const startedAt = new Date(this.now()).toISOString();
    const cl: Record<string, StoredCluster> = {};
    const canary = p.canary?.cluster?.name;
    for (const w of p.waves ?? []) for (const c of w.clusters) cl[c.name] = emptyCluster(c.name, w.name);
    if (canary && !cl[canary]) cl[canary] = emptyCluster(canary, 'canary');
    const item = {
      pk: `DEPLOYMENT#${deploymentId}`,
      sk: 'HISTORY',
      id: deploymentId,
      service: d.service,
      policy: d.policy,
      repository: d.repository,
      tag: d.tag,
      digest: d.digest,
      image: d.image,
      ...(d.registry ? { registry: d.registry } : {}),
      status: 'running',
      trigger: d.trigger ?? 'push',
      ...(d.of ? { of: d.of } : {}),
      ...(d.requestedBy ? { requestedBy: d.requestedBy } : {}),
      startedAt,
      canary: p.canary ? { cluster: p.canary.cluster.name, percent: p.canary.percent } : null,
      waves: (p.waves ?? []).map((w) => ({
        name: w.name,
        bakeSeconds: w.bakeSeconds,
        clusters: w.clusters.map((c) => c.name),
      })),
      cl,
      rd: {},
      actions: d.requestedBy
        ? [
            {
              action: d.trigger ?? 'undo',
              by: d.requestedBy,
              at: startedAt,
              ...(d.reason ? { reason: d.reason } : {}),
            },
          ]
        : [],
    };
    const created = await this.send('PutItem', { pk: item.pk, sk: item.sk }, signal, () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
        { abortSignal: signal },
      ),
    );
    const existing = created ? item : await this.item(deploymentId, signal);
    if (!existing) return;
    for (const pk of ['HISTORY', `HISTORY#${existing.service}`]) {
      const index = {
        pk,
        sk: `${existing.startedAt}#${deploymentId}`,
        id: deploymentId,
        service: existing.service,
        status: existing.status,
      };
      await this.send('PutItem', { pk: index.pk, sk: index.sk }, signal, () =>
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: index,
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
          { abortSignal: signal },
        ),
      );
    }
  }

  /** Sets the status for people (and the reason, the approver); a final status is kept. */
  async status(
    deploymentId: string,
    status: DeploymentStatus,
    extra: { reason?: string; approver?: string; approvalDeadline?: string } = {},
    signal?: AbortSignal,
  ): Promise<void> {
    const final = FINAL_STATUSES.includes(status);
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = { ':status': status };
    const sets = ['#status = :status'];
    if (final) {
      names['#finished'] = 'finishedAt';
      values[':now'] = new Date(this.now()).toISOString();
      sets.push('#finished = if_not_exists(#finished, :now)');
    }
    if (extra.reason !== undefined) {
      names['#reason'] = 'reason';
      values[':reason'] = extra.reason.slice(0, 2000);
      sets.push(final ? '#reason = if_not_exists(#reason, :reason)' : '#reason = :reason');
    }
    if (extra.approvalDeadline !== undefined) {
      names['#deadline'] = 'approvalDeadline';
      values[':deadline'] = extra.approvalDeadline;
      sets.push('#deadline = :deadline');
    }
    if (extra.approver !== undefined) {
      names['#approver'] = 'approver';
      values[':approver'] = extra.approver;
      sets.push('#approver = :approver');
    }
    // A final status stays (a late step does not make a finished deployment running again), on the
    // entry and on both index items alike.
    const finals = Object.fromEntries(FINAL_STATUSES.map((s, i) => [`:final${i}`, s]));
    const guard = `attribute_exists(pk) AND (NOT #status IN (${Object.keys(finals).join(', ')})${final ? ' OR #status = :status' : ''})`;
    const key = { pk: `DEPLOYMENT#${deploymentId}`, sk: 'HISTORY' };
    const out = await this.send('UpdateItem', key, signal, () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: guard,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ...finals },
          ReturnValues: 'ALL_NEW',
        }),
        { abortSignal: signal },
      ),
    );
    const entry = out?.Attributes as { service?: string; startedAt?: string } | undefined;
    if (!entry?.service || !entry.startedAt) return;
    for (const pk of ['HISTORY', `HISTORY#${entry.service}`]) {
      const indexKey = { pk, sk: `${entry.startedAt}#${deploymentId}` };
      await this.send('UpdateItem', indexKey, signal, () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: indexKey,
            UpdateExpression: 'SET #status = :status',
            ConditionExpression: guard,
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':status': status, ...finals },
          }),
          { abortSignal: signal },
        ),
      );
    }
  }

  /** Records the digest a cluster ran before the deployment (from its snapshot). */
  before(deploymentId: string, cluster: string, digest: string | null, signal?: AbortSignal) {
    return this.setCluster(deploymentId, cluster, { before: digest }, signal);
  }

  /** A cluster restored from its snapshot runs what it ran before. */
  async restored(deploymentId: string, cluster: string, signal?: AbortSignal): Promise<void> {
    await this.updateEntry(
      deploymentId,
      {
        expression: 'SET #cl.#c.#step = :restored, #cl.#c.#after = #cl.#c.#before, #cl.#c.#at = :at',
        condition: 'attribute_exists(#cl.#c)',
        names: {
          '#cl': 'cl',
          '#c': cluster,
          '#step': 'step',
          '#after': 'after',
          '#before': 'before',
          '#at': 'updatedAt',
        },
        values: { ':restored': 'restored', ':at': new Date(this.now()).toISOString() },
      },
      signal,
    );
  }

  cluster(deploymentId: string, cluster: string, note: ClusterNote, signal?: AbortSignal) {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(note)) if (v !== undefined) fields[k] = v;
    return this.setCluster(deploymentId, cluster, fields, signal);
  }

  /** A wave started its bake (the view shows it baking until the next wave moves). */
  async baking(deploymentId: string, wave: string, signal?: AbortSignal): Promise<void> {
    await this.updateEntry(
      deploymentId,
      {
        expression: 'SET #baking = :wave',
        condition: 'attribute_exists(pk)',
        names: { '#baking': 'baking' },
        values: { ':wave': wave },
      },
      signal,
    );
  }

  /** Stores an analysis round under its number (a retried round replaces itself). */
  async round(deploymentId: string, round: AnalysisRoundView, signal?: AbortSignal): Promise<void> {
    await this.updateEntry(
      deploymentId,
      {
        expression: 'SET #rd.#n = :round',
        condition: 'attribute_exists(#rd)',
        names: { '#rd': 'rd', '#n': String(round.round) },
        values: { ':round': round },
      },
      signal,
    );
  }

  async action(deploymentId: string, action: ActionEntry, signal?: AbortSignal): Promise<void> {
    await this.updateEntry(
      deploymentId,
      {
        expression: 'SET #actions = list_append(if_not_exists(#actions, :empty), :action)',
        condition: 'attribute_exists(pk)',
        names: { '#actions': 'actions' },
        values: { ':action': [action], ':empty': [] },
      },
      signal,
    );
  }

  async entry(deploymentId: string, signal?: AbortSignal): Promise<HistoryEntry | undefined> {
    const item = await this.item(deploymentId, signal);
    return item ? toEntry(item) : undefined;
  }

  /**
   * A page of deployments newest first: the index partition (every deployment, or one service's),
   * filtered by status, then each deployment's entry. Reads more index pages while the filter
   * leaves the page short, up to 10 reads.
   */
  async list(
    filter: { service?: string; status?: DeploymentStatus; limit: number; next?: string },
    signal?: AbortSignal,
  ): Promise<DeploymentPage> {
    const pk = filter.service ? `HISTORY#${filter.service}` : 'HISTORY';
    let startKey = filter.next ? decodeNext(filter.next, pk) : undefined;
    const ids: string[] = [];
    for (let reads = 0; reads < 10 && ids.length < filter.limit; reads++) {
      const out = await this.must('Query', { pk, sk: '' }, signal, () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#pk = :pk',
            ScanIndexForward: false,
            Limit: filter.limit - ids.length,
            ExpressionAttributeNames: { '#pk': 'pk', ...(filter.status ? { '#status': 'status' } : {}) },
            ExpressionAttributeValues: { ':pk': pk, ...(filter.status ? { ':status': filter.status } : {}) },
            ...(filter.status ? { FilterExpression: '#status = :status' } : {}),
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
          { abortSignal: signal },
        ),
      );
      for (const item of out.Items ?? []) ids.push(String(item.id));
      startKey = out.LastEvaluatedKey as { pk: string; sk: string } | undefined;
      if (!startKey) break;
    }
    const entries = await Promise.all(ids.map((id) => this.entry(id, signal)));
    return {
      items: entries.filter((e): e is HistoryEntry => e !== undefined).map(summaryOf),
      ...(startKey ? { next: encodeNext(startKey) } : {}),
    };
  }

  async find(
    service: string,
    where: (d: DeploymentSummary) => boolean,
    limit: number,
    signal?: AbortSignal,
  ): Promise<DeploymentSummary[]> {
    const found: DeploymentSummary[] = [];
    let next: string | undefined;
    for (let pages = 0; pages < 20 && found.length < limit; pages++) {
      const page = await this.list({ service, limit: 25, ...(next ? { next } : {}) }, signal);
      found.push(...page.items.filter(where));
      next = page.next;
      if (!next) break;
    }
    return found.slice(0, limit);
  }

  private async item(
    deploymentId: string,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown> | undefined> {
    const key = { pk: `DEPLOYMENT#${deploymentId}`, sk: 'HISTORY' };
    const out = await this.must('GetItem', key, signal, () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }), {
        abortSignal: signal,
      }),
    );
    return out.Item;
  }

  private async setCluster(
    deploymentId: string,
    cluster: string,
    fields: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void> {
    const names: Record<string, string> = { '#cl': 'cl', '#c': cluster, '#at': 'updatedAt' };
    const values: Record<string, unknown> = { ':at': new Date(this.now()).toISOString() };
    const sets = ['#cl.#c.#at = :at'];
    Object.entries(fields).forEach(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:v${i}`] = value;
      sets.push(`#cl.#c.#f${i} = :v${i}`);
    });
    // Only planned clusters (and only deployments with an entry) are followed.
    await this.updateEntry(
      deploymentId,
      { expression: `SET ${sets.join(', ')}`, condition: 'attribute_exists(#cl.#c)', names, values },
      signal,
    );
  }

  /** One conditional UpdateItem of a deployment's entry; a failed condition is a no-op. */
  private async updateEntry(
    deploymentId: string,
    u: {
      expression: string;
      condition: string;
      names: Record<string, string>;
      values: Record<string, unknown>;
    },
    signal?: AbortSignal,
  ): Promise<void> {
    const key = { pk: `DEPLOYMENT#${deploymentId}`, sk: 'HISTORY' };
    await this.send('UpdateItem', key, signal, () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: u.expression,
          ConditionExpression: u.condition,
          ExpressionAttributeNames: u.names,
          ExpressionAttributeValues: u.values,
        }),
        { abortSignal: signal },
      ),
    );
  }

  /** A conditional write (the record's own call path): undefined when the condition failed. */
  private async send<T>(
    operation: string,
    key: Key,
    signal: AbortSignal | undefined,
    call: (abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T | undefined> {
    const out = await attempt(this.tableName, operation, key, signal, call);
    return out === FAILED_CONDITION ? undefined : out;
  }

  private must<T>(
    operation: string,
    key: Key,
    signal: AbortSignal | undefined,
    call: (abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    return must(this.tableName, operation, key, signal, call);
  }
}

interface PlanShape {
  deployment: {
    service: string;
    policy: string;
    repository: string;
    tag: string;
    digest: string;
    image: string;
    registry?: { account: string; region: string };
    trigger?: Trigger;
    of?: string;
    requestedBy?: string;
    reason?: string;
  };
  canary?: { cluster: { name: string }; percent: number };
  waves?: Array<{ name: string; bakeSeconds: number; clusters: Array<{ name: string }> }>;
}

type StoredCluster = ClusterView & { wave: string };

function emptyCluster(cluster: string, wave: string): StoredCluster {
  return {
    cluster,
    wave,
    before: null,
    after: null,
    step: 'pending',
    progress: null,
    message: null,
    updatedAt: null,
  };
}

function toEntry(item: Record<string, unknown>): HistoryEntry {
  const {
    pk: _pk,
    sk: _sk,
    cl,
    rd,
    ...rest
  } = item as Record<string, unknown> & {
    cl?: Record<string, StoredCluster>;
    rd?: Record<string, AnalysisRoundView>;
  };
  const entry = rest as unknown as HistoryEntry;
  const states = cl ?? {};
  const order = [
    ...(entry.canary ? [entry.canary.cluster] : []),
    ...(entry.waves ?? []).flatMap((w) => w.clusters),
  ];
  const names = [...new Set([...order, ...Object.keys(states)])].filter((n) => states[n]);
  return {
    ...entry,
    actions: entry.actions ?? [],
    clusterStates: states,
    clusters: names.map((n) => ({
      cluster: n,
      before: (states[n] as StoredCluster).before ?? null,
      after: (states[n] as StoredCluster).after ?? null,
    })),
    rounds: Object.values(rd ?? {}).sort((a, b) => a.round - b.round),
  };
}

/** The summary part of an entry (what GET /deployments lists and `history` exports). */
export function summaryOf(e: HistoryEntry): DeploymentSummary {
  const {
    image: _i,
    registry: _r,
    canary: _c,
    waves: _w,
    clusterStates: _s,
    rounds: _rd,
    approvalDeadline: _a,
    baking: _b,
    ...summary
  } = e;
  return summary;
}

function encodeNext(key: { pk: string; sk: string }): string {
  return Buffer.from(JSON.stringify([key.pk, key.sk]), 'utf8').toString('base64url');
}

/** @throws InvalidPageTokenError when the token is not one this listing handed out (the API answers 400). */
function decodeNext(token: string, pk: string): { pk: string; sk: string } {
  try {
    const [p, s] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [unknown, unknown];
    if (p === pk && typeof s === 'string') return { pk, sk: s };
  } catch {
    // fall through
  }
  throw new InvalidPageTokenError('next is not a page token of this listing');
}

/** A `next` token that this listing did not hand out. */
export class InvalidPageTokenError extends DeployerError {
  override readonly name = 'InvalidPageTokenError';
  readonly retryable = false;
}
