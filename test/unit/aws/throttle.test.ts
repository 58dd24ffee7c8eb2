import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SendTaskSuccessCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ListTopicsCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, SSMClient, StartSessionCommand } from '@aws-sdk/client-ssm';
import { isThrottlingError } from '@smithy/core/retry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SDK_RETRY } from '../../../functions/lib/deps.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/server.js';
import type { SfnBackend } from '../../../local/aws/sfn.js';
import { ApiThrottle, TokenBucket } from '../../../local/aws/throttle.js';
import { startSsmStandIn } from '../../../local/ssm/stand-in.js';
import { CREDENTIALS, caught, REGION } from './harness.js';

/**
 * The stand-ins' API quotas: a throttled call is answered as the service answers it, the real SDK
 * clients name and classify the error as AWS's, and a client configured as the deployer's
 * (functions/lib/deps.ts) backs off until its calls get through.
 */

const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:m';
const backend: SfnBackend = {
  startExecution: async () => ({
    executionArn: 'arn:aws:states:us-east-1:000000000000:execution:m:x',
    startDate: new Date(),
  }),
  describeExecution: async () => {
    throw new Error('not used');
  },
  stopExecution: async () => ({ stopDate: new Date() }),
  listExecutions: async () => ({ executions: [] }),
  getExecutionHistory: async () => ({ events: [] }),
  sendTaskSuccess: async () => {},
  sendTaskFailure: async () => {},
  sendTaskHeartbeat: async () => {},
};

/** A bucket of one that refills only after the test is over. */
const ONCE = { burst: 1, perSecond: 0.001 };

let standIn: AwsStandIn;
const built: Array<{ destroy(): void }> = [];
function client<T extends { destroy(): void }>(make: (config: object) => T, extra: object = {}): T {
  const made = make({
    endpoint: standIn.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    maxAttempts: 1,
    ...extra,
  });
  built.push(made);
  return made;
}

beforeAll(async () => {
  standIn = await startAwsStandIn({ sfn: backend });
});

afterEach(() => {
  standIn.throttle.clear();
  standIn.throttle.resetCounts();
  for (const made of built.splice(0)) made.destroy();
});

afterAll(async () => {
  await standIn?.stop();
});

describe('TokenBucket and ApiThrottle', () => {
  it('spends the burst, then admits at the refill rate', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 3, perSecond: 2 }, () => now);

    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    now = 499;
    expect(bucket.tryTake()).toBe(false);
    now = 500;
    expect(bucket.tryTake()).toBe(true);
    now = 100_000;
    expect(bucket.available).toBe(3);
    expect(() => new TokenBucket({ burst: 0, perSecond: 1 })).toThrow(RangeError);
    expect(() => new TokenBucket({ burst: 1, perSecond: 0 })).toThrow(RangeError);
  });

  it('reserves into debt and says how long the debt lasts', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 1, perSecond: 4 }, () => now);

    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(250);
    expect(bucket.reserve()).toBe(500);
    now = 500;
    expect(bucket.reserve()).toBe(250);
  });

  it('gives an API its own bucket or its service wildcard, and counts only what is under a bucket', () => {
    const throttle = new ApiThrottle({
      'ssm:StartSession': ONCE,
      'dynamodb:*': { burst: 2, perSecond: 0.001 },
    });

    expect(throttle.admit('ssm', 'StartSession')).toBe(true);
    expect(throttle.admit('ssm', 'StartSession')).toBe(false);
    expect(throttle.admit('ssm', 'GetParameter')).toBe(true);
    expect(throttle.admit('dynamodb', 'PutItem')).toBe(true);
    expect(throttle.admit('dynamodb', 'GetItem')).toBe(true);
    expect(throttle.admit('dynamodb', 'Query')).toBe(false);

    expect(throttle.stats()).toEqual({
      'ssm:StartSession': { admitted: 1, throttled: 1 },
      'dynamodb:PutItem': { admitted: 1, throttled: 0 },
      'dynamodb:GetItem': { admitted: 1, throttled: 0 },
      'dynamodb:Query': { admitted: 0, throttled: 1 },
    });
    expect(throttle.throttled()).toBe(2);
    expect(throttle.throttled('dynamodb:*')).toBe(1);
    expect(() => throttle.configure({ 'not an api': ONCE } as never)).toThrow(RangeError);
  });
});

describe('throttled answers, as the real SDK clients see them', () => {
  it('SSM (AWS JSON 1.1): ThrottlingException, 400, "Rate exceeded", a throttling error', async () => {
    standIn.throttle.configure({ 'ssm:GetParameter': ONCE, 'ssm:StartSession': ONCE });
    const ssm = client((c) => new SSMClient(c));
    await caught(() => ssm.send(new GetParameterCommand({ Name: '/absent' })));
    await caught(() => ssm.send(new StartSessionCommand({ Target: 'mi-00000000000000001' })));

    const getParameter = await caught(() => ssm.send(new GetParameterCommand({ Name: '/absent' })));
    const startSession = await caught(() =>
      ssm.send(new StartSessionCommand({ Target: 'mi-00000000000000001' })),
    );

    for (const error of [getParameter, startSession]) {
      expect(error.name).toBe('ThrottlingException');
      expect(error.message).toBe('Rate exceeded');
      expect(error.$metadata).toMatchObject({ httpStatusCode: 400, requestId: expect.any(String) });
      expect(isThrottlingError(error as never)).toBe(true);
    }
    expect(standIn.throttle.stats()).toEqual({
      'ssm:GetParameter': { admitted: 1, throttled: 1 },
      'ssm:StartSession': { admitted: 1, throttled: 1 },
    });
  });

  it('Step Functions (AWS JSON 1.0): ThrottlingException for StartExecution and SendTaskSuccess', async () => {
    standIn.throttle.configure({ 'states:StartExecution': ONCE, 'states:SendTaskSuccess': ONCE });
    const sfn = client((c) => new SFNClient(c));
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: 't', output: '{}' }));

    const start = await caught(() => sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE })));
    const success = await caught(() =>
      sfn.send(new SendTaskSuccessCommand({ taskToken: 't', output: '{}' })),
    );

    for (const error of [start, success]) {
      expect(error.name).toBe('ThrottlingException');
      expect(error.message).toBe('Rate exceeded');
      expect(error.$metadata).toMatchObject({ httpStatusCode: 400, requestId: expect.any(String) });
      expect(isThrottlingError(error as never)).toBe(true);
    }
    expect(standIn.throttle.throttled('states:*')).toBe(2);
  });

  it("DynamoDB: its own ThrottlingException with the on-demand table's message", async () => {
    standIn.throttle.configure({ 'dynamodb:*': ONCE });
    const dynamodb = client((c) => new DynamoDBClient(c));
    await dynamodb.send(new ListTablesCommand({}));

    const error = await caught(() => dynamodb.send(new ListTablesCommand({})));

    expect(error.name).toBe('ThrottlingException');
    expect(error.message).toMatch(/^Throughput exceeds the current capacity of your table or index/);
    expect(error.$metadata).toMatchObject({ httpStatusCode: 400, requestId: expect.any(String) });
    expect(isThrottlingError(error as never)).toBe(true);
  });

  it('SNS (Query): ThrottledException from <Code>Throttled</Code>, HTTP 429', async () => {
    const topicArn = standIn.sns.createTopic('throttled');
    standIn.throttle.configure({ 'sns:Publish': ONCE });
    const sns = client((c) => new SNSClient(c));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'first' }));

    const error = await caught(() => sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'second' })));

    expect(error.name).toBe('ThrottledException');
    expect(error.message).toBe('Rate exceeded');
    expect(error.$metadata).toMatchObject({ httpStatusCode: 429, requestId: expect.any(String) });
    expect(isThrottlingError(error as never)).toBe(true);
    expect(standIn.sns.messages(topicArn).map((m) => m.message)).toEqual(['first']);
  });

  it('puts the error type, request id and body on the wire', async () => {
    standIn.throttle.configure({ 'ssm:StartSession': { burst: 1, perSecond: 0.001 }, 'sns:Publish': ONCE });
    const post = (headers: Record<string, string>, body: string) =>
      fetch(standIn.endpoint, { method: 'POST', headers, body });
    const json = {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonSSM.StartSession',
      authorization: `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/20260101/us-east-1/ssm/aws4_request, Signature=x`,
    };
    const query = {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/20260101/us-east-1/sns/aws4_request, Signature=x`,
    };
    await post(json, '{}');
    await post(query, 'Action=Publish&Version=2010-03-31&TopicArn=x&Message=m');

    const ssm = await post(json, '{}');
    const sns = await post(query, 'Action=Publish&Version=2010-03-31&TopicArn=x&Message=m');

    expect(ssm.status).toBe(400);
    expect(ssm.headers.get('x-amzn-errortype')).toBe(
      'ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/',
    );
    expect(ssm.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await ssm.json()).toEqual({ __type: 'ThrottlingException', message: 'Rate exceeded' });
    expect(sns.status).toBe(429);
    expect(sns.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await sns.text()).toMatch(
      /^<ErrorResponse xmlns="http:\/\/sns.amazonaws.com\/doc\/2010-03-31\/"><Error><Type>Sender<\/Type><Code>Throttled<\/Code><Message>Rate exceeded<\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/,
    );
  });

  it('serves everything when no bucket is configured', async () => {
    const ssm = client((c) => new SSMClient(c));
    const errors = await Promise.all(
      Array.from({ length: 20 }, () => caught(() => ssm.send(new GetParameterCommand({ Name: '/absent' })))),
    );

    expect(new Set(errors.map((e) => e.name))).toEqual(new Set(['ParameterNotFound']));
    expect(standIn.throttle.stats()).toEqual({});
  });

  it('throttles StartSession on the SSM stand-in of local/ssm too', async () => {
    const ssmStandIn = await startSsmStandIn({ throttle: { 'ssm:StartSession': ONCE } });
    const ssm = new SSMClient({
      endpoint: ssmStandIn.endpoint,
      region: REGION,
      credentials: CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const first = await caught(() => ssm.send(new StartSessionCommand({ Target: 'mi-00000000000000001' })));
      const second = await caught(() =>
        ssm.send(new StartSessionCommand({ Target: 'mi-00000000000000001' })),
      );

      expect(first.name).toBe('InvalidDocument');
      expect(second.name).toBe('ThrottlingException');
      expect(isThrottlingError(second as never)).toBe(true);
      expect(ssmStandIn.throttle.throttled('ssm:StartSession')).toBe(1);
    } finally {
      ssm.destroy();
      await ssmStandIn.stop();
    }
  });
});

describe("a burst from a client configured as the deployer's", () => {
  it('gets every call through a small bucket: the SDK backs off and the stand-in counts the throttles', async () => {
    // One client per service, as a deployer's container holds them (deps.ts's retry settings).
    const ssm = client((c) => new SSMClient(c), SDK_RETRY);
    const dynamodb = client((c) => new DynamoDBClient(c), SDK_RETRY);
    const sns = client((c) => new SNSClient(c), SDK_RETRY);
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'burst',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const topicArn = standIn.sns.createTopic('burst');
    await standIn.parameters.put({ name: '/burst', value: 'v', type: 'String' });
    // Each client's first call sets it up; after that its calls leave together.
    await ssm.send(new GetParameterCommand({ Name: '/burst' }));
    await sns.send(new ListTopicsCommand({}));
    standIn.throttle.configure({
      'ssm:GetParameter': { burst: 2, perSecond: 10 },
      'dynamodb:*': { burst: 2, perSecond: 10 },
      'sns:Publish': { burst: 2, perSecond: 10 },
    });
    const started = performance.now();

    const results = await Promise.all([
      ...Array.from({ length: 15 }, () => ssm.send(new GetParameterCommand({ Name: '/burst' }))),
      ...Array.from({ length: 15 }, (_, i) =>
        dynamodb.send(new PutItemCommand({ TableName: 'burst', Item: { pk: { S: `k${i}` } } })),
      ),
      ...Array.from({ length: 15 }, (_, i) =>
        sns.send(new PublishCommand({ TopicArn: topicArn, Message: `m${i}` })),
      ),
    ]);
    const elapsed = performance.now() - started;

    expect(results).toHaveLength(45);
    expect(results.every((r) => r.$metadata.httpStatusCode === 200)).toBe(true);
    expect(standIn.sns.messages(topicArn)).toHaveLength(15);
    const stats = standIn.throttle.stats();
    for (const api of ['ssm:GetParameter', 'dynamodb:PutItem', 'sns:Publish']) {
      expect(stats[api]?.admitted).toBe(15);
      expect(stats[api]?.throttled).toBeGreaterThan(0);
    }
    // 13 refills at 10 per second is the least it can take.
    expect(elapsed).toBeGreaterThan(1200);
  }, 30_000);
});
