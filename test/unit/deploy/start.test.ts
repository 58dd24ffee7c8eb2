import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { executionName, startDeployment } from '../../../functions/lib/deploy/start.js';

const sfnMock = mockClient(SFNClient);
const DIGEST = `sha256:${'0f'.repeat(32)}`;
const push = (tag: string) => ({
  version: '0',
  id: 'ev-1',
  'detail-type': 'ECR Image Action',
  source: 'aws.ecr',
  account: '1',
  time: 't',
  region: 'r',
  detail: {
    result: 'SUCCESS',
    'repository-name': 'team/web',
    'image-digest': DIGEST,
    'action-type': 'PUSH',
    'image-tag': tag,
  },
});

describe('starting a deployment from the push rule', () => {
  afterEach(() => sfnMock.reset());

  it('names the execution after the image, within Step Functions name rules', () => {
    expect(executionName('team/web', 'v1.2.3', DIGEST)).toBe('team-web-v1-2-3-0f0f0f0f0f0f');
    const long = executionName('r', 'x'.repeat(200), DIGEST);
    expect(long).toHaveLength(80);
    expect(long).toMatch(/^[A-Za-z0-9_-]+-0f0f0f0f0f0f$/);
  });

  it('starts once: a redelivery after the execution ended is refused by name, and is no error', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: 'arn:exec:1' })
      .rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }));
    const sfn = new SFNClient({ region: 'us-east-1' });
    expect(await startDeployment(sfn, 'arn:sm', push('v2'))).toEqual({
      started: true,
      executionArn: 'arn:exec:1',
      name: 'team-web-v2-0f0f0f0f0f0f',
    });
    expect(await startDeployment(sfn, 'arn:sm', push('v2'))).toMatchObject({
      started: false,
      reason: expect.stringMatching(/delivered before/),
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input).toMatchObject({
      stateMachineArn: 'arn:sm',
      name: 'team-web-v2-0f0f0f0f0f0f',
    });
  });

  it('still starts an execution for other events, so that Plan records why they are ignored', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:2' });
    const out = await startDeployment(new SFNClient({ region: 'us-east-1' }), 'arn:sm', {
      id: 'abc:def',
      source: 'aws.ecr',
      'detail-type': 'ECR Image Scan',
    });
    expect(out).toMatchObject({ started: true, name: 'event-abc-def' });
  });
});
