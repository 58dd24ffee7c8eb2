/**
 * An execution's history in the shape of GetExecutionHistory's HistoryEvent: `timestamp`, `type`,
 * `id`, `previousEventId` and one `<type>EventDetails` object. Events come from two places:
 * aws-local-stepfunctions' event log (state entered/exited, Map iterations; `localType` keeps the
 * library's own type) and the engine itself (execution start and end, the Task-level events the
 * library does not have: TaskScheduled/Started/Submitted/Succeeded/Failed/TimedOut and the
 * LambdaFunction* family for direct function ARNs). Library events without an AWS counterpart
 * (StateFailed, StateRetried, StateCaught, ParallelBranch*) keep their library type.
 */

export interface HistoryEvent {
  timestamp: Date;
  type: string;
  id: number;
  previousEventId: number;
  /** The aws-local-stepfunctions event type this one was made from, when it was. */
  localType?: string;
  [details: string]: unknown;
}

/** The library's EventLog, as much of it as the mapping reads. */
export interface LibraryEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  parentState?: { name: string; type: string };
  index?: number;
  Error?: string;
  Cause?: unknown;
  retry?: { retrier: unknown; attempt: number };
  catch?: { catcher: unknown };
}

const json = (value: unknown) => JSON.stringify(value ?? null);
/** AWS's details member: `stateEnteredEventDetails` for every *StateEntered, `taskScheduledEventDetails`… */
function detailsKey(type: string): string {
  if (type.endsWith('StateEntered')) return 'stateEnteredEventDetails';
  if (type.endsWith('StateExited')) return 'stateExitedEventDetails';
  if (type.endsWith('StateAborted')) return 'stateAbortedEventDetails';
  return `${type[0]?.toLowerCase()}${type.slice(1)}EventDetails`;
}

/** AWS's quota on a Standard workflow's history: 25,000 events (service-quotas.html). */
export const MAX_HISTORY_EVENTS = 25_000;

/** The events that close an execution. */
const CLOSING_EVENTS = new Set([
  'ExecutionSucceeded',
  'ExecutionFailed',
  'ExecutionAborted',
  'ExecutionTimedOut',
]);

/** The Cause AWS reports when the history quota ends an execution (its Error is States.Runtime). */
export const historyLimitCause = (maxEvents: number) =>
  `The execution reached the maximum number of history events (${maxEvents}).`;

export interface HistoryLimit {
  /** The most events a history may hold (AWS: MAX_HISTORY_EVENTS). */
  maxEvents: number;
  /**
   * Called once, when an event would take the last place and is not ExecutionSucceeded: true
   * when the execution fails for it (ExecutionFailed then takes the last place), false when the
   * execution is closing already (the event is dropped; only its closing event is still recorded).
   */
  onReached: () => boolean;
}

/**
 * One execution's history. With a limit, it ends as AWS ends a Standard workflow's history at
 * its quota ("Avoid reaching the history quota",
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html): when the history
 * holds maxEvents − 1 events, an ExecutionSucceeded still takes the last place, any other event
 * is replaced by ExecutionFailed with error States.Runtime and the cause "The execution reached
 * the maximum number of history events (25000)." (as AWS reports it), and nothing is recorded
 * after it. An execution that is closing for another reason keeps its own closing event there.
 */
export class ExecutionHistory {
  readonly events: HistoryEvent[] = [];
  private sealed = false;
  private reached = false;

  constructor(private readonly limit?: HistoryLimit) {}

  /** True once the quota failed the execution. */
  get limitReached(): boolean {
    return this.reached;
  }

  add(
    type: string,
    details?: Record<string, unknown>,
    extra?: { localType?: string; timestamp?: number },
  ): void {
    if (this.sealed) return;
    const limit = this.limit;
    if (limit !== undefined) {
      if (this.events.length >= limit.maxEvents) {
        this.sealed = true;
        return;
      }
      const last = this.events.length === limit.maxEvents - 1;
      if (last && type !== 'ExecutionSucceeded' && !CLOSING_EVENTS.has(type)) {
        if (limit.onReached()) {
          this.reached = true;
          this.push('ExecutionFailed', {
            error: 'States.Runtime',
            cause: historyLimitCause(limit.maxEvents),
          });
          this.sealed = true;
        }
        return;
      }
    }
    this.push(type, details, extra);
  }

  private push(
    type: string,
    details?: Record<string, unknown>,
    extra?: { localType?: string; timestamp?: number },
  ): void {
    const id = this.events.length + 1;
    const event: HistoryEvent = {
      timestamp: new Date(extra?.timestamp ?? Date.now()),
      type,
      id,
      previousEventId: id - 1,
    };
    if (details) event[detailsKey(type)] = details;
    if (extra?.localType) event.localType = extra.localType;
    this.events.push(event);
  }
}

/**
 * Appends the AWS-shaped events for one library event. `stateTypes` maps state names to their
 * types in the original definition (internal steps run as Tasks in the library); `caught` holds
 * the states whose failure a catcher took, so their exit is not reported as a success.
 */
export function recordLibraryEvent(
  history: ExecutionHistory,
  ev: LibraryEvent,
  stateTypes: ReadonlyMap<string, string>,
  caught: Set<string>,
): void {
  const extra = { localType: ev.type, timestamp: ev.timestamp };
  const name = ev.state?.name ?? ev.parentState?.name ?? '';
  const type = stateTypes.get(name) ?? ev.state?.type ?? '';
  const key = `${name}#${ev.index ?? ''}`;
  const withIndex = (d: Record<string, unknown>) => (ev.index === undefined ? d : { ...d, index: ev.index });
  switch (ev.type) {
    case 'StateEntered':
      caught.delete(key);
      history.add(
        `${type}StateEntered`,
        withIndex({ name, input: json(ev.state?.input), inputDetails: { truncated: false } }),
        extra,
      );
      if (type === 'Parallel') history.add('ParallelStateStarted', undefined, extra);
      return;
    case 'StateExited':
      if (type === 'Map' || type === 'Parallel') {
        if (!caught.has(key)) history.add(`${type}StateSucceeded`, undefined, extra);
      }
      caught.delete(key);
      history.add(
        `${type}StateExited`,
        withIndex({ name, output: json(ev.state?.output), outputDetails: { truncated: false } }),
        extra,
      );
      return;
    case 'StateFailed':
      if (type === 'Map' || type === 'Parallel') history.add(`${type}StateFailed`, undefined, extra);
      else
        history.add('StateFailed', withIndex({ name, error: ev.Error, cause: causeText(ev.Cause) }), extra);
      return;
    case 'StateRetried':
      history.add(
        'StateRetried',
        withIndex({ name, attempt: ev.retry?.attempt, retrier: ev.retry?.retrier }),
        extra,
      );
      return;
    case 'StateCaught':
      caught.add(key);
      history.add('StateCaught', withIndex({ name, catcher: ev.catch?.catcher }), extra);
      return;
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
      history.add(ev.type, { name, index: ev.index }, extra);
      return;
    case 'MapIterationFailed':
      history.add(ev.type, { name, index: ev.index, error: ev.Error, cause: causeText(ev.Cause) }, extra);
      return;
    case 'ParallelBranchStarted':
    case 'ParallelBranchSucceeded':
      history.add(ev.type, { name }, extra);
      return;
    case 'ParallelBranchFailed':
      history.add(ev.type, { name, error: ev.Error, cause: causeText(ev.Cause) }, extra);
      return;
    default:
      // Execution* events: the engine records the execution's start and end itself.
      return;
  }
}

const causeText = (cause: unknown) =>
  typeof cause === 'string' ? cause : cause === undefined ? undefined : json(cause);
