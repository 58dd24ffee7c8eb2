import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { clusterSchema, servicePolicySchema } from '../../../../functions/lib/config/schema.js';
import type { Config } from '../../../../functions/lib/config/store.js';
import { type ImageCatalog, type Plan, planDeployment } from '../../../../functions/lib/deploy/plan.js';
import type { Workflow } from '../../../../functions/lib/deploy/ports.js';
import {
  createDeployerTable,
  DynamoDedupe,
  DynamoRecord,
} from '../../../../functions/lib/deploy/record/dynamodb.js';
import type { StepDeps } from '../../../../functions/lib/deploy/steps/index.js';
import type { Notification } from '../../../../functions/lib/notify/notifier.js';
import type { Snapshot } from '../../../../functions/lib/swarm/types.js';
import { type AwsStandIn, startAwsStandIn } from '../../../../local/aws/index.js';
import { CREDENTIALS, caught, REGION } from '../../aws/harness.js';

/**
 * The deployment use cases against the real DynamoDB record (dynalite behind the AWS stand-in),
 * with small fakes for the other ports: a workflow that records its calls and answers what a test
 * sets, a notifier that records what it delivered (deduplicated as the real one is), and a
 * `connect` that refuses, because these tests never reach an engine.
 */

export type DeployPlan = Extract<Plan, { outcome: 'deploy' }>;

export const NOW = new Date('2031-05-04T10:00:00.000Z');
export const ARN_PREFIX = 'arn:aws:states:us-east-1:000000000000';
export const STATE_MACHINE = `${ARN_PREFIX}:stateMachine:deploy`;
export const executionArn = (name: string) => `${ARN_PREFIX}:execution:deploy:${name}`;

let unique = 0;
/** A name no other test of this worker uses (the table is shared by a file's tests). */
export const uniqueName = (what: string) => `${what}-${++unique}`;
export const digestOf = (n: number | string) =>
  `sha256:${[...String(n)]
    .map((c) => c.charCodeAt(0).toString(16))
    .join('')
    .padStart(64, '0')
    .slice(-64)}`;

// -- the record on dynalite -----------------------------------------------------------------------

export interface Stand {
  aws: AwsStandIn;
  client: DynamoDBClient;
  table: string;
  record: DynamoRecord;
  dedupe: DynamoDedupe;
  /** An item as DynamoDB stores it (attribute values untouched), read consistently. */
  rawItem(pk: string, sk: string): Promise<Record<string, unknown> | undefined>;
}

/** Starts the stand-in and creates the table before the file's tests; stops it after them. */
export function useStand(): Stand {
  const stand = {} as Stand;
  beforeAll(async () => {
    const aws = await startAwsStandIn({ host: '127.0.0.1', port: 0 });
    const client = new DynamoDBClient({
      endpoint: aws.endpoint,
      region: REGION,
      credentials: CREDENTIALS,
      maxAttempts: 1,
    });
    const table = 'deployer-steps-test';
    await createDeployerTable(client, table);
    Object.assign(stand, {
      aws,
      client,
      table,
      record: new DynamoRecord(client, table, { now: () => NOW.getTime() }),
      dedupe: new DynamoDedupe(client, table, { now: () => NOW.getTime() }),
      rawItem: async (pk: string, sk: string) =>
        (
          await client.send(
            new GetItemCommand({
              TableName: table,
              Key: { pk: { S: pk }, sk: { S: sk } },
              ConsistentRead: true,
            }),
          )
        ).Item,
    });
  });
  afterAll(async () => {
    stand.client?.destroy();
    await stand.aws?.stop();
  });
  return stand;
}

// -- fakes of the other ports ----------------------------------------------------------------------

/** The workflow engine: statuses a test sets, and every call it received. */
export class FakeWorkflow implements Workflow {
  readonly statuses = new Map<string, string>();
  /** The status of an execution the test did not set. */
  defaultStatus: string | undefined = undefined;
  readonly starts: Array<{ stateMachineArn: string; name: string; input: unknown; started: boolean }> = [];
  readonly successes: Array<{ token: string; output: unknown }> = [];
  readonly failures: Array<{ token: string; error: string; cause: string }> = [];
  /** Tokens no longer waiting (answered, timed out): answering them again is refused. */
  readonly gone = new Set<string>();

  async executionStatus(executionArn: string): Promise<string | undefined> {
    return this.statuses.get(executionArn) ?? this.defaultStatus;
  }

  async start(stateMachineArn: string, name: string, input: unknown) {
    const started = !this.starts.some((s) => s.stateMachineArn === stateMachineArn && s.name === name);
    this.starts.push({ stateMachineArn, name, input, started });
    return { started, executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}` };
  }

  async sendTaskSuccess(token: string, output: unknown): Promise<boolean> {
    this.successes.push({ token, output });
    return this.answer(token);
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<boolean> {
    this.failures.push({ token, error, cause });
    return this.answer(token);
  }

  private answer(token: string): boolean {
    if (this.gone.has(token)) return false;
    this.gone.add(token);
    return true;
  }
}

/**
 * The notifier: every publish call, and what people received, deduplicated on the same key as the
 * real Notifier (deployment/transition[-key]) through the record's DynamoDedupe.
 */
export class FakeNotifier {
  readonly published: Notification[] = [];
  readonly delivered: Notification[] = [];

  constructor(private readonly dedupe: DynamoDedupe) {}

  async publish(n: Notification): Promise<{ sent: boolean }> {
    this.published.push(n);
    const key = `${n.deploymentId}/${n.transition}${n.key ? `-${n.key}` : ''}`;
    if (!(await this.dedupe.firstTime(key))) return { sent: false };
    this.delivered.push(n);
    return { sent: true };
  }

  /** What people received of one transition. */
  of(transition: Notification['transition']): Notification[] {
    return this.delivered.filter((n) => n.transition === transition);
  }
}

export interface Fakes {
  deps: StepDeps;
  workflow: FakeWorkflow;
  notifier: FakeNotifier;
}

/** Step deps on the stand's record; config, catalog, engines and metrics refuse unless a test hands them in. */
export function fakes(
  stand: Stand,
  over: Partial<Omit<StepDeps, 'workflow' | 'notifier' | 'record'>> = {},
): Fakes {
  const workflow = new FakeWorkflow();
  const notifier = new FakeNotifier(stand.dedupe);
  const deps: StepDeps = {
    config: async () => {
      throw new Error('this step must not read the configuration');
    },
    catalog: {
      digestOf: async () => {
        throw new Error('this step must not ask the registry');
      },
      hasDigest: async () => {
        throw new Error('this step must not ask the registry');
      },
      registryHost: async () => {
        throw new Error('this step must not ask the registry');
      },
    },
    record: stand.record,
    registryAuth: { headerFor: async () => undefined },
    notifier,
    engines: {
      ssmFor: () => {
        throw new Error('these tests never reach a cluster');
      },
    },
    metrics: {
      ssmFor: () => {
        throw new Error('these tests never reach a cluster');
      },
    },
    workflow,
    contents: {
      versionOf: async () => {
        throw new Error('this step must not look at secret sources');
      },
      read: async () => {
        throw new Error('this step must not read secrets');
      },
    },
    now: () => NOW,
    ...over,
  };
  return { deps, workflow, notifier };
}

// -- plans ---------------------------------------------------------------------------------------------

export const REGISTRY = { account: '123456789012', region: 'eu-west-1' };

export function ecrEvent(repository: string, tag: string, digest: string, time = '2031-05-04T09:59:00Z') {
  return {
    version: '0',
    id: `event-${repository}-${tag}`,
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: REGISTRY.account,
    time,
    region: REGISTRY.region,
    resources: [],
    detail: {
      result: 'SUCCESS',
      'repository-name': repository,
      'image-digest': digest,
      'action-type': 'PUSH',
      'image-tag': tag,
    },
  };
}

export interface PlanOptions {
  service?: string;
  digest?: string;
  tag?: string;
  clusters?: string[];
  waves?: Array<{ name: string; clusters: string[]; maxFailures?: number }>;
  concurrency?: 'queue' | 'supersede' | 'reject';
}

/** A configuration with one policy (repository `<service>-repo`) over clusters built with the schema. */
export function configFor(o: PlanOptions = {}): Config {
  const service = o.service ?? 'web';
  const clusters = o.clusters ?? ['a', 'b', 'c'];
  return {
    clusters: new Map(
      clusters.map((name) => [
        name,
        clusterSchema.parse({
          name,
          region: 'eu-west-1',
          target: `mi-${name}`,
          prometheus: { tunnelPort: 9090 },
        }),
      ]),
    ),
    policies: [
      servicePolicySchema.parse({
        name: service,
        service,
        repository: `${service}-repo`,
        tags: { glob: '*' },
        clusters,
        canary: { cluster: clusters[0], percent: 10 },
        analysis: { metrics: [{ template: 'success-rate' }] },
        concurrency: o.concurrency ?? 'queue',
        ...(o.waves ? { waves: o.waves } : {}),
      }),
    ],
  };
}

/** A catalog whose tags point at `digest`. */
export const catalogFor = (digest: string): ImageCatalog => ({
  digestOf: async () => digest,
  registryHost: async (r) => `${r.account}.dkr.ecr.${r.region}.amazonaws.com`,
  hasDigest: async (_r, _repository, d) => d === digest,
});

/** A deployment plan as the plan step makes it, for a service and deployment no other test uses. */
export async function deployPlan(o: PlanOptions = {}): Promise<DeployPlan> {
  const service = o.service ?? uniqueName('web');
  const digest = o.digest ?? digestOf(service);
  const plan = await planDeployment(
    ecrEvent(`${service}-repo`, o.tag ?? 'v1.0.0', digest),
    configFor({ ...o, service }),
    catalogFor(digest),
    NOW,
    { executionName: uniqueName(`${service}-deploy`) },
  );
  if (plan.outcome !== 'deploy') throw new Error(`the fixture did not plan a deployment: ${plan.reason}`);
  return plan;
}

/** A second deployment of the same service (another digest, another execution). */
export const nextPlan = (plan: DeployPlan, o: PlanOptions = {}) =>
  deployPlan({
    clusters: plan.clusters.map((c) => c.name),
    ...o,
    service: plan.deployment.service,
    digest: o.digest ?? digestOf(uniqueName('digest')),
  });

export function snapshotOf(plan: DeployPlan, cluster: string): Snapshot {
  return {
    cluster,
    service: plan.deployment.service,
    serviceId: `svc-${cluster}`,
    specVersion: 7,
    spec: {
      Name: plan.deployment.service,
      TaskTemplate: { ContainerSpec: { Image: 'registry/web:0.9@sha256:old' } },
      Mode: { Replicated: { Replicas: 3 } },
    },
    image: 'registry/web:0.9@sha256:old',
    digest: 'sha256:old',
    replicas: 3,
    takenAt: NOW.toISOString(),
  };
}

/** Runs `call` and returns what it threw (fails when it does not throw). */
export { caught };

/** `seconds` after NOW, as the record stores times. */
export const later = (seconds: number) => new Date(NOW.getTime() + seconds * 1000).toISOString();

/**
 * The record of a running deployment that holds its service's lock, with `touched` clusters
 * snapshotted and marked touched (as `what` says), their changes landed (no live lease).
 */
export async function recordRunning(
  stand: Stand,
  plan: DeployPlan,
  touched: string[],
  what: (cluster: string) => 'canary' | 'primary' = () => 'primary',
): Promise<DeployPlan> {
  const d = plan.deployment;
  await stand.record.acquireLock(d.service, {
    deploymentId: d.id,
    executionArn: executionArn(d.id),
    digest: d.digest,
    acquiredAt: NOW.toISOString(),
    mode: 'deploy',
  });
  await stand.record.savePlan(d.id, plan);
  for (const cluster of touched) {
    await stand.record.saveSnapshot(d.id, snapshotOf(plan, cluster));
    await stand.record.markTouched(d.id, cluster, what(cluster), later(60));
    await stand.record.endLease(d.id, cluster, what(cluster));
  }
  return plan;
}
