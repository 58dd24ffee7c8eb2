import { afterEach, describe, expect, it } from 'vitest';
import {
  type EventBridgeEvent,
  EventBusError,
  LocalEventBus,
  stepFunctionsTarget,
} from '../../../local/runtime/eventbridge/index.js';
import { SfnBackendError } from '../../../local/runtime/workflow/index.js';
import { until } from './harness.js';

let bus: LocalEventBus;
afterEach(async () => {
  await bus?.close();
});

const ORDERS_RULE = { source: ['app.orders'], detail: { state: ['created'] } };

describe('LocalEventBus.putEvents', () => {
  it('accepts entries like PutEvents and delivers the whole event to every matching target', async () => {
    bus = new LocalEventBus({ region: 'eu-west-1', accountId: '111122223333' });
    const received: EventBridgeEvent[] = [];
    const other: EventBridgeEvent[] = [];
    bus.putRule({
      name: 'orders',
      pattern: ORDERS_RULE,
      targets: [{ id: 'recorder', deliver: (e) => received.push(e) }],
    });
    bus.putRule({
      name: 'nothing',
      pattern: { source: ['app.billing'] },
      targets: [{ id: 'other', deliver: (e) => other.push(e) }],
    });

    const result = await bus.putEvents([
      {
        Source: 'app.orders',
        DetailType: 'Order',
        Detail: '{"state":"created","id":7}',
        Time: new Date('2024-05-06T07:08:09.123Z'),
      },
      { Source: 'app.orders', DetailType: 'Order', Detail: '{"state":"shipped"}' },
      { Source: 'app.orders', DetailType: 'Order', Detail: '[1,2]' },
      { Source: 'aws.ecr', DetailType: 'ECR Image Action', Detail: '{}' },
      { Source: 'app.orders', Detail: '{}' },
    ]);
    await bus.idle();

    expect(result.FailedEntryCount).toBe(3);
    expect(result.Entries.map((e) => ('ErrorCode' in e ? e.ErrorCode : 'ok'))).toEqual([
      'ok',
      'ok',
      'MalformedDetail',
      'NotAuthorizedForSourceException',
      'InvalidArgument',
    ]);
    expect(received).toEqual([
      {
        version: '0',
        id: (result.Entries[0] as { EventId: string }).EventId,
        'detail-type': 'Order',
        source: 'app.orders',
        account: '111122223333',
        time: '2024-05-06T07:08:09Z',
        region: 'eu-west-1',
        resources: [],
        detail: { state: 'created', id: 7 },
      },
    ]);
    expect(other).toEqual([]);
  });

  it('rejects a request with no entries or more than ten', async () => {
    bus = new LocalEventBus();

    await expect(bus.putEvents([])).rejects.toBeInstanceOf(EventBusError);
    await expect(
      bus.putEvents(Array.from({ length: 11 }, () => ({ Source: 'a', DetailType: 'b', Detail: '{}' }))),
    ).rejects.toThrow(/between 1 and 10/);
  });

  it('skips disabled rules', async () => {
    bus = new LocalEventBus();
    const received: unknown[] = [];
    bus.putRule({
      name: 'off',
      state: 'DISABLED',
      pattern: ORDERS_RULE,
      targets: [{ id: 't', deliver: (e) => received.push(e) }],
    });

    await bus.putEvents([{ Source: 'app.orders', DetailType: 'Order', Detail: '{"state":"created"}' }]);
    await bus.idle();

    expect(received).toEqual([]);
  });
});

describe('delivery retries and the dead-letter list', () => {
  it('retries a failing target with back-off until it succeeds', async () => {
    bus = new LocalEventBus({ retry: { maximumRetryAttempts: 3, baseDelayMs: 5 } });
    let attempts = 0;
    bus.putRule({
      name: 'flaky',
      pattern: ORDERS_RULE,
      targets: [
        {
          id: 'flaky',
          deliver: () => {
            attempts++;
            if (attempts < 3) throw Object.assign(new Error('throttled'), { type: 'ThrottlingException' });
          },
        },
      ],
    });

    await bus.putEvents([{ Source: 'app.orders', DetailType: 'Order', Detail: '{"state":"created"}' }]);
    await bus.idle();

    expect(attempts).toBe(3);
    expect(bus.deadLetters).toEqual([]);
  });

  it('dead-letters an event after the last retry, with the DLQ message attributes', async () => {
    bus = new LocalEventBus({ retry: { maximumRetryAttempts: 2, baseDelayMs: 1 } });
    let attempts = 0;
    bus.putRule({
      name: 'broken',
      pattern: ORDERS_RULE,
      targets: [
        {
          id: 'arn:aws:states:us-east-1:000000000000:stateMachine:deploy',
          deliver: () => {
            attempts++;
            throw Object.assign(new Error('slow down'), { type: 'ThrottlingException' });
          },
        },
      ],
    });

    await bus.putEvents([{ Source: 'app.orders', DetailType: 'Order', Detail: '{"state":"created"}' }]);
    await bus.idle();

    expect(attempts).toBe(3);
    expect(bus.deadLetters).toHaveLength(1);
    expect(bus.deadLetters[0]).toMatchObject({
      ruleName: 'broken',
      event: { source: 'app.orders', detail: { state: 'created' } },
      attributes: {
        RULE_ARN: 'arn:aws:events:us-east-1:000000000000:rule/broken',
        TARGET_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:deploy',
        ERROR_CODE: 'ThrottlingException',
        ERROR_MESSAGE: 'slow down',
        EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
        RETRY_ATTEMPTS: 2,
      },
    });
  });

  it('close() drops deliveries waiting for a retry instead of hanging', async () => {
    bus = new LocalEventBus({ retry: { maximumRetryAttempts: 5, baseDelayMs: 60_000 } });
    let attempts = 0;
    bus.putRule({
      name: 'down',
      pattern: ORDERS_RULE,
      targets: [
        {
          id: 'down',
          deliver: () => {
            attempts++;
            throw new Error('down');
          },
        },
      ],
    });
    await bus.putEvents([{ Source: 'app.orders', DetailType: 'Order', Detail: '{"state":"created"}' }]);
    await until(() => attempts === 1);

    await bus.close();

    expect(attempts).toBe(1);
  });

  it('starts a Step Functions execution per delivery, with the event as input and no name', async () => {
    bus = new LocalEventBus();
    const starts: Array<{ stateMachineArn: string; name?: string; input?: string }> = [];
    const sfn = {
      startExecution: async (request: { stateMachineArn: string; name?: string; input?: string }) => {
        starts.push(request);
        if (request.stateMachineArn.endsWith(':gone'))
          throw new SfnBackendError('StateMachineDoesNotExist', 'no');
        return { executionArn: `${request.stateMachineArn}:x`, startDate: new Date() };
      },
    };
    const arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:deploy';
    bus.putRule({
      name: 'deploy',
      pattern: ORDERS_RULE,
      targets: [stepFunctionsTarget(sfn, arn), stepFunctionsTarget(sfn, `${arn}:gone`, { id: 'gone' })],
    });

    const put = await bus.putEvents([
      { Source: 'app.orders', DetailType: 'Order', Detail: '{"state":"created"}' },
    ]);
    await bus.idle();

    const delivered = starts.find((s) => s.stateMachineArn === arn);
    expect(delivered?.name).toBeUndefined();
    expect(JSON.parse(delivered?.input ?? '{}')).toMatchObject({
      id: (put.Entries[0] as { EventId: string }).EventId,
      detail: { state: 'created' },
    });
    // not retried: the state machine does not exist
    expect(starts.filter((s) => s.stateMachineArn.endsWith(':gone'))).toHaveLength(1);
    expect(bus.deadLetters[0]?.attributes).toMatchObject({
      ERROR_CODE: 'StateMachineDoesNotExist',
      EXHAUSTED_RETRY_CONDITION: 'None',
      RETRY_ATTEMPTS: 0,
    });
  });

  it('publishes AWS service events (aws.* sources) and delivers duplicates as they come', async () => {
    bus = new LocalEventBus();
    const received: EventBridgeEvent[] = [];
    bus.putRule({
      name: 'ecr',
      pattern: { source: ['aws.ecr'] },
      targets: [{ id: 't', deliver: (e) => received.push(e) }],
    });
    const ecr: EventBridgeEvent = {
      version: '0',
      id: 'same',
      'detail-type': 'ECR Image Action',
      source: 'aws.ecr',
      account: '000000000000',
      time: '2024-01-01T00:00:00Z',
      region: 'us-east-1',
      resources: [],
      detail: {},
    };

    bus.publish(ecr);
    bus.publish(ecr);
    await bus.idle();

    expect(received).toEqual([ecr, ecr]);
  });
});
