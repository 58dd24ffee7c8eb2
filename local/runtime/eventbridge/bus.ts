import { randomUUID } from 'node:crypto';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { type EventPattern, matchesPattern, parsePattern } from './pattern.js';
import { parseScheduleExpression, type Schedule, scheduledEvent } from './schedule.js';

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
  /**
   * Receives the whole event; a throw (or rejection) is a failed delivery, retried per the policy.
   * What it returns is the delivery's result (`fireSchedule` hands it back).
   */
  deliver(event: EventBridgeEvent): unknown;
  /** Like the target's RetryPolicy; the bus's `retry` option when absent. */
  retryPolicy?: Partial<RetryPolicy>;
}

/**
 * A rule, as PutRule takes it: an event pattern, a schedule, or both (then it fires on matching
 * events and on its schedule); at least one.
 */
export interface EventBusRule {
  name: string;
  /** An event pattern (object or JSON text), validated when the rule is put. */
  pattern?: EventPattern | string;
  /**
   * A schedule expression (`rate(5 minutes)`; `cron(...)` is refused for now), validated when the
   * rule is put: the targets get a "Scheduled Event" every period, from the rule's creation.
   */
  schedule?: string;
  targets: EventBusTarget[];
  state?: 'ENABLED' | 'DISABLED';
}

/** How one delivery ended: the target's result, or the error it went to the dead-letter list with. */
type DeliveryOutcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** setTimeout's longest wait (about 24.8 days); a longer period is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Pulumi's auto-naming suffix of a physical name (`trigger-registry-auth-1a2b3c4`). */
const AUTO_NAME_SUFFIX = /-[0-9a-f]{7}$/;

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
  private readonly rules = new Map<string, EventBusRule & { parsed?: EventPattern; every?: Schedule }>();
  /** The pending timer of each scheduled rule, by rule name. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly retry: RetryPolicy;
  private readonly inFlight = new Set<Promise<unknown>>();
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

  /**
   * PutRule + PutTargets. A scheduled rule starts its schedule now (replacing a rule of that name
   * restarts it).
   * @throws InvalidEventPatternError, ScheduleExpressionError, or EventBusError ValidationException
   *   for a rule with neither a pattern nor a schedule, or a schedule on a bus other than the default
   */
  putRule(rule: EventBusRule): void {
    if (rule.pattern === undefined && rule.schedule === undefined)
      throw new EventBusError(
        'ValidationException',
        'Parameter(s) EventPattern or ScheduleExpression must be specified.',
      );
    if (rule.schedule !== undefined && this.name !== 'default')
      throw new EventBusError(
        'ValidationException',
        'ScheduleExpression is supported only on the default event bus.',
      );
    const parsed = rule.pattern === undefined ? undefined : parsePattern(rule.pattern);
    const every = rule.schedule === undefined ? undefined : parseScheduleExpression(rule.schedule);
    this.stopSchedule(rule.name);
    this.rules.set(rule.name, { ...rule, ...(parsed ? { parsed } : {}), ...(every ? { every } : {}) });
    if (every && !this.closed) this.arm(rule.name, every.everyMs, Date.now() + every.everyMs);
  }

  removeRule(name: string): void {
    this.stopSchedule(name);
    this.rules.delete(name);
  }

  /**
   * Delivers one scheduled event of a scheduled rule now, as its schedule would (each target with its
   * retry policy; the schedule itself runs on), and resolves with each target's result, in order.
   * `ruleNameOrSuffix` is the rule's name, or the end of it after a dash, with or without Pulumi's
   * auto-naming suffix (`registry-auth` for `trigger-registry-auth-1a2b3c4`).
   * @throws Error when no scheduled rule (or more than one) has that name, the rule is disabled or the
   *   bus closed; rejects with a target's error when its delivery ended on the dead-letter list
   */
  async fireSchedule(ruleNameOrSuffix: string): Promise<unknown[]> {
    if (this.closed) throw new Error(`the event bus ${this.name} is closed`);
    const rule = this.scheduledRule(ruleNameOrSuffix);
    if (rule.state === 'DISABLED')
      throw new Error(`rule ${rule.name} is disabled: its schedule does not fire`);
    const outcomes = await this.fire(rule);
    for (const o of outcomes) if (!o.ok) throw o.error;
    return outcomes.map((o) => (o as { result: unknown }).result);
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

  /**
   * Stops accepting, retrying and scheduling: every schedule's timer is cleared, deliveries waiting
   * for a retry are dropped; running ones finish.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const name of [...this.timers.keys()]) this.stopSchedule(name);
    for (const wake of [...this.sleepers]) wake();
    await this.idle();
  }

  /** The scheduled rule `ruleNameOrSuffix` names (see fireSchedule). */
  private scheduledRule(ruleNameOrSuffix: string): EventBusRule & { every?: Schedule } {
    const scheduled = [...this.rules.values()].filter((r) => r.every);
    const exact = this.rules.get(ruleNameOrSuffix);
    if (exact?.every) return exact;
    if (exact) throw new Error(`rule ${ruleNameOrSuffix} has no schedule`);
    const found = scheduled.filter((r) =>
      [r.name, r.name.replace(AUTO_NAME_SUFFIX, '')].some(
        (n) => n === ruleNameOrSuffix || n.endsWith(`-${ruleNameOrSuffix}`),
      ),
    );
    const names = (rules: EventBusRule[]) => rules.map((r) => r.name).join(', ') || 'none';
    if (found.length !== 1)
      throw new Error(
        found.length === 0
          ? `no scheduled rule is named ${ruleNameOrSuffix} (scheduled rules: ${names(scheduled)})`
          : `${ruleNameOrSuffix} names several scheduled rules: ${names(found)}`,
      );
    return found[0] as EventBusRule & { every: Schedule };
  }

  /**
   * Waits for a scheduled rule's next event, due at `dueAt`, then fires it and waits for the one
   * after (a period it slept through, the process stopped, is skipped rather than caught up on).
   */
  private arm(name: string, everyMs: number, dueAt: number): void {
    const timer = setTimeout(
      () => {
        if (this.closed || this.timers.get(name) !== timer) return;
        const now = Date.now();
        if (now < dueAt) {
          this.arm(name, everyMs, dueAt);
          return;
        }
        this.arm(name, everyMs, dueAt + everyMs * Math.max(1, Math.ceil((now - dueAt) / everyMs)));
        const rule = this.rules.get(name);
        // A failed delivery is on the dead-letter list (and reported), as for a matched event.
        if (rule && rule.state !== 'DISABLED') void this.fire(rule);
      },
      Math.min(Math.max(0, dueAt - Date.now()), MAX_TIMER_MS),
    );
    // The bus's timers alone do not keep a process alive; close() clears them.
    timer.unref();
    this.timers.set(name, timer);
  }

  private stopSchedule(name: string): void {
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
  }

  /** One scheduled event of `rule`, to each of its targets. */
  private fire(rule: EventBusRule): Promise<DeliveryOutcome[]> {
    const event = scheduledEvent({
      arn: this.ruleArn(rule.name),
      account: this.accountId,
      region: this.region,
    });
    return Promise.all(
      rule.targets.map((target) => {
        const delivery = this.deliver(rule, target, event);
        this.inFlight.add(delivery);
        void delivery.finally(() => this.inFlight.delete(delivery));
        return delivery;
      }),
    );
  }

  private dispatch(event: EventBridgeEvent): void {
    if (this.closed) return;
    for (const rule of this.rules.values()) {
      if (rule.state === 'DISABLED' || !rule.parsed || !matchesPattern(rule.parsed, event)) continue;
      for (const target of rule.targets) {
        const delivery = this.deliver(rule, target, event);
        this.inFlight.add(delivery);
        void delivery.finally(() => this.inFlight.delete(delivery));
      }
    }
  }

  private async deliver(
    rule: EventBusRule,
    target: EventBusTarget,
    event: EventBridgeEvent,
  ): Promise<DeliveryOutcome> {
    const policy = { ...this.retry, ...target.retryPolicy };
    const firstAttempt = Date.now();
    // Delivery is asynchronous: PutEvents (or the emitting service) has its answer first.
    await nextMacrotask();
    for (let attempt = 0; ; attempt++) {
      let error: unknown;
      try {
        // Each target gets its own copy, as each AWS target gets its own request.
        return { ok: true, result: await target.deliver(structuredClone(event)) };
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
        return { ok: false, error };
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
      if (this.closed) return { ok: false, error };
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
