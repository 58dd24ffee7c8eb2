import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { type ParameterTier, type ParameterType, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type AwsStandIn, startAwsStandIn } from '../aws/index.js';
import { type FleetStatus, startAgents, stopAgents, up } from '../fleet/fleet.js';
import type { FleetOptions } from '../fleet/layout.js';
import { LocalFunction } from '../twin/lambda.js';
import { loadStackModel, type ModelRole, type StackModel } from '../twin/model.js';
import { type EventBusTarget, LocalEventBus } from './eventbridge/index.js';
import { type RegistryEventListener, startRegistryEventListener } from './registry-events/index.js';
import { type TaskHandler, WorkflowEngine, type WorkflowEngineOptions } from './workflow/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const AWS_PORT = 4566;
/** The stack's namePrefix locally: functions are `swarm-deployer-<handler>`. */
export const NAME_PREFIX = 'swarm-deployer';

export interface LocalRuntimeOptions {
  fleet?: Partial<FleetOptions>;
  /** The configuration the stack writes into Parameter Store: { clusters, services } (default local/runtime/config.json). */
  config?: { clusters: unknown[]; services: unknown[] };
  prefix?: string;
  engine?: WorkflowEngineOptions;
  /** Edits the stack's model before the twin is built from it (tests: a role without a statement, a shorter timeout). */
  editModel?: (model: StackModel) => void;
  log?: (line: string) => void;
}

/** Credentials the twin issued, and whose they are. */
export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** The principal: an assumed-role session or an IAM user. */
  arn: string;
  /** aws:userid: `<role id>:<session name>` for a role session, the user id for a user. */
  userId: string;
}

export interface LocalRuntime {
  fleet: FleetStatus;
  aws: AwsStandIn;
  engine: WorkflowEngine;
  bus: LocalEventBus;
  registryEvents: RegistryEventListener;
  /** What the Pulumi program declares, which the twin was built from. */
  model: StackModel;
  /** Every function of the model, by name, running its built bundle. */
  functions: Map<string, LocalFunction>;
  stateMachineArn: string;
  topicArn: string;
  /** Where the stand-in is, and the operator's credentials (an administrator of the account). */
  env: Record<string, string>;
  /** An SDK client configuration for the operator: endpoint, region, credentials. */
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** The credentials each function runs with, by function name. */
  functionCredentials: Map<string, IssuedCredentials>;
  stop(): Promise<void>;
}

/** Temporary credentials for a role session, as STS would issue them (ASIA… key, session token). */
function roleSession(role: ModelRole, session: string): IssuedCredentials {
  const roleId = `AROA${createHash('sha256').update(role.arn).digest('hex').slice(0, 17).toUpperCase()}`;
  return {
    accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: randomBytes(48).toString('base64'),
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role.name}/${session}`,
    userId: `${roleId}:${session}`,
  };
}

/**
 * Starts the product on this machine as the stack's twin: the Pulumi program of infra/ is run
 * under mocks with this configuration, and everything is built from what it declares:
 * - the fleet (Swarm clusters, registry, Prometheus) and an SSM agent in every cluster;
 * - the AWS stand-in in the real wire protocols (SSM parameters and sessions, SNS, Step Functions,
 *   ECR backed by the registry, DynamoDB), holding the stack's table, topic and parameters;
 * - every function of the model running its BUILT bundle in its own execution environments, with
 *   the model's environment, timeout and memory, and credentials of its own role session;
 * - the state machine's rendered definition on aws-local-stepfunctions, each Task invoking the
 *   function its ARN names;
 * - the model's rules on a local event bus: registry pushes arrive as ECR events, execution status
 *   changes as Step Functions events, each delivered to the rule's target function with its retry
 *   policy.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.log ?? (() => {});
  const config =
    options.config ??
    (JSON.parse(await readFile(join(ROOT, 'local', 'runtime', 'config.json'), 'utf8')) as {
      clusters: unknown[];
      services: unknown[];
    });
  const prefix = options.prefix ?? '/deployer';
  const model = await loadStackModel({
    region: REGION,
    account: ACCOUNT,
    config: {
      namePrefix: NAME_PREFIX,
      prefix,
      clusters: config.clusters,
      services: config.services,
      logRetentionDays: 1,
    },
  });
  options.editModel?.(model);

  const fleet = await up(options.fleet ?? {}, log);
  const host = new URL(fleet.registry.eventsUrl).hostname;
  const aws = await startAwsStandIn({
    host,
    port: AWS_PORT,
    region: REGION,
    accountId: ACCOUNT,
    knownTargets: fleet.clusters.map((c) => c.target),
    registry: {
      address: fleet.registry.address,
      username: fleet.registry.username,
      password: fleet.registry.password,
    },
  });
  const operator = {
    accessKeyId: 'AKIALOCALOPERATOR000',
    secretAccessKey: randomBytes(30).toString('base64'),
  };
  const clientConfig = { endpoint: aws.endpoint, region: REGION, credentials: operator };
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: operator.accessKeyId,
    AWS_SECRET_ACCESS_KEY: operator.secretAccessKey,
    DEPLOYER_PREFIX: prefix,
  };
  const sns = new SNSClient(clientConfig);
  const ssm = new SSMClient(clientConfig);
  const dynamodb = new DynamoDBClient(clientConfig);

  // The stack's stateful resources, as the program declares them.
  const topicArn = (await sns.send(new CreateTopicCommand({ Name: model.topic.name }))).TopicArn as string;
  if (topicArn !== model.topic.arn)
    throw new Error(`the stand-in's topic is ${topicArn}, the model's ${model.topic.arn}`);
  await dynamodb.send(
    new CreateTableCommand({
      TableName: model.table.name,
      AttributeDefinitions: model.table.attributes.map((a) => ({
        AttributeName: a.name,
        AttributeType: a.type as 'S' | 'N' | 'B',
      })),
      KeySchema: [
        { AttributeName: model.table.hashKey, KeyType: 'HASH' },
        ...(model.table.rangeKey ? [{ AttributeName: model.table.rangeKey, KeyType: 'RANGE' as const }] : []),
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  if (model.table.ttlAttribute)
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: model.table.name,
        TimeToLiveSpecification: { AttributeName: model.table.ttlAttribute, Enabled: true },
      }),
    );
  for (const p of model.parameters)
    await ssm.send(
      new PutParameterCommand({
        Name: p.name,
        Value: p.value,
        Type: p.type as ParameterType,
        Tier: p.tier as ParameterTier,
        Overwrite: true,
      }),
    );
  await startAgents(aws.mgsUrl, options.fleet ?? {});
  for (const c of fleet.clusters) await aws.waitForAgent(c.target, 30_000);

  // The functions: each runs its bundle with the model's environment and its own role session.
  const functions = new Map<string, LocalFunction>();
  const functionCredentials = new Map<string, IssuedCredentials>();
  for (const fn of model.functions) {
    const credentials = roleSession(fn.role, fn.name);
    functionCredentials.set(fn.name, credentials);
    functions.set(
      fn.name,
      new LocalFunction(fn, {
        // What Lambda's runtime sets ("Defined runtime environment variables"), then the function's own.
        AWS_REGION: REGION,
        AWS_DEFAULT_REGION: REGION,
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
        AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_SESSION_TOKEN: credentials.sessionToken as string,
        LAMBDA_TASK_ROOT: fn.codeDir,
        TZ: ':UTC',
        ...fn.environment,
        // The one difference from AWS: the SDK's endpoint is the stand-in.
        AWS_ENDPOINT_URL: aws.endpoint,
      }),
    );
  }
  const functionByArn = (arn: string) => {
    const fn = model.functions.find((f) => f.arn === arn);
    if (!fn) throw new Error(`no function ${arn} in the model`);
    return functions.get(fn.name) as LocalFunction;
  };

  const engine = new WorkflowEngine({ region: REGION, accountId: ACCOUNT, ...options.engine });
  const handlers: Record<string, TaskHandler> = {};
  for (const [name, fn] of functions)
    handlers[name] = (event, ctx) => fn.invoke(event, { requestId: ctx.awsRequestId, signal: ctx.signal });
  const { stateMachineArn } = await engine.registerStateMachine({
    name: model.stateMachine.name,
    definition: model.stateMachine.definition,
    handlers,
    roleArn: model.stateMachine.role.arn,
  });
  if (stateMachineArn !== model.stateMachine.arn)
    throw new Error(
      `the engine's state machine is ${stateMachineArn}, the model's ${model.stateMachine.arn}`,
    );
  aws.setSfnBackend(engine);

  // The rules: the model's patterns, each target the function its ARN names, invoked
  // asynchronously as EventBridge invokes Lambda targets, with the target's retry policy.
  const bus = new LocalEventBus({ region: REGION, accountId: ACCOUNT });
  for (const rule of model.rules) {
    bus.putRule({
      name: rule.name,
      pattern: rule.pattern,
      targets: rule.targets.map(
        (t): EventBusTarget => ({
          id: t.arn,
          deliver: async (event) => {
            await functionByArn(t.arn).invoke(event, { requestId: String(event.id) });
          },
          ...(t.retryPolicy
            ? {
                retryPolicy: {
                  ...(t.retryPolicy.maximumRetryAttempts === undefined
                    ? {}
                    : { maximumRetryAttempts: t.retryPolicy.maximumRetryAttempts }),
                  ...(t.retryPolicy.maximumEventAgeInSeconds === undefined
                    ? {}
                    : { maximumEventAgeSeconds: t.retryPolicy.maximumEventAgeInSeconds }),
                },
              }
            : {}),
        }),
      ),
    });
  }
  engine.onStatusChange((event) => bus.publish(event as never));
  const registryEvents = await startRegistryEventListener({
    host,
    port: Number(new URL(fleet.registry.eventsUrl).port),
    path: new URL(fleet.registry.eventsUrl).pathname,
    region: REGION,
    accountId: ACCOUNT,
    onEvent: (event) => {
      if (event.detail['action-type'] === 'PUSH')
        aws.ecr?.recordPush(
          event.detail['repository-name'],
          event.detail['image-digest'],
          new Date(event.time),
        );
      bus.publish(event as never);
    },
    onError: (err) => log(`registry event: ${(err as Error).message}`),
  });
  log(
    `local twin up: ${functions.size} functions from their bundles, AWS stand-in ${aws.endpoint}, state machine ${stateMachineArn}, registry events ${registryEvents.url}`,
  );

  return {
    fleet,
    aws,
    engine,
    bus,
    registryEvents,
    model,
    functions,
    stateMachineArn,
    topicArn,
    env,
    clientConfig,
    functionCredentials,
    async stop() {
      await registryEvents.close();
      await bus.close();
      await engine.close();
      await Promise.all([...functions.values()].map((f) => f.close()));
      await stopAgents(options.fleet ?? {});
      sns.destroy();
      ssm.destroy();
      dynamodb.destroy();
      await aws.stop();
    },
  };
}
