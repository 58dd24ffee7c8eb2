import http from 'node:http';
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateTopicCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openTunnel } from '../../../functions/lib/ssm/tunnel.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/server.js';
import type { SfnBackend } from '../../../local/aws/sfn.js';
import { type StandInAgent, startAgent } from '../../../local/ssm/agent.js';
import { type Clients, CREDENTIALS, caught, clients, FakeRegistry, listen, REGION } from './harness.js';

const TARGET = 'mi-0aa1b2c3d4e5f6001';
const AUTH = `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/20260101/us-east-1/ssm/aws4_request, Signature=x`;

const emptyBackend: SfnBackend = {
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

let registry: FakeRegistry;
let standIn: AwsStandIn;
let aws: Clients;

beforeAll(async () => {
  registry = await new FakeRegistry().start();
  registry.putImage('demo', ['1.0.0'], [10]);
  standIn = await startAwsStandIn({
    sfn: emptyBackend,
    registry: { address: registry.address, username: registry.username, password: registry.password },
  });
  aws = clients(standIn.endpoint);
});

afterAll(async () => {
  aws?.destroy();
  await standIn?.stop();
  await registry?.close();
});

afterEach(() => {
  vi.unstubAllEnvs();
});

async function raw(
  headers: Record<string, string>,
  body: string,
  path = '/',
): Promise<{ status: number; contentType: string | null; text: string }> {
  const response = await fetch(`${standIn.endpoint}${path}`, { method: 'POST', headers, body });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    text: await response.text(),
  };
}

describe('one endpoint for every service', () => {
  it('serves the four SDK clients configured only through AWS_ENDPOINT_URL', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', standIn.endpoint);
    const config = { region: REGION, credentials: CREDENTIALS, maxAttempts: 1 };
    const ssm = new SSMClient(config);
    const sns = new SNSClient(config);
    const sfn = new SFNClient(config);
    const ecr = new ECRClient(config);
    try {
      await ssm.send(new PutParameterCommand({ Name: '/env/x', Value: 'v', Type: 'String' }));
      const parameter = await ssm.send(new GetParameterCommand({ Name: '/env/x' }));
      const topic = await sns.send(new CreateTopicCommand({ Name: 'env' }));
      await sns.send(new PublishCommand({ TopicArn: topic.TopicArn, Message: 'via env' }));
      const executions = await sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:m',
        }),
      );
      const images = await ecr.send(new DescribeImagesCommand({ repositoryName: 'demo' }));

      expect(parameter.Parameter?.Value).toBe('v');
      expect(standIn.sns.messages(topic.TopicArn).map((m) => m.message)).toEqual(['via env']);
      expect(executions.executions).toEqual([]);
      expect(images.imageDetails?.[0]?.imageTags).toEqual(['1.0.0']);
    } finally {
      for (const client of [ssm, sns, sfn, ecr]) client.destroy();
    }
  });

  it('refuses unsigned calls in each protocol', async () => {
    const json = await raw(
      { 'x-amz-target': 'AmazonSSM.GetParameter', 'content-type': 'application/x-amz-json-1.1' },
      '{}',
    );
    const query = await raw(
      { 'content-type': 'application/x-www-form-urlencoded' },
      'Action=ListTopics&Version=2010-03-31',
    );

    expect(json.status).toBe(400);
    expect(JSON.parse(json.text)).toEqual({
      __type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
    expect(query.status).toBe(403);
    expect(query.contentType).toBe('text/xml');
    expect(query.text).toMatch(
      /^<ErrorResponse xmlns="http:\/\/sns\.amazonaws\.com\/doc\/2010-03-31\/"><Error><Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code><Message>Request is missing Authentication Token<\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/,
    );
  });

  it('answers unknown operations in the shape of each protocol', async () => {
    const ssm = await raw({ 'x-amz-target': 'AmazonSSM.SendCommand', authorization: AUTH }, '{}');
    const sfn = await raw({ 'x-amz-target': 'AWSStepFunctions.CreateActivity', authorization: AUTH }, '{}');
    const service = await raw({ 'x-amz-target': 'Kinesis_20131202.PutRecord', authorization: AUTH }, '{}');
    const sns = await raw(
      { 'content-type': 'application/x-www-form-urlencoded', authorization: AUTH.replace('/ssm/', '/sns/') },
      'Action=Subscribe&Version=2010-03-31',
    );
    const sqs = await raw(
      { 'content-type': 'application/x-www-form-urlencoded', authorization: AUTH.replace('/ssm/', '/sqs/') },
      'Action=SendMessage',
    );
    const nothing = await fetch(`${standIn.endpoint}/nothing`);

    expect([ssm.status, JSON.parse(ssm.text).__type]).toEqual([400, 'UnknownOperationException']);
    expect([sfn.status, JSON.parse(sfn.text).__type, sfn.contentType]).toEqual([
      400,
      'UnknownOperationException',
      'application/x-amz-json-1.0',
    ]);
    expect(JSON.parse(service.text)).toEqual({
      __type: 'UnknownOperationException',
      message:
        'no service with the target prefix Kinesis_20131202 is served here (Kinesis_20131202.PutRecord)',
    });
    expect(sns.status).toBe(400);
    expect(sns.text).toContain(
      '<Code>InvalidAction</Code><Message>The action Subscribe is not valid for this web service.</Message>',
    );
    expect(sqs.text).toContain("The stand-in serves no Query protocol service 'sqs' (only sns).");
    expect(nothing.status).toBe(404);
  });

  it('tells which actions it serves', async () => {
    const response = await fetch(`${standIn.endpoint}/_stand-in/health`);
    const health = (await response.json()) as { services: Record<string, string[]> };

    expect(health.services.ssm).toEqual(
      expect.arrayContaining(['StartSession', 'GetParameter', 'PutParameter']),
    );
    expect(health.services.sns).toEqual(expect.arrayContaining(['Publish', 'CreateTopic']));
    expect(health.services.states).toEqual(expect.arrayContaining(['StartExecution', 'SendTaskSuccess']));
    expect(health.services.ecr).toEqual(expect.arrayContaining(['DescribeImages', 'GetAuthorizationToken']));
  });

  it('fails to start on a port in use', async () => {
    await expect(startAwsStandIn({ port: standIn.port })).rejects.toThrow(/EADDRINUSE/);
  });

  it('says ECR is not served when started without a registry', async () => {
    const bare = await startAwsStandIn();
    const client = clients(bare.endpoint);
    try {
      const error = await caught(() =>
        client.ecr.send(new DescribeImagesCommand({ repositoryName: 'demo' })),
      );

      expect(error.name).toBe('UnknownOperationException');
      expect(error.message).toMatch(/^ECR is not served: the stand-in was started without a registry/);
      expect(bare.ecr).toBeUndefined();
    } finally {
      client.destroy();
      await bare.stop();
    }
  });
});

describe('Session Manager through the same server', () => {
  let agent: StandInAgent | undefined;

  afterAll(async () => {
    await agent?.stop();
  });

  it('runs a port-forwarding session from StartSession to an HTTP server behind the agent', async () => {
    const backend = await listen(
      http.createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`echo ${req.url}`);
      }),
    );
    agent = await startAgent({ mgsUrl: standIn.mgsUrl, target: TARGET });
    await standIn.waitForAgent(TARGET);
    try {
      const started = await aws.ssm.send(
        new StartSessionCommand({
          Target: TARGET,
          DocumentName: 'AWS-StartPortForwardingSession',
          Parameters: { portNumber: [String(backend.port)] },
        }),
      );
      await aws.ssm.send(new TerminateSessionCommand({ SessionId: started.SessionId }));
      await aws.ssm.send(new PutParameterCommand({ Name: '/after/session', Value: 'ok', Type: 'String' }));
      const tunnel = await openTunnel({ ssm: aws.ssm, target: TARGET, portNumber: backend.port });
      let bodies: string[];
      try {
        bodies = await Promise.all(['/a', '/b', '/c'].map((path) => get(tunnel.agent, backend.port, path)));
      } finally {
        await tunnel.close();
      }

      expect(started.StreamUrl).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${standIn.port}/v1/data-channel/`));
      expect(bodies).toEqual(['echo /a', 'echo /b', 'echo /c']);
      expect(standIn.sessions().length).toBeGreaterThanOrEqual(2);
      expect(standIn.parameters.get('/after/session')?.value).toBe('ok');
    } finally {
      await backend.close();
    }
  });
});

describe('stop()', () => {
  it('closes every connection and leaves no handle open', async () => {
    const handles = () =>
      process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPServerWrap')
        .length;
    const before = handles();
    const local = await startAwsStandIn({
      sfn: emptyBackend,
      registry: { address: registry.address, username: registry.username, password: registry.password },
    });
    const client = clients(local.endpoint);
    const target = 'mi-0aa1b2c3d4e5f6002';
    const localAgent = await startAgent({ mgsUrl: local.mgsUrl, target });
    await local.waitForAgent(target);
    await client.ssm.send(new PutParameterCommand({ Name: '/x', Value: 'v', Type: 'String' }));
    await client.sns.send(new CreateTopicCommand({ Name: 't' }));
    await client.ecr.send(new DescribeImagesCommand({ repositoryName: 'demo' }));
    await client.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:m' }),
    );
    expect(local.connectionCount()).toBeGreaterThan(0);

    localAgent.kill();
    client.destroy();
    await local.stop();
    await local.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(local.connectionCount()).toBe(0);
    expect(handles()).toBe(before);
    await expect(fetch(`${local.endpoint}/_stand-in/health`)).rejects.toThrow();
  });
});

function get(agent: http.Agent, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}
