import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { sfnWorkflow } from '../../../functions/lib/adapters/sfn.js';
import { executionName, startDeployment } from '../../../functions/lib/deploy/start.js';

const sfnMock = mockClient(SFNClient);
const DIGEST = `sha256:${'0f'.repeat(32)}`;
const push = (tag: string) => ({
  version: '0',
  id: 'ev-1',
  'detail-type': 'ECR Image Action',
  source: 'aws.ecr',
  account: '123456789012',
  time: '2026-11-21T10:00:00Z',
  region: 'eu-west-1',
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
    expect(executionName('team/web', 'v1.2.3', DIGEST)).toMatch(/^team-web-v1-2-3-0f0f0f0f0f0f-[0-9a-f]{8}$/);
    const long = executionName('r', 'x'.repeat(200), DIGEST);
    expect(long).toHaveLength(80);
    expect(long).toMatch(/^r-x+-0f0f0f0f0f0f-[0-9a-f]{8}$/);
  });

  it('gives every pushed image its own name, even where sanitising makes the heads equal', () => {
    // act
    const slash = executionName('a/b', '1.0', DIGEST);
    const dash = executionName('a-b', '1-0', DIGEST);

    // assess
    expect(slash).not.toBe(dash);
    for (const name of [slash, dash]) {
      expect(name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
      expect(name.startsWith('a-b-1-0-0f0f0f0f0f0f-')).toBe(true);
    }
  });

  it('names a redelivered push the same, and the same digest under a new tag differently', () => {
    const first = executionName('team/web', 'v2', DIGEST);
    expect(executionName('team/web', 'v2', DIGEST)).toBe(first);
    expect(executionName('team/web', 'v2-known-good', DIGEST)).not.toBe(first);
    expect(executionName('team/web', 'v2', `sha256:${'1f'.repeat(32)}`)).not.toBe(first);
  });

  it('keeps names of the longest repositories and tags within 80 characters', () => {
    const name = executionName('r'.repeat(256), 't'.repeat(300), DIGEST);
    expect(name).toMatch(/^[A-Za-z0-9_-]{80}$/);
    expect(name).not.toBe(executionName('r'.repeat(256), `${'t'.repeat(299)}u`, DIGEST));
  });

  it('starts once: a redelivery after the execution ended is refused by name, and is no error', async () => {
    const name = executionName('team/web', 'v2', DIGEST);
    sfnMock
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: 'arn:exec:1' })
      .rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }));
    const sfn = new SFNClient({ region: 'us-east-1' });
    expect(await startDeployment(sfnWorkflow(sfn), 'arn:sm', push('v2'))).toEqual({
      started: true,
      executionArn: 'arn:exec:1',
      name,
    });
    expect(name).toMatch(/^team-web-v2-0f0f0f0f0f0f-[0-9a-f]{8}$/);
    expect(await startDeployment(sfnWorkflow(sfn), 'arn:sm', push('v2'))).toMatchObject({
      started: false,
      reason: expect.stringMatching(/delivered before/),
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input).toMatchObject({
      stateMachineArn: 'arn:sm',
      name,
    });
  });

  it('still starts an execution for other events, so that Plan records why they are ignored', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:2' });
    const out = await startDeployment(sfnWorkflow(new SFNClient({ region: 'us-east-1' })), 'arn:sm', {
      id: 'abc:def',
      source: 'aws.ecr',
      'detail-type': 'ECR Image Scan',
    });
    expect(out).toMatchObject({ started: true, name: 'event-abc-def' });
  });

  it('starts malformed ECR events and failed pushes under their event id, for Plan to report', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:3' });
    const sfn = new SFNClient({ region: 'us-east-1' });
    const failed = { ...push('v3'), id: 'ev-3', detail: { ...push('v3').detail, result: 'FAILURE' } };
    const malformed = { ...push('v3'), id: 'ev-4', detail: { ...push('v3').detail, 'image-digest': 'x' } };
    expect(await startDeployment(sfnWorkflow(sfn), 'arn:sm', failed)).toMatchObject({
      started: true,
      name: 'event-ev-3',
    });
    expect(await startDeployment(sfnWorkflow(sfn), 'arn:sm', malformed)).toMatchObject({
      started: true,
      name: 'event-ev-4',
    });
  });
});
