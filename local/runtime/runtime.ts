import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { writeConfig } from '../../functions/lib/config/store.js';
import { createDeployerTable } from '../../functions/lib/deploy/record/dynamodb.js';
import { resetDeps } from '../../functions/lib/deps.js';
import { deployRulePattern, reaperRulePattern } from '../../functions/lib/events.js';
import { type AwsStandIn, startAwsStandIn } from '../aws/index.js';
import { type FleetStatus, startAgents, stopAgents, up } from '../fleet/fleet.js';
import type { FleetOptions } from '../fleet/layout.js';
import { type EventBusTarget, LocalEventBus } from './eventbridge/index.js';
import { type RegistryEventListener, startRegistryEventListener } from './registry-events/index.js';
import { type TaskHandler, WorkflowEngine, type WorkflowEngineOptions } from './workflow/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STATE_MACHINE = 'swarm-deployer';
export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const TOPIC = 'swarm-deployer-alerts';
export const AWS_PORT = 4566;
export const TABLE = 'swarm-deployer';

export interface LocalRuntimeOptions {
  fleet?: Partial<FleetOptions>;
  /** The configuration written into Parameter Store: { clusters, services } (default local/runtime/config.json). */
  config?: { clusters: unknown[]; services: unknown[] };
  prefix?: string;
  engine?: WorkflowEngineOptions;
  log?: (line: string) => void;
}

export interface LocalRuntime {
  fleet: FleetStatus;
  aws: AwsStandIn;
  engine: WorkflowEngine;
  bus: LocalEventBus;
  registryEvents: RegistryEventListener;
  stateMachineArn: string;
  topicArn: string;
  /** The environment the handlers run with (AWS_ENDPOINT_URL and friends). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const pascal = (s: string) => s.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
export const functionName = (handlerFile: string) => `swarm-deployer-${handlerFile}`;

/**
 * A middy handler as a local Task: the Lambda context it expects (getRemainingTimeInMillis for
 * middy's early timeout), plus the runtime's own abort signal (the Task's timeout, a stopped execution).
 */
function asTask(handler: (event: unknown, context: Context) => Promise<unknown>): TaskHandler {
  return (event, ctx) =>
    handler(event, {
      functionName: ctx.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${ctx.functionName}`,
      memoryLimitInMB: '512',
      awsRequestId: ctx.awsRequestId,
      logGroupName: `/aws/lambda/${ctx.functionName}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, ctx.deadlineMs - Date.now()),
      done: () => {},
      fail: () => {},
      succeed: () => {},
      signal: ctx.signal,
    } as Context & { signal: AbortSignal });
}

/** The production handlers, bound by the function names the ASL's placeholders resolve to. */
export async function loadHandlers(): Promise<{
  handlers: Record<string, TaskHandler>;
  substitutions: Record<string, string>;
}> {
  const dir = join(ROOT, 'functions', 'handlers');
  const handlers: Record<string, TaskHandler> = {};
  const substitutions: Record<string, string> = {};
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts'))) {
    const name = basename(file, '.ts');
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as {
      handler: (e: unknown, c: Context) => Promise<unknown>;
    };
    handlers[functionName(name)] = asTask(mod.handler);
    substitutions[`${pascal(name)}FunctionArn`] =
      `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName(name)}`;
  }
  return { handlers, substitutions };
}

/**
 * Starts the whole product on this machine: the fleet (Swarm clusters, registry, Prometheus), the
 * AWS stand-in in the real wire protocols (SSM parameters and sessions, SNS, Step Functions, ECR
 * backed by the registry), an SSM agent in every cluster, the real ASL on aws-local-stepfunctions
 * with Tasks bound to the real handlers, and registry pushes turned into ECR events matched by the
 * same rule the infrastructure deploys. The handlers run unchanged: only AWS_ENDPOINT_URL differs.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.log ?? (() => {});
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
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'AKIDLOCALRUNTIME',
    AWS_SECRET_ACCESS_KEY: 'local-runtime-secret',
    DEPLOYER_PREFIX: options.prefix ?? '/deployer',
    DEPLOYER_TABLE: TABLE,
  };
  const clientConfig = {
    endpoint: aws.endpoint,
    region: REGION,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
    },
  };
  const sns = new SNSClient(clientConfig);
  const ssm = new SSMClient(clientConfig);
  const dynamodb = new DynamoDBClient(clientConfig);
  const topicArn = (await sns.send(new CreateTopicCommand({ Name: TOPIC }))).TopicArn as string;
  await createDeployerTable(dynamodb, TABLE);
  env.TOPIC_ARN = topicArn;
  Object.assign(process.env, env);
  resetDeps();

  const config =
    options.config ??
    (JSON.parse(await readFile(join(ROOT, 'local', 'runtime', 'config.json'), 'utf8')) as {
      clusters: unknown[];
      services: unknown[];
    });
  await writeConfig(ssm, env.DEPLOYER_PREFIX as string, config);
  await startAgents(aws.mgsUrl, options.fleet ?? {});
  for (const c of fleet.clusters) await aws.waitForAgent(c.target, 30_000);

  const engine = new WorkflowEngine({ region: REGION, accountId: ACCOUNT, ...options.engine });
  const { handlers, substitutions: all } = await loadHandlers();
  const definition = await readFile(join(ROOT, 'statemachines', 'deploy.asl.json'), 'utf8');
  // Only the functions the workflow calls (the API function is API Gateway's, not the ASL's).
  const substitutions = Object.fromEntries(
    Object.entries(all).filter(([k]) => definition.includes(`\${${k}}`)),
  );
  const { stateMachineArn } = await engine.registerStateMachine({
    name: STATE_MACHINE,
    definition,
    substitutions,
    handlers,
  });
  aws.setSfnBackend(engine);

  const repositories = (config.services as Array<{ repository: string }>).map((s) => s.repository);
  const bus = new LocalEventBus({ region: REGION, accountId: ACCOUNT });
  // The push rule's target is the StartDeployment function: it names each execution after the image.
  env.STATE_MACHINE_ARN = stateMachineArn;
  process.env.STATE_MACHINE_ARN = stateMachineArn;
  /** A function as a rule target, invoked asynchronously as EventBridge invokes Lambda targets. */
  const lambdaTarget = (file: string, timeoutMs: number): EventBusTarget => ({
    id: file,
    deliver: async (event) => {
      const handler = handlers[functionName(file)] as TaskHandler;
      await handler(event, {
        signal: new AbortController().signal,
        deadlineMs: Date.now() + timeoutMs,
        awsRequestId: String(event.id),
        functionName: functionName(file),
      });
    },
  });
  bus.putRule({
    name: 'deploy-on-ecr-push',
    pattern: deployRulePattern(repositories),
    targets: [lambdaTarget('start-deployment', 30_000)],
  });
  // Executions that end without succeeding (stopped, timed out, failed) go to the ReapExecution
  // function, as the EventBridge rule on Step Functions status changes does on AWS.
  bus.putRule({
    name: 'reap-ended-executions',
    pattern: reaperRulePattern(stateMachineArn),
    targets: [lambdaTarget('reap-execution', 60_000)],
  });
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
    `local runtime up: AWS stand-in ${aws.endpoint}, state machine ${stateMachineArn}, registry events ${registryEvents.url}`,
  );

  return {
    fleet,
    aws,
    engine,
    bus,
    registryEvents,
    stateMachineArn,
    topicArn,
    env,
    async stop() {
      await registryEvents.close();
      await bus.close();
      await engine.close();
      await stopAgents(options.fleet ?? {});
      sns.destroy();
      ssm.destroy();
      dynamodb.destroy();
      await aws.stop();
    },
  };
}
