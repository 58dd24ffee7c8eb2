import type { AuthorizationRequest } from './authorize.js';

/**
 * What each operation the AWS stand-in serves asks IAM, following the Service Authorization
 * Reference (actions, resource types, condition keys): the IAM action, the resource ARN(s) and the
 * condition keys the stand-in can supply. An operation becomes one or more requests; the call is
 * allowed only when every one is (as StartSession needs both the instance and the document, and
 * BatchWriteItem every table it writes).
 *
 * Resources are in the stand-in's account and in the region the request was signed for (the
 * region of the endpoint the caller meant); ARNs the request names (TopicArn, stateMachineArn,
 * ResourceArn…) are taken as they are.
 */

export type IamService = 'dynamodb' | 'ssm' | 'states' | 'ecr' | 'sns';

export interface StoredParameterInfo {
  type: string;
  keyId?: string;
}

/** What the mapping may ask the stand-in about its resources. */
export interface MappingEnvironment {
  /** The region of the request (its credential scope). */
  region: string;
  /** The stand-in's account: the owner of every resource it holds. */
  account: string;
  partition?: string;
  /** The tags of a managed instance (StartSession's ssm:resourceTag/<key>). */
  instanceTags(target: string): Record<string, string> | undefined;
  /** Who started a session (its aws:userid) and on which target. */
  session(sessionId: string): { ownerUserId: string; target: string } | undefined;
  /** A parameter's name (no selector, no ARN) from a Name member. */
  parameterName(reference: string): string | undefined;
  /** The latest version of a parameter. */
  parameter(name: string): StoredParameterInfo | undefined;
  /** The parameters under a path (GetParametersByPath). */
  parametersUnder(path: string, recursive: boolean): Array<StoredParameterInfo & { name: string }>;
}

/** The authorization requests of one call; JSON input for the JSON protocols, the form for SNS. */
export function authorizationRequests(
  service: IamService,
  operation: string,
  input: Record<string, unknown> | URLSearchParams,
  env: MappingEnvironment,
): AuthorizationRequest[] {
  if (service === 'sns') {
    return snsRequests(operation, input instanceof URLSearchParams ? input : new URLSearchParams(), env);
  }
  const json = input instanceof URLSearchParams ? {} : input;
  switch (service) {
    case 'dynamodb':
      return dynamodbRequests(operation, json, env);
    case 'ssm':
      return ssmRequests(operation, json, env);
    case 'states':
      return statesRequests(operation, json);
    case 'ecr':
      return ecrRequests(operation, json, env);
  }
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

function arn(env: MappingEnvironment, service: string, resource: string, account = env.account): string {
  return `arn:${env.partition ?? 'aws'}:${service}:${env.region}:${account}:${resource}`;
}

// -- DynamoDB ---------------------------------------------------------------------------------------

/** Table-level actions whose resource is the table (TableName may also be the table's ARN). */
const DYNAMODB_TABLE_ACTIONS = new Set([
  'CreateTable',
  'DeleteItem',
  'DeleteTable',
  'DescribeTable',
  'DescribeTimeToLive',
  'GetItem',
  'PutItem',
  'Query',
  'Scan',
  'UpdateItem',
  'UpdateTable',
  'UpdateTimeToLive',
]);

function dynamodbRequests(
  operation: string,
  input: Record<string, unknown>,
  env: MappingEnvironment,
): AuthorizationRequest[] {
  const action = `dynamodb:${operation}`;
  const tableArn = (name: string): string =>
    name.startsWith('arn:') ? name : arn(env, 'dynamodb', `table/${name}`);
  const context: Record<string, string> = {};
  for (const [member, key] of [
    ['ReturnValues', 'dynamodb:ReturnValues'],
    ['Select', 'dynamodb:Select'],
    ['ReturnConsumedCapacity', 'dynamodb:ReturnConsumedCapacity'],
  ] as const) {
    const value = str(input[member]);
    if (value !== undefined) context[key] = value;
  }
  const withContext = (resource: string): AuthorizationRequest =>
    Object.keys(context).length === 0 ? { action, resource } : { action, resource, context };
  if (DYNAMODB_TABLE_ACTIONS.has(operation)) {
    const table = str(input.TableName);
    if (table === undefined) return [{ action, resource: '*' }];
    const index = (operation === 'Query' || operation === 'Scan') && str(input.IndexName);
    return [withContext(index ? `${tableArn(table)}/index/${index}` : tableArn(table))];
  }
  if (operation === 'BatchGetItem' || operation === 'BatchWriteItem') {
    const items = input.RequestItems;
    const tables =
      items !== null && typeof items === 'object' && !Array.isArray(items) ? Object.keys(items) : [];
    return tables.length === 0 ? [{ action, resource: '*' }] : tables.map((t) => withContext(tableArn(t)));
  }
  if (operation === 'TagResource' || operation === 'UntagResource' || operation === 'ListTagsOfResource') {
    return [{ action, resource: str(input.ResourceArn) ?? '*' }];
  }
  // ListTables and anything without a resource type.
  return [{ action, resource: '*' }];
}

// -- SSM: Parameter Store and Session Manager -------------------------------------------------------

/** The ARN of a parameter: `parameter/<name without its leading slash>`. */
export function parameterArn(env: MappingEnvironment, name: string): string {
  return arn(env, 'ssm', `parameter/${name.replace(/^\//, '')}`);
}

/** A Name member (a name or a parameter ARN) without its `:version` / `:label` selector. */
function withoutSelector(reference: string): string {
  const at = reference.startsWith('arn:') ? reference.indexOf(':parameter') + 1 : 0;
  const tail = reference.slice(at);
  const colon = tail.lastIndexOf(':');
  return colon > 0 ? reference.slice(0, at) + tail.slice(0, colon) : reference;
}

/** The AWS managed key of Parameter Store: its key policy lets the account use it through SSM. */
const AWS_MANAGED_SSM_KEY = /^(alias\/aws\/ssm|arn:[^:]+:kms:[^:]*:[^:]*:alias\/aws\/ssm)$/;

/** kms:Decrypt through SSM of a SecureString under a customer-managed key. */
function decryptRequest(
  env: MappingEnvironment,
  parameterName: string,
  parameter: StoredParameterInfo | undefined,
): AuthorizationRequest[] {
  if (parameter?.type !== 'SecureString') return [];
  const keyId = parameter.keyId;
  if (keyId === undefined || AWS_MANAGED_SSM_KEY.test(keyId)) return [];
  const resource = keyId.startsWith('arn:')
    ? keyId
    : arn(env, 'kms', keyId.startsWith('alias/') ? keyId : `key/${keyId}`);
  const paramArn = parameterArn(env, parameterName);
  return [
    {
      action: 'kms:Decrypt',
      resource,
      context: {
        'kms:ViaService': `ssm.${env.region}.amazonaws.com`,
        'kms:CallerAccount': env.account,
        'kms:EncryptionContext:PARAMETER_ARN': paramArn,
        'kms:EncryptionContextKeys': 'PARAMETER_ARN',
      },
    },
  ];
}

function ssmRequests(
  operation: string,
  input: Record<string, unknown>,
  env: MappingEnvironment,
): AuthorizationRequest[] {
  const action = `ssm:${operation}`;
  const withDecryption = input.WithDecryption === true;
  const forName = (reference: string): AuthorizationRequest[] => {
    const name = env.parameterName(reference) ?? withoutSelector(reference);
    return [
      {
        action,
        resource: reference.startsWith('arn:') ? withoutSelector(reference) : parameterArn(env, name),
      },
      ...(withDecryption ? decryptRequest(env, name, env.parameter(name)) : []),
    ];
  };
  switch (operation) {
    case 'GetParameter':
    case 'GetParameterHistory':
    case 'DeleteParameter':
    case 'LabelParameterVersion':
    case 'UnlabelParameterVersion': {
      const name = str(input.Name);
      return name === undefined ? [{ action, resource: '*' }] : forName(name);
    }
    case 'GetParameters':
    case 'DeleteParameters': {
      const names = Array.isArray(input.Names) ? [...new Set(input.Names.map(String))] : [];
      return names.length === 0 ? [{ action, resource: '*' }] : names.flatMap(forName);
    }
    case 'PutParameter': {
      const name = str(input.Name);
      if (name === undefined) return [{ action, resource: '*' }];
      const context: Record<string, string | string[]> = {
        'ssm:Overwrite': String(input.Overwrite === true),
      };
      const policies = str(input.Policies);
      if (policies !== undefined) context['ssm:Policies'] = policies;
      const tags = Array.isArray(input.Tags) ? (input.Tags as Array<{ Key?: unknown; Value?: unknown }>) : [];
      if (tags.length > 0) {
        context['aws:TagKeys'] = tags.map((tag) => String(tag.Key));
        for (const tag of tags) context[`aws:RequestTag/${String(tag.Key)}`] = String(tag.Value ?? '');
      }
      return [{ action, resource: parameterArn(env, env.parameterName(name) ?? name), context }];
    }
    case 'GetParametersByPath': {
      const path = str(input.Path);
      if (path === undefined) return [{ action, resource: '*' }];
      const recursive = input.Recursive === true;
      return [
        { action, resource: parameterArn(env, path), context: { 'ssm:Recursive': String(recursive) } },
        ...(withDecryption
          ? env
              .parametersUnder(path, recursive)
              .flatMap((parameter) => decryptRequest(env, parameter.name, parameter))
          : []),
      ];
    }
    case 'StartSession':
      return startSessionRequests(input, env);
    case 'ResumeSession':
    case 'TerminateSession': {
      const sessionId = str(input.SessionId);
      if (sessionId === undefined) return [{ action, resource: '*' }];
      const session = env.session(sessionId);
      return [
        {
          action,
          resource: arn(env, 'ssm', `session/${sessionId}`),
          ...(session === undefined
            ? {}
            : {
                context: {
                  'ssm:resourceTag/aws:ssmmessages:session-id': session.ownerUserId,
                  'ssm:resourceTag/aws:ssmmessages:target-id': session.target,
                },
              }),
        },
      ];
    }
    default:
      // DescribeParameters and the other list actions take no resource.
      return [{ action, resource: '*' }];
  }
}

/** The document Session Manager uses when StartSession names none. */
const DEFAULT_SESSION_DOCUMENT = 'SSM-SessionManagerRunShell';

/**
 * StartSession: the target (an EC2 instance, or a hybrid managed instance mi-…) with its tags as
 * ssm:resourceTag/<key> and aws:ResourceTag/<key>, and the session document: AWS-owned documents
 * (AWS-…, Amazon…) have no account in their ARN. The document is checked when the request names
 * one, or when SessionDocumentAccessCheck asks for the default one to be.
 */
function startSessionRequests(
  input: Record<string, unknown>,
  env: MappingEnvironment,
): AuthorizationRequest[] {
  const action = 'ssm:StartSession';
  const target = str(input.Target);
  const documentName = str(input.DocumentName);
  const accessCheck =
    typeof input.SessionDocumentAccessCheck === 'boolean' ? input.SessionDocumentAccessCheck : undefined;
  const context: Record<string, string> = {};
  if (accessCheck !== undefined) context['ssm:SessionDocumentAccessCheck'] = String(accessCheck);
  const requests: AuthorizationRequest[] = [];
  if (target !== undefined) {
    const tags = env.instanceTags(target) ?? {};
    const tagContext: Record<string, string> = { ...context };
    for (const [key, value] of Object.entries(tags)) {
      tagContext[`ssm:resourceTag/${key}`] = value;
      tagContext[`aws:ResourceTag/${key}`] = value;
    }
    const resource = target.startsWith('mi-')
      ? arn(env, 'ssm', `managed-instance/${target}`)
      : arn(env, 'ec2', `instance/${target}`);
    requests.push({ action, resource, context: tagContext });
  }
  const document = documentName ?? (accessCheck === true ? DEFAULT_SESSION_DOCUMENT : undefined);
  if (document !== undefined) {
    const resource = document.startsWith('arn:')
      ? document
      : arn(env, 'ssm', `document/${document}`, /^(AWS-|Amazon)/.test(document) ? '' : env.account);
    requests.push(Object.keys(context).length === 0 ? { action, resource } : { action, resource, context });
  }
  return requests.length === 0 ? [{ action, resource: '*' }] : requests;
}

// -- SNS --------------------------------------------------------------------------------------------

function snsRequests(
  operation: string,
  params: URLSearchParams,
  env: MappingEnvironment,
): AuthorizationRequest[] {
  const action = `sns:${operation}`;
  switch (operation) {
    case 'CreateTopic': {
      const name = params.get('Name');
      if (!name) return [{ action, resource: '*' }];
      const context: Record<string, string | string[]> = {};
      const keys: string[] = [];
      for (let i = 1; params.has(`Tags.member.${i}.Key`); i++) {
        const key = params.get(`Tags.member.${i}.Key`) as string;
        keys.push(key);
        context[`aws:RequestTag/${key}`] = params.get(`Tags.member.${i}.Value`) ?? '';
      }
      if (keys.length > 0) context['aws:TagKeys'] = keys;
      const resource = arn(env, 'sns', name);
      return [keys.length === 0 ? { action, resource } : { action, resource, context }];
    }
    case 'Publish': {
      const topic = params.get('TopicArn') || params.get('TargetArn');
      return [{ action, resource: topic || '*' }];
    }
    case 'ListTopics':
      return [{ action, resource: '*' }];
    default: {
      const topic = params.get('TopicArn');
      return [{ action, resource: topic || '*' }];
    }
  }
}

// -- Step Functions ---------------------------------------------------------------------------------

function statesRequests(operation: string, input: Record<string, unknown>): AuthorizationRequest[] {
  const action = `states:${operation}`;
  switch (operation) {
    case 'StartExecution':
    case 'StartSyncExecution':
    case 'DescribeStateMachine':
      return [{ action, resource: str(input.stateMachineArn) ?? '*' }];
    // By state machine, or by a Distributed Map's Map Run (the service authorization reference's
    // resource types for ListExecutions: stateMachine and mapRun).
    case 'ListExecutions':
      return [{ action, resource: str(input.stateMachineArn) ?? str(input.mapRunArn) ?? '*' }];
    case 'DescribeExecution':
    case 'StopExecution':
    case 'GetExecutionHistory':
    case 'RedriveExecution':
    case 'ListMapRuns':
      return [{ action, resource: str(input.executionArn) ?? '*' }];
    case 'DescribeMapRun':
      return [{ action, resource: str(input.mapRunArn) ?? '*' }];
    default:
      // SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat: no resource type (`*`).
      return [{ action, resource: '*' }];
  }
}

// -- ECR --------------------------------------------------------------------------------------------

function ecrRequests(
  operation: string,
  input: Record<string, unknown>,
  env: MappingEnvironment,
): AuthorizationRequest[] {
  const action = `ecr:${operation}`;
  const repository = str(input.repositoryName);
  if (operation === 'GetAuthorizationToken' || repository === undefined) return [{ action, resource: '*' }];
  const registry = str(input.registryId) ?? env.account;
  return [{ action, resource: arn(env, 'ecr', `repository/${repository}`, registry) }];
}
