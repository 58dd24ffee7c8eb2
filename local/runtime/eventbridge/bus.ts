import { randomUUID } from 'node:crypto';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { type EventPattern, matchesPattern, parsePattern } from './pattern.js';

/** An event as EventBridge delivers it to a target (the default target input: the whole event). */
export interface EventBridgeEvent<Detail = unknown> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Detail;
}

export interface EventBusTarget {
  id: string;
  /** Receives the whole event; a throw (or rejection) is a failed delivery, retried per the policy. */
  deliver(event: EventBridgeEvent): unknown;
  /** Like the target's RetryPolicy; the bus's `retry` option when absent. */
  retryPolicy?: Partial<RetryPolicy>;
}

export interface EventBusRule {
  name: string;
  /** An event pattern (object or JSON text), validated when the rule is put. */
  pattern: EventPattern | string;
  targets: EventBusTarget[];
  state?: 'ENABLED' | 'DISABLED';
}

export interface RetryPolicy {
  /** Retries after the first attempt (AWS: 0–185, default 185). */
  maximumRetryAttempts: number;
  /** Give up once the event is this old (AWS: 60–86,400 s, default 86,400). */
  maximumEventAgeSeconds: number;
  /** First back-off; doubles per retry (AWS: exponential back-off with jitter, not configurable). */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** PutEvents request entry. */
export interface PutEventsRequestEntry {
  Source?: string;
  DetailType?: string;
  /** JSON text of an object. */
  Detail?: string;
  Resources?: string[];
  Time?: Date;
  EventBusName?: string;
}

export type PutEventsResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

/** A delivery that exhausted its retries, with the message attributes an EventBridge DLQ message carries. */
export interface DeadLetter {
  event: EventBridgeEvent;
  ruleName: string;
  targetId: string;
  attributes: {
    RULE_ARN: string;
    TARGET_ARN: string;
    ERROR_CODE: string;
    ERROR_MESSAGE: string;
    EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts' | 'MaximumEventAgeInSeconds' | 'None';
    RETRY_ATTEMPTS: number;
  };
  error: unknown;
}

export interface LocalEventBusOptions {
  name?: string;
  region?: string;
  accountId?: string;
  /** Default retry policy of every target; tests shorten it. Default: 3 retries from 100 ms. */
  retry?: Partial<RetryPolicy>;
  /** Failed-delivery reporting; the dead-letter list keeps them either way. */
  onDeliveryError?: (info: { ruleName: string; targetId: string; attempt: number; error: unknown }) => void;
}

/** A PutEvents call EventBridge rejects as a whole. */
export class EventBusError extends Error {
  override readonly name = 'EventBusError';
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_ENTRY_BYTES = 262_144;

/**
 * An in-process event bus with EventBridge's delivery model: PutEvents answers as soon as the
 * events are accepted, then every enabled rule whose pattern matches gets the event, each target
 * the whole event (no input transformation, no execution name: a Step Functions target on AWS has
 * none either). A failing target is retried with exponential back-off up to its retry policy, then
 * its event goes to the dead-letter list. Delivery is at least once: nothing here deduplicates.
 */
export class LocalEventBus {
  readonly name: string;
  readonly region: string;
  readonly accountId: string;
  readonly deadLetters: DeadLetter[] = [];
  private readonly rules = new Map<string, EventBusRule & { parsed: EventPattern }>();
  private readonly retry: RetryPolicy;
  private readonly inFlight = new Set<Promise<void>>();
  /** Back-off waits in progress: each clears its timer and wakes its delivery. */
  private readonly sleepers = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: LocalEventBusOptions = {}) {
    this.name = options.name ?? 'default';
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.retry = {
      maximumRetryAttempts: 3,
      maximumEventAgeSeconds: 86_400,
      baseDelayMs: 100,
      maxDelayMs: 5_000,
      ...options.retry,
    };
  }

  ruleArn(name: string): string {
    const bus = this.name === 'default' ? '' : `${this.name}/`;
    return `arn:aws:events:${this.region}:${this.accountId}:rule/${bus}${name}`;
  }

  /** PutRule + PutTargets. @throws InvalidEventPatternError */
  putRule(rule: EventBusRule): void {
    const parsed = parsePattern(rule.pattern);
    this.rules.set(rule.name, { ...rule, parsed });
  }

  removeRule(name: string): void {
    this.rules.delete(name);
  }

  /**
   * PutEvents: 1–10 entries; each gets an EventId or an error code, as on AWS (a source starting
   * with "aws." is reserved for AWS services: use `publish` for events the stand-ins emit).
   * @throws EventBusError ValidationException
   */
  async putEvents(
    entries: PutEventsRequestEntry[],
  ): Promise<{ FailedEntryCount: number; Entries: PutEventsResultEntry[] }> {
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10) {
      throw new EventBusError(
        'ValidationException',
        "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10",
      );
    }
    const results: PutEventsResultEntry[] = entries.map((entry) => {
      const problem = entryProblem(entry, this.name);
      if (problem) return problem;
      const event: EventBridgeEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType as string,
        source: entry.Source as string,
        account: this.accountId,
        time: eventTime(entry.Time ?? new Date()),
        region: this.region,
        resources: entry.Resources ?? [],
        detail: JSON.parse(entry.Detail as string),
      };
      this.dispatch(event);
      return { EventId: event.id };
    });
    return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
  }

  /** Puts an event the way an AWS service emits it onto the default bus (any source, a complete event). */
  publish(event: EventBridgeEvent): void {
    this.dispatch(structuredClone(event));
  }

  /** Resolves when every delivery started so far has succeeded or gone to the dead-letter list. */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops accepting and retrying: deliveries waiting for a retry are dropped; running ones finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of [...this.sleepers]) wake();
    await this.idle();
  }

  private dispatch(event: EventBridgeEvent): void {
    if (this.closed) return;
    for (const rule of this.rules.values()) {
      if (rule.state === 'DISABLED' || !matchesPattern(rule.parsed, event)) continue;
      for (const target of rule.targets) {
        const delivery = this.deliver(rule, target, event);
        this.inFlight.add(delivery);
        void delivery.finally(() => this.inFlight.delete(delivery));
      }
    }
  }

  private async deliver(rule: EventBusRule, target: EventBusTarget, event: EventBridgeEvent): Promise<void> {
    const policy = { ...this.retry, ...target.retryPolicy };
    const firstAttempt = Date.now();
    // Delivery is asynchronous: PutEvents (or the emitting service) has its answer first.
    await nextMacrotask();
    for (let attempt = 0; ; attempt++) {
      let error: unknown;
      try {
        // Each target gets its own copy, as each AWS target gets its own request.
        await target.deliver(structuredClone(event));
        return;
      } catch (err) {
        error = err;
      }
      this.options.onDeliveryError?.({ ruleName: rule.name, targetId: target.id, attempt, error });
      const retryable = (error as { retryable?: unknown })?.retryable !== false;
      const delay = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
      const tooOld = Date.now() + delay - firstAttempt > policy.maximumEventAgeSeconds * 1000;
      const exhausted = attempt >= policy.maximumRetryAttempts;
      if (!retryable || exhausted || tooOld || this.closed) {
        this.deadLetters.push({
          event,
          ruleName: rule.name,
          targetId: target.id,
          attributes: {
            RULE_ARN: this.ruleArn(rule.name),
            TARGET_ARN: target.id,
            ERROR_CODE: errorCode(error),
            ERROR_MESSAGE: error instanceof Error ? error.message : String(error),
            EXHAUSTED_RETRY_CONDITION: !retryable
              ? 'None'
              : exhausted
                ? 'MaximumRetryAttempts'
                : 'MaximumEventAgeInSeconds',
            RETRY_ATTEMPTS: attempt,
          },
          error,
        });
        return;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.sleepers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, delay);
        this.sleepers.add(wake);
      });
      if (this.closed) return;
    }
  }
}

function errorCode(error: unknown): string {
  const e = error as { type?: unknown; code?: unknown; name?: unknown };
  for (const v of [e?.type, e?.code, e?.name]) if (typeof v === 'string' && v) return v;
  return 'SDK_CLIENT_ERROR';
}

function entryProblem(entry: PutEventsRequestEntry, busName: string): PutEventsResultEntry | undefined {
  const invalid = (message: string) => ({ ErrorCode: 'InvalidArgument', ErrorMessage: message });
  if (!entry.Source) return invalid('Parameter Source is not valid. Reason: Source is a required argument.');
  if (!entry.DetailType)
    return invalid('Parameter DetailType is not valid. Reason: DetailType is a required argument.');
  if (!entry.Detail) return invalid('Parameter Detail is not valid. Reason: Detail is a required argument.');
  if (
    entry.EventBusName !== undefined &&
    entry.EventBusName !== busName &&
    !entry.EventBusName.endsWith(`:event-bus/${busName}`)
  ) {
    return {
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: `Event bus ${entry.EventBusName} does not exist.`,
    };
  }
  if (entry.Time !== undefined && !(entry.Time instanceof Date && !Number.isNaN(entry.Time.getTime()))) {
    return invalid('Parameter Time is not valid.');
  }
  if (entry.Source.startsWith('aws.')) {
    return {
      ErrorCode: 'NotAuthorizedForSourceException',
      ErrorMessage: `Not authorized for the source ${entry.Source}.`,
    };
  }
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    detail = undefined;
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  const size = Buffer.byteLength(
    entry.Source +
      entry.DetailType +
      entry.Detail +
      (entry.Resources ?? []).join('') +
      (entry.Time ? '0000000000000' : ''),
    'utf8',
  );
  if (size > MAX_ENTRY_BYTES) return invalid('Total size of the entries in the request is over the limit.');
  return undefined;
}

/** EventBridge's `time`: ISO 8601 to the second, `2019-11-16T01:54:34Z`. */
export const eventTime = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');
