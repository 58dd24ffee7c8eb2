import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterSchema, servicePolicySchema } from '../../../functions/lib/config/schema.js';
import type { Config } from '../../../functions/lib/config/store.js';
import {
  act,
  deploymentView,
  executionLinks,
  isDeploymentAction,
  isServiceAction,
  listDeployments,
  type OperatorDeps,
  OperatorError,
  redeploy,
  viewOf,
} from '../../../functions/lib/deploy/operator.js';
import { type ImageCatalog, type Plan, planDeployment } from '../../../functions/lib/deploy/plan.js';
import type { Workflow } from '../../../functions/lib/deploy/ports.js';
import { createDeployerTable, DynamoRecord } from '../../../functions/lib/deploy/record/dynamodb.js';
import { OPERATOR_SOURCE, operatorRequestSchema } from '../../../functions/lib/deploy/request.js';
import type { AnalysisRoundView, HistoryEntry } from '../../../functions/lib/deploy/view.js';
import type { Snapshot } from '../../../functions/lib/swarm/types.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/index.js';
import { CREDENTIALS, caught, REGION } from '../aws/harness.js';

/**
 * The operators' use cases (approve, reject, abort, promote, pause, resume, undo, retry, the view
 * of a deployment) on the real DynamoDB record (dynalite behind the AWS stand-in) with a small
 * fake workflow engine that records what it was asked.
 */

const TABLE = 'deployer-operator-test';
const NOW = Date.parse('2031-05-04T10:00:00.000Z');
const REGISTRY = { account: '123456789012', region: 'eu-west-1' };
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:deployer';
const ALICE = 'arn:aws:iam::123456789012:user/alice';
const BOB = 'arn:aws:sts::123456789012:assumed-role/oncall/bob';

let aws: AwsStandIn;
let client: DynamoDBClient;
/** The clock of the record and of the use cases: tests move it forward to order deployments. */
let clock = NOW;
let record: DynamoRecord;
let unique = 0;

const uniqueName = (what: string) => `${what}-${++unique}`;
const iso = (ms: number) => new Date(ms).toISOString();
const sha = (what: string) => `sha256:${createHash('sha256').update(what).digest('hex')}`;

type DeployPlan = Extract<Plan, { outcome: 'deploy' }>;

/** The workflow engine: every call it received; tokens in `expired` are no longer waiting. */
class FakeWorkflow implements Workflow {
  readonly starts: Array<{ stateMachineArn: string; name: string; input: unknown }> = [];
  readonly successes: Array<{ token: string; output: unknown }> = [];
  readonly failures: Array<{ token: string; error: string; cause: string }> = [];
  readonly expired = new Set<string>();

  async executionStatus(): Promise<string | undefined> {
    return 'RUNNING';
  }

  async start(stateMachineArn: string, name: string, input: unknown) {
    this.starts.push({ stateMachineArn, name, input });
    return {
      started: true,
      executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
    };
  }

  async sendTaskSuccess(token: string, output: unknown): Promise<boolean> {
    this.successes.push({ token, output });
    return !this.expired.has(token);
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<boolean> {
    this.failures.push({ token, error, cause });
    return !this.expired.has(token);
  }

  get calls() {
    return this.starts.length + this.successes.length + this.failures.length;
  }
}

function depsOf(): OperatorDeps & { workflow: FakeWorkflow } {
  return { record, workflow: new FakeWorkflow(), stateMachineArn: STATE_MACHINE, now: () => new Date(clock) };
}

function configFor(service: string): Config {
  const clusters = ['eu-1', 'eu-2', 'us-1', 'us-2', 'ap-1', 'sa-1'];
  return {
    clusters: new Map(
      clusters.map((name) => [
        name,
        clusterSchema.parse({
          name,
          region: 'eu-west-1',
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
          { name: 'europe', clusters: ['eu-1', 'eu-2'], bakeSeconds: 600 },
          { name: 'americas', clusters: ['us-1', 'us-2'], bakeSeconds: 300 },
          { name: 'asia', clusters: ['ap-1'] },
          { name: 'south', clusters: ['sa-1'] },
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

/** The plan of a push of `service`, as the Plan step makes it. */
async function planFor(service: string, o: { tag?: string; digest?: string } = {}): Promise<DeployPlan> {
  const digest = o.digest ?? sha(uniqueName('image'));
  const plan = await planDeployment(
    {
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
        'image-tag': o.tag ?? 'v1.0.0',
      },
    },
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
    specVersion: 3,
    spec: { Name: plan.deployment.service, TaskTemplate: { ContainerSpec: { Image: image } } },
    image,
    digest,
    replicas: 2,
    takenAt: iso(clock),
  };
}

/** A deployment that started (its plan saved, its entry running) one minute after the previous one. */
async function started(
  service: string,
  o: { tag?: string; digest?: string; before?: Record<string, string> } = {},
): Promise<DeployPlan> {
  clock += 60_000;
  const plan = await planFor(service, o);
  await record.savePlan(plan.deployment.id, plan);
  for (const [cluster, digest] of Object.entries(o.before ?? {}))
    await record.saveSnapshot(plan.deployment.id, snapshotOf(plan, cluster, digest));
  return plan;
}

/** A deployment that started and ended as `phase`. */
async function ended(
  service: string,
  phase: 'succeeded' | 'rolled-back' | 'failed',
  o: { tag?: string; digest?: string; before?: Record<string, string> } = {},
): Promise<DeployPlan> {
  const plan = await started(service, o);
  await record.finish(plan.deployment.id, phase, { reason: `it ${phase}` });
  return plan;
}

const entryOf = async (id: string) => (await record.history(id)) as HistoryEntry;

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

describe('approve and reject', () => {
  it('answers 404 for a deployment that is not recorded', async () => {
    // prepare
    const deps = depsOf();

    // act
    const errors = await Promise.all(
      (['approve', 'reject', 'abort', 'promote', 'pause', 'resume'] as const).map((action) =>
        caught(() => act(deps, 'no-such-deployment', action, ALICE, undefined)),
      ),
    );
    const view = await caught(() => deploymentView(deps, 'no-such-deployment'));

    // assess
    for (const error of [...errors, view]) {
      expect(error).toBeInstanceOf(OperatorError);
      expect(error.httpStatus).toBe(404);
      expect(error.message).toMatch(/no-such-deployment/);
    }
    expect(deps.workflow.calls).toBe(0);
  });

  it('answers 409 with the status when the deployment does not wait for approval', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));

    // act
    const error = await caught(() => act(deps, plan.deployment.id, 'approve', ALICE, undefined));
    const reject = await caught(() => act(deps, plan.deployment.id, 'reject', ALICE, 'no'));

    // assess
    for (const e of [error, reject]) {
      expect(e).toBeInstanceOf(OperatorError);
      expect(e.httpStatus).toBe(409);
      expect(e.detail).toEqual({ status: 'running' });
      expect(e.message).toMatch(/is running/);
    }
    expect(deps.workflow.calls).toBe(0);
    expect((await entryOf(plan.deployment.id)).actions).toEqual([]);
  });

  it('approves a waiting canary: completes its token, records the approver and the action', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await record.saveWaitingTask(id, { kind: 'approval', token: 'approval-token-1' });
    const waiting = (await entryOf(id)).status;

    // act
    const result = await act(deps, id, 'approve', ALICE, 'canary looks healthy');
    const entry = await entryOf(id);

    // assess
    expect(waiting).toBe('awaiting-approval');
    expect(result).toEqual({
      deploymentId: id,
      action: 'approve',
      by: ALICE,
      outcome: expect.stringMatching(/^approved/),
    });
    expect(deps.workflow.successes).toEqual([
      {
        token: 'approval-token-1',
        output: {
          decision: 'approved',
          approver: ALICE,
          reason: 'canary looks healthy',
          at: expect.any(String),
        },
      },
    ]);
    expect(deps.workflow.failures).toEqual([]);
    expect(entry.status).toBe('running');
    expect(entry.approver).toBe(ALICE);
    expect(entry.actions).toEqual([
      { action: 'approve', by: ALICE, at: iso(clock), reason: 'canary looks healthy' },
    ]);
    expect(await record.waitingTask(id, 'approval')).toBeUndefined();
  });

  it('answers 410 when the approval token is no longer valid, and records no approval', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await record.saveWaitingTask(id, { kind: 'approval', token: 'timed-out-token' });
    deps.workflow.expired.add('timed-out-token');

    // act
    const error = await caught(() => act(deps, id, 'approve', ALICE, undefined));
    const entry = await entryOf(id);

    // assess
    expect(error).toBeInstanceOf(OperatorError);
    expect(error.httpStatus).toBe(410);
    expect(error.message).toMatch(/expired/);
    expect(deps.workflow.successes.map((s) => s.token)).toEqual(['timed-out-token']);
    expect(entry.approver).toBeUndefined();
    expect(entry.actions).toEqual([]);
  });

  it('rejects a waiting canary: fails its token with ApprovalRejectedError naming who and why', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await record.saveWaitingTask(id, { kind: 'approval', token: 'approval-token-2' });

    // act
    const result = await act(deps, id, 'reject', BOB, 'error rate is up');
    const entry = await entryOf(id);

    // assess
    expect(result.outcome).toMatch(/^rejected/);
    expect(deps.workflow.failures).toEqual([
      {
        token: 'approval-token-2',
        error: 'ApprovalRejectedError',
        cause: `rejected by ${BOB}: error rate is up`,
      },
    ]);
    expect(deps.workflow.successes).toEqual([]);
    expect(entry.approver).toBeUndefined();
    expect(entry.status).not.toBe('awaiting-approval');
    expect(entry.actions).toEqual([
      { action: 'reject', by: BOB, at: iso(clock), reason: 'error rate is up' },
    ]);
    expect(await record.waitingTask(id, 'approval')).toBeUndefined();
  });
});

describe('abort', () => {
  it('answers 409 for a deployment that has ended, and requests nothing', async () => {
    // prepare
    const deps = depsOf();
    const plan = await ended(uniqueName('web'), 'succeeded');

    // act
    const error = await caught(() => act(deps, plan.deployment.id, 'abort', ALICE, 'too late'));

    // assess
    expect(error).toBeInstanceOf(OperatorError);
    expect(error.httpStatus).toBe(409);
    expect(error.detail).toEqual({ status: 'succeeded' });
    expect(error.message).toMatch(/has ended/);
    expect(await record.abortRequested(plan.deployment.id)).toBeUndefined();
    expect(deps.workflow.calls).toBe(0);
  });

  it('requests the abort and ends a waiting approval at once', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await record.saveWaitingTask(id, { kind: 'approval', token: 'approval-token-3' });

    // act
    const result = await act(deps, id, 'abort', ALICE, 'wrong image');

    // assess
    expect(result.outcome).toMatch(/approval wait was ended/);
    expect(await record.abortRequested(id)).toBe(`aborted by ${ALICE}: wrong image`);
    expect(deps.workflow.failures).toEqual([
      {
        token: 'approval-token-3',
        error: 'DeploymentAbortedError',
        cause: expect.stringContaining(`aborted by ${ALICE}: wrong image`),
      },
    ]);
    expect((await entryOf(id)).actions).toEqual([
      { action: 'abort', by: ALICE, at: iso(clock), reason: 'wrong image' },
    ]);
  });
});

describe('pause and resume', () => {
  it('sets the pause request once; a second pause answers 409', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;

    // act
    const result = await act(deps, id, 'pause', ALICE, 'holiday freeze');
    const again = await caught(() => act(deps, id, 'pause', BOB, undefined));

    // assess
    expect(result.outcome).toMatch(/^paused/);
    expect(await record.pauseRequested(id)).toEqual({
      action: 'pause',
      by: ALICE,
      at: iso(clock),
      reason: 'holiday freeze',
    });
    expect(again).toBeInstanceOf(OperatorError);
    expect(again.httpStatus).toBe(409);
    expect(again.message).toMatch(/paused already/);
    expect((await entryOf(id)).actions.map((a) => [a.action, a.by])).toEqual([['pause', ALICE]]);
  });

  it('refuses to pause a rollback', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    await record.beginRollback(plan.deployment.id);

    // act
    const error = await caught(() => act(deps, plan.deployment.id, 'pause', ALICE, undefined));

    // assess
    expect(error.httpStatus).toBe(409);
    expect(error.detail).toEqual({ status: 'rolling-back' });
    expect(await record.pauseRequested(plan.deployment.id)).toBeUndefined();
  });

  it('answers 409 to resume a deployment that is not paused', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));

    // act
    const error = await caught(() => act(deps, plan.deployment.id, 'resume', ALICE, undefined));

    // assess
    expect(error).toBeInstanceOf(OperatorError);
    expect(error.httpStatus).toBe(409);
    expect(error.message).toMatch(/not paused/);
    expect(deps.workflow.calls).toBe(0);
  });

  it('resumes a deployment holding before a wave: completes the hold token, clears the request', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await act(deps, id, 'pause', ALICE, undefined);
    await record.saveWaitingTask(id, { kind: 'pause', token: 'hold-token', key: 'americas' });
    const holding = (await entryOf(id)).status;

    // act
    clock += 1000;
    const result = await act(deps, id, 'resume', BOB, 'freeze is over');
    const entry = await entryOf(id);

    // assess
    expect(holding).toBe('paused');
    expect(result.outcome).toMatch(/next wave starts now/);
    expect(deps.workflow.successes).toEqual([
      { token: 'hold-token', output: { resumedBy: BOB, at: iso(clock) } },
    ]);
    expect(await record.pauseRequested(id)).toBeUndefined();
    expect(await record.waitingTask(id, 'pause')).toBeUndefined();
    expect(entry.status).toBe('running');
    expect(entry.actions.map((a) => [a.action, a.by])).toEqual([
      ['pause', ALICE],
      ['resume', BOB],
    ]);
  });

  it('resumes a pause requested before any wave was reached: the request is lifted, no token is answered', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await act(deps, id, 'pause', ALICE, undefined);

    // act
    const result = await act(deps, id, 'resume', ALICE, undefined);

    // assess
    expect(result.outcome).toMatch(/had not reached a wave/);
    expect(await record.pauseRequested(id)).toBeUndefined();
    expect(deps.workflow.calls).toBe(0);
  });
});

describe('promote', () => {
  it('approves a canary that waits for approval', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await record.saveWaitingTask(id, { kind: 'approval', token: 'approval-token-4' });

    // act
    const result = await act(deps, id, 'promote', ALICE, undefined);
    const entry = await entryOf(id);

    // assess
    expect(result.outcome).toMatch(/^approved/);
    expect(deps.workflow.successes).toEqual([
      {
        token: 'approval-token-4',
        output: { decision: 'approved', approver: ALICE, reason: 'promoted', at: expect.any(String) },
      },
    ]);
    expect(entry.status).toBe('running');
    expect(entry.approver).toBe(ALICE);
    expect(entry.actions.map((a) => a.action)).toEqual(['promote']);
    // The analysis beside the approval wait ends at its next round too.
    expect(await record.promoteRequested(id)).toMatchObject({ action: 'promote', by: ALICE });
  });

  it('asks a running analysis to end as passed', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await record.noteRound(id, round(1, 'Running'));

    // act
    const result = await act(deps, id, 'promote', BOB, 'known flaky metric');

    // assess
    expect(result.outcome).toMatch(/ends as passed/);
    expect(await record.promoteRequested(id)).toEqual({
      action: 'promote',
      by: BOB,
      at: iso(clock),
      reason: 'known flaky metric',
    });
    expect(deps.workflow.calls).toBe(0);
  });

  it('answers 409 once the analysis has decided', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    await record.noteRound(id, round(1, 'Running'));
    await record.noteRound(id, round(2, 'Failed'));

    // act
    const error = await caught(() => act(deps, id, 'promote', ALICE, undefined));

    // assess
    expect(error).toBeInstanceOf(OperatorError);
    expect(error.httpStatus).toBe(409);
    expect(error.message).toMatch(/already decided/);
    expect(await record.promoteRequested(id)).toBeUndefined();
    expect((await entryOf(id)).actions).toEqual([]);
  });
});

describe('undo', () => {
  it('answers 409 when the service has no successful deployment', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    await ended(service, 'failed');
    await started(service);

    // act
    const error = await caught(() => redeploy(deps, service, 'undo', ALICE, {}));
    const unknown = await caught(() => redeploy(deps, uniqueName('nothing'), 'undo', ALICE, {}));

    // assess
    expect(error).toBeInstanceOf(OperatorError);
    expect(error.httpStatus).toBe(409);
    expect(error.message).toMatch(/no successful deployment/);
    // a service with no deployment at all is not known
    expect(unknown).toBeInstanceOf(OperatorError);
    expect(unknown.httpStatus).toBe(404);
    expect(deps.workflow.starts).toEqual([]);
  });

  it('starts a deployment of the digest the latest successful deployment replaced', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const good = sha(uniqueName('good'));
    const first = await ended(service, 'succeeded', { tag: 'v1.4.0', digest: good });
    const befores = Object.fromEntries(
      ['eu-1', 'eu-2', 'us-1', 'us-2', 'ap-1', 'sa-1'].map((c) => [c, good]),
    );
    const bad = await ended(service, 'succeeded', { tag: 'v1.5.0', before: befores });
    await ended(service, 'failed', { tag: 'v1.6.0', before: befores });

    // act
    const result = await redeploy(deps, service, 'undo', ALICE, { reason: 'v1.5.0 leaks memory' });

    // assess
    expect(deps.workflow.starts).toHaveLength(1);
    const start = deps.workflow.starts[0] as FakeWorkflow['starts'][number];
    expect(start.stateMachineArn).toBe(STATE_MACHINE);
    expect(start.name).toMatch(new RegExp(`^undo-${service}-[0-9a-f]{12}-[0-9a-f]{8}$`));
    expect(start.name).toContain(good.slice('sha256:'.length, 'sha256:'.length + 12));
    expect(start.input).toEqual({
      source: OPERATOR_SOURCE,
      'detail-type': 'Redeploy Requested',
      id: start.name,
      time: iso(clock),
      detail: {
        trigger: 'undo',
        policy: `${service}-policy`,
        repository: `${service}-repo`,
        tag: 'v1.4.0',
        digest: good,
        registry: REGISTRY,
        of: bad.deployment.id,
        requestedBy: ALICE,
        reason: 'v1.5.0 leaks memory',
      },
    });
    // the workflow's Plan step reads it as an operator's request
    expect(operatorRequestSchema.safeParse(start.input).success).toBe(true);
    expect(result).toEqual({
      deploymentId: start.name,
      executionArn: `arn:aws:states:eu-west-1:123456789012:execution:deployer:${start.name}`,
      service,
      digest: good,
      of: bad.deployment.id,
      trigger: 'undo',
    });
    expect(first.deployment.digest).toBe(good);
  });

  it('names an undo tag after the undone one when no deployment of the old digest is recorded', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const old = sha(uniqueName('before-the-audit-trail'));
    await ended(service, 'succeeded', { tag: 'v2.0.0', before: { 'eu-1': old, 'us-1': old } });

    // act
    await redeploy(deps, service, 'undo', ALICE, {});

    // assess
    const input = deps.workflow.starts[0]?.input as { detail: { tag: string; digest: string } };
    expect(input.detail).toMatchObject({ tag: 'undo-of-v2.0.0', digest: old });
  });

  it('answers 409 naming the clusters when they ran different digests before', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const a = sha(uniqueName('a'));
    const b = sha(uniqueName('b'));
    const plan = await ended(service, 'succeeded', { before: { 'eu-1': a, 'eu-2': a, 'us-1': b } });

    // act
    const error = await caught(() => redeploy(deps, service, 'undo', ALICE, {}));

    // assess
    expect(error).toBeInstanceOf(OperatorError);
    expect(error.httpStatus).toBe(409);
    expect(error.message).toContain(plan.deployment.id);
    expect(error.message).toContain(`eu-1: ${a}`);
    expect(error.message).toContain(`us-1: ${b}`);
    expect(error.message).toContain('ap-1: none');
    expect(deps.workflow.starts).toEqual([]);
  });

  it('answers 409 when the latest successful deployment was the first (no digest before it)', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    await ended(service, 'succeeded');

    // act
    const error = await caught(() => redeploy(deps, service, 'undo', ALICE, {}));

    // assess
    expect(error.httpStatus).toBe(409);
    expect(error.message).toMatch(/nothing to undo to/);
    expect(deps.workflow.starts).toEqual([]);
  });
});

describe('retry', () => {
  it('answers 409 with the status for a named deployment that succeeded, 404 for one of another service', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const succeeded = await ended(service, 'succeeded');
    const elsewhere = await ended(uniqueName('api'), 'failed');

    // act
    const error = await caught(() =>
      redeploy(deps, service, 'retry', ALICE, { deploymentId: succeeded.deployment.id }),
    );
    const other = await caught(() =>
      redeploy(deps, service, 'retry', ALICE, { deploymentId: elsewhere.deployment.id }),
    );
    const missing = await caught(() => redeploy(deps, service, 'retry', ALICE, { deploymentId: 'no-such' }));

    // assess
    expect(error).toBeInstanceOf(OperatorError);
    expect(error.httpStatus).toBe(409);
    expect(error.detail).toEqual({ status: 'succeeded' });
    expect(other.httpStatus).toBe(404);
    expect(missing.httpStatus).toBe(404);
    expect(deps.workflow.starts).toEqual([]);
  });

  it('retries the newest failed or rolled-back deployment when none is named', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    await ended(service, 'failed', { tag: 'v3.0.0' });
    const rolledBack = await ended(service, 'rolled-back', { tag: 'v3.1.0' });
    await ended(service, 'succeeded', { tag: 'v3.0.1' });
    await started(service, { tag: 'v3.2.0' });

    // act
    const result = await redeploy(deps, service, 'retry', BOB, {});

    // assess
    const start = deps.workflow.starts[0] as FakeWorkflow['starts'][number];
    expect(deps.workflow.starts).toHaveLength(1);
    expect(start.name).toMatch(new RegExp(`^retry-${service}-[0-9a-f]{12}-[0-9a-f]{8}$`));
    expect(start.input).toMatchObject({
      id: start.name,
      detail: {
        trigger: 'retry',
        tag: 'v3.1.0',
        digest: rolledBack.deployment.digest,
        of: rolledBack.deployment.id,
        requestedBy: BOB,
      },
    });
    expect(operatorRequestSchema.safeParse(start.input).success).toBe(true);
    expect(result).toMatchObject({
      deploymentId: start.name,
      digest: rolledBack.deployment.digest,
      of: rolledBack.deployment.id,
      trigger: 'retry',
    });
  });

  it('retries a named failed deployment, and answers 409 when there is nothing to retry', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const failed = await ended(service, 'failed', { tag: 'v4.0.0' });
    await ended(service, 'rolled-back', { tag: 'v4.0.1' });
    const clean = uniqueName('web');
    await ended(clean, 'succeeded');

    // act
    const result = await redeploy(deps, service, 'retry', ALICE, { deploymentId: failed.deployment.id });
    const nothing = await caught(() => redeploy(deps, clean, 'retry', ALICE, {}));

    // assess
    expect(result).toMatchObject({ digest: failed.deployment.digest, of: failed.deployment.id });
    expect(nothing.httpStatus).toBe(409);
    expect(nothing.message).toMatch(/no failed or rolled-back deployment/);
  });
});

describe('apply', () => {
  it('answers 409 when the deployer never deployed the service successfully, and starts nothing', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    await ended(service, 'failed');
    await ended(service, 'rolled-back');
    await started(service);
    const fresh = uniqueName('new');

    // act
    const failedOnly = await caught(() => redeploy(deps, service, 'apply', ALICE, {}));
    const never = await caught(() => redeploy(deps, fresh, 'apply', ALICE, {}));

    // assess
    expect(failedOnly).toBeInstanceOf(OperatorError);
    expect(failedOnly.httpStatus).toBe(409);
    expect(failedOnly.message).toBe(
      `nothing to apply the policy to: no successful deployment of ${service} yet; push an image`,
    );
    expect(never).toBeInstanceOf(OperatorError);
    expect(never.httpStatus).toBe(409);
    expect(never.message).toBe(
      `nothing to apply the policy to: no successful deployment of ${fresh} yet; push an image`,
    );
    expect(deps.workflow.starts).toEqual([]);
  });

  it("starts a deployment of the latest successful deployment's digest, which Plan plans under the current policy", async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    await ended(service, 'succeeded', { tag: 'v5.0.0' });
    const latest = await ended(service, 'succeeded', { tag: 'v5.1.0' });
    await ended(service, 'rolled-back', { tag: 'v5.2.0' });
    await started(service, { tag: 'v5.3.0' });
    const digest = latest.deployment.digest;

    // act
    const result = await redeploy(deps, service, 'apply', BOB, { reason: 'memory limit 512M' });
    const start = deps.workflow.starts[0] as FakeWorkflow['starts'][number];
    const plan = await planDeployment(start.input, configFor(service), catalogFor(digest), new Date(clock), {
      executionName: start.name,
    });

    // assess
    expect(deps.workflow.starts).toHaveLength(1);
    expect(start.stateMachineArn).toBe(STATE_MACHINE);
    expect(start.name).toMatch(new RegExp(`^apply-${service}-[0-9a-f]{12}-[0-9a-f]{8}$`));
    expect(start.name).toContain(digest.slice('sha256:'.length, 'sha256:'.length + 12));
    expect(start.input).toEqual({
      source: OPERATOR_SOURCE,
      'detail-type': 'Redeploy Requested',
      id: start.name,
      time: iso(clock),
      detail: {
        trigger: 'apply',
        policy: `${service}-policy`,
        repository: `${service}-repo`,
        tag: 'v5.1.0',
        digest,
        registry: REGISTRY,
        of: latest.deployment.id,
        requestedBy: BOB,
        reason: 'memory limit 512M',
      },
    });
    expect(operatorRequestSchema.safeParse(start.input).success).toBe(true);
    expect(result).toEqual({
      deploymentId: start.name,
      executionArn: `arn:aws:states:eu-west-1:123456789012:execution:deployer:${start.name}`,
      service,
      digest,
      of: latest.deployment.id,
      trigger: 'apply',
    });
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);
    expect(plan.deployment).toMatchObject({
      id: start.name,
      digest,
      tag: 'v5.1.0',
      trigger: 'apply',
      of: latest.deployment.id,
      requestedBy: BOB,
      reason: 'memory limit 512M',
    });
    expect(plan.reason).toContain(`the spec of policy "${service}-policy" applied to`);
  });

  it('records the apply as the first action of the new deployment', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const latest = await ended(service, 'succeeded');
    await redeploy(deps, service, 'apply', ALICE, { reason: 'rotate the db password' });
    const start = deps.workflow.starts[0] as FakeWorkflow['starts'][number];
    const plan = await planDeployment(
      start.input,
      configFor(service),
      catalogFor(latest.deployment.digest),
      new Date(clock),
      { executionName: start.name },
    );
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);

    // act
    await record.savePlan(plan.deployment.id, plan);

    // assess
    expect(await entryOf(start.name)).toMatchObject({
      trigger: 'apply',
      of: latest.deployment.id,
      requestedBy: ALICE,
      digest: latest.deployment.digest,
      actions: [{ action: 'apply', by: ALICE, at: iso(clock), reason: 'rotate the db password' }],
    });
  });

  it('is an action on a service, not on a deployment', () => {
    expect(['undo', 'retry', 'apply'].map(isServiceAction)).toEqual([true, true, true]);
    expect(isServiceAction('rewind')).toBe(false);
    expect(isDeploymentAction('apply')).toBe(false);
  });
});

function round(
  n: number,
  phase: AnalysisRoundView['phase'],
  summary = `round ${n}: ${phase}`,
): AnalysisRoundView {
  return { round: n, at: iso(NOW + n * 60_000), phase, summary, measurements: [] };
}

describe('the view of a deployment', () => {
  it('shows a done wave as baking while its bake runs and the next wave has not moved', async () => {
    // prepare
    const deps = depsOf();
    const plan = await started(uniqueName('web'), { tag: 'v5.1.0', before: {} });
    const { id, digest } = plan.deployment;
    for (const c of ['eu-1', 'eu-2']) {
      await record.markTouched(id, c, 'primary', iso(clock + 300_000));
      await record.noteCluster(id, c, { step: 'promoted', after: digest });
    }
    await record.saveWaitingTask(id, { kind: 'bake', token: 'bake-token', key: 'europe' });
    // act
    const baking = await deploymentView(deps, id);
    await record.markTouched(id, 'us-1', 'primary', iso(clock + 300_000));
    const moved = await deploymentView(deps, id);
    // assess
    expect(baking.waves.slice(0, 2).map((w) => w.state)).toEqual(['baking', 'pending']);
    expect(moved.waves.slice(0, 2).map((w) => w.state)).toEqual(['done', 'promoting']);
  });

  it('shows each wave as pending, promoting, done or failed, the analysis and the execution', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const old = sha(uniqueName('old'));
    const plan = await started(service, { tag: 'v5.0.0', before: { 'eu-1': old, 'eu-2': old, 'us-1': old } });
    const { id, digest } = plan.deployment;
    await record.markTouched(id, 'eu-1', 'canary', iso(clock + 300_000));
    await record.noteCluster(id, 'eu-1', { step: 'canary-running' });
    await record.noteRound(id, round(1, 'Running'));
    await record.noteRound(
      id,
      round(2, 'Successful', 'success-rate = 0.998 met the condition result[0] >= 0.99'),
    );
    await record.noteRound(id, round(3, 'Running'));
    for (const c of ['eu-1', 'eu-2', 'us-1', 'us-2', 'ap-1'])
      await record.markTouched(id, c, 'primary', iso(clock + 300_000));
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      await record.noteCluster(id, c, { step: 'promoted', after: digest, message: null });
    await record.noteCluster(id, 'ap-1', { step: 'failed', message: 'task exited (137)' });

    // act
    const view = await deploymentView(deps, id);

    // assess
    expect(view.waves.map((w) => [w.name, w.bakeSeconds, w.state])).toEqual([
      ['europe', 600, 'done'],
      ['americas', 300, 'promoting'],
      ['asia', 0, 'failed'],
      ['south', 0, 'pending'],
    ]);
    expect(view.waves[0]?.clusters).toEqual([
      {
        cluster: 'eu-1',
        before: old,
        after: digest,
        step: 'promoted',
        progress: null,
        message: null,
        updatedAt: iso(clock),
      },
      {
        cluster: 'eu-2',
        before: old,
        after: digest,
        step: 'promoted',
        progress: null,
        message: null,
        updatedAt: iso(clock),
      },
    ]);
    expect(view.waves[2]?.clusters[0]).toMatchObject({
      cluster: 'ap-1',
      step: 'failed',
      message: 'task exited (137)',
    });
    for (const w of view.waves) for (const c of w.clusters) expect(c).not.toHaveProperty('wave');
    expect(view.analysis).toEqual({
      phase: 'Successful',
      rounds: [
        round(1, 'Running'),
        round(2, 'Successful', 'success-rate = 0.998 met the condition result[0] >= 0.99'),
        round(3, 'Running'),
      ],
      decidedBy: 'success-rate = 0.998 met the condition result[0] >= 0.99',
    });
    expect(view.canary).toEqual({ cluster: 'eu-1', percent: 10 });
    expect(view.clusters.find((c) => c.cluster === 'eu-1')).toEqual({
      cluster: 'eu-1',
      before: old,
      after: digest,
    });
    expect(view.execution).toEqual({
      arn: `arn:aws:states:eu-west-1:123456789012:execution:deployer:${id}`,
      consoleUrl: `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:deployer:${id}`,
    });
    expect(view).toMatchObject({ id, service, tag: 'v5.0.0', status: 'running', trigger: 'push' });
    for (const hidden of ['image', 'registry', 'clusterStates', 'rounds'])
      expect(view).not.toHaveProperty(hidden);
  });

  it('shows the analysis as pending before its first round, running while undecided; the canary leaves its wave pending', async () => {
    // prepare
    const plan = await started(uniqueName('web'));
    const id = plan.deployment.id;
    const before = await entryOf(id);
    await record.markTouched(id, 'eu-1', 'canary', iso(clock + 300_000));
    await record.noteCluster(id, 'eu-1', {
      step: 'canary-running',
      progress: { desired: 1, runningOnTarget: 1, updateState: 'completed' },
    });
    await record.noteRound(id, round(1, 'Running'));
    const during = await entryOf(id);

    // act
    const pending = viewOf(before, STATE_MACHINE);
    const running = viewOf(during, STATE_MACHINE);

    // assess
    expect(pending.analysis).toEqual({ phase: 'Pending', rounds: [] });
    expect(pending.waves.map((w) => w.state)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(running.analysis).toEqual({ phase: 'Running', rounds: [round(1, 'Running')] });
    expect(running.analysis).not.toHaveProperty('decidedBy');
    expect(running.waves.map((w) => w.state)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(running.waves[0]?.clusters[0]).toMatchObject({ cluster: 'eu-1', step: 'canary-running' });
  });

  it('counts a wave of promoted and restored clusters as done, a restore that failed as failed', async () => {
    // prepare
    const old = sha(uniqueName('old'));
    const plan = await started(uniqueName('web'), { before: { 'eu-1': old, 'eu-2': old, 'us-1': old } });
    const { id, digest } = plan.deployment;
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      await record.markTouched(id, c, 'primary', iso(clock + 300_000));
    await record.noteCluster(id, 'eu-1', { step: 'promoted', after: digest });
    await record.beginRollback(id);
    await record.markRestored(id, 'eu-2');
    await record.noteCluster(id, 'us-1', { step: 'restore-failed', message: 'no manager answered' });

    // act
    const view = viewOf(await entryOf(id), STATE_MACHINE);

    // assess
    expect(view.status).toBe('rolling-back');
    expect(view.waves.map((w) => w.state)).toEqual(['done', 'failed', 'pending', 'pending']);
    expect(view.waves[0]?.clusters.map((c) => [c.cluster, c.step, c.after])).toEqual([
      ['eu-1', 'promoted', digest],
      ['eu-2', 'restored', old],
    ]);
  });

  it('links the execution of a state machine in any region', () => {
    // prepare
    const arn = 'arn:aws:states:ap-southeast-2:210987654321:stateMachine:swarm-deployer-prod';

    // act
    const links = executionLinks(arn, 'web-v1-abc');

    // assess
    expect(links).toEqual({
      arn: 'arn:aws:states:ap-southeast-2:210987654321:execution:swarm-deployer-prod:web-v1-abc',
      consoleUrl:
        'https://ap-southeast-2.console.aws.amazon.com/states/home?region=ap-southeast-2#/v2/executions/details/arn:aws:states:ap-southeast-2:210987654321:execution:swarm-deployer-prod:web-v1-abc',
    });
  });

  it('lists deployments through the record, newest first', async () => {
    // prepare
    const deps = depsOf();
    const service = uniqueName('web');
    const older = await ended(service, 'succeeded');
    const newer = await started(service);

    // act
    const page = await listDeployments(deps, { service, limit: 10 });

    // assess
    expect(page.items.map((i) => [i.id, i.status])).toEqual([
      [newer.deployment.id, 'running'],
      [older.deployment.id, 'succeeded'],
    ]);
  });
});
