import { describe, expect, it } from 'vitest';
import { authorizationRequests, type MappingEnvironment } from '../../../local/iam/actions.js';
import { accessDeniedMessage, authorize, globalContext } from '../../../local/iam/authorize.js';
import { resolvePrincipal, rolePrincipal } from '../../../local/iam/principals.js';

const ACCOUNT = '111122223333';
const env: MappingEnvironment = {
  region: 'eu-west-1',
  account: ACCOUNT,
  instanceTags: (target) => (target === 'i-0123456789abcdef0' ? { 'swarm-deployer': 'manager' } : undefined),
  session: (id) =>
    id === 'fn-0123456789abcdef0' ? { ownerUserId: 'AROAEXAMPLE:fn', target: 'mi-1' } : undefined,
  parameterName: (reference) =>
    reference.replace(/^arn:[^:]+:ssm:[^:]*:[^:]*:parameter/, '').replace(/:[^:/]*$/, ''),
  parameter: (name) =>
    name === '/deployer/tls/key'
      ? { type: 'SecureString', keyId: 'arn:aws:kms:eu-west-1:111122223333:key/k-1' }
      : name === '/deployer/plain'
        ? { type: 'SecureString' }
        : undefined,
  parametersUnder: () => [{ name: '/deployer/tls/key', type: 'SecureString', keyId: 'k-2' }],
};

describe('authorizationRequests', () => {
  it('maps DynamoDB calls to their tables (and indexes)', () => {
    expect(
      authorizationRequests('dynamodb', 'PutItem', { TableName: 'deployer', ReturnValues: 'ALL_OLD' }, env),
    ).toEqual([
      {
        action: 'dynamodb:PutItem',
        resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/deployer`,
        context: { 'dynamodb:ReturnValues': 'ALL_OLD' },
      },
    ]);
    expect(
      authorizationRequests('dynamodb', 'Query', { TableName: 'deployer', IndexName: 'byState' }, env),
    ).toEqual([
      {
        action: 'dynamodb:Query',
        resource: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/deployer/index/byState`,
      },
    ]);
    expect(
      authorizationRequests('dynamodb', 'BatchWriteItem', { RequestItems: { a: [], b: [] } }, env).map(
        (r) => r.resource,
      ),
    ).toEqual([
      `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/a`,
      `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/b`,
    ]);
    expect(authorizationRequests('dynamodb', 'ListTables', {}, env)).toEqual([
      { action: 'dynamodb:ListTables', resource: '*' },
    ]);
  });

  it('maps parameters to parameter/<name without its leading slash>, with kms:Decrypt through SSM', () => {
    expect(authorizationRequests('ssm', 'GetParameter', { Name: '/deployer/x:3' }, env)).toEqual([
      { action: 'ssm:GetParameter', resource: `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/deployer/x` },
    ]);
    expect(
      authorizationRequests(
        'ssm',
        'GetParameter',
        { Name: `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/a/b:label` },
        env,
      ),
    ).toEqual([{ action: 'ssm:GetParameter', resource: `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/a/b` }]);
    expect(
      authorizationRequests('ssm', 'GetParameter', { Name: '/deployer/tls/key', WithDecryption: true }, env),
    ).toEqual([
      { action: 'ssm:GetParameter', resource: `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/deployer/tls/key` },
      {
        action: 'kms:Decrypt',
        resource: 'arn:aws:kms:eu-west-1:111122223333:key/k-1',
        context: {
          'kms:ViaService': 'ssm.eu-west-1.amazonaws.com',
          'kms:CallerAccount': ACCOUNT,
          'kms:EncryptionContext:PARAMETER_ARN': `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/deployer/tls/key`,
          'kms:EncryptionContextKeys': 'PARAMETER_ARN',
        },
      },
    ]);
    // The AWS managed key (no KeyId): its key policy lets the account decrypt through SSM.
    expect(
      authorizationRequests('ssm', 'GetParameter', { Name: '/deployer/plain', WithDecryption: true }, env),
    ).toHaveLength(1);
    expect(
      authorizationRequests(
        'ssm',
        'GetParametersByPath',
        { Path: '/deployer', Recursive: true, WithDecryption: true },
        env,
      ),
    ).toEqual([
      {
        action: 'ssm:GetParametersByPath',
        resource: `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/deployer`,
        context: { 'ssm:Recursive': 'true' },
      },
      expect.objectContaining({
        action: 'kms:Decrypt',
        resource: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/k-2`,
      }),
    ]);
    expect(authorizationRequests('ssm', 'DescribeParameters', {}, env)).toEqual([
      { action: 'ssm:DescribeParameters', resource: '*' },
    ]);
  });

  it('maps StartSession to the instance with its tags and to the document', () => {
    expect(
      authorizationRequests(
        'ssm',
        'StartSession',
        {
          Target: 'i-0123456789abcdef0',
          DocumentName: 'AWS-StartPortForwardingSession',
          SessionDocumentAccessCheck: true,
        },
        env,
      ),
    ).toEqual([
      {
        action: 'ssm:StartSession',
        resource: `arn:aws:ec2:eu-west-1:${ACCOUNT}:instance/i-0123456789abcdef0`,
        context: {
          'ssm:SessionDocumentAccessCheck': 'true',
          'ssm:resourceTag/swarm-deployer': 'manager',
          'aws:ResourceTag/swarm-deployer': 'manager',
        },
      },
      {
        action: 'ssm:StartSession',
        resource: 'arn:aws:ssm:eu-west-1::document/AWS-StartPortForwardingSession',
        context: { 'ssm:SessionDocumentAccessCheck': 'true' },
      },
    ]);
    expect(
      authorizationRequests('ssm', 'StartSession', { Target: 'mi-0aa', DocumentName: 'Custom-Doc' }, env).map(
        (r) => r.resource,
      ),
    ).toEqual([
      `arn:aws:ssm:eu-west-1:${ACCOUNT}:managed-instance/mi-0aa`,
      `arn:aws:ssm:eu-west-1:${ACCOUNT}:document/Custom-Doc`,
    ]);
    // No document and no access check: only the instance (the default shell document is not checked).
    expect(authorizationRequests('ssm', 'StartSession', { Target: 'mi-0aa' }, env)).toHaveLength(1);
  });

  it("maps Resume/TerminateSession to the session with its owner's aws:userid", () => {
    expect(
      authorizationRequests('ssm', 'TerminateSession', { SessionId: 'fn-0123456789abcdef0' }, env),
    ).toEqual([
      {
        action: 'ssm:TerminateSession',
        resource: `arn:aws:ssm:eu-west-1:${ACCOUNT}:session/fn-0123456789abcdef0`,
        context: {
          'ssm:resourceTag/aws:ssmmessages:session-id': 'AROAEXAMPLE:fn',
          'ssm:resourceTag/aws:ssmmessages:target-id': 'mi-1',
        },
      },
    ]);
  });

  it('maps SNS, Step Functions and ECR', () => {
    const topic = `arn:aws:sns:eu-west-1:${ACCOUNT}:events`;
    expect(authorizationRequests('sns', 'Publish', new URLSearchParams({ TopicArn: topic }), env)).toEqual([
      { action: 'sns:Publish', resource: topic },
    ]);
    expect(
      authorizationRequests(
        'sns',
        'CreateTopic',
        new URLSearchParams({ Name: 'events', 'Tags.member.1.Key': 'team', 'Tags.member.1.Value': 'ops' }),
        env,
      ),
    ).toEqual([
      {
        action: 'sns:CreateTopic',
        resource: topic,
        context: { 'aws:RequestTag/team': 'ops', 'aws:TagKeys': ['team'] },
      },
    ]);
    const machine = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:deployer`;
    const execution = `arn:aws:states:eu-west-1:${ACCOUNT}:execution:deployer:run`;
    expect(
      authorizationRequests('states', 'StartExecution', { stateMachineArn: machine }, env)[0]?.resource,
    ).toBe(machine);
    expect(
      authorizationRequests('states', 'StopExecution', { executionArn: execution }, env)[0]?.resource,
    ).toBe(execution);
    expect(authorizationRequests('states', 'SendTaskHeartbeat', { taskToken: 't' }, env)).toEqual([
      { action: 'states:SendTaskHeartbeat', resource: '*' },
    ]);
    expect(authorizationRequests('ecr', 'GetAuthorizationToken', {}, env)).toEqual([
      { action: 'ecr:GetAuthorizationToken', resource: '*' },
    ]);
    expect(authorizationRequests('ecr', 'BatchGetImage', { repositoryName: 'shop/web' }, env)).toEqual([
      { action: 'ecr:BatchGetImage', resource: `arn:aws:ecr:eu-west-1:${ACCOUNT}:repository/shop/web` },
    ]);
  });
});

describe('authorize', () => {
  const principal = resolvePrincipal(
    rolePrincipal({
      account: ACCOUNT,
      roleName: 'deployer-worker',
      sessionName: 'deployer-worker',
      userId: 'AROAEXAMPLEROLEID0:deployer-worker',
      policies: [
        {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'dynamodb:GetItem',
              Resource: '*',
              Condition: {
                StringEquals: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/deployer-worker` },
                Bool: { 'aws:SecureTransport': 'false' },
              },
            },
          ],
        },
      ],
    }),
  );

  it('gives the global condition keys of a role session', async () => {
    expect(
      globalContext(principal, { now: new Date('2026-01-02T03:04:05.678Z'), region: 'eu-west-1' }),
    ).toEqual({
      'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/deployer-worker`,
      'aws:userid': 'AROAEXAMPLEROLEID0:deployer-worker',
      'aws:PrincipalAccount': ACCOUNT,
      'aws:PrincipalType': 'AssumedRole',
      'aws:CurrentTime': '2026-01-02T03:04:05Z',
      'aws:EpochTime': '1767323045',
      'aws:SecureTransport': 'false',
      'aws:PrincipalIsAWSService': 'false',
      'aws:ViaAWSService': 'false',
      'aws:RequestedRegion': 'eu-west-1',
    });
    const table = `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/t`;
    expect(await authorize(principal, { action: 'dynamodb:GetItem', resource: table })).toMatchObject({
      allowed: true,
      result: 'Allowed',
    });
    expect(await authorize(principal, { action: 'dynamodb:PutItem', resource: table })).toEqual({
      allowed: false,
      result: 'ImplicitlyDenied',
      principalArn: principal.arn,
      action: 'dynamodb:PutItem',
      resource: table,
      message: accessDeniedMessage(principal.arn, 'dynamodb:PutItem', table, 'ImplicitlyDenied'),
    });
  });
});
