import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import {
  DescribeExecutionCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { CreateTopicCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStandIn, type AwsStandInIam, startAwsStandIn } from '../../../local/aws/server.js';
import type { SfnBackend } from '../../../local/aws/sfn.js';
import { type PolicyDocument, type Principal, rolePrincipal } from '../../../local/iam/principals.js';
import { type StandInAgent, startAgent } from '../../../local/ssm/agent.js';
import { caught } from '../aws/harness.js';

/**
 * The AWS stand-in with IAM on: real SDK v3 clients signing with the principals' keys, every call
 * authorized against the caller's role policy, denials in each service's wire format as the SDK
 * parses them.
 */

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const TABLE = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/deployer`;
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:deployer-events`;
const STATE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:deployer`;
const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const MANAGER = 'mi-0aa1b2c3d4e5f6001';
const WORKER_NODE = 'mi-0aa1b2c3d4e5f6002';
const UNTAGGED = 'i-0123456789abcdef0';
const DOCUMENT = 'AWS-StartPortForwardingSession';
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable
const AWS_USERID = '${aws:userid}';

type Statement = Record<string, unknown> & { Sid: string };

/** The deployer role's statements (as infra/permissions.ts writes them), by Sid. */
const STATEMENTS: Statement[] = [
  {
    Sid: 'RecordTable',
    Effect: 'Allow',
    Action: ['dynamodb:CreateTable', 'dynamodb:PutItem', 'dynamodb:GetItem'],
    Resource: TABLE,
  },
  {
    Sid: 'ParametersUnderPrefix',
    Effect: 'Allow',
    Action: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:PutParameter'],
    Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/deployer/*`,
  },
  {
    Sid: 'DecryptThroughSsm',
    Effect: 'Allow',
    Action: 'kms:Decrypt',
    Resource: KEY,
    Condition: { StringEquals: { 'kms:ViaService': `ssm.${REGION}.amazonaws.com` } },
  },
  { Sid: 'NotificationTopic', Effect: 'Allow', Action: ['sns:CreateTopic', 'sns:Publish'], Resource: TOPIC },
  {
    Sid: 'DeploymentStateMachine',
    Effect: 'Allow',
    Action: 'states:StartExecution',
    Resource: STATE_MACHINE,
  },
  {
    Sid: 'DeploymentExecutions',
    Effect: 'Allow',
    Action: 'states:DescribeExecution',
    Resource: `arn:aws:states:${REGION}:${ACCOUNT}:execution:deployer:*`,
  },
  { Sid: 'ActionsWithoutResource', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
  {
    Sid: 'SessionsOnTaggedManagers',
    Effect: 'Allow',
    Action: 'ssm:StartSession',
    Resource: [
      `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/*`,
      `arn:aws:ssm:${REGION}:${ACCOUNT}:managed-instance/*`,
    ],
    Condition: {
      StringEquals: { 'ssm:resourceTag/swarm-deployer': 'manager' },
      BoolIfExists: { 'ssm:SessionDocumentAccessCheck': 'true' },
    },
  },
  {
    Sid: 'SessionDocuments',
    Effect: 'Allow',
    Action: 'ssm:StartSession',
    Resource: `arn:aws:ssm:${REGION}::document/${DOCUMENT}`,
  },
  {
    Sid: 'OwnSessions',
    Effect: 'Allow',
    Action: ['ssm:ResumeSession', 'ssm:TerminateSession'],
    Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:session/*`,
    Condition: { StringEquals: { 'ssm:resourceTag/aws:ssmmessages:session-id': AWS_USERID } },
  },
];

const policy = (...without: string[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: STATEMENTS.filter((statement) => !without.includes(statement.Sid)),
});

const deployer = rolePrincipal({ account: ACCOUNT, roleName: 'deployer-worker', policies: [policy()] });
/** The same role's policy for another function: it may use sessions, but only its own. */
const approver = rolePrincipal({ account: ACCOUNT, roleName: 'deployer-approver', policies: [policy()] });
/** A role with nothing the deployer's calls need. */
const stranger = rolePrincipal({
  account: ACCOUNT,
  roleName: 'stranger',
  policies: [
    { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sqs:ListQueues', Resource: '*' }] },
  ],
});
const arnOf = (p: Principal) => p.arn;

const backend: SfnBackend = {
  startExecution: async ({ stateMachineArn, name }) => ({
    executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name ?? 'x'}`,
    startDate: new Date(),
  }),
  describeExecution: async (executionArn) => ({
    executionArn,
    stateMachineArn: STATE_MACHINE,
    name: 'x',
    status: 'RUNNING',
    startDate: new Date(),
    input: '{}',
  }),
  stopExecution: async () => ({ stopDate: new Date() }),
  listExecutions: async () => ({ executions: [] }),
  getExecutionHistory: async () => ({ events: [] }),
  sendTaskSuccess: async () => {},
  sendTaskFailure: async () => {},
  sendTaskHeartbeat: async () => {},
};

let standIn: AwsStandIn;
let iam: AwsStandInIam;
const made: Array<{ destroy(): void }> = [];

function config(principal: Pick<Principal, 'accessKeyId' | 'secretAccessKey'>) {
  return {
    endpoint: standIn.endpoint,
    region: REGION,
    credentials: { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey },
    maxAttempts: 1,
  };
}

/** SDK clients signing as `principal`. */
function as(principal: Pick<Principal, 'accessKeyId' | 'secretAccessKey'>) {
  const c = {
    dynamodb: new DynamoDBClient(config(principal)),
    ssm: new SSMClient(config(principal)),
    sns: new SNSClient(config(principal)),
    sfn: new SFNClient(config(principal)),
    ecr: new ECRClient(config(principal)),
  };
  made.push(...Object.values(c));
  return c;
}

/** The error an AccessDenied from AWS gives the SDK: its name, and a message naming action and resource. */
function expectDenied(
  error: Error & Record<string, unknown>,
  principal: Principal,
  action: string,
  resource: string,
  name = 'AccessDeniedException',
): void {
  expect(error.name).toBe(name);
  expect(error.message).toBe(
    `User: ${principal.arn} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
  );
}

beforeAll(async () => {
  standIn = await startAwsStandIn({
    accountId: ACCOUNT,
    region: REGION,
    knownTargets: [MANAGER, WORKER_NODE, UNTAGGED],
    instanceTags: {
      [MANAGER]: { 'swarm-deployer': 'manager' },
      [WORKER_NODE]: { 'swarm-deployer': 'worker' },
    },
    sfn: backend,
    // GetAuthorizationToken never reaches the registry.
    registry: { address: '127.0.0.1:9' },
    iam: { principals: [deployer, approver, stranger] },
  });
  iam = standIn.iam as AwsStandInIam;
});

afterAll(async () => {
  for (const client of made) client.destroy();
  await standIn?.stop();
});

describe('DynamoDB', () => {
  it('allows the role its table and denies another role, as com.amazonaws.dynamodb…#AccessDeniedException', async () => {
    const mine = as(deployer).dynamodb;
    await mine.send(
      new CreateTableCommand({
        TableName: 'deployer',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await mine.send(new PutItemCommand({ TableName: 'deployer', Item: { pk: { S: 'a' } } }));
    const read = await mine.send(new GetItemCommand({ TableName: 'deployer', Key: { pk: { S: 'a' } } }));
    expect(read.Item).toEqual({ pk: { S: 'a' } });

    const error = await caught(() =>
      as(stranger).dynamodb.send(new PutItemCommand({ TableName: 'deployer', Item: { pk: { S: 'b' } } })),
    );
    expectDenied(error, stranger, 'dynamodb:PutItem', TABLE);
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(400);
    // Another table: denied for the deployer too.
    const other = await caught(() =>
      mine.send(new GetItemCommand({ TableName: 'orders', Key: { pk: { S: 'a' } } })),
    );
    expectDenied(other, deployer, 'dynamodb:GetItem', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/orders`);
    expect(iam.decisions.at(-1)).toMatchObject({
      principalArn: deployer.arn,
      action: 'dynamodb:GetItem',
      resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/orders`,
      allowed: false,
    });
  });
});

describe('SSM Parameter Store', () => {
  it('allows parameters under the prefix and denies the rest, naming the parameter ARN', async () => {
    const mine = as(deployer).ssm;
    await mine.send(new PutParameterCommand({ Name: '/deployer/clusters/eu', Value: '{}', Type: 'String' }));
    const got = await mine.send(new GetParameterCommand({ Name: '/deployer/clusters/eu' }));
    expect(got.Parameter?.Value).toBe('{}');
    // AWS records the caller's ARN as the last modifier.
    const byPath = await mine.send(new GetParametersByPathCommand({ Path: '/deployer/clusters' }));
    expect(byPath.Parameters?.map((p) => p.Name)).toEqual(['/deployer/clusters/eu']);
    expect(standIn.parameters.get('/deployer/clusters/eu')?.lastModifiedUser).toBe(deployer.arn);

    expectDenied(
      await caught(() => as(stranger).ssm.send(new GetParameterCommand({ Name: '/deployer/clusters/eu' }))),
      stranger,
      'ssm:GetParameter',
      `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/deployer/clusters/eu`,
    );
    expectDenied(
      await caught(() => mine.send(new GetParametersByPathCommand({ Path: '/other' }))),
      deployer,
      'ssm:GetParametersByPath',
      `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/other`,
    );
    // GetParameters: every name is authorized; one outside the prefix fails the call.
    expectDenied(
      await caught(() =>
        mine.send(new GetParametersCommand({ Names: ['/deployer/clusters/eu', '/other/x'] })),
      ),
      deployer,
      'ssm:GetParameters',
      `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/other/x`,
    );
  });

  it('asks kms:Decrypt through SSM for a SecureString under a customer-managed key', async () => {
    const mine = as(deployer).ssm;
    await mine.send(
      new PutParameterCommand({
        Name: '/deployer/tls/key',
        Value: 'secret',
        Type: 'SecureString',
        KeyId: KEY,
      }),
    );
    const read = await mine.send(
      new GetParameterCommand({ Name: '/deployer/tls/key', WithDecryption: true }),
    );
    expect(read.Parameter?.Value).toBe('secret');
    expect(iam.decisions.at(-1)).toMatchObject({ action: 'kms:Decrypt', resource: KEY, allowed: true });
    iam.setPolicies(deployer.accessKeyId, [policy('DecryptThroughSsm')]);
    try {
      expectDenied(
        await caught(() =>
          mine.send(new GetParameterCommand({ Name: '/deployer/tls/key', WithDecryption: true })),
        ),
        deployer,
        'kms:Decrypt',
        KEY,
      );
      // Without decryption, no key is used.
      await mine.send(new GetParameterCommand({ Name: '/deployer/tls/key' }));
    } finally {
      iam.setPolicies(deployer.accessKeyId, [policy()]);
    }
  });
});

describe('SNS', () => {
  it('allows Publish on the topic and denies another role with AuthorizationErrorException', async () => {
    const mine = as(deployer).sns;
    const created = await mine.send(new CreateTopicCommand({ Name: 'deployer-events' }));
    expect(created.TopicArn).toBe(TOPIC);
    const published = await mine.send(new PublishCommand({ TopicArn: TOPIC, Message: 'hello' }));
    expect(published.MessageId).toBeTruthy();

    const error = await caught(() =>
      as(stranger).sns.send(new PublishCommand({ TopicArn: TOPIC, Message: 'x' })),
    );
    // SNS writes its actions SNS:Publish in its messages.
    expectDenied(error, stranger, 'SNS:Publish', TOPIC, 'AuthorizationErrorException');
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(403);
    expect(iam.decisions.at(-1)).toMatchObject({ action: 'sns:Publish', resource: TOPIC, allowed: false });
  });
});

describe('Step Functions', () => {
  it('allows StartExecution on the state machine and DescribeExecution on its executions only', async () => {
    const mine = as(deployer).sfn;
    const started = await mine.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE, name: 'run-1' }),
    );
    expect(started.executionArn).toBe(`arn:aws:states:${REGION}:${ACCOUNT}:execution:deployer:run-1`);
    await mine.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));

    expectDenied(
      await caught(() =>
        as(stranger).sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE })),
      ),
      stranger,
      'states:StartExecution',
      STATE_MACHINE,
    );
    const otherExecution = `arn:aws:states:${REGION}:${ACCOUNT}:execution:other:run-1`;
    expectDenied(
      await caught(() => mine.send(new DescribeExecutionCommand({ executionArn: otherExecution }))),
      deployer,
      'states:DescribeExecution',
      otherExecution,
    );
    // Task callbacks take no resource: `*`.
    expectDenied(
      await caught(() => mine.send(new SendTaskSuccessCommand({ taskToken: 't', output: '{}' }))),
      deployer,
      'states:SendTaskSuccess',
      '*',
    );
  });
});

describe('ECR', () => {
  it('allows GetAuthorizationToken to the role and denies it to another', async () => {
    const token = await as(deployer).ecr.send(new GetAuthorizationTokenCommand({}));
    expect(token.authorizationData?.length).toBe(1);
    expectDenied(
      await caught(() => as(stranger).ecr.send(new GetAuthorizationTokenCommand({}))),
      stranger,
      'ecr:GetAuthorizationToken',
      '*',
    );
  });
});

describe('Session Manager', () => {
  const managed = (target: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:managed-instance/${target}`;

  it('denies StartSession on an instance whose tag does not match, before looking for its agent', async () => {
    const mine = as(deployer).ssm;
    expectDenied(
      await caught(() => mine.send(new StartSessionCommand({ Target: WORKER_NODE, DocumentName: DOCUMENT }))),
      deployer,
      'ssm:StartSession',
      managed(WORKER_NODE),
    );
    expectDenied(
      await caught(() => mine.send(new StartSessionCommand({ Target: UNTAGGED, DocumentName: DOCUMENT }))),
      deployer,
      'ssm:StartSession',
      `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${UNTAGGED}`,
    );
    // The tagged manager passes IAM (instance and document), then has no agent connected.
    const before = iam.decisions.length;
    const notConnected = await caught(() =>
      mine.send(
        new StartSessionCommand({
          Target: MANAGER,
          DocumentName: DOCUMENT,
          Parameters: { portNumber: ['80'] },
        }),
      ),
    );
    expect(notConnected.name).toBe('TargetNotConnected');
    expect(iam.decisions.slice(before)).toEqual([
      expect.objectContaining({ action: 'ssm:StartSession', resource: managed(MANAGER), allowed: true }),
      expect.objectContaining({
        action: 'ssm:StartSession',
        resource: `arn:aws:ssm:${REGION}::document/${DOCUMENT}`,
        allowed: true,
      }),
    ]);
    // Another document is not granted.
    expectDenied(
      await caught(() =>
        mine.send(new StartSessionCommand({ Target: MANAGER, DocumentName: 'AWS-StartSSHSession' })),
      ),
      deployer,
      'ssm:StartSession',
      `arn:aws:ssm:${REGION}::document/AWS-StartSSHSession`,
    );
    // The manager retagged at run time: the instance statement no longer matches.
    standIn.setInstanceTags(MANAGER, { 'swarm-deployer': 'retired' });
    try {
      expectDenied(
        await caught(() => mine.send(new StartSessionCommand({ Target: MANAGER, DocumentName: DOCUMENT }))),
        deployer,
        'ssm:StartSession',
        managed(MANAGER),
      );
    } finally {
      standIn.setInstanceTags(MANAGER, { 'swarm-deployer': 'manager' });
    }
  });

  describe('with an agent', () => {
    let agent: StandInAgent | undefined;

    beforeAll(async () => {
      // The agents' message gateway websockets are not signed requests: IAM leaves them alone.
      agent = await startAgent({ mgsUrl: standIn.mgsUrl, target: MANAGER });
      await standIn.waitForAgent(MANAGER);
    });

    afterAll(async () => {
      await agent?.stop();
    });

    it('names sessions after the role session, and lets only their starter terminate them', async () => {
      const started = await as(deployer).ssm.send(
        new StartSessionCommand({
          Target: MANAGER,
          DocumentName: DOCUMENT,
          Parameters: { portNumber: ['80'] },
        }),
      );
      expect(started.SessionId).toMatch(/^deployer-worker-[0-9a-f]{17}$/);
      const session = `arn:aws:ssm:${REGION}:${ACCOUNT}:session/${started.SessionId}`;
      // Same policy, other role session: aws:userid differs from the session's owner tag.
      expectDenied(
        await caught(() =>
          as(approver).ssm.send(new TerminateSessionCommand({ SessionId: started.SessionId })),
        ),
        approver,
        'ssm:TerminateSession',
        session,
      );
      await as(deployer).ssm.send(new TerminateSessionCommand({ SessionId: started.SessionId }));
      expect(iam.decisions.at(-1)).toMatchObject({
        principalArn: deployer.arn,
        action: 'ssm:TerminateSession',
        resource: session,
        allowed: true,
      });
    });
  });
});

describe('authentication', () => {
  const target = (service: string, action: string) => ({ 'x-amz-target': `${service}.${action}` });

  it('refuses an unsigned request with each protocol’s error', async () => {
    const json = await fetch(standIn.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', ...target('AmazonSSM', 'GetParameter') },
      body: JSON.stringify({ Name: '/deployer/clusters/eu' }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toEqual({
      __type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
    const dynamo = await fetch(standIn.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', ...target('DynamoDB_20120810', 'ListTables') },
      body: '{}',
    });
    expect(dynamo.status).toBe(400);
    expect(await dynamo.json()).toEqual({
      __type: 'com.amazon.coral.service#MissingAuthenticationTokenException',
      message: 'Request is missing Authentication Token',
    });
    const query = await fetch(standIn.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=ListTopics&Version=2010-03-31',
    });
    expect(query.status).toBe(403);
    expect(await query.text()).toMatch(
      /^<ErrorResponse xmlns="http:\/\/sns.amazonaws.com\/doc\/2010-03-31\/"><Error><Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code>/,
    );
    expect(iam.refusals.at(-1)).toMatchObject({ code: 'MissingAuthenticationToken', service: 'sns' });
  });

  it('refuses a request signed with a wrong secret', async () => {
    const wrong = as({ accessKeyId: deployer.accessKeyId, secretAccessKey: 'not-the-secret' });
    const ssm = await caught(() =>
      wrong.ssm.send(new GetParameterCommand({ Name: '/deployer/clusters/eu' })),
    );
    expect(ssm.name).toBe('InvalidSignatureException');
    expect(ssm.message).toMatch(
      /^The request signature we calculated does not match the signature you provided/,
    );
    const dynamo = await caught(() =>
      wrong.dynamodb.send(new GetItemCommand({ TableName: 'deployer', Key: { pk: { S: 'a' } } })),
    );
    expect(dynamo.name).toBe('InvalidSignatureException');
    const sns = await caught(() => wrong.sns.send(new PublishCommand({ TopicArn: TOPIC, Message: 'x' })));
    expect(sns.name).toBe('SignatureDoesNotMatch');
    expect((sns.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(403);
    expect(iam.refusals.at(-1)).toMatchObject({
      code: 'SignatureDoesNotMatch',
      accessKeyId: deployer.accessKeyId,
    });
  });

  it('refuses an unknown access key', async () => {
    const unknown = as({ accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'whatever' });
    const ssm = await caught(() =>
      unknown.ssm.send(new GetParameterCommand({ Name: '/deployer/clusters/eu' })),
    );
    expect(ssm.name).toBe('UnrecognizedClientException');
    expect(ssm.message).toBe('The security token included in the request is invalid.');
    const dynamo = await caught(() =>
      unknown.dynamodb.send(new GetItemCommand({ TableName: 'deployer', Key: { pk: { S: 'a' } } })),
    );
    expect(dynamo.name).toBe('UnrecognizedClientException');
    const sfn = await caught(() =>
      unknown.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE })),
    );
    expect(sfn.name).toBe('UnrecognizedClientException');
    const sns = await caught(() => unknown.sns.send(new PublishCommand({ TopicArn: TOPIC, Message: 'x' })));
    expect(sns.name).toBe('InvalidClientTokenId');
    expect((sns.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(403);
  });
});

describe('setPolicies', () => {
  it('takes effect on the next call', async () => {
    const mine = as(deployer).ssm;
    await mine.send(new GetParameterCommand({ Name: '/deployer/clusters/eu' }));
    iam.setPolicies(deployer.accessKeyId, [policy('ParametersUnderPrefix')]);
    try {
      expectDenied(
        await caught(() => mine.send(new GetParameterCommand({ Name: '/deployer/clusters/eu' }))),
        deployer,
        'ssm:GetParameter',
        `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/deployer/clusters/eu`,
      );
    } finally {
      iam.setPolicies(deployer.accessKeyId, [policy()]);
    }
    await mine.send(new GetParameterCommand({ Name: '/deployer/clusters/eu' }));
    expect(iam.principal(deployer.accessKeyId)?.policies).toEqual([policy()]);
    expect(arnOf(deployer)).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/deployer-worker/deployer-worker`);
  });

  it('answers an explicit Deny with AWS’s explicit-deny message', async () => {
    const mine = as(deployer).sns;
    iam.setPolicies(deployer.accessKeyId, [
      policy(),
      { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'sns:Publish', Resource: '*' }] },
    ]);
    try {
      const error = await caught(() => mine.send(new PublishCommand({ TopicArn: TOPIC, Message: 'x' })));
      expect(error.name).toBe('AuthorizationErrorException');
      expect(error.message).toBe(
        `User: ${deployer.arn} is not authorized to perform: SNS:Publish on resource: ${TOPIC} with an explicit deny in an identity-based policy`,
      );
    } finally {
      iam.setPolicies(deployer.accessKeyId, [policy()]);
    }
  });
});
