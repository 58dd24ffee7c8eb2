export {
  type DeadLetter,
  type EventBridgeEvent,
  EventBusError,
  type EventBusRule,
  type EventBusTarget,
  eventTime,
  LocalEventBus,
  type LocalEventBusOptions,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
  type RetryPolicy,
} from './bus.js';
export { type EventPattern, InvalidEventPatternError, matchesPattern, parsePattern } from './pattern.js';
export {
  parseScheduleExpression,
  type Schedule,
  ScheduleExpressionError,
  scheduledEvent,
} from './schedule.js';
export { stepFunctionsTarget } from './targets.js';
