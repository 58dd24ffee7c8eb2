/**
 * The deployer on AWS, one component per concern. Everything that can be wrong with the stack
 * configuration, the bundles or the workflow definition throws here, before any resource exists.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { checkAslPlaceholders, placeholderFor, readAslTemplate, taskTimeouts } from './asl.js';
import { Alarms } from './components/alarms.js';
import { Alerts } from './components/alerts.js';
import { Api } from './components/api.js';
import { Configuration } from './components/configuration.js';
import { DemoFleet } from './components/demo-fleet.js';
import { Functions } from './components/functions.js';
import { State } from './components/state.js';
import { Trigger } from './components/trigger.js';
import { Workflow } from './components/workflow.js';
import { loadStackConfig, type StackConfig, secretArnOf } from './config.js';
import { DIST_DIR, HANDLERS, type Handler, OUTSIDE_WORKFLOW } from './handlers.js';
import { type PermissionContext, policyFor } from './permissions.js';

const cfg = loadStackConfig();

// -- checks that need no resource ----------------------------------------------------------------------
const template = readAslTemplate();
const workflowHandlers = HANDLERS.filter((h) => !OUTSIDE_WORKFLOW.includes(h));
checkAslPlaceholders(template, workflowHandlers.map(placeholderFor));
const timeouts = taskTimeouts(template);
const functionTimeouts: Partial<Record<Handler, number>> = {
  ...Object.fromEntries(workflowHandlers.map((h) => [h, timeouts[placeholderFor(h)] ?? 60])),
  api: 29,
  'start-deployment': 30,
  'reap-execution': 120,
  // One run visits every policy's clusters in turn, each through its own SSM tunnel: Lambda's
  // maximum (runs are hours apart, never overlapping).
  'refresh-registry-auth': 900,
};

const names = {
  stateMachine: `${cfg.namePrefix}-deploy`,
  table: `${cfg.namePrefix}-record`,
  topic: `${cfg.namePrefix}-alerts`,
};

/** The parts of the permission context that come from the stack configuration. */
function permissionContext(
  c: StackConfig,
  ids: { partition: string; account: string; tableArn: string; topicArn: string },
): PermissionContext {
  const { partition: p, account } = ids;
  const workspaces = c.clusters.flatMap((cl) => {
    if (!('url' in cl.prometheus) || !cl.prometheus.auth || !('sigv4' in cl.prometheus.auth)) return [];
    const m = /^https:\/\/aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com\/workspaces\/(ws-[A-Za-z0-9-]+)/.exec(
      cl.prometheus.url,
    );
    return m ? [`arn:${p}:aps:${m[1]}:${account}:workspace/${m[2]}`] : [];
  });
  return {
    partition: p,
    region: c.region,
    account,
    prefix: c.prefix,
    tableArn: ids.tableArn,
    topicArn: ids.topicArn,
    stateMachineArn: `arn:${p}:states:${c.region}:${account}:stateMachine:${names.stateMachine}`,
    stateMachineName: names.stateMachine,
    repositories: c.repositories,
    instanceTag: c.instanceTag,
    sessionDocuments: c.sessionDocuments,
    secretArns: c.secretRefs.map((s) => secretArnOf(s, { partition: p, region: c.region, account })),
    serviceParameters: c.serviceParameters,
    serviceSecretArns: c.serviceSecretRefs.map((s) =>
      secretArnOf(s, { partition: p, region: c.region, account }),
    ),
    clusterRegions: [...new Set([c.region, ...c.clusters.map((cl) => cl.region)])].sort(),
    prometheusWorkspaceArns: [...new Set(workspaces)].sort(),
  };
}

// Every role policy from the configuration's values, once with stand-in ids: a value the policies
// refuse (an empty string, a wildcard) fails now, not inside an output.
for (const h of HANDLERS)
  policyFor(
    h,
    permissionContext(cfg, {
      partition: 'aws',
      account: '000000000000',
      tableArn: 'arn:aws:dynamodb:us-east-1:000000000000:table/check',
      topicArn: 'arn:aws:sns:us-east-1:000000000000:check',
    }),
  );

// -- resources -------------------------------------------------------------------------------------------
const provider = new aws.Provider('aws', {
  region: cfg.region as aws.Region,
  defaultTags: { tags: { ...cfg.tags, 'swarm-deployer:stack': `${cfg.project}/${cfg.stack}` } },
});
const opts: pulumi.ComponentResourceOptions = { providers: [provider] };
const partition = aws.getPartitionOutput({}, { provider }).partition;
const account = aws.getCallerIdentityOutput({}, { provider }).accountId;

const state = new State('state', { tableName: names.table }, opts);
const alerts = new Alerts(
  'alerts',
  { topicName: names.topic, subscriptions: cfg.alertSubscriptions, partition, region: cfg.region, account },
  opts,
);

const demo = cfg.demoFleet
  ? new DemoFleet(
      'demo',
      {
        clusters: cfg.demoFleet.clusters.map((c) => c.name),
        instanceType: cfg.demoFleet.instanceType,
        instanceTag: cfg.instanceTag,
        partition,
      },
      opts,
    )
  : undefined;

new Configuration(
  'config',
  {
    prefix: cfg.prefix,
    clusters: cfg.clusters,
    pendingClusters: (cfg.demoFleet?.clusters ?? []).map((c) => ({
      entry: c.entry,
      target: (demo as DemoFleet).instances[c.name]?.id as pulumi.Output<string>,
    })),
    services: cfg.services,
    engineTls: cfg.engineTls,
  },
  opts,
);

const expectedStateMachineArn = pulumi.interpolate`arn:${partition}:states:${cfg.region}:${account}:stateMachine:${names.stateMachine}`;
const functions = new Functions(
  'functions',
  {
    namePrefix: cfg.namePrefix,
    distDir: DIST_DIR,
    logRetentionDays: cfg.logRetentionDays,
    prefix: cfg.prefix,
    tableName: state.table.name,
    topicArn: alerts.topic.arn,
    stateMachineArn: expectedStateMachineArn,
    permissions: pulumi
      .all([partition, account, state.table.arn, alerts.topic.arn])
      .apply(([p, a, tableArn, topicArn]) =>
        permissionContext(cfg, { partition: p, account: a, tableArn, topicArn }),
      ),
    timeouts: functionTimeouts,
  },
  opts,
);

const workflow = new Workflow(
  'workflow',
  {
    stateMachineName: names.stateMachine,
    template,
    functionArns: Object.fromEntries(workflowHandlers.map((h) => [placeholderFor(h), functions.arns[h]])),
    logRetentionDays: cfg.logRetentionDays,
  },
  opts,
);

const trigger = new Trigger(
  'trigger',
  {
    repositories: cfg.repositories,
    stateMachineArn: expectedStateMachineArn,
    startDeployment: functions.functions['start-deployment'],
    reapExecution: functions.functions['reap-execution'],
    refreshRegistryAuth: functions.functions['refresh-registry-auth'],
    registryAuthRefreshHours: cfg.registryAuthRefreshHours,
  },
  opts,
);

const api = new Api(
  'api',
  {
    handler: functions.functions.api,
    allowedPrincipals: cfg.api.allowedPrincipals,
    logRetentionDays: cfg.logRetentionDays,
  },
  opts,
);

new Alarms(
  'alarms',
  {
    region: cfg.region,
    namePrefix: cfg.namePrefix,
    stateMachineArn: workflow.stateMachine.arn,
    deadLetterQueueName: trigger.deadLetterQueue.name,
    concludeRollbackLogGroup: functions.logGroups['conclude-rollback'].name,
    topicArn: alerts.topic.arn,
    functionNames: HANDLERS.map((h) => functions.functions[h].name),
  },
  opts,
);

// -- outputs ---------------------------------------------------------------------------------------------
export const apiUrl = api.url;
export const topicArn = alerts.topic.arn;
export const stateMachineArn = workflow.stateMachine.arn;
export const consoleUrl = pulumi.interpolate`https://${cfg.region}.console.aws.amazon.com/states/home?region=${cfg.region}#/statemachines/view/${workflow.stateMachine.arn}`;
export const tableName = state.table.name;
export const approverRoleArn = api.approverRole?.arn;
export const deadLetterQueueUrl = trigger.deadLetterQueue.url;
export const demoInstances = demo
  ? pulumi.all(Object.fromEntries(Object.entries(demo.instances).map(([c, i]) => [c, i.id])))
  : undefined;
