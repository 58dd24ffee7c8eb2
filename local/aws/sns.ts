import { createHash, randomUUID } from 'node:crypto';
import { element, flattened, QueryError, QueryRouter } from './query.js';

/**
 * SNS for the AWS stand-in, in the Query protocol: CreateTopic, DeleteTopic, ListTopics,
 * GetTopicAttributes and Publish. Nothing is delivered anywhere: every accepted message is kept in
 * memory (`messages()`) and handed to `onPublish` listeners, so tests and the local runtime can
 * see exactly what production code sent. Validation follows the SNS API reference and the
 * messages SNS gives (Invalid parameter: Empty message, Message too long, message attribute
 * rules, FIFO group and deduplication ids); FIFO topics drop a duplicate within the five-minute
 * deduplication window and answer it with the first message's id, as SNS does.
 */

export interface SnsAttributeValue {
  DataType: string;
  StringValue?: string;
  /** Base64, as it travelled. */
  BinaryValue?: string;
}

export interface PublishedMessage {
  topicArn: string;
  messageId: string;
  subject?: string;
  message: string;
  messageStructure?: string;
  attributes: Record<string, SnsAttributeValue>;
  messageGroupId?: string;
  messageDeduplicationId?: string;
  /** FIFO topics only. */
  sequenceNumber?: string;
  at: Date;
}

export interface SnsTopic {
  arn: string;
  name: string;
  attributes: Record<string, string>;
  createdAt: Date;
}

export type PublishListener = (message: PublishedMessage) => void;

export const SNS_XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
/** 256 KiB: the message, its subject aside, plus every attribute's name, type and value. */
const MAX_MESSAGE_BYTES = 262_144;
const MAX_ATTRIBUTES = 10;
const DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000;
const TOPIC_ATTRIBUTES = [
  'DeliveryPolicy',
  'DisplayName',
  'FifoTopic',
  'Policy',
  'SignatureVersion',
  'TracingConfig',
  'KmsMasterKeyId',
  'ContentBasedDeduplication',
  'ArchivePolicy',
  'FifoThroughputScope',
];
const FIFO_NAME_MESSAGE =
  'Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ' +
  'ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.';

interface TopicState extends SnsTopic {
  sequence: bigint;
  deduplication: Map<string, { messageId: string; sequenceNumber: string; at: number }>;
}

export class SnsStandIn {
  readonly region: string;
  readonly accountId: string;
  readonly router: QueryRouter;
  private readonly topicsByArn = new Map<string, TopicState>();
  private readonly published: PublishedMessage[] = [];
  private readonly listeners = new Set<PublishListener>();
  private readonly log: (message: string) => void;

  constructor(options: { region?: string; accountId?: string; log?: (message: string) => void } = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.log = options.log ?? (() => {});
    this.router = new QueryRouter('sns', SNS_XMLNS);
    this.registerActions();
  }

  /** Every accepted message, oldest first; only those of one topic when `topicArn` is given. */
  messages(topicArn?: string): PublishedMessage[] {
    return this.published.filter((message) => topicArn === undefined || message.topicArn === topicArn);
  }

  /** Calls `listener` with every message accepted from now on. @returns a function that unsubscribes it. */
  onPublish(listener: PublishListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  topics(): SnsTopic[] {
    return [...this.topicsByArn.values()].map(({ arn, name, attributes, createdAt }) => ({
      arn,
      name,
      attributes: { ...attributes },
      createdAt,
    }));
  }

  topicArn(name: string): string {
    return `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
  }

  /**
   * Creates a topic, or returns the ARN of the one of that name (CreateTopic is idempotent).
   * @throws QueryError InvalidParameter
   */
  createTopic(name: string, attributes: Record<string, string> = {}): string {
    for (const key of Object.keys(attributes)) {
      if (!TOPIC_ATTRIBUTES.includes(key))
        throw new QueryError('InvalidParameter', 'Invalid parameter: AttributeName');
    }
    const fifo = attributes.FifoTopic === 'true';
    if (fifo || name.endsWith('.fifo')) {
      if (!fifo || !/^[A-Za-z0-9_-]{1,251}\.fifo$/.test(name))
        throw new QueryError('InvalidParameter', FIFO_NAME_MESSAGE);
    } else if (!/^[A-Za-z0-9_-]{1,256}$/.test(name)) {
      throw new QueryError('InvalidParameter', 'Invalid parameter: Topic Name');
    }
    if (!fifo && attributes.ContentBasedDeduplication === 'true') {
      throw new QueryError(
        'InvalidParameter',
        'Invalid parameter: ContentBasedDeduplication Reason: Content-based deduplication can only be set for FIFO topics',
      );
    }
    const arn = this.topicArn(name);
    const existing = this.topicsByArn.get(arn);
    if (existing !== undefined) {
      const differs = Object.entries(attributes).some(([key, value]) => existing.attributes[key] !== value);
      if (differs) {
        throw new QueryError(
          'InvalidParameter',
          'Invalid parameter: Attributes Reason: Topic already exists with different attributes',
        );
      }
      return arn;
    }
    this.topicsByArn.set(arn, {
      arn,
      name,
      attributes: { ...attributes },
      createdAt: new Date(),
      sequence: 0n,
      deduplication: new Map(),
    });
    this.log(`sns: topic ${arn} created`);
    return arn;
  }

  deleteTopic(arn: string): boolean {
    return this.topicsByArn.delete(arn);
  }

  /** Forgets every message (topics stay). */
  clearMessages(): void {
    this.published.length = 0;
  }

  /**
   * Validates and records one message, as Publish does.
   * @throws QueryError InvalidParameter, ParameterValueInvalid, NotFound
   */
  publish(input: {
    topicArn?: string;
    targetArn?: string;
    phoneNumber?: string;
    message?: string;
    subject?: string;
    messageStructure?: string;
    attributes?: Record<string, SnsAttributeValue>;
    messageGroupId?: string;
    messageDeduplicationId?: string;
  }): { messageId: string; sequenceNumber?: string } {
    if (input.phoneNumber !== undefined) {
      throw new QueryError(
        'InvalidParameter',
        'Invalid parameter: PhoneNumber Reason: the stand-in publishes to topics only',
      );
    }
    const arn = input.topicArn ?? input.targetArn;
    if (arn === undefined || arn === '') {
      throw new QueryError(
        'InvalidParameter',
        'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter',
      );
    }
    if (!/^arn:aws[\w-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/.test(arn)) {
      throw new QueryError(
        'InvalidParameter',
        `Invalid parameter: ${input.topicArn === undefined ? 'TargetArn' : 'TopicArn'}`,
      );
    }
    const message = input.message ?? '';
    if (message === '') throw new QueryError('InvalidParameter', 'Invalid parameter: Empty message');
    if (input.subject !== undefined) {
      // Subject: ASCII, no line breaks or control characters, at most 100 characters.
      if (input.subject === '' || input.subject.length > 100 || !/^[\x20-\x7e]+$/.test(input.subject)) {
        throw new QueryError('InvalidParameter', 'Invalid parameter: Subject');
      }
    }
    const attributes = input.attributes ?? {};
    checkAttributes(attributes);
    let size = Buffer.byteLength(message);
    for (const [name, value] of Object.entries(attributes)) {
      size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType);
      size +=
        Buffer.byteLength(value.StringValue ?? '') + Buffer.from(value.BinaryValue ?? '', 'base64').length;
    }
    if (size > MAX_MESSAGE_BYTES)
      throw new QueryError('InvalidParameter', 'Invalid parameter: Message too long');
    if (input.messageStructure !== undefined) {
      if (input.messageStructure !== 'json') {
        throw new QueryError('InvalidParameter', 'Invalid parameter: MessageStructure');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
      } catch {
        throw new QueryError(
          'InvalidParameter',
          'Invalid parameter: Message Structure - JSON message body failed to parse',
        );
      }
      if (parsed === null || typeof parsed !== 'object' || !('default' in parsed)) {
        throw new QueryError(
          'InvalidParameter',
          'Invalid parameter: Message Structure - No default entry in JSON message body',
        );
      }
    }
    const topic = this.topicsByArn.get(arn);
    const fifo = topic?.attributes.FifoTopic === 'true' || arn.endsWith('.fifo');
    let deduplicationId = input.messageDeduplicationId;
    if (fifo) {
      if (input.messageGroupId === undefined || input.messageGroupId === '') {
        throw new QueryError(
          'InvalidParameter',
          'Invalid parameter: The MessageGroupId parameter is required for FIFO topics',
        );
      }
      if (deduplicationId === undefined && topic?.attributes.ContentBasedDeduplication === 'true') {
        deduplicationId = createHash('sha256').update(message).digest('hex');
      }
      if (deduplicationId === undefined) {
        throw new QueryError(
          'InvalidParameter',
          'Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly',
        );
      }
    } else if (deduplicationId !== undefined) {
      throw new QueryError(
        'InvalidParameter',
        'Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type',
      );
    }
    for (const [member, value] of [
      ['MessageGroupId', input.messageGroupId],
      ['MessageDeduplicationId', input.messageDeduplicationId],
    ] as const) {
      if (value !== undefined && !/^[\x21-\x7e]{1,128}$/.test(value)) {
        throw new QueryError('InvalidParameter', `Invalid parameter: ${member}`);
      }
    }
    if (topic === undefined) throw new QueryError('NotFound', 'Topic does not exist', 404);

    const now = Date.now();
    if (fifo && deduplicationId !== undefined) {
      for (const [id, seen] of topic.deduplication) {
        if (now - seen.at >= DEDUPLICATION_WINDOW_MS) topic.deduplication.delete(id);
      }
      const seen = topic.deduplication.get(deduplicationId);
      if (seen !== undefined) return { messageId: seen.messageId, sequenceNumber: seen.sequenceNumber };
    }
    const record: PublishedMessage = {
      topicArn: arn,
      messageId: randomUUID(),
      ...(input.subject === undefined ? {} : { subject: input.subject }),
      message,
      ...(input.messageStructure === undefined ? {} : { messageStructure: input.messageStructure }),
      attributes,
      ...(input.messageGroupId === undefined ? {} : { messageGroupId: input.messageGroupId }),
      ...(deduplicationId === undefined ? {} : { messageDeduplicationId: deduplicationId }),
      at: new Date(now),
    };
    if (fifo && deduplicationId !== undefined) {
      topic.sequence += 1n;
      // A 20-digit number that only grows, like SNS's own.
      record.sequenceNumber = (10n ** 19n + topic.sequence).toString();
      topic.deduplication.set(deduplicationId, {
        messageId: record.messageId,
        sequenceNumber: record.sequenceNumber,
        at: now,
      });
    }
    this.published.push(record);
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch (error) {
        this.log(`sns: a publish listener failed: ${String(error)}`);
      }
    }
    return record.sequenceNumber === undefined
      ? { messageId: record.messageId }
      : { messageId: record.messageId, sequenceNumber: record.sequenceNumber };
  }

  private registerActions(): void {
    this.router.register('CreateTopic', ({ params }) => {
      const name = params.get('Name');
      if (name === null || name === '')
        throw new QueryError('InvalidParameter', 'Invalid parameter: Topic Name');
      const attributes: Record<string, string> = {};
      for (const entry of flattened(params, 'Attributes')) {
        const key = entry.get('key');
        if (key !== undefined) attributes[key] = entry.get('value') ?? '';
      }
      for (const tag of flattened(params, 'Tags')) {
        if (!tag.get('Key'))
          throw new QueryError(
            'InvalidParameter',
            'Invalid parameter: Tags Reason: Tag key must not be empty',
          );
      }
      return element('TopicArn', this.createTopic(name, attributes));
    });

    this.router.register('DeleteTopic', ({ params }) => {
      const arn = params.get('TopicArn');
      if (arn === null || arn === '') throw new QueryError('InvalidParameter', 'Invalid parameter: TopicArn');
      // DeleteTopic of a topic that does not exist succeeds, as on AWS.
      this.deleteTopic(arn);
      return undefined;
    });

    this.router.register('ListTopics', ({ params }) => {
      const arns = [...this.topicsByArn.keys()].sort();
      const token = params.get('NextToken');
      let start = 0;
      if (token !== null && token !== '') {
        start = Number.parseInt(Buffer.from(token, 'base64url').toString('utf8'), 10);
        if (!Number.isInteger(start) || start < 0) {
          throw new QueryError('InvalidParameter', 'Invalid parameter: NextToken');
        }
      }
      const chosen = arns.slice(start, start + 100);
      const next =
        start + 100 < arns.length ? Buffer.from(String(start + 100)).toString('base64url') : undefined;
      return (
        `<Topics>${chosen.map((arn) => `<member>${element('TopicArn', arn)}</member>`).join('')}</Topics>` +
        element('NextToken', next)
      );
    });

    this.router.register('GetTopicAttributes', ({ params }) => {
      const arn = params.get('TopicArn') ?? '';
      const topic = this.topicsByArn.get(arn);
      if (topic === undefined) throw new QueryError('NotFound', 'Topic does not exist', 404);
      const attributes: Record<string, string> = {
        TopicArn: topic.arn,
        Owner: this.accountId,
        DisplayName: '',
        SubscriptionsConfirmed: '0',
        SubscriptionsPending: '0',
        SubscriptionsDeleted: '0',
        ...topic.attributes,
      };
      return `<Attributes>${Object.entries(attributes)
        .map(([key, value]) => `<entry>${element('key', key)}${element('value', value)}</entry>`)
        .join('')}</Attributes>`;
    });

    this.router.register('Publish', ({ params }) => {
      const attributes: Record<string, SnsAttributeValue> = {};
      for (const entry of flattened(params, 'MessageAttributes')) {
        const name = entry.get('Name') ?? '';
        const value: SnsAttributeValue = { DataType: entry.get('Value.DataType') ?? '' };
        const stringValue = entry.get('Value.StringValue');
        const binaryValue = entry.get('Value.BinaryValue');
        if (stringValue !== undefined) value.StringValue = stringValue;
        if (binaryValue !== undefined) value.BinaryValue = binaryValue;
        attributes[name] = value;
      }
      const optional = (key: string): string | undefined => params.get(key) ?? undefined;
      const result = this.publish({
        ...defined('topicArn', optional('TopicArn')),
        ...defined('targetArn', optional('TargetArn')),
        ...defined('phoneNumber', optional('PhoneNumber')),
        ...defined('message', optional('Message')),
        ...defined('subject', optional('Subject')),
        ...defined('messageStructure', optional('MessageStructure')),
        ...defined('messageGroupId', optional('MessageGroupId')),
        ...defined('messageDeduplicationId', optional('MessageDeduplicationId')),
        attributes,
      });
      return element('MessageId', result.messageId) + element('SequenceNumber', result.sequenceNumber);
    });
  }
}

function defined<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

/**
 * Message attribute rules of SNS (sns-message-attributes.html): names of letters, digits, `_`, `-`
 * and `.` (not at either end, never two in a row, no AWS. or Amazon. prefix), at most 256
 * characters; a type String, Number or Binary with an optional `.suffix`, or String.Array; a
 * non-empty value in the field the type asks for.
 * @throws QueryError ParameterValueInvalid, InvalidParameter
 */
function checkAttributes(attributes: Record<string, SnsAttributeValue>): void {
  const names = Object.keys(attributes);
  if (names.length > MAX_ATTRIBUTES) {
    throw new QueryError(
      'InvalidParameter',
      `Invalid parameter: MessageAttributes Reason: Number of message attributes [${names.length}] exceeds the allowed maximum [${MAX_ATTRIBUTES}].`,
    );
  }
  for (const [name, value] of Object.entries(attributes)) {
    if (name === '')
      throw new QueryError('ParameterValueInvalid', 'The message attribute name must not be empty.');
    if (name.length > 256) {
      throw new QueryError(
        'ParameterValueInvalid',
        'Length of message attribute name must be less than 256 bytes.',
      );
    }
    if (name.startsWith('.')) {
      throw new QueryError(
        'ParameterValueInvalid',
        "Invalid message attribute name starting with character '.' was found.",
      );
    }
    if (name.endsWith('.')) {
      throw new QueryError(
        'ParameterValueInvalid',
        "Invalid message attribute name ending with character '.' was found.",
      );
    }
    const bad = /[^A-Za-z0-9_.-]/.exec(name);
    if (bad !== null) {
      const code = (bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase();
      throw new QueryError(
        'ParameterValueInvalid',
        `Invalid non-alphanumeric character '#x${code}' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.`,
      );
    }
    if (name.includes('..')) {
      throw new QueryError(
        'ParameterValueInvalid',
        "Message attribute name can not have successive '.' character.",
      );
    }
    if (/^(aws|amazon)\./i.test(name)) {
      throw new QueryError(
        'ParameterValueInvalid',
        `The message attribute name '${name}' is reserved: names can not start with AWS. or Amazon.`,
      );
    }
    const type = value.DataType;
    if (type === '') {
      throw new QueryError(
        'ParameterValueInvalid',
        `The message attribute '${name}' must contain non-empty message attribute value.`,
      );
    }
    if (!/^(String|Number|Binary)(\.[A-Za-z0-9_.-]+)?$/.test(type)) {
      throw new QueryError(
        'ParameterValueInvalid',
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    const field = type.startsWith('Binary') ? 'BinaryValue' : 'StringValue';
    const fieldValue = value[field];
    if (fieldValue === undefined) {
      throw new QueryError(
        'ParameterValueInvalid',
        `The message attribute '${name}' with type '${type}' must use field '${field === 'BinaryValue' ? 'Binary' : 'String'}'.`,
      );
    }
    if (fieldValue === '') {
      throw new QueryError(
        'ParameterValueInvalid',
        `The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${type}'.`,
      );
    }
    if (type.startsWith('Number')) {
      const number = Number(fieldValue);
      if (fieldValue.trim() === '' || !Number.isFinite(number)) {
        throw new QueryError(
          'ParameterValueInvalid',
          `Could not cast message attribute '${name}' value to number.`,
        );
      }
    }
    if (type === 'String.Array') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(fieldValue);
      } catch {
        parsed = undefined;
      }
      if (!Array.isArray(parsed) || parsed.some((item) => item !== null && typeof item === 'object')) {
        throw new QueryError(
          'ParameterValueInvalid',
          `The message attribute '${name}' with type 'String.Array' must be a JSON array of strings, numbers, booleans or null.`,
        );
      }
    }
  }
}
