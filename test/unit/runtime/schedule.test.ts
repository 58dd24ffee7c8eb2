/**
 * Scheduled rules on the local event bus: EventBridge's rate expressions (the user guide's "Rate
 * expressions reference"), the "Scheduled Event" a scheduled rule sends (the Lambda developer
 * guide's scheduled event; aws/aws-lambda-rust-runtime's example-eventbridge-schedule.json), its
 * timer (cleared when the bus closes) and fireSchedule.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type EventBridgeEvent,
  EventBusError,
  LocalEventBus,
  parseScheduleExpression,
  ScheduleExpressionError,
  scheduledEvent,
} from '../../../local/runtime/eventbridge/index.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let bus: LocalEventBus | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
  vi.useRealTimers();
});

describe('parseScheduleExpression', () => {
  it('takes rate(value unit) with a singular unit for 1 and a plural one above', () => {
    expect(parseScheduleExpression('rate(1 minute)')).toEqual({
      expression: 'rate(1 minute)',
      everyMs: MINUTE,
    });
    expect(parseScheduleExpression('rate(5 minutes)').everyMs).toBe(5 * MINUTE);
    expect(parseScheduleExpression('rate(1 hour)').everyMs).toBe(HOUR);
    expect(parseScheduleExpression('rate(6 hours)').everyMs).toBe(6 * HOUR);
    expect(parseScheduleExpression('rate(11 hours)').everyMs).toBe(11 * HOUR);
    expect(parseScheduleExpression('rate(1 day)').everyMs).toBe(DAY);
    expect(parseScheduleExpression('rate(30 days)').everyMs).toBe(30 * DAY);
  });

  it('refuses what EventBridge refuses, naming the expression and the reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['rate(1 hours)', /a value of 1 takes the singular unit \(rate\(1 hour\)\)/],
      ['rate(5 hour)', /a value above 1 takes the plural unit \(rate\(5 hours\)\)/],
      ['rate(0 minutes)', /the value 0 is not a positive whole number/],
      ['rate(-1 minutes)', /not a positive whole number/],
      ['rate(1.5 hours)', /not a positive whole number/],
      ['rate(05 minutes)', /not a positive whole number/],
      ['rate(30 seconds)', /the unit seconds is not minute\(s\), hour\(s\) or day\(s\)/],
      ['rate(2 weeks)', /the unit weeks/],
      ['rate(2 constructors)', /the unit constructors/],
      ['rate(5  minutes)', /expected rate\(<value> <unit>\)/],
      ['rate(5minutes)', /expected rate/],
      ['RATE(5 minutes)', /expected rate/],
      ['every 5 minutes', /expected rate/],
      ['', /expected rate/],
    ];
    for (const [expression, reason] of cases) {
      const parse = () => parseScheduleExpression(expression);
      expect(parse, expression).toThrow(ScheduleExpressionError);
      expect(parse, expression).toThrow(reason);
      expect(parse, expression).toThrow(
        `Parameter ScheduleExpression is not valid: ${JSON.stringify(expression)}`,
      );
    }
  });

  it('refuses cron(...) for now, clearly (valid on AWS, not supported by the local bus)', () => {
    const parse = () => parseScheduleExpression('cron(0 */6 * * ? *)');
    expect(parse).toThrow(ScheduleExpressionError);
    expect(parse).toThrow(
      'schedule expression "cron(0 */6 * * ? *)": cron(...) schedules are not supported by the local event bus yet; use rate(<value> <unit>)',
    );
    try {
      parse();
    } catch (err) {
      expect((err as ScheduleExpressionError).type).toBe('ValidationException');
    }
  });
});

describe('scheduledEvent', () => {
  it("is AWS's scheduled event: Scheduled Event from aws.events, the rule's ARN, an empty detail", () => {
    const arn = 'arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule';
    const event = scheduledEvent(
      { arn, account: '123456789012', region: 'us-east-1' },
      new Date('2015-10-08T16:53:06.789Z'),
    );
    expect(event).toEqual({
      version: '0',
      id: expect.stringMatching(UUID),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: '2015-10-08T16:53:06Z',
      region: 'us-east-1',
      resources: [arn],
      detail: {},
    });
    // Exactly these fields, in AWS's order.
    expect(Object.keys(event)).toEqual([
      'version',
      'id',
      'detail-type',
      'source',
      'account',
      'time',
      'region',
      'resources',
      'detail',
    ]);
    expect(scheduledEvent({ arn, account: '1', region: 'r' }).id).not.toBe(event.id);
  });
});

describe('LocalEventBus scheduled rules', () => {
  const fakeTimers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });

  it('sends the scheduled event to the targets every period from the rule’s creation, and stops at close', async () => {
    fakeTimers();
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    bus = new LocalEventBus({ region: 'eu-west-1', accountId: '111122223333' });
    const received: EventBridgeEvent[] = [];
    bus.putRule({
      name: 'trigger-registry-auth-1a2b3c4',
      schedule: 'rate(6 hours)',
      targets: [{ id: 'fn', deliver: (e) => received.push(e) }],
    });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(6 * HOUR - 1);
    await bus.idle();
    expect(received).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await bus.idle();
    expect(received).toEqual([
      {
        version: '0',
        id: expect.stringMatching(UUID),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '111122223333',
        time: '2026-01-01T06:00:00Z',
        region: 'eu-west-1',
        resources: ['arn:aws:events:eu-west-1:111122223333:rule/trigger-registry-auth-1a2b3c4'],
        detail: {},
      },
    ]);
    await vi.advanceTimersByTimeAsync(12 * HOUR);
    await bus.idle();
    expect(received.map((e) => e.time)).toEqual([
      '2026-01-01T06:00:00Z',
      '2026-01-01T12:00:00Z',
      '2026-01-01T18:00:00Z',
    ]);
    expect(new Set(received.map((e) => e.id)).size).toBe(3);

    await bus.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(24 * HOUR);
    expect(received).toHaveLength(3);
  });

  it('waits out a period longer than setTimeout can (rate(30 days)) in steps, firing once', async () => {
    fakeTimers();
    bus = new LocalEventBus();
    const received: EventBridgeEvent[] = [];
    bus.putRule({
      name: 'monthly',
      schedule: 'rate(30 days)',
      targets: [{ id: 't', deliver: (e) => received.push(e) }],
    });
    await vi.advanceTimersByTimeAsync(30 * DAY - MINUTE);
    await bus.idle();
    expect(received).toEqual([]);
    await vi.advanceTimersByTimeAsync(MINUTE);
    await bus.idle();
    expect(received).toHaveLength(1);
  });

  it('keeps scheduled events and pattern rules apart; a rule with both fires on each', async () => {
    fakeTimers();
    bus = new LocalEventBus();
    const scheduled: EventBridgeEvent[] = [];
    const matched: EventBridgeEvent[] = [];
    const both: EventBridgeEvent[] = [];
    bus.putRule({
      name: 'tick',
      schedule: 'rate(1 minute)',
      targets: [{ id: 's', deliver: (e) => scheduled.push(e) }],
    });
    // A pattern that a scheduled event would match, were it put on the bus: it is not.
    bus.putRule({
      name: 'any-aws',
      pattern: { source: [{ prefix: '' }] },
      targets: [{ id: 'm', deliver: (e) => matched.push(e) }],
    });
    bus.putRule({
      name: 'both',
      pattern: { source: ['app.orders'] },
      schedule: 'rate(2 minutes)',
      targets: [{ id: 'b', deliver: (e) => both.push(e) }],
    });
    await bus.putEvents([{ Source: 'app.orders', DetailType: 'Order', Detail: '{}' }]);
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    await bus.idle();
    expect(scheduled.map((e) => e['detail-type'])).toEqual(['Scheduled Event', 'Scheduled Event']);
    expect(matched.map((e) => e.source)).toEqual(['app.orders']);
    expect(both.map((e) => e['detail-type']).sort()).toEqual(['Order', 'Scheduled Event']);
  });

  it('does not fire a disabled rule; replacing or removing a rule restarts or stops its schedule', async () => {
    fakeTimers();
    bus = new LocalEventBus();
    const received: string[] = [];
    const rule = (state: 'ENABLED' | 'DISABLED', id: string) => ({
      name: 'tick',
      schedule: 'rate(1 minute)',
      state,
      targets: [{ id, deliver: () => received.push(id) }],
    });
    bus.putRule(rule('DISABLED', 'off'));
    await vi.advanceTimersByTimeAsync(MINUTE);
    await bus.idle();
    expect(received).toEqual([]);
    await expect(bus.fireSchedule('tick')).rejects.toThrow('rule tick is disabled');
    bus.putRule(rule('ENABLED', 'on'));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(MINUTE);
    await bus.idle();
    expect(received).toEqual(['on']);
    bus.removeRule('tick');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses a rule with neither a pattern nor a schedule, a bad schedule, or a schedule on another bus', () => {
    bus = new LocalEventBus();
    expect(() => bus?.putRule({ name: 'empty', targets: [] })).toThrow(EventBusError);
    expect(() => bus?.putRule({ name: 'empty', targets: [] })).toThrow(
      'Parameter(s) EventPattern or ScheduleExpression must be specified.',
    );
    expect(() => bus?.putRule({ name: 'cron', schedule: 'cron(0 12 * * ? *)', targets: [] })).toThrow(
      /cron\(\.\.\.\) schedules are not supported/,
    );
    expect(() => bus?.putRule({ name: 'bad', schedule: 'rate(1 hours)', targets: [] })).toThrow(
      ScheduleExpressionError,
    );
    const custom = new LocalEventBus({ name: 'orders' });
    expect(() => custom.putRule({ name: 'tick', schedule: 'rate(1 minute)', targets: [] })).toThrow(
      'ScheduleExpression is supported only on the default event bus.',
    );
    void custom.close();
  });
});

describe('LocalEventBus.fireSchedule', () => {
  it("delivers one scheduled event now and resolves with each target's result", async () => {
    bus = new LocalEventBus({ region: 'us-east-1', accountId: '000000000000' });
    const received: EventBridgeEvent[] = [];
    bus.putRule({
      name: 'trigger-registry-auth-1a2b3c4',
      schedule: 'rate(6 hours)',
      targets: [
        {
          id: 'fn',
          deliver: async (e) => {
            received.push(e);
            return { outcomes: [{ service: 'web', outcome: 'refreshed' }] };
          },
        },
      ],
    });
    const before = Date.now();
    expect(await bus.fireSchedule('trigger-registry-auth-1a2b3c4')).toEqual([
      { outcomes: [{ service: 'web', outcome: 'refreshed' }] },
    ]);
    expect(received).toHaveLength(1);
    const [event] = received as [EventBridgeEvent];
    expect(event).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      resources: ['arn:aws:events:us-east-1:000000000000:rule/trigger-registry-auth-1a2b3c4'],
      detail: {},
    });
    expect(Date.parse(event.time)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
  });

  it('finds the rule by the end of its name, with or without the auto-naming suffix', async () => {
    bus = new LocalEventBus();
    const got: string[] = [];
    for (const name of ['trigger-registry-auth-1a2b3c4', 'nightly-report'])
      bus.putRule({ name, schedule: 'rate(1 day)', targets: [{ id: name, deliver: () => name }] });
    bus.putRule({ name: 'trigger-push-0f0f0f0', pattern: { source: ['aws.ecr'] }, targets: [] });
    for (const key of ['registry-auth', 'trigger-registry-auth', 'auth', 'report', 'nightly-report'])
      got.push(...((await bus.fireSchedule(key)) as string[]));
    expect(got).toEqual([
      'trigger-registry-auth-1a2b3c4',
      'trigger-registry-auth-1a2b3c4',
      'trigger-registry-auth-1a2b3c4',
      'nightly-report',
      'nightly-report',
    ]);
    await expect(bus.fireSchedule('istry-auth')).rejects.toThrow(
      'no scheduled rule is named istry-auth (scheduled rules: trigger-registry-auth-1a2b3c4, nightly-report)',
    );
    await expect(bus.fireSchedule('trigger-push-0f0f0f0')).rejects.toThrow('has no schedule');
    await expect(bus.fireSchedule('push')).rejects.toThrow('no scheduled rule is named push');
    bus.putRule({ name: 'other-report', schedule: 'rate(1 day)', targets: [] });
    await expect(bus.fireSchedule('report')).rejects.toThrow(
      'report names several scheduled rules: nightly-report, other-report',
    );
  });

  it('rejects with the error a failing target ended on, after its retries, and keeps the dead letter', async () => {
    bus = new LocalEventBus({ retry: { maximumRetryAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    let attempts = 0;
    bus.putRule({
      name: 'tick',
      schedule: 'rate(1 minute)',
      targets: [
        {
          id: 'arn:aws:lambda:us-east-1:000000000000:function:f',
          deliver: () => {
            attempts++;
            throw new Error('f does not permit events.amazonaws.com from the rule to invoke it');
          },
        },
      ],
    });
    await expect(bus.fireSchedule('tick')).rejects.toThrow('does not permit events.amazonaws.com');
    expect(attempts).toBe(3);
    expect(bus.deadLetters).toHaveLength(1);
    expect(bus.deadLetters[0]?.event['detail-type']).toBe('Scheduled Event');
    expect(bus.deadLetters[0]?.attributes).toMatchObject({
      RULE_ARN: 'arn:aws:events:us-east-1:000000000000:rule/tick',
      EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
      RETRY_ATTEMPTS: 2,
    });
  });

  it('retries a failed delivery and resolves with the result of the attempt that succeeded', async () => {
    bus = new LocalEventBus({ retry: { baseDelayMs: 1, maxDelayMs: 2 } });
    let attempts = 0;
    bus.putRule({
      name: 'tick',
      schedule: 'rate(1 minute)',
      targets: [
        {
          id: 't',
          deliver: () => {
            attempts++;
            if (attempts < 2) throw new Error('throttled');
            return 'ok';
          },
        },
      ],
    });
    expect(await bus.fireSchedule('tick')).toEqual(['ok']);
  });

  it('refuses once the bus is closed', async () => {
    bus = new LocalEventBus();
    bus.putRule({ name: 'tick', schedule: 'rate(1 minute)', targets: [] });
    await bus.close();
    await expect(bus.fireSchedule('tick')).rejects.toThrow('the event bus default is closed');
  });
});
