/**
 * The whole program under Pulumi mocks with one full stack configuration: every resource and its key
 * inputs, the rendered workflow (validated by AWS's own ASL language service), the push rule's
 * pattern evaluated by the local EventBridge matcher, IAM on every API route, and the alarms.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import aslService from 'amazon-states-language-service';
import { beforeAll, describe, expect, it } from 'vitest';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { clusterSchema, servicePolicySchema } from '../../functions/lib/config/schema.js';
import { deployRulePattern, reaperRulePattern } from '../../functions/lib/events.js';
import { METRIC, METRICS_NAMESPACE } from '../../functions/lib/metrics.js';
import { aslPlaceholders, placeholderFor, readAslTemplate } from '../../infra/asl.js';
import { HANDLERS, NEEDS_STATE_MACHINE, OUTSIDE_WORKFLOW } from '../../infra/handlers.js';
import { type PermissionContext, policyFor, stateMachinePolicy } from '../../infra/permissions.js';
import { matchesPattern } from '../../local/runtime/eventbridge/pattern.js';
import { baseConfig, TLS_C2 } from './fixtures.js';
import {
  ACCOUNT,
  API_ID,
  DIST,
  ensureBundles,
  installMocks,
  ofType,
  one,
  REGION,
  type Recorded,
  resolve,
  settle,
  unwrap,
} from './mocks.js';

const recording = installMocks(baseConfig, ['engineTls']);
let program: typeof import('../../infra/index.js');

const PREFIX = 'deployer-test';
const SM_NAME = `${PREFIX}-deploy`;
const SM_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${SM_NAME}`;
const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:${PREFIX}-alerts`;
const TABLE = `${PREFIX}-record`;
const fnArn = (h: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${PREFIX}-${h}`;

beforeAll(async () => {
  ensureBundles(HANDLERS);
  program = await import('../../infra/index.js');
  await resolve(program.consoleUrl);
  await settle(recording);
}, 120_000);

const fns = () => ofType(recording, 'aws:lambda/function:Function');
const fnFor = (h: string) => one(recording, 'aws:lambda/function:Function', `functions-${h}`);

describe('functions', () => {
  it('deploys every handler as nodejs22.x on arm64 from its bundle', async () => {
    expect(
      fns()
        .map((f) => f.inputs.name)
        .sort(),
    ).toEqual(HANDLERS.map((h) => `${PREFIX}-${h}`).sort());
    for (const h of HANDLERS) {
      const f = fnFor(h).inputs;
      expect(f.runtime).toBe('nodejs22.x');
      expect(f.architectures).toEqual(['arm64']);
      expect(f.handler).toBe('index.handler');
      expect(f.tracingConfig).toEqual({ mode: 'Active' });
      expect(f.code).toBeInstanceOf(pulumi.asset.FileArchive);
      const path = await f.code.path;
      expect(path).toBe(join(DIST, h));
      expect(existsSync(join(path, 'index.mjs'))).toBe(true);
      expect(f.loggingConfig.logGroup).toBe(`/aws/lambda/${PREFIX}-${h}`);
      expect(f.timeout).toBeGreaterThanOrEqual(29);
      expect(f.timeout).toBeLessThanOrEqual(900);
    }
  });

  it('gives every function its environment; STATE_MACHINE_ARN only to those that start or stop executions', () => {
    for (const h of HANDLERS) {
      const env = fnFor(h).inputs.environment.variables;
      expect(env).toMatchObject({
        TOPIC_ARN,
        DEPLOYER_TABLE: TABLE,
        DEPLOYER_PREFIX: '/deployer',
        NODE_OPTIONS: '--enable-source-maps',
      });
      // Every function links its alerts to the execution; only some may act on executions (IAM).
      expect(env.STATE_MACHINE_ARN).toBe(SM_ARN);
    }
    expect([...NEEDS_STATE_MACHINE].sort()).toEqual([
      'acquire-lock',
      'api',
      'reap-execution',
      'start-deployment',
    ]);
  });

  it('matches each function timeout to the Task state that calls it', () => {
    expect(fnFor('preflight-cluster').inputs.timeout).toBe(120);
    expect(fnFor('api').inputs.timeout).toBe(29);
    // Not a workflow step: one scheduled run walks every policy's clusters.
    expect(fnFor('refresh-registry-auth').inputs.timeout).toBe(900);
  });

  it('keeps each function log for the configured retention', () => {
    for (const h of HANDLERS) {
      const lg = one(recording, 'aws:cloudwatch/logGroup:LogGroup', `functions-${h}`);
      expect(lg.inputs).toMatchObject({ name: `/aws/lambda/${PREFIX}-${h}`, retentionInDays: 14 });
    }
  });

  it('gives every function a role of its own with the policy of infra/permissions.ts', () => {
    const ctx: PermissionContext = {
      partition: 'aws',
      region: REGION,
      account: ACCOUNT,
      prefix: '/deployer',
      tableArn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${TABLE}`,
      topicArn: TOPIC_ARN,
      stateMachineArn: SM_ARN,
      stateMachineName: SM_NAME,
      repositories: ['demo', 'team/api'],
      instanceTag: { key: 'swarm-deployer', value: 'manager' },
      sessionDocuments: ['AWS-StartPortForwardingSession'],
      secretArns: [`arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:deployer/prometheus-c2-??????`],
      clusterRegions: ['eu-central-1', 'eu-west-1'],
      prometheusWorkspaceArns: [],
    };
    const roles = ofType(recording, 'aws:iam/role:Role').filter((r) => r.name.startsWith('functions-'));
    expect(roles).toHaveLength(HANDLERS.length);
    for (const h of HANDLERS) {
      const role = one(recording, 'aws:iam/role:Role', `functions-${h}`);
      expect(JSON.parse(role.inputs.assumeRolePolicy).Statement[0].Principal).toEqual({
        Service: 'lambda.amazonaws.com',
      });
      expect(fnFor(h).inputs.role).toBe(role.state.arn);
      const policy = one(recording, 'aws:iam/rolePolicy:RolePolicy', `functions-${h}`);
      expect(policy.inputs.role).toBe(role.id);
      expect(JSON.parse(policy.inputs.policy)).toEqual(policyFor(h, ctx));
      const logs = JSON.parse(
        one(recording, 'aws:iam/rolePolicy:RolePolicy', `functions-${h}-logs`).inputs.policy,
      );
      expect(logs.Statement[0].Resource).toBe(
        `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${PREFIX}-${h}:log-stream:*`,
      );
    }
  });
});

describe('workflow', () => {
  const sm = () => one(recording, 'aws:sfn/stateMachine:StateMachine');

  it('is a STANDARD state machine with a fixed name, full logging and tracing', () => {
    const { inputs, state } = sm();
    expect(inputs.name).toBe(SM_NAME);
    expect(inputs.type).toBe('STANDARD');
    expect(state.arn).toBe(SM_ARN);
    const lg = one(recording, 'aws:cloudwatch/logGroup:LogGroup', 'workflow-logs');
    expect(lg.inputs.retentionInDays).toBe(14);
    expect(inputs.loggingConfiguration).toEqual({
      level: 'ALL',
      includeExecutionData: true,
      logDestination: `${lg.state.arn}:*`,
    });
    expect(inputs.tracingConfiguration).toEqual({ enabled: true });
    const role = one(recording, 'aws:iam/role:Role', 'workflow-role');
    expect(inputs.roleArn).toBe(role.state.arn);
    const policy = JSON.parse(one(recording, 'aws:iam/rolePolicy:RolePolicy', 'workflow-role').inputs.policy);
    const workflowFns = HANDLERS.filter((h) => !OUTSIDE_WORKFLOW.includes(h));
    expect(policy).toEqual(stateMachinePolicy(workflowFns.map(fnArn)));
  });

  it('renders every function ARN into the definition and leaves no placeholder', () => {
    const definition: string = sm().inputs.definition;
    expect(definition).not.toMatch(/\$\{/);
    const template = readAslTemplate();
    const workflowFns = HANDLERS.filter((h) => !OUTSIDE_WORKFLOW.includes(h));
    expect(aslPlaceholders(template)).toEqual(workflowFns.map(placeholderFor).sort());
    for (const h of workflowFns) expect(definition).toContain(`"${fnArn(h)}"`);
    for (const h of OUTSIDE_WORKFLOW) expect(definition).not.toContain(fnArn(h));
    // The rendered definition is the template with each placeholder replaced, nothing else.
    expect(JSON.parse(definition)).toEqual(
      JSON.parse(
        template.replace(/\$\{(\w+)FunctionArn\}/g, (_, n: string) =>
          fnArn(n.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()),
        ),
      ),
    );
  });

  it('is valid for AWS’s own ASL language service', async () => {
    const ls = aslService.getLanguageService({});
    const doc = TextDocument.create('file:///deploy.asl.json', 'json', 1, sm().inputs.definition);
    const diagnostics = await ls.doValidation(doc, ls.parseJSONDocument(doc));
    expect(diagnostics).toEqual([]);
    // The service does report a broken definition.
    const broken = TextDocument.create(
      'file:///b.asl.json',
      'json',
      1,
      sm().inputs.definition.replace('"Type": "Task"', '"Type": "Tsk"'),
    );
    expect((await ls.doValidation(broken, ls.parseJSONDocument(broken))).length).toBeGreaterThan(0);
  });
});

describe('trigger', () => {
  const rule = (name: string) => one(recording, 'aws:cloudwatch/eventRule:EventRule', name);
  const target = (name: string) => one(recording, 'aws:cloudwatch/eventTarget:EventTarget', name);
  const push = (detail: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: ACCOUNT,
    time: '2026-11-30T12:00:00Z',
    region: REGION,
    resources: [],
    detail: {
      result: 'SUCCESS',
      'repository-name': 'demo',
      'image-digest': `sha256:${'a'.repeat(64)}`,
      'action-type': 'PUSH',
      'image-tag': 'v2',
      ...detail,
    },
    ...over,
  });

  it('deploys the push rule with deployRulePattern of the watched repositories', () => {
    expect(JSON.parse(rule('trigger-push').inputs.eventPattern)).toEqual(
      deployRulePattern(['demo', 'team/api']),
    );
    expect(JSON.parse(rule('trigger-reaper').inputs.eventPattern)).toEqual(reaperRulePattern(SM_ARN));
  });

  it('matches a push of a watched repository, and not a delete, a failed push, another repository or event', () => {
    const pattern = rule('trigger-push').inputs.eventPattern as string;
    expect(matchesPattern(pattern, push({}))).toBe(true);
    expect(matchesPattern(pattern, push({ 'repository-name': 'team/api', 'image-tag': '1.2.0' }))).toBe(true);
    expect(matchesPattern(pattern, push({ 'action-type': 'DELETE' }))).toBe(false);
    expect(matchesPattern(pattern, push({ result: 'FAILURE' }))).toBe(false);
    expect(matchesPattern(pattern, push({ 'repository-name': 'other' }))).toBe(false);
    expect(matchesPattern(pattern, push({}, { 'detail-type': 'ECR Image Scan' }))).toBe(false);
    expect(matchesPattern(pattern, push({}, { source: 'custom.ecr' }))).toBe(false);
  });

  it('schedules the registry credential refresh every 6 hours by default, with no event pattern', () => {
    const schedule = rule('trigger-registry-auth');
    expect(schedule.inputs.scheduleExpression).toBe('rate(6 hours)');
    expect(schedule.inputs.eventPattern).toBeUndefined();
    expect(schedule.inputs.description).toMatch(/12-hour/);
    for (const name of ['trigger-push', 'trigger-reaper'])
      expect(rule(name).inputs.scheduleExpression).toBeUndefined();
    // Its target is the function, invocable by EventBridge from this rule only.
    expect(target('trigger-registry-auth').inputs).toMatchObject({
      rule: schedule.state.name,
      arn: fnArn('refresh-registry-auth'),
    });
    expect(one(recording, 'aws:lambda/permission:Permission', 'trigger-registry-auth').inputs).toEqual(
      expect.objectContaining({
        action: 'lambda:InvokeFunction',
        principal: 'events.amazonaws.com',
        function: fnArn('refresh-registry-auth'),
        sourceArn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${schedule.state.name}`,
      }),
    );
    expect(schedule.state.arn).toBe(`arn:aws:events:${REGION}:${ACCOUNT}:rule/${schedule.state.name}`);
    // No other rule may invoke it, and it is invoked by no other permission.
    const permissions = ofType(recording, 'aws:lambda/permission:Permission').map((p) => p.inputs);
    expect(permissions.filter((p) => p.function === fnArn('refresh-registry-auth'))).toHaveLength(1);
  });

  it('targets StartDeployment, ReapExecution and RefreshRegistryAuth with retries and the dead-letter queue', () => {
    const dlq = one(recording, 'aws:sqs/queue:Queue', 'trigger-dlq');
    expect(dlq.inputs.messageRetentionSeconds).toBe(1_209_600);
    for (const [kind, h] of [
      ['push', 'start-deployment'],
      ['reaper', 'reap-execution'],
      ['registry-auth', 'refresh-registry-auth'],
    ] as const) {
      const t = target(`trigger-${kind}`).inputs;
      expect(t.rule).toBe(rule(`trigger-${kind}`).state.name);
      expect(t.arn).toBe(fnArn(h));
      expect(t.retryPolicy).toEqual({ maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 20 });
      expect(t.deadLetterConfig).toEqual({ arn: dlq.state.arn });
      const permission = one(recording, 'aws:lambda/permission:Permission', `trigger-${kind}`).inputs;
      expect(permission).toMatchObject({
        action: 'lambda:InvokeFunction',
        principal: 'events.amazonaws.com',
        function: fnArn(h),
        sourceArn: rule(`trigger-${kind}`).state.arn,
      });
    }
    const queuePolicy = JSON.parse(one(recording, 'aws:sqs/queuePolicy:QueuePolicy').inputs.policy);
    expect(queuePolicy.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: ['sqs:SendMessage'],
        Resource: dlq.state.arn,
        Condition: {
          ArnEquals: {
            'aws:SourceArn': [
              rule('trigger-push').state.arn,
              rule('trigger-reaper').state.arn,
              rule('trigger-registry-auth').state.arn,
            ].sort(),
          },
        },
      }),
    ]);
  });
});

describe('api', () => {
  it('is an HTTP API whose every route needs IAM (SigV4)', () => {
    const api = one(recording, 'aws:apigatewayv2/api:Api');
    expect(api.inputs.protocolType).toBe('HTTP');
    const routes = ofType(recording, 'aws:apigatewayv2/route:Route');
    expect(routes.map((r) => r.inputs.routeKey)).toEqual([
      'GET /deployments',
      'GET /deployments/{id}',
      'POST /deployments/{id}/{action}',
      'POST /services/{name}/{action}',
    ]);
    for (const r of routes) {
      expect(r.inputs.authorizationType).toBe('AWS_IAM');
      expect(r.inputs.apiId).toBe(API_ID);
    }
    const integration = one(recording, 'aws:apigatewayv2/integration:Integration');
    expect(integration.inputs).toMatchObject({
      apiId: API_ID,
      integrationType: 'AWS_PROXY',
      integrationUri: fnArn('api'),
      payloadFormatVersion: '2.0',
    });
    for (const r of routes) expect(r.inputs.target).toBe(`integrations/${integration.id}`);
    expect(one(recording, 'aws:apigatewayv2/stage:Stage').inputs).toMatchObject({
      name: '$default',
      autoDeploy: true,
    });
    expect(one(recording, 'aws:lambda/permission:Permission', 'api-invoke').inputs).toMatchObject({
      principal: 'apigateway.amazonaws.com',
      function: `${PREFIX}-api`,
      sourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/*/*`,
    });
  });

  it('lets only the allowed principals assume the approver role, which may invoke the deployments routes', () => {
    const role = one(recording, 'aws:iam/role:Role', 'api-approver');
    expect(JSON.parse(role.inputs.assumeRolePolicy).Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: ['arn:aws:iam::123456789012:role/release-managers'] },
        Action: 'sts:AssumeRole',
      },
    ]);
    const policy = JSON.parse(one(recording, 'aws:iam/rolePolicy:RolePolicy', 'api-approver').inputs.policy);
    expect(policy.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'execute-api:Invoke',
        Resource: [
          `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/*/GET/deployments`,
          `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/*/GET/deployments/*`,
          `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/*/POST/deployments/*/*`,
          `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/*/POST/services/*/*`,
        ],
      },
    ]);
  });
});

describe('alerts and state', () => {
  it('encrypts the topic with its own key and subscribes the configured endpoints', () => {
    const key = one(recording, 'aws:kms/key:Key');
    expect(key.inputs.enableKeyRotation).toBe(true);
    const keyPolicy = JSON.parse(key.inputs.policy);
    expect(keyPolicy.Statement.map((s: { Sid: string }) => s.Sid)).toEqual([
      'Account',
      'PublishThroughSns',
      'CloudWatchAlarms',
    ]);
    const topic = one(recording, 'aws:sns/topic:Topic');
    expect(topic.inputs).toMatchObject({ name: `${PREFIX}-alerts`, kmsMasterKeyId: key.state.arn });
    const subs = ofType(recording, 'aws:sns/topicSubscription:TopicSubscription').map((s) => s.inputs);
    expect(subs.map((s) => [s.protocol, s.endpoint, s.topic])).toEqual([
      ['email', 'oncall@example.com', TOPIC_ARN],
      ['https', 'https://hooks.example.com/deployer', TOPIC_ARN],
      ['sqs', 'arn:aws:sqs:eu-west-1:123456789012:deployer-alerts', TOPIC_ARN],
    ]);
  });

  it('creates the record table: pk/sk strings, on demand, TTL on expiresAt, point-in-time recovery', () => {
    const table = one(recording, 'aws:dynamodb/table:Table').inputs;
    expect(table).toMatchObject({
      name: TABLE,
      billingMode: 'PAY_PER_REQUEST',
      hashKey: 'pk',
      rangeKey: 'sk',
      attributes: [
        { name: 'pk', type: 'S' },
        { name: 'sk', type: 'S' },
      ],
      ttl: { attributeName: 'expiresAt', enabled: true },
      pointInTimeRecovery: { enabled: true },
    });
  });
});

describe('configuration', () => {
  const params = () => ofType(recording, 'aws:ssm/parameter:Parameter');
  const param = (name: string) => {
    const found = params().filter((p) => p.inputs.name === name);
    expect(found).toHaveLength(1);
    return found[0] as Recorded;
  };

  it('writes each cluster and service as the validated JSON the handlers parse', () => {
    expect(
      params()
        .map((p) => p.inputs.name)
        .sort(),
    ).toEqual([
      '/deployer/clusters/c1',
      '/deployer/clusters/c2',
      '/deployer/services/api',
      '/deployer/services/web',
      '/deployer/tls/c2',
    ]);
    for (const c of ['c1', 'c2']) {
      const p = param(`/deployer/clusters/${c}`).inputs;
      expect(p.type).toBe('String');
      expect(p.value).toBeUndefined();
      expect(clusterSchema.parse(JSON.parse(p.insecureValue)).name).toBe(c);
    }
    for (const s of ['web', 'api']) {
      const p = param(`/deployer/services/${s}`).inputs;
      expect(p.type).toBe('String');
      expect(p.value).toBeUndefined();
      expect(servicePolicySchema.parse(JSON.parse(p.insecureValue)).name).toBe(s);
    }
  });

  it('keeps TLS client material in a SecureString that the cluster entry names, as a secret', () => {
    const c2 = clusterSchema.parse(JSON.parse(param('/deployer/clusters/c2').inputs.insecureValue));
    expect(c2.engine.tlsParameter).toBe('/deployer/tls/c2');
    const tls = param('/deployer/tls/c2').inputs;
    expect(tls.type).toBe('SecureString');
    const value = unwrap(tls.value);
    expect(value.secret).toBe(true);
    expect(JSON.parse(value.value as string)).toEqual(TLS_C2);
    // The material appears nowhere else.
    for (const r of recording.resources)
      if (r !== param('/deployer/tls/c2')) expect(JSON.stringify(r.inputs)).not.toContain('MIIBfake');
  });
});

describe('alarms', () => {
  const alarms = () => ofType(recording, 'aws:cloudwatch/metricAlarm:MetricAlarm').map((a) => a.inputs);
  const alarm = (metricName: string) => {
    const found = alarms().filter((a) => a.metricName === metricName);
    expect(found).toHaveLength(1);
    return found[0];
  };

  it('alarms on failed and timed-out executions, dead letters and failed rollbacks, to the topic', () => {
    expect(alarm('ExecutionsFailed')).toMatchObject({
      namespace: 'AWS/States',
      dimensions: { StateMachineArn: SM_ARN },
      threshold: 1,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarm('ExecutionsTimedOut')).toMatchObject({
      namespace: 'AWS/States',
      dimensions: { StateMachineArn: SM_ARN },
    });
    const dlq = one(recording, 'aws:sqs/queue:Queue', 'trigger-dlq');
    expect(alarm('ApproximateNumberOfMessagesVisible')).toMatchObject({
      namespace: 'AWS/SQS',
      dimensions: { QueueName: dlq.state.name },
    });
    const filter = one(recording, 'aws:cloudwatch/logMetricFilter:LogMetricFilter').inputs;
    expect(filter.logGroupName).toBe(`/aws/lambda/${PREFIX}-conclude-rollback`);
    expect(filter.pattern).toBe('{ $.error = "RollbackFailedError" }');
    expect(alarm('RollbackFailed')).toMatchObject({
      namespace: filter.metricTransformation.namespace,
      metricName: filter.metricTransformation.name,
    });
    for (const a of alarms()) expect(a.alarmActions).toEqual([TOPIC_ARN]);
  });

  it("alarms on the deployer's own metrics: any failed deployment, a rollback that took over an hour", () => {
    // Fleet-wide: the EMF records carry the dimension set [] beside [service].
    expect(alarm(METRIC.deploymentsFailed)).toMatchObject({
      name: `${PREFIX}-deployments-failed`,
      namespace: METRICS_NAMESPACE,
      statistic: 'Sum',
      period: 60,
      threshold: 1,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
      okActions: [TOPIC_ARN],
    });
    expect(alarm(METRIC.deploymentsFailed).dimensions).toBeUndefined();
    expect(alarm(METRIC.timeToRollBack)).toMatchObject({
      name: `${PREFIX}-rollback-slow`,
      namespace: METRICS_NAMESPACE,
      statistic: 'Maximum',
      threshold: 3_600_000,
      comparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarm(METRIC.timeToRollBack).dimensions).toBeUndefined();
    // Rollbacks are on the dashboard only (each one has sent its own alert).
    expect(alarms().filter((a) => a.metricName === METRIC.deploymentsRolledBack)).toEqual([]);
  });

  it("draws one dashboard of the workflow, the queue, the functions and the deployer's own metrics", () => {
    const body = JSON.parse(one(recording, 'aws:cloudwatch/dashboard:Dashboard').inputs.dashboardBody) as {
      widgets: Array<{ x: number; y: number; properties: { title: string; metrics: unknown[][] } }>;
    };
    expect(JSON.stringify(body)).toContain(SM_ARN);
    expect(body.widgets).toHaveLength(13);
    const text = JSON.stringify(body.widgets.map((w) => w.properties.metrics));
    for (const name of Object.values(METRIC)) expect(text, name).toContain(name);
    // Per service, step, cluster and verdict through SEARCH over the exact dimension sets emitted.
    const expressions = body.widgets.flatMap((w) =>
      w.properties.metrics.flatMap((m) =>
        m.flatMap((e) => (typeof e === 'object' && e && 'expression' in e ? [String(e.expression)] : [])),
      ),
    );
    expect(expressions).toEqual(
      expect.arrayContaining([
        `SEARCH('{SwarmDeployer,service} MetricName="DeploymentsRolledBack"', 'Sum', 3600)`,
        `SEARCH('{SwarmDeployer,verdict} MetricName="AnalysisVerdicts"', 'Sum', 300)`,
        `SEARCH('{SwarmDeployer,service,step} MetricName="StepLatency"', 'p90', 300)`,
        `SEARCH('{SwarmDeployer,service,cluster} MetricName="SsmSessionOpenTime"', 'p90', 300)`,
        `SEARCH('{SwarmDeployer,service,cluster} MetricName="SsmSessionReuses"', 'Sum', 300)`,
      ]),
    );
    // Every widget on the grid, none overlapping.
    const cells = body.widgets.map((w) => `${w.x},${w.y}`);
    expect(new Set(cells).size).toBe(cells.length);
  });
});

describe('stack', () => {
  it('tags everything through the provider', () => {
    const provider = one(recording, 'pulumi:providers:aws');
    expect(provider.inputs.region).toBe(REGION);
    expect(JSON.parse(provider.inputs.defaultTags).tags).toEqual({
      team: 'platform',
      'swarm-deployer:stack': 'swarm-deployer/test',
    });
  });

  it('exports the API URL, topic, state machine, console URL and table', async () => {
    expect(await resolve(program.apiUrl)).toBe(`https://${API_ID}.execute-api.${REGION}.amazonaws.com`);
    expect(await resolve(program.topicArn)).toBe(TOPIC_ARN);
    expect(await resolve(program.stateMachineArn)).toBe(SM_ARN);
    expect(await resolve(program.tableName)).toBe(TABLE);
    expect(await resolve(program.consoleUrl)).toBe(
      `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/statemachines/view/${SM_ARN}`,
    );
  });

  it('parents every resource under one component per concern', () => {
    const components = recording.resources.filter((r) => r.type.startsWith('swarm-deployer:index:'));
    expect(components.map((c) => c.type).sort()).toEqual(
      ['Alarms', 'Alerts', 'Api', 'Configuration', 'Functions', 'State', 'Trigger', 'Workflow']
        .map((c) => `swarm-deployer:index:${c}`)
        .sort(),
    );
    expect(ofType(recording, 'awsx:ec2:Vpc')).toEqual([]);
    expect(ofType(recording, 'aws:ec2/instance:Instance')).toEqual([]);
  });
});
