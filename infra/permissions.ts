/**
 * Least privilege, as one table: for every Lambda handler in functions/handlers, the AWS actions its
 * code reaches (read from the code paths, cited in `why`), and the kind of resource each acts on.
 * `policyFor` turns a handler's grants into its execution role's IAM policy on the narrowest
 * resources; `stateMachinePolicy` is the state machine's role; `lambdaPermissionFor` and
 * `deadLetterQueuePolicy` are the resource policies the EventBridge rules need (Lambda targets take
 * a resource policy, not a role, so there is no `eventsTargetPolicy`).
 *
 * Pure TypeScript (no Pulumi): the Pulumi program calls these with resolved values, and
 * test/infra/iam.test.ts proves the policies with an IAM policy simulator. Explained, with the
 * table, in infra/PERMISSIONS.md.
 */

/** Every handler file in functions/handlers, by file name without `.ts`. */
export const HANDLERS = [
  'acquire-lock',
  'analyze',
  'api',
  'bake-wave',
  'canary-ready',
  'check-progress',
  'complete',
  'conclude-rollback',
  'deploy-canary',
  'judge-wave',
  'list-touched',
  'plan',
  'preflight-cluster',
  'promote-cluster',
  'reap-execution',
  'refresh-registry-auth',
  'remove-canary',
  'request-approval',
  'rollback-cluster',
  'start-deployment',
  'take-over-lock',
] as const;

export type HandlerName = (typeof HANDLERS)[number];

/**
 * What a grant acts on; `policyFor` resolves each kind to ARNs from the {@link PermissionContext}.
 * - table: the record's DynamoDB table (it has no index);
 * - parameters: Parameter Store under the prefix (configuration, Prometheus credential parameters);
 * - tlsParameters: the Engine API's TLS material, SecureString parameters, also under the prefix;
 * - secrets: the Secrets Manager secrets Prometheus credentials reference;
 * - serviceParameters: exactly the parameters the service policies' secrets and configs read (`spec`);
 * - serviceSecrets: exactly the Secrets Manager secrets those read;
 * - key: the customer-managed KMS key of SecureStrings and secrets, through SSM / Secrets Manager only;
 * - topic: the SNS topic;
 * - stateMachine / executions: the deployment state machine, and its executions;
 * - repositories: the watched ECR repositories;
 * - workspaces: Amazon Managed Service for Prometheus workspaces queried with SigV4;
 * - managedInstances: the Swarm managers (EC2 instances and hybrid managed instances) with the tag;
 * - sessionDocument: the Session Manager documents the tunnels use;
 * - sessions: the sessions this function started;
 * - none: actions that take no resource (the Service Authorization Reference lists none): `*`.
 */
export type ResourceKind =
  | 'table'
  | 'parameters'
  | 'tlsParameters'
  | 'secrets'
  | 'serviceParameters'
  | 'serviceSecrets'
  | 'key'
  | 'topic'
  | 'stateMachine'
  | 'executions'
  | 'repositories'
  | 'workspaces'
  | 'managedInstances'
  | 'sessionDocument'
  | 'sessions'
  | 'none';

/** Actions (never a wildcard) on one kind of resource, and the code paths that call them. */
export interface Grant {
  readonly actions: readonly string[];
  readonly on: ResourceKind;
  readonly why: string;
}

// -- building blocks: what a shared code path calls --------------------------------------------------

/** notify() → Notifier.publish: the dedupe marker (DynamoDedupe), the message, the marker's removal on failure. */
const NOTIFY: readonly Grant[] = [
  {
    actions: ['sns:Publish'],
    on: 'topic',
    why: 'notify/notifier.ts publish (PublishCommand)',
  },
];
const NOTIFY_RECORD = ['dynamodb:PutItem', 'dynamodb:DeleteItem'] as const; // DynamoDedupe.firstTime / forget

/**
 * An SSM port-forwarding tunnel (ssm/tunnel.ts): StartSession on the tagged manager with the
 * document, the OpenDataChannel frame on the session's StreamUrl, ResumeSession when the websocket
 * drops, TerminateSession on close.
 */
const TUNNEL: readonly Grant[] = [
  {
    actions: ['ssm:StartSession'],
    on: 'managedInstances',
    why: 'ssm/tunnel.ts startSession (Target: the cluster manager)',
  },
  {
    actions: ['ssm:StartSession'],
    on: 'sessionDocument',
    why: 'ssm/tunnel.ts startSession (DocumentName)',
  },
  {
    actions: ['ssm:ResumeSession', 'ssm:TerminateSession'],
    on: 'sessions',
    why: 'ssm/tunnel.ts reconnect (ResumeSession) and close (TerminateSession)',
  },
  {
    actions: ['ssmmessages:OpenDataChannel'],
    on: 'none',
    why: 'ssm/tunnel.ts connectWebSocket (the OpenDataChannel frame on StreamUrl)',
  },
];

/** clusters/connect.ts withEngine: the tunnel, then the engine's TLS material when it has some. */
const ENGINE: readonly Grant[] = [
  ...TUNNEL,
  {
    actions: ['ssm:GetParameter'],
    on: 'tlsParameters',
    why: 'deps.ts tlsCredentials (GetParameter WithDecryption of engine.tlsParameter)',
  },
  {
    actions: ['kms:Decrypt'],
    on: 'key',
    why: 'SecureString decryption of the TLS parameter (customer-managed key only)',
  },
];

/**
 * spec.ts readContents → secrets/source.ts awsContentReader read: the content of the service's
 * secrets and configs at the versions the plan pinned, to write them as Docker secrets and configs.
 */
const SERVICE_CONTENT: readonly Grant[] = [
  {
    actions: ['ssm:GetParameter'],
    on: 'serviceParameters',
    why: 'secrets/source.ts awsContentReader read (GetParameter <name>:<version> WithDecryption)',
  },
  {
    actions: ['secretsmanager:GetSecretValue'],
    on: 'serviceSecrets',
    why: 'secrets/source.ts awsContentReader read (GetSecretValue of the pinned VersionId)',
  },
  {
    actions: ['kms:Decrypt'],
    on: 'key',
    why: 'decryption of those parameters and secrets (customer-managed key only)',
  },
];

/** config/store.ts loadConfig: the clusters and service policies under the prefix. */
const CONFIG: readonly Grant[] = [
  {
    actions: ['ssm:GetParametersByPath'],
    on: 'parameters',
    why: 'config/store.ts loadConfig (<prefix>/clusters, <prefix>/services, WithDecryption)',
  },
  {
    actions: ['kms:Decrypt'],
    on: 'key',
    why: 'WithDecryption of SecureString configuration (customer-managed key only)',
  },
];

/** onCluster() after withEngine: reached (DeleteItem) or unreachableSince (UpdateItem). */
const ON_CLUSTER_RECORD = ['dynamodb:DeleteItem', 'dynamodb:UpdateItem'] as const;

/**
 * swarm/registry-auth.ts headerFor: GetAuthorizationToken; the token is the function's own
 * credential, and the engine pulls the image with it (createService/updateService with authconfig,
 * pullImage in diagnosePull), so ECR authorises that pull against this role: BatchGetImage and
 * GetDownloadUrlForLayer on the repositories.
 */
const REGISTRY_AUTH_FOR_ENGINE: readonly Grant[] = [
  {
    actions: ['ecr:GetAuthorizationToken'],
    on: 'none',
    why: 'swarm/registry-auth.ts token (GetAuthorizationToken)',
  },
  {
    actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
    on: 'repositories',
    why: 'the engine pulls the image with the ECR token this role obtained (X-Registry-Auth)',
  },
];

const table = (actions: readonly string[], why: string): Grant => ({
  actions: [...new Set(actions)].sort(),
  on: 'table',
  why,
});

// -- the table ----------------------------------------------------------------------------------------

/**
 * Every handler's grants, read from the code each reaches (deploy/steps/*, record/dynamodb.ts,
 * adapters/sfn.ts, aws.ts, swarm/registry-auth.ts, ssm/tunnel.ts, config/store.ts,
 * prometheus/credentials.ts, secrets/source.ts, notify/notifier.ts). The port factories of deps.ts
 * build clients but call nothing.
 */
export const FUNCTION_PERMISSIONS: Record<HandlerName, readonly Grant[]> = {
  'acquire-lock': [
    table(
      [
        'dynamodb:GetItem', // abortRequested, latestPush, lockHolder, phase, plan, touched, waitingTask
        'dynamodb:PutItem', // acquireLock, takeOverLock, savePlan (and its audit-trail entry), dedupe
        'dynamodb:UpdateItem', // savePlan (META), finish and its audit status, requestAbort (supersede)
        'dynamodb:DeleteItem', // releaseLock, clearWaitingTask, dedupe forget
        'dynamodb:Query', // finish (ensureRollback of a holder that changed nothing)
        ...NOTIFY_RECORD,
      ],
      'deploy/steps/lock.ts acquireLockStep, reap.ts ensureRollback, abort.ts abortDeployment',
    ),
    ...NOTIFY,
    {
      actions: ['states:DescribeExecution'],
      on: 'executions',
      why: "adapters/sfn.ts executionStatus (the lock holder's execution)",
    },
    {
      actions: ['states:StartExecution'],
      on: 'stateMachine',
      why: 'reap.ts ensureRollback (the rollback of a holder that ended unconcluded)',
    },
    {
      actions: ['states:SendTaskFailure'],
      on: 'none',
      why: 'abort.ts abortDeployment (supersede: fails the holder’s waiting task)',
    },
  ],
  analyze: [
    table(
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', ...NOTIFY_RECORD],
      'context.ts failIfAborted, analyze.ts analyzeStep (promoteRequested, noteRound), notify (analysis-failed)',
    ),
    ...NOTIFY,
    ...TUNNEL, // withPrometheus through the manager (tunnelPort); default document
    {
      actions: ['ssm:GetParameter'],
      on: 'parameters',
      why: 'prometheus/credentials.ts awsSecretReader (SecureString parameter reference)',
    },
    {
      actions: ['secretsmanager:GetSecretValue'],
      on: 'secrets',
      why: 'prometheus/credentials.ts awsSecretReader (Secrets Manager reference)',
    },
    {
      actions: ['kms:Decrypt'],
      on: 'key',
      why: 'decryption of those secrets (customer-managed key only)',
    },
    {
      actions: ['aps:QueryMetrics'],
      on: 'workspaces',
      why: 'prometheus/client.ts with sigv4 auth (signed with this role’s credentials)',
    },
  ],
  api: [
    table(
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
      'approval.ts decide (waitingTask, clearWaitingTask), abort.ts abortDeployment (requestAbort), operator.ts (history, listHistory: Query of the index, requestPause, requestPromote, noteAction)',
    ),
    {
      actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
      on: 'none',
      why: 'approval.ts decide, abort.ts abortDeployment, operator.ts resume (task tokens)',
    },
    {
      actions: ['states:StartExecution'],
      on: 'stateMachine',
      why: 'operator.ts redeploy (undo, retry: StartExecution of the deployment workflow)',
    },
  ],
  'bake-wave': [
    table(
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      'waiting.ts bakeWaveStep, holdWaveStep (saveWaitingTask, its status in the audit trail), checkPauseStep (pauseRequested, failIfAborted)',
    ),
  ],
  'canary-ready': [table([...NOTIFY_RECORD], 'analyze.ts canaryReadyStep (notify)'), ...NOTIFY],
  'check-progress': [
    table(
      ['dynamodb:GetItem', 'dynamodb:PutItem', ...ON_CLUSTER_RECORD],
      'change.ts progressStep (failIfAborted, onCluster, saveDeployedSpec once a primary converged)',
    ),
    ...REGISTRY_AUTH_FOR_ENGINE,
    ...ENGINE,
  ],
  complete: [
    table(
      ['dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:DeleteItem', ...NOTIFY_RECORD],
      'complete.ts completeStep (finish, notify, releaseLock)',
    ),
    ...NOTIFY,
  ],
  'conclude-rollback': [
    table(
      ['dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:DeleteItem', ...NOTIFY_RECORD],
      'rollback.ts concludeRollbackStep (finish, notify, releaseLock)',
    ),
    ...NOTIFY,
  ],
  'deploy-canary': [
    table(
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', ...ON_CLUSTER_RECORD],
      'change.ts deployCanaryStep (failIfAborted, snapshot, markTouched, endLease, onCluster)',
    ),
    ...REGISTRY_AUTH_FOR_ENGINE,
    ...ENGINE,
    ...SERVICE_CONTENT,
  ],
  'judge-wave': [
    table(
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', ...NOTIFY_RECORD],
      'wave.ts judgeWaveStep (touched, noteCluster, notify)',
    ),
    ...NOTIFY,
  ],
  'list-touched': [
    table(['dynamodb:UpdateItem', 'dynamodb:GetItem'], 'rollback.ts listTouchedStep (beginRollback)'),
  ],
  plan: [
    table(['dynamodb:PutItem'], 'plan.ts planStep (notePush)'),
    ...CONFIG,
    {
      // Not ssm:GetParameter on the service parameters: it returns a String parameter's value,
      // and a SecureString's decrypted under the AWS-managed key (IAM cannot condition on
      // WithDecryption). DescribeParameters returns metadata (Version) only, and the Service
      // Authorization Reference gives it no resource type, so it takes `*`.
      actions: ['ssm:DescribeParameters'],
      on: 'none',
      why: 'plan.ts pins spec sources → secrets/source.ts versionOf (DescribeParameters Name Equals: the Version, metadata only)',
    },
    {
      actions: ['secretsmanager:DescribeSecret'],
      on: 'serviceSecrets',
      why: 'plan.ts pins spec sources → secrets/source.ts versionOf (DescribeSecret: the AWSCURRENT VersionId)',
    },
    {
      actions: ['ecr:DescribeImages'],
      on: 'repositories',
      why: 'aws.ts ecrCatalog digestOf (the tag’s digest)',
    },
    {
      actions: ['ecr:GetAuthorizationToken'],
      on: 'none',
      why: 'aws.ts ecrCatalog registryHost → registry-auth.ts token (the proxy endpoint)',
    },
  ],
  'preflight-cluster': [
    table(
      ['dynamodb:PutItem', 'dynamodb:GetItem', ...ON_CLUSTER_RECORD, ...NOTIFY_RECORD],
      'preflight.ts preflightStep (saveSnapshot, onCluster, deployedSpec, noteCluster and notify of drift)',
    ),
    ...NOTIFY,
    ...ENGINE,
  ],
  'promote-cluster': [
    table(
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', ...ON_CLUSTER_RECORD],
      'change.ts promoteStep (failIfAborted, snapshot, markTouched, endLease, onCluster)',
    ),
    ...REGISTRY_AUTH_FOR_ENGINE,
    ...ENGINE,
    ...SERVICE_CONTENT,
  ],
  'reap-execution': [
    table(
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:DeleteItem', ...NOTIFY_RECORD],
      'reap.ts reapExecution, ensureRollback (phase, plan, touched, finish, releaseLock, notify)',
    ),
    ...NOTIFY,
    {
      actions: ['states:StartExecution'],
      on: 'stateMachine',
      why: 'reap.ts ensureRollback (the rollback execution)',
    },
  ],
  'refresh-registry-auth': [
    table(['dynamodb:GetItem'], 'deploy/refresh.ts refreshRegistryAuth (lockHolder: skips a held service)'),
    ...CONFIG,
    // The service's unchanged spec re-sent (updateService) with a fresh X-Registry-Auth.
    ...REGISTRY_AUTH_FOR_ENGINE,
    ...ENGINE,
  ],
  'remove-canary': [table([...ON_CLUSTER_RECORD], 'change.ts removeCanaryStep (onCluster)'), ...ENGINE],
  'request-approval': [
    table(
      ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', ...NOTIFY_RECORD],
      'waiting.ts requestApprovalStep (saveWaitingTask and its status in the audit trail, failIfAborted, notify)',
    ),
    ...NOTIFY,
  ],
  'rollback-cluster': [
    table(
      ['dynamodb:GetItem', ...ON_CLUSTER_RECORD],
      'rollback.ts rollbackStep (touched, snapshot, onCluster)',
    ),
    ...REGISTRY_AUTH_FOR_ENGINE, // the restore carries fresh credentials for the old image
    ...ENGINE,
  ],
  'start-deployment': [
    {
      actions: ['states:StartExecution'],
      on: 'stateMachine',
      why: 'deploy/start.ts startDeployment → adapters/sfn.ts start',
    },
  ],
  'take-over-lock': [
    table(['dynamodb:PutItem', 'dynamodb:GetItem'], 'lock.ts takeOverLockStep (takeOverLock, lockHolder)'),
  ],
};

// -- policies -----------------------------------------------------------------------------------------

export interface PermissionContext {
  /** aws, aws-cn, aws-us-gov. */
  partition: string;
  /** The deployer's region (its table, topic, state machine, parameters). */
  region: string;
  account: string;
  /** The Parameter Store prefix (DEPLOYER_PREFIX), e.g. `/deployer`: reads are granted under `<prefix>/*` only. */
  prefix: string;
  tableArn: string;
  topicArn: string;
  stateMachineArn: string;
  stateMachineName: string;
  /** The watched ECR repositories: ARNs, or names of repositories in this account and region. */
  repositories: string[];
  /** The tag every Swarm manager carries; sessions start only on instances with it. */
  instanceTag: { key: string; value: string };
  /** The session documents clusters use (`engine.document`), e.g. AWS-StartPortForwardingSession. */
  sessionDocuments: string[];
  /** The Secrets Manager secrets Prometheus credentials reference (full ARNs, or with `-??????`). */
  secretArns: string[];
  /**
   * The parameters (names, `/a/b`) the service policies' secrets and configs read, in this region
   * and account; none: no statement.
   */
  serviceParameters?: string[];
  /** The Secrets Manager secrets those read (full ARNs, or with `-??????`); none: no statement. */
  serviceSecretArns?: string[];
  /** The customer-managed KMS key of SecureString parameters and secrets; none with the AWS-managed keys. */
  kmsKeyArn?: string;
  /** The regions of the clusters (their managers' sessions); default: `region`. */
  clusterRegions?: string[];
  /** Amazon Managed Service for Prometheus workspaces the analysis queries with SigV4. */
  prometheusWorkspaceArns?: string[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** The document name AWS owns (AWS-…) has no account in its ARN; the account's own documents do. */
function documentArn(ctx: PermissionContext, region: string, document: string): string {
  if (document.startsWith('arn:')) return document;
  const owner = document.startsWith('AWS-') ? '' : ctx.account;
  return `arn:${ctx.partition}:ssm:${region}:${owner}:document/${document}`;
}

function serviceHost(ctx: PermissionContext, service: string, region: string): string {
  return `${service}.${region}.amazonaws.com${ctx.partition === 'aws-cn' ? '.cn' : ''}`;
}

/** The IAM policy variable: the caller's unique id (`<role id>:<role session name>` for a role). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template literal
const AWS_USERID = '${aws:userid}';

const unique = (values: readonly string[]) => [...new Set(values)].sort();

const secretRegion = (arn: string) => /^arn:[^:]+:secretsmanager:([a-z0-9-]+):/.exec(arn)?.[1];

/** The ARNs of a kind, and the condition that narrows them; no resources: no statement. */
function resolve(
  kind: ResourceKind,
  ctx: PermissionContext,
): { resources: string[]; condition?: PolicyStatement['Condition'] } {
  const { partition: p, region, account } = ctx;
  const clusterRegions = unique(ctx.clusterRegions?.length ? ctx.clusterRegions : [region]);
  const underPrefix = `arn:${p}:ssm:${region}:${account}:parameter${ctx.prefix}/*`;
  switch (kind) {
    case 'table':
      return { resources: [ctx.tableArn] };
    case 'parameters':
    case 'tlsParameters':
      return { resources: [underPrefix] };
    case 'secrets':
      return { resources: unique(ctx.secretArns) };
    case 'serviceParameters':
      return {
        resources: unique(
          (ctx.serviceParameters ?? []).map((name) => `arn:${p}:ssm:${region}:${account}:parameter${name}`),
        ),
      };
    case 'serviceSecrets':
      return { resources: unique(ctx.serviceSecretArns ?? []) };
    case 'key':
      return {
        resources: ctx.kmsKeyArn ? [ctx.kmsKeyArn] : [],
        condition: {
          StringEquals: {
            'kms:ViaService': unique([
              serviceHost(ctx, 'ssm', region),
              ...[
                region,
                ...ctx.secretArns.map(secretRegion),
                ...(ctx.serviceSecretArns ?? []).map(secretRegion),
              ]
                .filter((r): r is string => !!r)
                .map((r) => serviceHost(ctx, 'secretsmanager', r)),
            ]),
          },
        },
      };
    case 'topic':
      return { resources: [ctx.topicArn] };
    case 'stateMachine':
      return { resources: [ctx.stateMachineArn] };
    case 'executions':
      return { resources: [`arn:${p}:states:${region}:${account}:execution:${ctx.stateMachineName}:*`] };
    case 'repositories':
      return {
        resources: unique(
          ctx.repositories.map((r) =>
            r.startsWith('arn:') ? r : `arn:${p}:ecr:${region}:${account}:repository/${r}`,
          ),
        ),
      };
    case 'workspaces':
      return { resources: unique(ctx.prometheusWorkspaceArns ?? []) };
    case 'managedInstances':
      return {
        resources: clusterRegions.flatMap((r) => [
          `arn:${p}:ec2:${r}:${account}:instance/*`,
          `arn:${p}:ssm:${r}:${account}:managed-instance/*`,
        ]),
        condition: {
          StringEquals: { [`ssm:resourceTag/${ctx.instanceTag.key}`]: ctx.instanceTag.value },
          // Without it, a StartSession that names no document (the default shell document) would
          // need only the instance; with it, every document must be granted explicitly (below).
          BoolIfExists: { 'ssm:SessionDocumentAccessCheck': 'true' },
        },
      };
    case 'sessionDocument':
      return {
        resources: unique(
          clusterRegions.flatMap((r) => ctx.sessionDocuments.map((d) => documentArn(ctx, r, d))),
        ),
      };
    case 'sessions':
      // The function's own sessions. Not `session/${aws:userid}-*`: a session's ID starts with
      // the caller's IAM user name or role session name (for a Lambda, the function name), while
      // a role's aws:userid is `<role id>:<session name>`, so that pattern matches no session of a
      // Lambda; and `session/<function name>-*` would match any principal's session of that name.
      // Session Manager tags every session with aws:ssmmessages:session-id = the starter's
      // aws:userid, and TerminateSession / ResumeSession take that tag as a condition key
      // (Session Manager user guide, "Allow a user to end only sessions they started", method 2).
      return {
        resources: clusterRegions.map((r) => `arn:${p}:ssm:${r}:${account}:session/*`),
        condition: { StringEquals: { 'ssm:resourceTag/aws:ssmmessages:session-id': AWS_USERID } },
      };
    case 'none':
      return { resources: ['*'] };
  }
}

const SIDS: Record<ResourceKind, string> = {
  table: 'RecordTable',
  parameters: 'ParametersUnderPrefix',
  tlsParameters: 'TlsParametersUnderPrefix',
  secrets: 'PrometheusSecrets',
  serviceParameters: 'ServiceContentParameters',
  serviceSecrets: 'ServiceContentSecrets',
  key: 'DecryptThroughSsmAndSecretsManager',
  topic: 'NotificationTopic',
  stateMachine: 'DeploymentStateMachine',
  executions: 'DeploymentExecutions',
  repositories: 'WatchedRepositories',
  workspaces: 'PrometheusWorkspaces',
  managedInstances: 'SessionsOnTaggedManagers',
  sessionDocument: 'SessionDocuments',
  sessions: 'OwnSessions',
  none: 'ActionsWithoutResource',
};

function checkContext(ctx: PermissionContext): void {
  const values = [
    ctx.partition,
    ctx.region,
    ctx.account,
    ctx.prefix,
    ctx.tableArn,
    ctx.topicArn,
    ctx.stateMachineArn,
    ctx.stateMachineName,
    ctx.instanceTag.key,
    ctx.instanceTag.value,
    ...ctx.repositories,
    ...ctx.sessionDocuments,
    ...ctx.secretArns,
    ...(ctx.serviceParameters ?? []),
    ...(ctx.serviceSecretArns ?? []),
    ...(ctx.kmsKeyArn === undefined ? [] : [ctx.kmsKeyArn]),
    ...(ctx.clusterRegions ?? []),
    ...(ctx.prometheusWorkspaceArns ?? []),
  ];
  const bad = values.find((v) => !v || v.includes('*'));
  if (bad !== undefined)
    throw new Error(`permission context: empty value or wildcard (${JSON.stringify(bad)}) is not allowed`);
  if (!ctx.prefix.startsWith('/') || ctx.prefix.endsWith('/'))
    throw new Error(`permission context: prefix ${ctx.prefix} must start with "/" and not end with one`);
  const parameter = ctx.serviceParameters?.find((name) => !/^(\/[A-Za-z0-9_.-]+)+$/.test(name));
  if (parameter !== undefined)
    throw new Error(`permission context: ${JSON.stringify(parameter)} is not a parameter path such as /a/b`);
}

/**
 * The execution role policy of `handler`: one statement per kind of resource, on the narrowest
 * ARNs the context allows (a kind with no resources, such as secrets when none are referenced, is
 * left out); `*` only for actions that take no resource.
 * @throws Error when the context has an empty value or a wildcard
 */
export function policyFor(handler: HandlerName, ctx: PermissionContext): PolicyDocument {
  checkContext(ctx);
  const grants = FUNCTION_PERMISSIONS[handler];
  if (!grants) throw new Error(`no permissions are declared for handler ${handler}`);
  const byKind = new Map<ResourceKind, Set<string>>();
  for (const g of grants) {
    const set = byKind.get(g.on) ?? new Set<string>();
    for (const a of g.actions) set.add(a);
    byKind.set(g.on, set);
  }
  const statements: PolicyStatement[] = [];
  for (const [kind, actions] of byKind) {
    const { resources, condition } = resolve(kind, ctx);
    if (resources.length === 0) continue;
    statements.push({
      Sid: SIDS[kind],
      Effect: 'Allow',
      Action: unique([...actions]),
      Resource: resources.length === 1 ? (resources[0] as string) : resources,
      ...(condition ? { Condition: condition } : {}),
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/**
 * The state machine's role: invoke exactly the deployer's functions (the ASL names them unqualified,
 * as Resource or as lambda:invoke.waitForTaskToken's FunctionName), and the CloudWatch Logs
 * delivery and X-Ray actions Step Functions uses for logging and tracing, which take no resource
 * (AWS documents them with `*`).
 * @throws Error when no function is given, or one is empty or a wildcard
 */
export function stateMachinePolicy(functionArns: string[]): PolicyDocument {
  if (functionArns.length === 0) throw new Error('the state machine invokes at least one function');
  const bad = functionArns.find((a) => !a.startsWith('arn:') || a.includes('*'));
  if (bad !== undefined) throw new Error(`not a function ARN: ${JSON.stringify(bad)}`);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'InvokeDeployerFunctions',
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: unique(functionArns),
      },
      {
        Sid: 'LogDelivery',
        Effect: 'Allow',
        Action: [
          'logs:CreateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:DescribeLogGroups',
          'logs:DescribeResourcePolicies',
          'logs:GetLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:UpdateLogDelivery',
        ],
        Resource: '*',
      },
      {
        Sid: 'Tracing',
        Effect: 'Allow',
        Action: [
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
          'xray:PutTelemetryRecords',
          'xray:PutTraceSegments',
        ],
        Resource: '*',
      },
    ],
  };
}

/**
 * A function's own log group (the Lambda runtime writes its logs with the execution role): log
 * streams of that group only. With `tracing`, the X-Ray actions active tracing needs (no resource).
 */
export function functionLogsPolicy(logGroupArn: string, options: { tracing?: boolean } = {}): PolicyDocument {
  if (!logGroupArn.startsWith('arn:') || logGroupArn.includes('*'))
    throw new Error(`not a log group ARN: ${JSON.stringify(logGroupArn)}`);
  const group = logGroupArn.replace(/:\*$/, '');
  const statements: PolicyStatement[] = [
    {
      Sid: 'OwnLogStreams',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: `${group}:log-stream:*`,
    },
  ];
  if (options.tracing)
    statements.push({
      Sid: 'Tracing',
      Effect: 'Allow',
      Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
      Resource: '*',
    });
  return { Version: '2012-10-17', Statement: statements };
}

/**
 * Which function each EventBridge rule targets (events.ts deployRulePattern, reaperRulePattern; the
 * registry-auth rule is a schedule, components/trigger.ts).
 */
export const EVENT_RULE_TARGETS = {
  deploy: 'start-deployment',
  reaper: 'reap-execution',
  registryAuth: 'refresh-registry-auth',
} as const satisfies Record<string, HandlerName>;

/** The arguments of the aws.lambda.Permission that lets one EventBridge rule (only) invoke its target. */
export interface LambdaPermission {
  action: 'lambda:InvokeFunction';
  principal: 'events.amazonaws.com';
  function: string;
  sourceArn: string;
}

/**
 * EventBridge invokes a Lambda target through the function's resource policy, not a role: this
 * permission, limited to the rule's ARN. (No `eventsTargetPolicy`: no rule targets anything else.)
 */
export function lambdaPermissionFor(rule: { ruleArn: string; functionArn: string }): LambdaPermission {
  for (const v of [rule.ruleArn, rule.functionArn])
    if (!v.startsWith('arn:') || v.includes('*')) throw new Error(`not an ARN: ${JSON.stringify(v)}`);
  return {
    action: 'lambda:InvokeFunction',
    principal: 'events.amazonaws.com',
    function: rule.functionArn,
    sourceArn: rule.ruleArn,
  };
}

/** The SQS queue policy of a rule target's dead-letter queue: only those rules may send to it. */
export function deadLetterQueuePolicy(
  queueArn: string,
  ruleArns: string[],
): PolicyDocument & { Statement: Array<PolicyStatement & { Principal: { Service: string } }> } {
  if (ruleArns.length === 0) throw new Error('a dead-letter queue policy names at least one rule');
  for (const v of [queueArn, ...ruleArns])
    if (!v.startsWith('arn:') || v.includes('*')) throw new Error(`not an ARN: ${JSON.stringify(v)}`);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'RuleDeadLetters',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: ['sqs:SendMessage'],
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': unique(ruleArns) } },
      },
    ],
  };
}
