/**
 * Scheduled rules: EventBridge's schedule expressions (`rate(...)`; `cron(...)` is refused for now)
 * and the event a scheduled rule sends its targets.
 *
 * Rate expressions, as the EventBridge user guide's "Rate expressions reference" gives them:
 * `rate(value unit)`, a positive whole value and one of minute | minutes | hour | hours | day | days,
 * the unit singular for a value of 1 and plural above (`rate(1 hours)` and `rate(5 hour)` are
 * invalid). The schedule starts when the rule is created: the first event comes one period later.
 *
 * The scheduled event (the Lambda developer guide's "Using Lambda with scheduled events", and the
 * fixture `example-eventbridge-schedule.json` of aws/aws-lambda-rust-runtime):
 *
 *   { "version": "0", "id": "53dc4d37-…", "detail-type": "Scheduled Event", "source": "aws.events",
 *     "account": "123456789012", "time": "2015-10-08T16:53:06Z", "region": "us-east-1",
 *     "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"], "detail": {} }
 */
import { randomUUID } from 'node:crypto';
// Types only: bus.ts imports this module.
import type { EventBridgeEvent } from './bus.js';

/** A schedule expression EventBridge (or, for cron, this bus) would not take; `type` is PutRule's error. */
export class ScheduleExpressionError extends Error {
  override readonly name = 'ScheduleExpressionError';
  readonly type = 'ValidationException';
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** A parsed rate expression: the period between two events. */
export interface Schedule {
  expression: string;
  everyMs: number;
}

/**
 * Parses a schedule expression.
 * @throws ScheduleExpressionError for anything but a valid `rate(...)`, naming the expression and the
 *   reason (a `cron(...)` expression is valid on AWS but not supported here yet)
 */
export function parseScheduleExpression(expression: string): Schedule {
  const invalid = (reason: string) =>
    new ScheduleExpressionError(
      `Parameter ScheduleExpression is not valid: ${JSON.stringify(expression)}: ${reason}`,
    );
  if (/^cron\(.*\)$/s.test(expression))
    throw new ScheduleExpressionError(
      `schedule expression ${JSON.stringify(expression)}: cron(...) schedules are not supported by the local event bus yet; use rate(<value> <unit>)`,
    );
  const m = /^rate\(([^ ()]+) ([^ ()]+)\)$/.exec(expression);
  if (!m) throw invalid('expected rate(<value> <unit>) or cron(<fields>)');
  const [, valueText, unitText] = m as unknown as [string, string, string];
  if (!/^[1-9]\d*$/.test(valueText)) throw invalid(`the value ${valueText} is not a positive whole number`);
  const value = Number(valueText);
  if (!Number.isSafeInteger(value)) throw invalid(`the value ${valueText} is too large`);
  const singular = unitText.replace(/s$/, '') as keyof typeof UNIT_MS;
  if (!Object.hasOwn(UNIT_MS, singular))
    throw invalid(`the unit ${unitText} is not minute(s), hour(s) or day(s)`);
  const plural = unitText.endsWith('s');
  if (value === 1 && plural) throw invalid(`a value of 1 takes the singular unit (rate(1 ${singular}))`);
  if (value > 1 && !plural)
    throw invalid(`a value above 1 takes the plural unit (rate(${value} ${singular}s))`);
  return { expression, everyMs: value * UNIT_MS[singular] };
}

/** The event a scheduled rule sends to each of its targets, at `at` (default now). */
export function scheduledEvent(
  rule: { arn: string; account: string; region: string },
  at: Date = new Date(),
): EventBridgeEvent<Record<string, never>> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: rule.account,
    // EventBridge's `time` (bus.ts eventTime): ISO 8601 to the second.
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: rule.region,
    resources: [rule.arn],
    detail: {},
  };
}
