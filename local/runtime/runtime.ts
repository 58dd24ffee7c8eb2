import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { type ParameterTier, type ParameterType, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type Credentials, signedFetch } from '../apigw/client.js';
import { type HttpApi, startHttpApi } from '../apigw/http-api.js';
import type { EcrOptions } from '../aws/ecr.js';
import { type AwsStandIn, startAwsStandIn, type ThrottleConfig } from '../aws/index.js';
import { DEPLOYER_METRICS_PORT } from '../fleet/cluster.js';
import { type FleetStatus, startAgents, stopAgents, up } from '../fleet/fleet.js';
import type { FleetOptions } from '../fleet/layout.js';
import {
  authorize,
  type PolicyDocument,
  type Principal,
  resolvePrincipal,
  rolePrincipal,
} from '../iam/index.js';
import { FunctionError, LocalFunction } from '../twin/lambda.js';
import { type MetricsServer, startMetricsServer } from '../twin/metrics-server.js';
import { loadStackModel, type StackModel } from '../twin/model.js';
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
  /**
   * The local engine's options; AWS's quotas among them: `maxHistoryEvents`, `maxPayloadBytes`,
   * and `stateTransitionBucket` (none by default).
   */
  engine?: WorkflowEngineOptions;
  /**
   * AWS API quotas the stand-in enforces once the stack's resources exist, by API:
   * `{ 'ssm:StartSession': { burst, perSecond }, 'dynamodb:*': …, 'sns:Publish': … }`
   * (local/aws/throttle.ts). None by default. `aws.throttle` counts what they throttled.
   */
  throttle?: ThrottleConfig;
  /** Edits the stack's model before the twin is built from it (tests: a role without a statement, a shorter timeout). */
  editModel?: (model: StackModel) => void;
  /** How long the ECR stand-in's authorization tokens last, in seconds (default 12 hours, as on ECR). */
  ecrTokenSeconds?: number;
  log?: (line: string) => void;
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
  /** The principal (role session, credentials, policies) each function runs as, by function name. */
  functionPrincipals: Map<string, Principal>;
  /** The HTTP API (API Gateway stand-in, IAM authorization) as the stack declares it. */
  api: HttpApi;
  /** The deployer's own metrics as Prometheus scrapes them (from the functions' EMF records). */
  metrics: MetricsServer;
  /**
   * Credentials for an IAM user of the account (created on first use), with `policies` as its
   * identity-based policies (default: the API approver role's, what a release manager holds).
   */
  user(name: string, policies?: PolicyDocument[]): Principal;
  /** Calls the HTTP API signed as `caller` (unsigned without one): status and parsed JSON body. */
  callApi(
    method: string,
    path: string,
    caller: Credentials | undefined,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /**
   * Delivers one scheduled event of a scheduled rule of the model now (`registry-auth` names the
   * stack's `trigger-registry-auth-…`; see LocalEventBus.fireSchedule), through the same path as its
   * timer and the pattern rules: the target's resource policy, its retry policy. Resolves with the
   * target function's result (an array of results for a rule with several targets); rejects with
   * the error its delivery ended on.
   */
  fireSchedule(ruleNameOrSuffix: string): Promise<unknown>;
  /** Stops everything it started; the scheduled rules' timers with the event bus. */
  stop(): Promise<void>;
}

const ADMINISTRATOR: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
};

/** Whether an ARN pattern with `*` wildcards (a resource policy's SourceArn) matches `arn`. */
function matchesArn(pattern: string, arn: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(arn);
}

/** Whether a function's resource policy (lambda.Permission) lets `principal` from `sourceArn` invoke it. */
function permitted(model: StackModel, functionName: string, principal: string, sourceArn: string): boolean {
  return model.permissions.some(
    (p) =>
      p.functionName === functionName &&
      p.principal === principal &&
      p.action === 'lambda:InvokeFunction' &&
      (p.sourceArn === undefined || matchesArn(p.sourceArn, sourceArn)),
  );
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
 *   changes as Step Functions events, and a scheduled rule sends AWS's "Scheduled Event" on its
 *   timer (`fireSchedule` sends one now), each delivered to the rule's target function with its
 *   retry policy.
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
      // Release managers of this account may assume the API approver role (its policy is what
      // the twin's API users hold).
      api: { allowedPrincipals: [`arn:aws:iam::${ACCOUNT}:root`] },
    },
  });
  options.editModel?.(model);

  // Every caller of the AWS APIs, as IAM would know it: the operator (an administrator, who also
  // stands for Pulumi creating the stack), and each function's execution role session.
  const operator: Principal = {
    accessKeyId: 'AKIALOCALOPERATOR000',
    secretAccessKey: randomBytes(30).toString('base64'),
    arn: `arn:aws:iam::${ACCOUNT}:user/operator`,
    account: ACCOUNT,
    policies: [ADMINISTRATOR],
  };
  const functionPrincipals = new Map<string, Principal>();
  for (const fn of model.functions)
    functionPrincipals.set(
      fn.name,
      rolePrincipal({
        account: ACCOUNT,
        roleName: fn.role.name,
        sessionName: fn.name,
        policies: fn.role.policies.map((p) => p.document),
        sessionToken: randomBytes(48).toString('base64'),
      }),
    );
  const stateMachineRole = resolvePrincipal(
    rolePrincipal({
      account: ACCOUNT,
      roleName: model.stateMachine.role.name,
      sessionName: model.stateMachine.name,
      policies: model.stateMachine.role.policies.map((p) => p.document),
    }),
  );

  const fleet = await up(options.fleet ?? {}, log);
  const host = new URL(fleet.registry.eventsUrl).hostname;
  // The deployer's own metrics (Powertools EMF in the functions' logs), where the fleet's Prometheus scrapes them.
  const deployerMetrics = await startMetricsServer({ host, port: DEPLOYER_METRICS_PORT });
  // ECR tokens the registry's gate accepts until they expire, as ECR's.
  const ecrRegistry: EcrOptions = {
    address: fleet.registry.address,
    username: fleet.registry.username,
    password: fleet.registry.password,
    tokenKey: await readFile(fleet.registry.tokenKeyFile),
    tokenLifetimeSeconds: options.ecrTokenSeconds,
  };
  const aws = await startAwsStandIn({
    iam: { principals: [operator, ...functionPrincipals.values()] },
    // The managers carry the tag the deployer's StartSession policy names.
    instanceTags: Object.fromEntries(
      fleet.clusters.map((c) => [c.target, { [model.instanceTag.key]: model.instanceTag.value }]),
    ),
    host,
    port: AWS_PORT,
    region: REGION,
    accountId: ACCOUNT,
    knownTargets: fleet.clusters.map((c) => c.target),
    registry: ecrRegistry,
  });
  const clientConfig = {
    endpoint: aws.endpoint,
    region: REGION,
    credentials: { accessKeyId: operator.accessKeyId, secretAccessKey: operator.secretAccessKey },
  };
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
  // The quotas apply to the product's calls, not to creating the stack above.
  if (options.throttle) aws.throttle.configure(options.throttle);

  // The functions: each runs its bundle with the model's environment and its own role session.
  const functions = new Map<string, LocalFunction>();
  for (const fn of model.functions) {
    const credentials = functionPrincipals.get(fn.name) as Principal;
    functions.set(
      fn.name,
      new LocalFunction(
        fn,
        {
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
        },
        // What CloudWatch would read from the function's log: its EMF records, for Prometheus.
        { onLogLine: (line) => deployerMetrics.aggregator.ingestLine(line) },
      ),
    );
  }
  const functionByArn = (arn: string) => {
    const fn = model.functions.find((f) => f.arn === arn);
    if (!fn) throw new Error(`no function ${arn} in the model`);
    return functions.get(fn.name) as LocalFunction;
  };

  const engine = new WorkflowEngine({
    region: REGION,
    accountId: ACCOUNT,
    // A Distributed Map starts its child executions as the state machine's role, which needs
    // states:StartExecution on the state machine ("IAM policies for using Distributed Map states").
    authorizeChildStart: async (arn) => {
      const decision = await authorize(stateMachineRole, { action: 'states:StartExecution', resource: arn });
      if (!decision.allowed) throw new Error(decision.message);
    },
    ...options.engine,
  });
  // Each Task invokes its function as the state machine's role: lambda:InvokeFunction must be allowed.
  const handlers: Record<string, TaskHandler> = {};
  for (const [name, fn] of functions)
    handlers[name] = async (event, ctx) => {
      const decision = await authorize(stateMachineRole, {
        action: 'lambda:InvokeFunction',
        resource: fn.model.arn,
      });
      if (!decision.allowed)
        throw new FunctionError(
          'Lambda.AWSLambdaException',
          `${decision.message} (Service: Lambda, Status Code: 403)`,
        );
      return fn.invoke(event, { requestId: ctx.awsRequestId, signal: ctx.signal });
    };
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

  // The rules: the model's patterns and schedules (a scheduled rule's "Scheduled Event" on a timer
  // from now), each target the function its ARN names, invoked asynchronously as EventBridge
  // invokes Lambda targets, with the target's retry policy.
  const bus = new LocalEventBus({ region: REGION, accountId: ACCOUNT });
  for (const rule of model.rules) {
    bus.putRule({
      name: rule.name,
      ...(rule.pattern === undefined ? {} : { pattern: rule.pattern }),
      ...(rule.schedule === undefined ? {} : { schedule: rule.schedule }),
      targets: rule.targets.map(
        (t): EventBusTarget => ({
          id: t.arn,
          deliver: async (event) => {
            // EventBridge invokes a Lambda target under the function's resource policy.
            const fn = functionByArn(t.arn);
            const ruleArn = bus.ruleArn(rule.name);
            if (!permitted(model, fn.name, 'events.amazonaws.com', ruleArn))
              throw new Error(`${fn.name} does not permit events.amazonaws.com from ${ruleArn} to invoke it`);
            return fn.invoke(event, { requestId: String(event.id) });
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
  // The HTTP API: its routes invoke their functions (under the resource policy API Gateway needs),
  // callers are identified by SigV4 and authorized for execute-api:Invoke by their own policies,
  // from the same principals the AWS stand-in knows (one account, one IAM).
  const iam = aws.iam as NonNullable<AwsStandIn['iam']>;
  const users = new Map<string, Principal>();
  const apiArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${model.api.id}`;
  const api = await startHttpApi({
    host: '127.0.0.1',
    region: REGION,
    accountId: ACCOUNT,
    apiId: model.api.id,
    stage: model.api.stage,
    routes: model.api.routes.map((r) => ({
      routeKey: r.routeKey,
      authorizationType: r.authorizationType === 'AWS_IAM' ? 'AWS_IAM' : 'NONE',
      invoke: async (event, ctx) => {
        const fn = functionByArn(r.functionArn);
        const source = `${apiArn}/${model.api.stage}/${event.requestContext.http.method}${event.rawPath}`;
        if (!permitted(model, fn.name, 'apigateway.amazonaws.com', source))
          throw new Error(`${fn.name} does not permit API Gateway from ${source} to invoke it`);
        return fn.invoke(event, { requestId: ctx.requestId, signal: ctx.signal });
      },
    })),
    callers: { lookup: (accessKeyId) => iam.principal(accessKeyId) },
    authorize: async (caller, request) => {
      const p = iam.principal(caller.accessKeyId);
      if (!p) return false;
      return (await authorize(p, request)).result;
    },
  });
  const user = (name: string, policies?: PolicyDocument[]): Principal => {
    const existing = users.get(name);
    if (existing && !policies) return existing;
    const created: Principal = {
      accessKeyId: existing?.accessKeyId ?? `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: existing?.secretAccessKey ?? randomBytes(30).toString('base64'),
      arn: `arn:aws:iam::${ACCOUNT}:user/${name}`,
      account: ACCOUNT,
      policies: policies ?? model.api.approverRole?.policies.map((p) => p.document) ?? [],
    };
    users.set(name, created);
    iam.addPrincipal(created);
    return created;
  };

  log(
    `local twin up: ${functions.size} functions from their bundles, AWS stand-in ${aws.endpoint}, deployer metrics ${deployerMetrics.url}, state machine ${stateMachineArn}, registry events ${registryEvents.url}`,
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
    functionPrincipals,
    api,
    metrics: deployerMetrics,
    user,
    async callApi(method, path, caller, body) {
      const res = await signedFetch(`${api.url}${path}`, {
        method,
        region: REGION,
        ...(caller ? { credentials: caller } : {}),
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      return { status: res.status, body: JSON.parse(res.text || '{}') as Record<string, unknown> };
    },
    async fireSchedule(ruleNameOrSuffix) {
      const results = await bus.fireSchedule(ruleNameOrSuffix);
      return results.length === 1 ? results[0] : results;
    },
    async stop() {
      await api.close();
      await deployerMetrics.close();
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
