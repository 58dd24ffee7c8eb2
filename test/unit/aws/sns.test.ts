import {
  CreateTopicCommand,
  DeleteTopicCommand,
  GetTopicAttributesCommand,
  InvalidParameterException,
  InvalidParameterValueException,
  ListTopicsCommand,
  NotFoundException,
  PublishCommand,
  type PublishCommandInput,
} from '@aws-sdk/client-sns';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PublishedMessage } from '../../../local/aws/index.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/server.js';
import { type Clients, caught, clients } from './harness.js';

let standIn: AwsStandIn;
let aws: Clients;
let alerts: string;

beforeAll(async () => {
  standIn = await startAwsStandIn();
  aws = clients(standIn.endpoint);
  alerts = (await aws.sns.send(new CreateTopicCommand({ Name: 'deployer-alerts' }))).TopicArn ?? '';
});

afterAll(async () => {
  aws?.destroy();
  await standIn?.stop();
});

beforeEach(() => {
  standIn.sns.clearMessages();
});

const publish = (input: Partial<PublishCommandInput>) =>
  aws.sns.send(new PublishCommand({ TopicArn: alerts, Message: 'hello', ...input }));

describe('topics', () => {
  it('creates a topic once per name and lists it', async () => {
    const again = await aws.sns.send(new CreateTopicCommand({ Name: 'deployer-alerts' }));
    const listed = await aws.sns.send(new ListTopicsCommand({}));
    const attributes = await aws.sns.send(new GetTopicAttributesCommand({ TopicArn: alerts }));

    expect(alerts).toBe('arn:aws:sns:us-east-1:000000000000:deployer-alerts');
    expect(again.TopicArn).toBe(alerts);
    expect(listed.Topics).toContainEqual({ TopicArn: alerts });
    expect(attributes.Attributes).toMatchObject({ TopicArn: alerts, Owner: '000000000000' });
    expect(standIn.sns.topics().filter((topic) => topic.arn === alerts)).toHaveLength(1);
  });

  it('validates topic names and FIFO attributes', async () => {
    const spaces = await caught(() => aws.sns.send(new CreateTopicCommand({ Name: 'bad name' })));
    const fifoName = await caught(() =>
      aws.sns.send(new CreateTopicCommand({ Name: 'no-suffix', Attributes: { FifoTopic: 'true' } })),
    );
    const deleted = await aws.sns.send(new CreateTopicCommand({ Name: 'short-lived' }));
    await aws.sns.send(new DeleteTopicCommand({ TopicArn: deleted.TopicArn }));
    const gone = await caught(() => publish({ TopicArn: deleted.TopicArn }));

    expect(spaces).toBeInstanceOf(InvalidParameterException);
    expect(spaces.message).toBe('Invalid parameter: Topic Name');
    expect(fifoName).toBeInstanceOf(InvalidParameterException);
    expect(fifoName.message).toMatch(/^Invalid parameter: Fifo Topic names must end with \.fifo/);
    expect(gone).toBeInstanceOf(NotFoundException);
  });
});

describe('Publish', () => {
  it('keeps the message with its subject and attributes, as sent', async () => {
    const seen: PublishedMessage[] = [];
    const unsubscribe = standIn.sns.onPublish((message) => seen.push(message));
    const body = JSON.stringify({ event: 'rolled-back', reason: 'error_rate 0.21 > 0.05 <&> "quoted"' });

    const result = await publish({
      Message: body,
      Subject: 'web: rolled back',
      MessageAttributes: {
        event: { DataType: 'String', StringValue: 'rolled-back' },
        service: { DataType: 'String', StringValue: 'web' },
        clusters: { DataType: 'Number', StringValue: '3' },
        'deployment.id': { DataType: 'String.custom', StringValue: 'web-sha256-abc' },
        touched: { DataType: 'String.Array', StringValue: '["eu-1","eu-2"]' },
        blob: { DataType: 'Binary', BinaryValue: new Uint8Array([0, 1, 254, 255]) },
      },
    });
    unsubscribe();
    await publish({ Message: 'after unsubscribe' });

    expect(result.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.SequenceNumber).toBeUndefined();
    expect(result.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const [stored] = standIn.sns.messages(alerts);
    expect(stored).toEqual({
      topicArn: alerts,
      messageId: result.MessageId,
      subject: 'web: rolled back',
      message: body,
      attributes: {
        event: { DataType: 'String', StringValue: 'rolled-back' },
        service: { DataType: 'String', StringValue: 'web' },
        clusters: { DataType: 'Number', StringValue: '3' },
        'deployment.id': { DataType: 'String.custom', StringValue: 'web-sha256-abc' },
        touched: { DataType: 'String.Array', StringValue: '["eu-1","eu-2"]' },
        blob: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 254, 255]).toString('base64') },
      },
      at: expect.any(Date),
    });
    expect(seen).toEqual([stored]);
    expect(standIn.sns.messages()).toHaveLength(2);
    expect(standIn.sns.messages('arn:aws:sns:us-east-1:000000000000:other')).toEqual([]);
  });

  it('says NotFound for a topic that does not exist', async () => {
    const error = await caught(() => publish({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:nope' }));

    expect(error).toBeInstanceOf(NotFoundException);
    expect(error.message).toBe('Topic does not exist');
    expect(error.$metadata).toMatchObject({ httpStatusCode: 404 });
    expect(error.$fault).toBe('client');
    expect(standIn.sns.messages()).toEqual([]);
  });

  it('refuses an empty message, a message over 256 KiB and a bad subject', async () => {
    const empty = await caught(() => publish({ Message: '' }));
    const exactly = await publish({ Message: 'x'.repeat(262_144) });
    const over = await caught(() => publish({ Message: 'x'.repeat(262_145) }));
    const overWithAttribute = await caught(() =>
      publish({
        Message: 'x'.repeat(262_140),
        MessageAttributes: { kind: { DataType: 'String', StringValue: 'rolled-back' } },
      }),
    );
    const subject = await caught(() => publish({ Subject: 'two\nlines' }));

    expect(empty).toBeInstanceOf(InvalidParameterException);
    expect(empty.message).toBe('Invalid parameter: Empty message');
    expect(exactly.MessageId).toBeDefined();
    expect(over).toBeInstanceOf(InvalidParameterException);
    expect(over.message).toBe('Invalid parameter: Message too long');
    expect(overWithAttribute.message).toBe('Invalid parameter: Message too long');
    expect(subject.message).toBe('Invalid parameter: Subject');
    expect(standIn.sns.messages()).toHaveLength(1);
  });

  it('validates message attributes as SNS does', async () => {
    const attempt = (
      name: string,
      value: { DataType: string; StringValue?: string; BinaryValue?: Uint8Array },
    ) => caught(() => publish({ MessageAttributes: { [name]: value } }));

    const notNumber = await attempt('count', { DataType: 'Number', StringValue: 'three' });
    const badType = await attempt('kind', { DataType: 'Text', StringValue: 'x' });
    const emptyValue = await attempt('kind', { DataType: 'String', StringValue: '' });
    const wrongField = await attempt('kind', { DataType: 'String', BinaryValue: new Uint8Array([1]) });
    const badName = await attempt('has space', { DataType: 'String', StringValue: 'x' });
    const dots = await attempt('a..b', { DataType: 'String', StringValue: 'x' });
    const badArray = await attempt('list', { DataType: 'String.Array', StringValue: 'not json' });

    for (const error of [notNumber, badType, emptyValue, wrongField, badName, dots, badArray]) {
      expect(error).toBeInstanceOf(InvalidParameterValueException);
    }
    expect(notNumber.message).toBe("Could not cast message attribute 'count' value to number.");
    expect(badType.message).toBe(
      "The message attribute 'kind' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
    );
    expect(emptyValue.message).toBe(
      "The message attribute 'kind' must contain non-empty message attribute value for message attribute type 'String'.",
    );
    expect(wrongField.message).toBe(
      "The message attribute 'kind' with type 'String' must use field 'String'.",
    );
    expect(badName.message).toMatch(/^Invalid non-alphanumeric character '#x20' was found/);
    expect(dots.message).toBe("Message attribute name can not have successive '.' character.");
    expect(standIn.sns.messages()).toEqual([]);
  });

  it('refuses FIFO members on a standard topic', async () => {
    const error = await caught(() => publish({ MessageDeduplicationId: 'd-1' }));

    expect(error).toBeInstanceOf(InvalidParameterException);
    expect(error.message).toMatch(/^Invalid parameter: MessageDeduplicationId Reason:/);
  });
});

describe('FIFO topics', () => {
  it('requires a group id and deduplicates within the window', async () => {
    const fifo =
      (
        await aws.sns.send(
          new CreateTopicCommand({ Name: 'deployer-events.fifo', Attributes: { FifoTopic: 'true' } }),
        )
      ).TopicArn ?? '';

    const noGroup = await caught(() => publish({ TopicArn: fifo, MessageDeduplicationId: 'd-1' }));
    const noDedup = await caught(() => publish({ TopicArn: fifo, MessageGroupId: 'web' }));
    const first = await publish({
      TopicArn: fifo,
      MessageGroupId: 'web',
      MessageDeduplicationId: 'web:started',
    });
    const retry = await publish({
      TopicArn: fifo,
      MessageGroupId: 'web',
      MessageDeduplicationId: 'web:started',
    });
    const next = await publish({
      TopicArn: fifo,
      MessageGroupId: 'web',
      MessageDeduplicationId: 'web:promoted',
    });

    expect(fifo).toBe('arn:aws:sns:us-east-1:000000000000:deployer-events.fifo');
    expect(noGroup.message).toBe(
      'Invalid parameter: The MessageGroupId parameter is required for FIFO topics',
    );
    expect(noDedup.message).toMatch(/ContentBasedDeduplication enabled or MessageDeduplicationId provided/);
    expect(retry.MessageId).toBe(first.MessageId);
    expect(retry.SequenceNumber).toBe(first.SequenceNumber);
    expect(first.SequenceNumber).toMatch(/^\d{20}$/);
    expect(BigInt(next.SequenceNumber ?? '0')).toBeGreaterThan(BigInt(first.SequenceNumber ?? '0'));
    expect(standIn.sns.messages(fifo).map((m) => [m.messageDeduplicationId, m.messageGroupId])).toEqual([
      ['web:started', 'web'],
      ['web:promoted', 'web'],
    ]);
  });

  it('deduplicates by content when the topic says so', async () => {
    const fifo =
      (
        await aws.sns.send(
          new CreateTopicCommand({
            Name: 'content.fifo',
            Attributes: { FifoTopic: 'true', ContentBasedDeduplication: 'true' },
          }),
        )
      ).TopicArn ?? '';

    const first = await publish({ TopicArn: fifo, MessageGroupId: 'g', Message: 'same' });
    const second = await publish({ TopicArn: fifo, MessageGroupId: 'g', Message: 'same' });

    expect(second.MessageId).toBe(first.MessageId);
    expect(standIn.sns.messages(fifo)).toHaveLength(1);
  });
});
