import { randomUUID } from 'node:crypto';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { ExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { TokenBucket, type TokenBucketOptions } from '../../aws/throttle.js';
import {
  BLOCKING_RULES,
  DefinitionError,
  isObject,
  type Json,
  lintDefinition,
  parseDefinition,
  substituteDefinition,
  validateDefinition,
} from './definition.js';
import {
  dataLimitExceeded,
  MAX_PAYLOAD_BYTES,
  payloadBytes,
  statesTimeoutErrorFactory,
  TerminalStateError,
  toLambdaFunctionError,
} from './errors.js';
import {
  ExecutionHistory,
  type HistoryEvent,
  historyLimitCause,
  type LibraryEvent,
  MAX_HISTORY_EVENTS,
  recordLibraryEvent,
} from './history.js';
import {
  allTaskBindings,
  type DistributedMapStep,
  EXECUTION_CONTEXT_KEY,
  functionNameOf,
  type InternalStep,
  MAX_TIMER_SECONDS,
  type PreparedDefinition,
  prepareDefinition,
  type TaskBinding,
} from './prepare.js';
import { evaluateReferencePath } from './reference-path.js';
import { type SfnBackend, SfnBackendError } from './sfn-backend.js';
import { type CallbackTask, TaskTokenBroker } from './task-tokens.js';

/** What a bound handler gets besides its event: the Lambda context the project's handlers use. */
export interface InvocationContext {
  /** Aborts at the Task's TimeoutSeconds (or heartbeat expiry) and when the execution stops. */
  signal: AbortSignal;
  /** Epoch ms at which the Task times out. */
  deadlineMs: number;
  awsRequestId: string;
  functionName: string;
}

export type TaskHandler = (event: unknown, context: InvocationContext) => Promise<unknown>;

export interface StateMachineRegistration {
  name: string;
  /** ASL JSON text, `${Name}` placeholders allowed. */
  definition: string;
  substitutions?: Record<string, string | number | boolean>;
  /** Handlers by Lambda function name (the last part of `arn:aws:lambda:…:function:<name>`). */
  handlers: Record<string, TaskHandler>;
  roleArn?: string;
}

export interface WorkflowEngineOptions {
  region?: string;
  accountId?: string;
  /** Multiplies every Wait and every Retry interval (0.01 makes a 30 s Wait last 300 ms). */
  timeScale?: number;
  /** aws-local-stepfunctions' waitTimeOverrides: ms per Wait state name; wins over timeScale. */
  waitTimeOverrides?: Record<string, number>;
  /** aws-local-stepfunctions' retryIntervalOverrides: ms (or ms per retrier) per state name. */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** TimeoutSeconds of a Task that has none. 60, as aws-local-stepfunctions 3.0.0 (AWS: 99,999,999). */
  defaultTaskTimeoutSeconds?: number;
  /** How long `close()` waits for handlers that ignore their abort signal. */
  closeGraceMs?: number;
  /**
   * The most events an execution's history may hold: AWS's 25,000 for Standard workflows by
   * default (at least 2). Reaching it fails the execution as AWS does (see ExecutionHistory).
   */
  maxHistoryEvents?: number;
  /** The largest input or output a state, task or execution may carry: AWS's 262,144 bytes by default. */
  maxPayloadBytes?: number;
  /**
   * The StateTransition token bucket of Standard workflows (service-quotas.html, "Quotas related
   * to state throttling": 5,000 with a refill of 1,500 per second in the largest regions, 800/500
   * elsewhere), shared by every execution of the engine as AWS shares it per account and region.
   * A transition that finds it empty is delayed, not failed. None by default.
   */
  stateTransitionBucket?: TokenBucketOptions;
  /**
   * Called before a Distributed Map starts its Map Run's child executions, with the ARN of the
   * state machine they are started on (the top-level one, as on AWS) and the role of the
   * execution. AWS requires `states:StartExecution` on that state machine for the role; a throw
   * here fails the Map Run and the Map state as the missing permission would (States.Runtime).
   */
  authorizeChildStart?: (stateMachineArn: string, roleArn: string) => void | Promise<void>;
}

/** AWS's limit on a Distributed Map's concurrent child executions, and its default (state-map-distributed). */
export const DISTRIBUTED_MAP_MAX_CONCURRENCY = 10_000;

/** The error and cause AWS reports when a Map Run fails for its tolerated failure threshold. */
export const EXCEED_TOLERATED_FAILURE_THRESHOLD = {
  error: 'States.ExceedToleratedFailureThreshold',
  cause: 'The specified tolerated failure threshold was exceeded',
} as const;

export type MapRunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

/** DescribeMapRun's itemCounts and executionCounts (one item per child execution: no ItemBatcher). */
export interface MapRunCounts {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  aborted: number;
  total: number;
  resultsWritten: number;
  failuresNotRedrivable: number;
  pendingRedrive: number;
}

/** DescribeMapRun's answer. */
export interface MapRunDescription {
  mapRunArn: string;
  executionArn: string;
  status: MapRunStatus;
  startDate: Date;
  stopDate?: Date;
  /** As written in the definition; 0 when absent (AWS then runs up to 10,000 at once). */
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  toleratedFailureCount: number;
  itemCounts: MapRunCounts;
  executionCounts: MapRunCounts;
  redriveCount: number;
}

/** ListMapRuns' MapRunListItem. */
export interface MapRunListItem {
  executionArn: string;
  mapRunArn: string;
  /** The state machine of the child executions: `<state machine ARN>/<label>`. */
  stateMachineArn: string;
  startDate: Date;
  stopDate?: Date;
}

/** What an execution used of its quotas, for scale tests and benchmarks. */
export interface ExecutionStats {
  /** Events in its history (GetExecutionHistory's events). */
  historyEvents: number;
  /** The history quota it ran under. */
  maxHistoryEvents: number;
  /** True when the history quota failed it. */
  historyLimitReached: boolean;
  /**
   * The largest payload it carried, in UTF-8 bytes of JSON: its input and output, every state's
   * input and output, every Task's result and callback output.
   */
  largestPayloadBytes: number;
  /** Where that payload was: a state name, `execution input` or `execution output`. */
  largestPayloadAt: string;
  /** The payload quota it ran under. */
  maxPayloadBytes: number;
  /** State transitions as Standard workflows bill them (see `stateTransitions`). */
  stateTransitions: number;
  /** Transitions that found the StateTransition bucket empty (CloudWatch's ExecutionThrottled). */
  throttledTransitions: number;
  /** How long its Tasks waited for the bucket, in ms. */
  throttleDelayMs: number;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
/** DescribeExecution's answer; `mapRunArn` for a child execution of a Distributed Map. */
export type ExecutionDescription = Awaited<ReturnType<SfnBackend['describeExecution']>> & {
  mapRunArn?: string;
};

/** The EventBridge event Step Functions emits when an execution changes status. */
export interface ExecutionStatusChangeEvent {
  version: '0';
  id: string;
  'detail-type': 'Step Functions Execution Status Change';
  source: 'aws.states';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: {
    executionArn: string;
    stateMachineArn: string;
    name: string;
    status: ExecutionStatus;
    startDate: number;
    stopDate: number | null;
    input: string;
    inputDetails: { included: boolean };
    output: string | null;
    outputDetails: { included: boolean } | null;
    error: string | null;
    cause: string | null;
  };
}

/** Where `$$.Task.Token` points until a callback Task swaps in a fresh token. */
export const TASK_TOKEN_PLACEHOLDER = '__LOCAL_SFN_TASK_TOKEN__';

/** Characters AWS forbids in state machine and execution names (besides control characters). */
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;
const hasControlCharacter = (s: string) =>
  [...s].some((c) => {
    const code = c.charCodeAt(0);
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });
const STATUSES = new Set(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']);

interface Machine {
  arn: string;
  name: string;
  /** The registered state machine this one is, or whose Distributed Map's children run this one. */
  rootArn: string;
  roleArn: string;
  handlers: Record<string, TaskHandler>;
  prepared: PreparedDefinition;
  library: StateMachine;
}

interface Outcome {
  status: Exclude<ExecutionStatus, 'RUNNING'>;
  output?: string;
  error?: string;
  cause?: string;
}

interface Execution {
  arn: string;
  name: string;
  machine: Machine;
  input: string;
  startDate: Date;
  status: ExecutionStatus;
  outcome?: Outcome;
  stopDate?: Date;
  /** Aborted when the execution closes: every handler signal derives from it. */
  controller: AbortController;
  abortRun?: () => void;
  invocations: Set<Invocation>;
  history: ExecutionHistory;
  transitions: number;
  /** The largest payload seen and where (ExecutionStats). */
  largestPayload: { bytes: number; at: string };
  /** Transitions that found the StateTransition bucket empty, and the wait they cost. */
  throttledTransitions: number;
  throttleDelayMs: number;
  /** performance.now() until which the execution's next Task waits for the bucket. */
  throttledUntil: number;
  openStates: Map<string, string>;
  caught: Set<string>;
  /** Per Task state, the library's event index of each entry (StateEntered or StateRetried), in order. */
  entries: Map<string, Array<number | undefined>>;
  /** Per Task state, how many times its override was called. */
  calls: Map<string, number>;
  failState?: string;
  done: Promise<void>;
  /** True once the run ended and the history holds the closing event. */
  closed: boolean;
  waiters: Array<() => void>;
  /** The Map Run that started this execution, for a child execution of a Distributed Map. */
  mapRun?: MapRun;
  /** The Map Runs its Distributed Maps started, in order. */
  mapRuns: MapRun[];
}

/** One run of a Distributed Map state: its child executions and their counts. */
interface MapRun {
  arn: string;
  parent: Execution;
  step: DistributedMapStep;
  /** The state machine the children run (`<parent machine>/<label>`). */
  machine: Machine;
  /** Which entry of its state this is (the state's nth entry in the event log, see abortInside). */
  call: number;
  /** MaxConcurrency, or what MaxConcurrencyPath selected: 0 means AWS's default (10,000). */
  maxConcurrency: number;
  status: MapRunStatus;
  startDate: Date;
  stopDate?: Date;
  counts: MapRunCounts;
  children: Execution[];
  /** True once MapRunAborted is in the parent's history. */
  abortRecorded: boolean;
  /** Settles the Map state's step: called once, when the run closes. */
  settle?: (outcome: { ok: true; output: Json } | { ok: false; error: Error }) => void;
}

/**
 * Runs registered ASL state machines in-process with aws-local-stepfunctions 3.0.0, Tasks bound
 * to in-process handlers, behind the Step Functions API (SfnBackend) with AWS's semantics: names,
 * ARNs, same-name idempotency, StopExecution, history, task tokens, the 256 KiB payload limit,
 * the 25,000-event history quota, and optionally the StateTransition token bucket.
 * Deviations from AWS that could not be avoided are listed in docs/local-runtime.md.
 */
export class WorkflowEngine implements SfnBackend {
  readonly region: string;
  readonly accountId: string;
  private readonly options: Required<
    Omit<WorkflowEngineOptions, 'region' | 'accountId' | 'stateTransitionBucket' | 'authorizeChildStart'>
  >;
  private readonly authorizeChildStart: WorkflowEngineOptions['authorizeChildStart'];
  private readonly mapRuns = new Map<string, MapRun>();
  /** Library machines of Distributed Maps' children and selectors, made once per definition. */
  private readonly libraries = new WeakMap<object, StateMachine>();
  /** The StateTransition bucket, when one is configured. */
  private readonly transitionBucket: TokenBucket | undefined;
  private readonly machines = new Map<string, Machine>();
  private readonly executions = new Map<string, Execution>();
  private readonly broker = new TaskTokenBroker();
  private readonly listeners = new Set<(event: ExecutionStatusChangeEvent) => void>();
  private readonly handlerRuns = new Set<Promise<unknown>>();
  private closed = false;
  private timeoutError?: () => Error;

  constructor(options: WorkflowEngineOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    const timeScale = options.timeScale ?? 1;
    if (!(timeScale >= 0)) throw new RangeError(`timeScale must be a number >= 0, got ${timeScale}`);
    const maxHistoryEvents = options.maxHistoryEvents ?? MAX_HISTORY_EVENTS;
    if (!(Number.isInteger(maxHistoryEvents) && maxHistoryEvents >= 2)) {
      throw new RangeError(`maxHistoryEvents must be an integer >= 2, got ${maxHistoryEvents}`);
    }
    const maxPayloadBytes = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
    if (!(Number.isInteger(maxPayloadBytes) && maxPayloadBytes >= 1)) {
      throw new RangeError(`maxPayloadBytes must be an integer >= 1, got ${maxPayloadBytes}`);
    }
    this.options = {
      timeScale,
      waitTimeOverrides: options.waitTimeOverrides ?? {},
      retryIntervalOverrides: options.retryIntervalOverrides ?? {},
      defaultTaskTimeoutSeconds: options.defaultTaskTimeoutSeconds ?? 60,
      closeGraceMs: options.closeGraceMs ?? 5_000,
      maxHistoryEvents,
      maxPayloadBytes,
    };
    this.authorizeChildStart = options.authorizeChildStart;
    this.transitionBucket =
      options.stateTransitionBucket === undefined
        ? undefined
        : new TokenBucket(options.stateTransitionBucket);
  }

  /** The ARN a state machine of this name gets. */
  stateMachineArn(name: string): string {
    return `arn:aws:states:${this.region}:${this.accountId}:stateMachine:${name}`;
  }

  /**
   * Registers a state machine: renders the substitutions, validates with asl-validator, refuses
   * what the library would run unfaithfully (the blocking lint rules), binds every Task.
   * @throws DefinitionError; SfnBackendError InvalidName, StateMachineAlreadyExists
   */
  async registerStateMachine(registration: StateMachineRegistration): Promise<{ stateMachineArn: string }> {
    this.assertOpen();
    this.timeoutError ??= await statesTimeoutErrorFactory();
    const { name, handlers } = registration;
    assertName(name);
    const arn = this.stateMachineArn(name);
    if (this.machines.has(arn)) {
      throw new SfnBackendError('StateMachineAlreadyExists', `State Machine Already Exists: '${arn}'`);
    }
    const text = substituteDefinition(registration.definition, registration.substitutions);
    const definition = parseDefinition(text);
    const validation = validateDefinition(definition);
    if (!validation.isValid) {
      throw new DefinitionError(
        `Invalid State Machine Definition for ${name}`,
        validation.errors.map((e) => `${e.code}: ${e.message}`),
      );
    }
    const blocking = lintDefinition(definition).filter((v) => BLOCKING_RULES.has(v.rule));
    if (blocking.length) {
      throw new DefinitionError(
        `${name} uses what the local engine cannot run faithfully`,
        blocking.map((v) => `${v.rule} at ${v.path}: ${v.message}`),
      );
    }
    const prepared = prepareDefinition(definition, {
      defaultTaskTimeoutSeconds: this.options.defaultTaskTimeoutSeconds,
      timeScale: this.options.timeScale,
      waitTimeOverrides: this.options.waitTimeOverrides,
    });
    const missing = allTaskBindings(prepared)
      .filter((t) => t.functionName !== undefined && !Object.hasOwn(handlers, t.functionName))
      .map((t) => `${t.stateName}: no handler for function ${t.functionName}`);
    if (missing.length) throw new DefinitionError(`${name} has Tasks without a handler`, missing);
    const library = new StateMachine(prepared.definition as never, {
      validationOptions: { noValidate: true },
    });
    this.machines.set(arn, {
      arn,
      name,
      rootArn: arn,
      roleArn: registration.roleArn ?? `arn:aws:iam::${this.accountId}:role/${name}-role`,
      handlers: { ...handlers },
      prepared,
      library,
    });
    return { stateMachineArn: arn };
  }

  /**
   * StartExecution: a name of 1–80 allowed characters (a UUID when omitted); the same name with
   * the same input while RUNNING returns that execution, any other reuse is ExecutionAlreadyExists.
   * @throws SfnBackendError InvalidArn, StateMachineDoesNotExist, InvalidName, InvalidExecutionInput, ValidationException, ExecutionAlreadyExists
   */
  async startExecution(request: {
    stateMachineArn: string;
    name?: string;
    input?: string;
  }): Promise<{ executionArn: string; startDate: Date }> {
    this.assertOpen();
    const machine = this.machine(request.stateMachineArn);
    const name = request.name ?? randomUUID();
    assertName(name);
    const input = request.input ?? '{}';
    let inputJson: Json;
    try {
      inputJson = JSON.parse(input) as Json;
    } catch (err) {
      throw new SfnBackendError(
        'InvalidExecutionInput',
        `Invalid State Machine Execution Input: '${(err as Error).message}'`,
      );
    }
    const inputBytes = Buffer.byteLength(input, 'utf8');
    if (inputBytes > this.options.maxPayloadBytes) {
      throw new SfnBackendError(
        'ValidationException',
        `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${this.options.maxPayloadBytes}`,
      );
    }
    const arn = `arn:aws:states:${this.region}:${this.accountId}:execution:${machine.name}:${name}`;
    const existing = this.executions.get(arn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === input) {
        return { executionArn: arn, startDate: new Date(existing.startDate) };
      }
      throw new SfnBackendError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }
    const exec = this.launch(machine, arn, name, input, inputJson, inputBytes);
    return { executionArn: arn, startDate: new Date(exec.startDate) };
  }

  /** Creates an execution, records its start and runs it (StartExecution and Map Run children). */
  private launch(
    machine: Machine,
    arn: string,
    name: string,
    input: string,
    inputJson: Json,
    inputBytes: number,
    mapRun?: MapRun,
  ): Execution {
    const exec: Execution = {
      arn,
      name,
      machine,
      input,
      startDate: new Date(),
      status: 'RUNNING',
      controller: new AbortController(),
      invocations: new Set(),
      history: new ExecutionHistory({
        maxEvents: this.options.maxHistoryEvents,
        onReached: () => this.historyLimit(exec),
      }),
      transitions: 0,
      largestPayload: { bytes: inputBytes, at: 'execution input' },
      throttledTransitions: 0,
      throttleDelayMs: 0,
      throttledUntil: 0,
      openStates: new Map(),
      caught: new Set(),
      entries: new Map(),
      calls: new Map(),
      done: Promise.resolve(),
      closed: false,
      waiters: [],
      mapRuns: [],
      ...(mapRun ? { mapRun } : {}),
    };
    this.executions.set(arn, exec);
    exec.history.add('ExecutionStarted', {
      input,
      inputDetails: { truncated: false },
      roleArn: machine.roleArn,
    });
    this.emit(exec);
    exec.done = this.run(exec, inputJson);
    return exec;
  }

  /** DescribeExecution. @throws SfnBackendError InvalidArn, ExecutionDoesNotExist */
  async describeExecution(executionArn: string): Promise<ExecutionDescription> {
    return describe(this.execution(executionArn));
  }

  /**
   * StopExecution: ABORTED with the given error and cause; the run is aborted, every running
   * handler's signal aborts and open task tokens close. Stopping a closed execution changes nothing.
   * @throws SfnBackendError InvalidArn, ExecutionDoesNotExist, ValidationException
   */
  async stopExecution(request: {
    executionArn: string;
    error?: string;
    cause?: string;
  }): Promise<{ stopDate: Date }> {
    const exec = this.execution(request.executionArn);
    if (request.error !== undefined && request.error.length > 256) {
      throw new SfnBackendError(
        'ValidationException',
        "Value at 'error' failed to satisfy constraint: Member must have length less than or equal to 256",
      );
    }
    if (request.cause !== undefined && request.cause.length > 32_768) {
      throw new SfnBackendError(
        'ValidationException',
        "Value at 'cause' failed to satisfy constraint: Member must have length less than or equal to 32768",
      );
    }
    this.finish(exec, { status: 'ABORTED', error: request.error, cause: request.cause });
    await exec.done;
    return { stopDate: new Date(exec.stopDate ?? Date.now()) };
  }

  /**
   * ListExecutions, newest first: of a state machine, or (with `mapRunArn` instead) the child
   * executions of a Map Run, which then carry their `mapRunArn` as on AWS.
   * @throws SfnBackendError InvalidArn, StateMachineDoesNotExist, ResourceNotFound, ValidationException, InvalidToken
   */
  async listExecutions(request: {
    stateMachineArn?: string;
    mapRunArn?: string;
    statusFilter?: string;
    maxResults?: number;
    nextToken?: string;
  }): Promise<{
    executions: Array<{
      executionArn: string;
      stateMachineArn: string;
      name: string;
      status: string;
      startDate: Date;
      stopDate?: Date;
      mapRunArn?: string;
    }>;
    nextToken?: string;
  }> {
    if ((request.stateMachineArn === undefined) === (request.mapRunArn === undefined)) {
      throw new SfnBackendError(
        'ValidationException',
        'Exactly one of stateMachineArn and mapRunArn must be specified',
      );
    }
    const mapRun = request.mapRunArn === undefined ? undefined : this.mapRun(request.mapRunArn);
    const machine = request.stateMachineArn === undefined ? undefined : this.machine(request.stateMachineArn);
    if (request.statusFilter !== undefined && !STATUSES.has(request.statusFilter)) {
      throw new SfnBackendError(
        'ValidationException',
        `1 validation error detected: Value '${request.statusFilter}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]`,
      );
    }
    const all = (
      mapRun ? [...mapRun.children] : [...this.executions.values()].filter((e) => e.machine === machine)
    )
      .filter((e) => request.statusFilter === undefined || e.status === request.statusFilter)
      .reverse();
    const key = mapRun?.arn ?? (machine as Machine).arn;
    const { page, nextToken } = paginate(all, request.maxResults, request.nextToken, key);
    return {
      executions: page.map((e) => {
        const d = describe(e);
        return {
          executionArn: d.executionArn,
          stateMachineArn: d.stateMachineArn,
          name: d.name,
          status: d.status,
          startDate: d.startDate,
          ...(d.stopDate ? { stopDate: d.stopDate } : {}),
          ...(mapRun ? { mapRunArn: mapRun.arn } : {}),
        };
      }),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  /**
   * ListMapRuns: the Map Runs an execution's Distributed Maps started, in the order they started.
   * @throws SfnBackendError InvalidArn, ExecutionDoesNotExist
   */
  listMapRuns(executionArn: string): { mapRuns: MapRunListItem[] } {
    const exec = this.execution(executionArn);
    return {
      mapRuns: exec.mapRuns.map((run) => ({
        executionArn: exec.arn,
        mapRunArn: run.arn,
        stateMachineArn: run.machine.arn,
        startDate: new Date(run.startDate),
        ...(run.stopDate ? { stopDate: new Date(run.stopDate) } : {}),
      })),
    };
  }

  /**
   * DescribeMapRun: status, dates, settings and the item and child-execution counts.
   * @throws SfnBackendError InvalidArn, ResourceNotFound
   */
  describeMapRun(mapRunArn: string): MapRunDescription {
    const run = this.mapRun(mapRunArn);
    return {
      mapRunArn: run.arn,
      executionArn: run.parent.arn,
      status: run.status,
      startDate: new Date(run.startDate),
      ...(run.stopDate ? { stopDate: new Date(run.stopDate) } : {}),
      maxConcurrency: run.maxConcurrency,
      toleratedFailurePercentage: run.step.toleratedFailurePercentage ?? 0,
      toleratedFailureCount: run.step.toleratedFailureCount ?? 0,
      itemCounts: { ...run.counts },
      executionCounts: { ...run.counts },
      redriveCount: 0,
    };
  }

  /** GetExecutionHistory. @throws SfnBackendError InvalidArn, ExecutionDoesNotExist, ValidationException, InvalidToken */
  async getExecutionHistory(request: {
    executionArn: string;
    maxResults?: number;
    nextToken?: string;
    reverseOrder?: boolean;
  }): Promise<{ events: Array<Record<string, unknown>>; nextToken?: string }> {
    const exec = this.execution(request.executionArn);
    const events = request.reverseOrder ? [...exec.history.events].reverse() : exec.history.events;
    const { page, nextToken } = paginate(events, request.maxResults, request.nextToken, exec.arn);
    return {
      events: page.map((e) => structuredClone(e) as HistoryEvent),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  /** SendTaskSuccess. @throws SfnBackendError InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput, ValidationException */
  async sendTaskSuccess(request: { taskToken: string; output: string }): Promise<void> {
    this.broker.sendTaskSuccess(request.taskToken, request.output);
  }

  /** SendTaskFailure. @throws SfnBackendError InvalidToken, TaskDoesNotExist, TaskTimedOut, ValidationException */
  async sendTaskFailure(request: { taskToken: string; error?: string; cause?: string }): Promise<void> {
    this.broker.sendTaskFailure(request.taskToken, request.error, request.cause);
  }

  /** SendTaskHeartbeat. @throws SfnBackendError InvalidToken, TaskDoesNotExist, TaskTimedOut */
  async sendTaskHeartbeat(request: { taskToken: string }): Promise<void> {
    this.broker.sendTaskHeartbeat(request.taskToken);
  }

  /**
   * State transitions of an execution as Standard workflows bill them: every state entered
   * (Map iterations and Parallel branches included) plus every retry.
   */
  stateTransitions(executionArn: string): number {
    return this.execution(executionArn).transitions;
  }

  /**
   * What an execution used of its quotas: history events, the largest payload and where it was,
   * transitions and their throttling. Readable while it runs.
   * @throws SfnBackendError InvalidArn, ExecutionDoesNotExist
   */
  executionStats(executionArn: string): ExecutionStats {
    const exec = this.execution(executionArn);
    return {
      historyEvents: exec.history.events.length,
      maxHistoryEvents: this.options.maxHistoryEvents,
      historyLimitReached: exec.history.limitReached,
      largestPayloadBytes: exec.largestPayload.bytes,
      largestPayloadAt: exec.largestPayload.at,
      maxPayloadBytes: this.options.maxPayloadBytes,
      stateTransitions: exec.transitions,
      throttledTransitions: exec.throttledTransitions,
      throttleDelayMs: Math.round(exec.throttleDelayMs),
    };
  }

  /**
   * Listens to "Step Functions Execution Status Change" events, emitted like EventBridge does:
   * once when an execution starts (RUNNING) and once when it closes. Returns the unsubscribe function.
   */
  onStatusChange(listener: (event: ExecutionStatusChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the execution's description once it is closed.
   * @throws Error when it is still running after `timeoutMs`
   */
  async waitForExecution(executionArn: string, timeoutMs = 30_000): Promise<ExecutionDescription> {
    const exec = this.execution(executionArn);
    if (!exec.closed) {
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          exec.waiters = exec.waiters.filter((w) => w !== done);
          reject(new Error(`${executionArn} is still ${exec.status} after ${timeoutMs} ms`));
        }, timeoutMs);
        exec.waiters.push(done);
      });
    }
    return describe(exec);
  }

  /**
   * Stops every running execution (ABORTED, error "Engine.Closed"), waits for their runs and, up
   * to closeGraceMs, for handlers still finishing; afterwards nothing of the engine runs.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const exec of this.executions.values()) {
      this.finish(exec, {
        status: 'ABORTED',
        error: 'Engine.Closed',
        cause: 'The local workflow engine was closed',
      });
    }
    await Promise.all([...this.executions.values()].map((e) => e.done));
    if (this.handlerRuns.size) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.handlerRuns]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, this.options.closeGraceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.listeners.clear();
  }

  // --- execution ---------------------------------------------------------------------------------

  private async run(exec: Execution, input: Json): Promise<void> {
    const { machine } = exec;
    const { prepared } = machine;
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [stateName, binding] of prepared.tasks) {
      handlers[stateName] = (taskInput) => this.invokeTask(exec, binding, taskInput as Json);
    }
    for (const [stateName, step] of prepared.internal) {
      handlers[stateName] =
        step.kind === 'distributed'
          ? (stepInput) => this.runDistributedMap(exec, step, stepInput as Json)
          : (stepInput) => this.runInternalStep(exec, step, stepInput as Json);
    }
    const run = machine.library.run(input, {
      noThrowOnAbort: true,
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        waitTimeOverrides: { ...prepared.waitTimeOverrides, ...this.options.waitTimeOverrides },
        retryIntervalOverrides: this.options.retryIntervalOverrides,
      },
      context: this.libraryContext(exec, input),
    });
    exec.abortRun = run.abort;
    if (exec.status !== 'RUNNING') run.abort();
    const drained = (async () => {
      for await (const ev of run.eventLogs) this.onLibraryEvent(exec, ev as LibraryEvent);
    })();

    let settled: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      settled = { ok: true, result: await run.result };
    } catch (error) {
      settled = { ok: false, error };
    }
    // The outcome is decided once the event log is read to its end: a payload-limit failure seen
    // there wins, and a failing Fail state is known by name.
    await drained;
    let outcome: Outcome;
    if (settled.ok) {
      const output = JSON.stringify(settled.result ?? null);
      const outputBytes = Buffer.byteLength(output, 'utf8');
      if (exec.status === 'RUNNING') this.notePayload(exec, outputBytes, 'execution output');
      outcome =
        outputBytes > this.options.maxPayloadBytes
          ? {
              status: 'FAILED',
              error: 'States.DataLimitExceeded',
              cause: dataLimitExceeded(machine.name).message,
            }
          : { status: 'SUCCEEDED', output };
    } else {
      outcome = this.failureOutcome(exec, settled.error);
    }
    this.finish(exec, outcome);
    this.recordClose(exec);
    exec.closed = true;
    this.emit(exec);
    for (const waiter of exec.waiters.splice(0)) waiter();
  }

  /**
   * The context object the library runs with: `$$.Execution` (and the engine's copy of it, see
   * prepare.ts), `$$.StateMachine`, and the task token placeholder.
   */
  private libraryContext(exec: Execution, input: Json): Record<string, unknown> {
    const execution = {
      Id: exec.arn,
      Name: exec.name,
      RoleArn: exec.machine.roleArn,
      RedriveCount: 0,
    };
    return {
      Execution: execution,
      [EXECUTION_CONTEXT_KEY]: { ...execution, Input: input, StartTime: exec.startDate.toISOString() },
      StateMachine: { Id: exec.machine.arn, Name: exec.machine.name },
      Task: { Token: TASK_TOKEN_PLACEHOLDER },
    };
  }

  /**
   * Closes the execution with the first outcome that arrives; aborts the run, every handler and
   * every running Map Run (their children are ABORTED).
   */
  private finish(exec: Execution, outcome: Outcome): void {
    if (exec.status !== 'RUNNING') return;
    exec.status = outcome.status;
    exec.outcome = outcome;
    exec.stopDate = new Date();
    exec.controller.abort(new DOMException(`The execution is ${exec.status}`, 'AbortError'));
    exec.abortRun?.();
    for (const invocation of [...exec.invocations]) invocation.stop();
    for (const run of exec.mapRuns) this.abortMapRun(run);
  }

  private recordClose(exec: Execution): void {
    const outcome = exec.outcome as Outcome;
    const at = exec.stopDate?.getTime();
    for (const run of exec.mapRuns) {
      if (run.status !== 'ABORTED' || run.abortRecorded) continue;
      run.abortRecorded = true;
      exec.history.add('MapRunAborted', undefined, { timestamp: at });
    }
    if (outcome.status === 'ABORTED' || outcome.status === 'TIMED_OUT') {
      for (const [key, type] of exec.openStates) {
        exec.history.add(
          `${type}StateAborted`,
          { name: key.slice(0, key.lastIndexOf('#')) },
          { timestamp: at },
        );
      }
    }
    exec.openStates.clear();
    switch (outcome.status) {
      case 'SUCCEEDED':
        exec.history.add(
          'ExecutionSucceeded',
          { output: outcome.output, outputDetails: { truncated: false } },
          { timestamp: at },
        );
        break;
      case 'FAILED':
        exec.history.add(
          'ExecutionFailed',
          { error: outcome.error, cause: outcome.cause },
          { timestamp: at },
        );
        break;
      case 'ABORTED':
        exec.history.add(
          'ExecutionAborted',
          { error: outcome.error, cause: outcome.cause },
          { timestamp: at },
        );
        break;
      case 'TIMED_OUT':
        exec.history.add(
          'ExecutionTimedOut',
          { error: outcome.error, cause: outcome.cause },
          { timestamp: at },
        );
        break;
    }
  }

  private failureOutcome(exec: Execution, err: unknown): Outcome {
    if (err instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout' };
    const inner = err instanceof ExecutionError && err.cause instanceof Error ? err.cause : err;
    if (!(inner instanceof Error)) return { status: 'FAILED', error: 'States.Runtime', cause: String(inner) };
    let error: string | undefined = inner.name;
    let cause: string | undefined = inner.message;
    // A Fail state without Error/Cause: the library substitutes "FailStateError" and a default
    // message; AWS reports neither.
    const failState = exec.failState ? findState(exec.machine.prepared, exec.failState) : undefined;
    if (failState && inner.constructor.name === 'FailStateError') {
      if (failState.Error === undefined && failState.ErrorPath === undefined) error = undefined;
      if (failState.Cause === undefined && failState.CausePath === undefined) cause = undefined;
    }
    return { status: 'FAILED', error: error || undefined, cause };
  }

  private onLibraryEvent(exec: Execution, ev: LibraryEvent): void {
    const { stateTypes, tasks } = exec.machine.prepared;
    const name = ev.state?.name ?? '';
    const key = `${name}#${ev.index ?? ''}`;
    const type = stateTypes.get(name) ?? ev.state?.type ?? 'Task';
    switch (ev.type) {
      case 'StateEntered':
      case 'StateRetried': {
        exec.transitions++;
        if (exec.status === 'RUNNING') this.takeTransition(exec);
        exec.openStates.set(key, type);
        if (tasks.has(name) || exec.machine.prepared.internal.get(name)?.kind === 'distributed') {
          const entries = exec.entries.get(name) ?? [];
          entries.push(ev.index);
          exec.entries.set(name, entries);
        }
        if (ev.type === 'StateEntered') {
          const bytes = payloadBytes(ev.state?.input);
          this.notePayload(exec, bytes, name);
          if (bytes > this.options.maxPayloadBytes) this.dataLimit(exec, name);
        }
        break;
      }
      case 'StateExited': {
        exec.openStates.delete(key);
        const bytes = payloadBytes(ev.state?.output);
        this.notePayload(exec, bytes, name);
        if (bytes > this.options.maxPayloadBytes) this.dataLimit(exec, name);
        break;
      }
      case 'StateFailed':
        exec.openStates.delete(key);
        if (ev.state?.type === 'Fail') exec.failState = name;
        recordLibraryEvent(exec.history, ev, stateTypes, exec.caught);
        if (type === 'Map' || type === 'Parallel') this.abortInside(exec, name, ev.index);
        return;
    }
    recordLibraryEvent(exec.history, ev, stateTypes, exec.caught);
  }

  /**
   * A Map or Parallel failed: the library aborted its other iterations or branches (nested runs),
   * which it does not report. Their open states are recorded as aborted and their Tasks closed:
   * handler signals abort, tokens close, and the library's own Task timers get their answer. When
   * the failed state is itself nested, only what ran under the same outer iteration is touched
   * (the library's forwarded events carry the outermost Map index).
   */
  private abortInside(exec: Execution, container: string, index: number | undefined): void {
    const { ancestors } = exec.machine.prepared;
    const nested = (ancestors.get(container) ?? []).length > 0;
    const inside = (stateName: string, at: number | undefined) =>
      (ancestors.get(stateName) ?? []).includes(container) &&
      (!nested || index === undefined || at === undefined || at === index);
    for (const [key, type] of [...exec.openStates]) {
      const cut = key.lastIndexOf('#');
      const stateName = key.slice(0, cut);
      const at = key.slice(cut + 1) === '' ? undefined : Number(key.slice(cut + 1));
      if (!inside(stateName, at)) continue;
      exec.openStates.delete(key);
      exec.history.add(`${type}StateAborted`, { name: stateName });
    }
    for (const invocation of [...exec.invocations]) {
      const at = exec.entries.get(invocation.stateName)?.[invocation.call];
      if (inside(invocation.stateName, at))
        invocation.stop('The Map iteration or Parallel branch was aborted');
    }
    for (const run of exec.mapRuns) {
      if (run.status !== 'RUNNING') continue;
      const at = exec.entries.get(run.step.stateName)?.[run.call];
      if (inside(run.step.stateName, at)) this.abortMapRun(run);
    }
  }

  private dataLimit(exec: Execution, stateName: string): void {
    this.finish(exec, {
      status: 'FAILED',
      error: 'States.DataLimitExceeded',
      cause: dataLimitExceeded(stateName).message,
    });
  }

  /**
   * The history's last place was asked for by an event other than ExecutionSucceeded: the
   * execution fails with AWS's States.Runtime, unless it is closing already (its own closing event
   * then takes the place). The history records the ExecutionFailed event itself.
   */
  private historyLimit(exec: Execution): boolean {
    if (exec.status !== 'RUNNING') return false;
    this.finish(exec, {
      status: 'FAILED',
      error: 'States.Runtime',
      cause: historyLimitCause(this.options.maxHistoryEvents),
    });
    return true;
  }

  private notePayload(exec: Execution, bytes: number, at: string): void {
    if (bytes > exec.largestPayload.bytes) exec.largestPayload = { bytes, at };
  }

  /**
   * One state transition takes a token from the StateTransition bucket. When it is empty the
   * transition is not refused: the execution's next Task (or internal step) waits until the
   * bucket has refilled for it (see waitForTransitions).
   */
  private takeTransition(exec: Execution): void {
    const wait = this.transitionBucket?.reserve() ?? 0;
    if (wait <= 0) return;
    exec.throttledTransitions++;
    exec.throttledUntil = Math.max(exec.throttledUntil, performance.now() + wait);
  }

  /**
   * Holds a Task (or an internal step) until the transitions its execution has made were paid
   * for by the StateTransition bucket. Resolves false when the execution or the invocation closed
   * meanwhile.
   */
  private async waitForTransitions(exec: Execution, stillWanted: () => boolean): Promise<boolean> {
    const ms = exec.throttledUntil - performance.now();
    if (ms <= 0) return stillWanted();
    const signal = exec.controller.signal;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
    exec.throttleDelayMs += performance.now() - started;
    return stillWanted();
  }

  // --- tasks -------------------------------------------------------------------------------------

  /**
   * The override of one Task state. Synchronous up to the timers so that the Task timer is armed
   * before the library's own (same duration, set right after this returns): ours fires first,
   * aborts the handler and closes the token, then the library fails the state with its own
   * States.Timeout. The handler itself starts one macrotask later, once the event log has been
   * read up to this state (history order, the 256 KiB check on the state's input).
   */
  private invokeTask(exec: Execution, binding: TaskBinding, input: Json): Promise<Json> {
    const timeoutSeconds = positiveInteger(binding.timeoutSeconds, binding.timeoutSecondsPath, input, exec);
    // The library fails the state with States.Runtime itself when TimeoutSecondsPath is bad.
    if (timeoutSeconds === undefined) return new Promise(() => {});
    const call = exec.calls.get(binding.stateName) ?? 0;
    exec.calls.set(binding.stateName, call + 1);
    const invocation = new Invocation(
      exec,
      binding,
      Math.min(timeoutSeconds, MAX_TIMER_SECONDS) * 1000,
      call,
      this.options.maxPayloadBytes,
    );
    exec.invocations.add(invocation);
    invocation.onClose = () => exec.invocations.delete(invocation);
    invocation.onPayload = (bytes) => this.notePayload(exec, bytes, binding.stateName);
    invocation.onTimeout = () => {
      const details = { error: 'States.Timeout' };
      if (binding.kind === 'lambda') exec.history.add('LambdaFunctionTimedOut', details);
      else exec.history.add('TaskTimedOut', { ...resourceOf(binding), ...details });
    };
    if (exec.status !== 'RUNNING') invocation.stop();
    else void this.startTask(exec, binding, invocation, input);
    return invocation.promise;
  }

  private async startTask(
    exec: Execution,
    binding: TaskBinding,
    invocation: Invocation,
    effective: Json,
  ): Promise<void> {
    await nextMacrotask();
    if (!invocation.open) return;
    // A throttled transition delays the Task; it does not fail it.
    if (!(await this.waitForTransitions(exec, () => invocation.open))) return;
    // The effective input without the fields prepare.ts carries timeouts in.
    const input = withoutKeys(effective, binding.hiddenKeys);
    if (payloadBytes(input) > this.options.maxPayloadBytes)
      return invocation.failWith(dataLimitExceeded(binding.stateName));

    let functionName = binding.functionName;
    let payload: Json = input;
    let asyncInvoke = false;
    if (binding.kind !== 'lambda') {
      const parameters = isObject(input) ? input : {};
      if (typeof parameters.FunctionName === 'string') functionName = functionNameOf(parameters.FunctionName);
      payload = (parameters.Payload ?? {}) as Json;
      asyncInvoke = parameters.InvocationType === 'Event';
    }
    const handler = functionName === undefined ? undefined : exec.machine.handlers[functionName];
    if (!handler || functionName === undefined) {
      const message = `Function not found: arn:aws:lambda:${this.region}:${this.accountId}:function:${functionName ?? '(none)'} (Service: Lambda, Status Code: 404, Request ID: ${randomUUID()})`;
      const error = Object.assign(new Error(message), { name: 'Lambda.ResourceNotFoundException' });
      this.recordTaskFailure(exec, binding, error.name, message);
      return invocation.failWith(error);
    }

    let heartbeatSeconds: number | undefined;
    if (binding.kind === 'lambda:invoke.waitForTaskToken') {
      if (binding.heartbeatSeconds !== undefined || binding.heartbeatSecondsPath !== undefined) {
        heartbeatSeconds = positiveInteger(
          binding.heartbeatSeconds,
          binding.heartbeatSecondsPath,
          effective,
          exec,
        );
        if (heartbeatSeconds === undefined) {
          return invocation.failWith(
            new TerminalStateError(
              'States.Runtime',
              `HeartbeatSecondsPath '${binding.heartbeatSecondsPath}' is not a positive integer`,
            ),
          );
        }
      }
      const token = this.broker.mint(invocation);
      payload = replaceToken(payload, token);
      if (heartbeatSeconds !== undefined) {
        invocation.armHeartbeat(
          Math.min(heartbeatSeconds, MAX_TIMER_SECONDS) * 1000,
          this.timeoutError as () => Error,
        );
      }
    } else if (containsToken(payload)) {
      return invocation.failWith(
        new TerminalStateError(
          'States.Runtime',
          "The JSONPath '$$.Task.Token' could not be found: the context has a task token only in .waitForTaskToken Tasks",
        ),
      );
    }

    const timeoutInSeconds = Math.round(invocation.timeoutMs / 1000);
    if (binding.kind === 'lambda') {
      exec.history.add('LambdaFunctionScheduled', {
        resource: binding.resource,
        input: JSON.stringify(payload),
        inputDetails: { truncated: false },
        timeoutInSeconds,
      });
      exec.history.add('LambdaFunctionStarted');
    } else {
      const parameters = isObject(input) ? { ...input, Payload: payload } : input;
      exec.history.add('TaskScheduled', {
        ...resourceOf(binding),
        region: this.region,
        parameters: JSON.stringify(parameters),
        timeoutInSeconds,
        ...(heartbeatSeconds !== undefined ? { heartbeatInSeconds: heartbeatSeconds } : {}),
      });
      exec.history.add('TaskStarted', resourceOf(binding));
    }
    // Those events may have been the ones the history quota refused: the execution failed then.
    if (!invocation.open) return;

    if (binding.kind === 'lambda:invoke.waitForTaskToken') {
      invocation.onCallback = (outcome) => {
        if (outcome.ok) {
          exec.history.add('TaskSucceeded', {
            ...resourceOf(binding),
            output: JSON.stringify(outcome.output),
            outputDetails: { truncated: false },
          });
        } else {
          this.recordTaskFailure(exec, binding, outcome.error, outcome.cause);
        }
      };
    }
    const context: InvocationContext = {
      // The Task's own signal (timeout, heartbeat, abandoned iteration), and the execution's, which
      // also reaches a callback function still running after its token was answered.
      signal: AbortSignal.any([invocation.controller.signal, exec.controller.signal]),
      deadlineMs: invocation.deadlineMs,
      awsRequestId: randomUUID(),
      functionName,
    };
    const call = (async () => handler(structuredClone(payload), context))();
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    this.handlerRuns.add(settled);
    void settled.then(() => this.handlerRuns.delete(settled));

    if (binding.kind === 'lambda:invoke.waitForTaskToken' && asyncInvoke) {
      exec.history.add('TaskSubmitted', {
        ...resourceOf(binding),
        output: JSON.stringify(invokeResult(null)),
      });
      return;
    }
    let result: Json;
    try {
      result = toJson(await call);
    } catch (err) {
      if (!invocation.open) return;
      const error = toLambdaFunctionError(err);
      this.recordTaskFailure(exec, binding, error.name, error.message);
      return invocation.failWith(error);
    }
    if (!invocation.open) return;
    switch (binding.kind) {
      case 'lambda': {
        const bytes = payloadBytes(result);
        this.notePayload(exec, bytes, binding.stateName);
        if (bytes > this.options.maxPayloadBytes)
          return invocation.failWith(dataLimitExceeded(binding.stateName));
        exec.history.add('LambdaFunctionSucceeded', {
          output: JSON.stringify(result),
          outputDetails: { truncated: false },
        });
        return invocation.succeed(result);
      }
      case 'lambda:invoke': {
        const wrapped = invokeResult(result);
        const bytes = payloadBytes(wrapped);
        this.notePayload(exec, bytes, binding.stateName);
        if (bytes > this.options.maxPayloadBytes)
          return invocation.failWith(dataLimitExceeded(binding.stateName));
        exec.history.add('TaskSucceeded', {
          ...resourceOf(binding),
          output: JSON.stringify(wrapped),
          outputDetails: { truncated: false },
        });
        return invocation.succeed(wrapped);
      }
      case 'lambda:invoke.waitForTaskToken':
        // The function's return value is not the Task's result: the token's callback is.
        exec.history.add('TaskSubmitted', {
          ...resourceOf(binding),
          output: JSON.stringify(invokeResult(result)),
          outputDetails: { truncated: false },
        });
        return;
    }
  }

  private recordTaskFailure(
    exec: Execution,
    binding: TaskBinding,
    error: string | undefined,
    cause: string | undefined,
  ) {
    if (binding.kind === 'lambda') exec.history.add('LambdaFunctionFailed', { error, cause });
    else exec.history.add('TaskFailed', { ...resourceOf(binding), error, cause });
  }

  /** A state the engine runs in place of the library (see prepare.ts): a scaled Wait or a falsy Pass Result. */
  private async runInternalStep(
    exec: Execution,
    step: Exclude<InternalStep, DistributedMapStep>,
    input: Json,
  ): Promise<Json> {
    if (this.transitionBucket !== undefined) {
      // Once the event log is read up to this state, as for a Task: a throttled transition delays it.
      await nextMacrotask();
      await this.waitForTransitions(exec, () => true);
    }
    if (step.kind === 'literal') return step.value;
    let ms: number;
    if (step.secondsPath !== undefined) {
      const seconds = evaluateReferencePath(step.secondsPath, input, contextOf(exec));
      if (!Number.isInteger(seconds) || (seconds as number) < 0) {
        throw new TerminalStateError(
          'States.Runtime',
          `Path expression '${step.secondsPath}' evaluated to ${JSON.stringify(seconds)}, but expected an integer >= 0`,
        );
      }
      ms = (seconds as number) * 1000;
    } else {
      const timestamp =
        step.timestamp ?? evaluateReferencePath(step.timestampPath ?? '$', input, contextOf(exec));
      const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
      if (Number.isNaN(at)) {
        throw new TerminalStateError(
          'States.Runtime',
          `Path expression '${step.timestampPath}' evaluated to ${JSON.stringify(timestamp)}, but expected a timestamp`,
        );
      }
      ms = Math.max(0, at - Date.now());
    }
    const signal = exec.controller.signal;
    await new Promise<void>((resolve, reject) => {
      const stopped = () => new TerminalStateError('States.Aborted', 'The execution was stopped');
      if (signal.aborted) return reject(stopped());
      const timer = setTimeout(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.min(ms * this.options.timeScale, MAX_TIMER_SECONDS * 1000),
      );
      const onAbort = () => {
        clearTimeout(timer);
        reject(stopped());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return input;
  }

  // --- Distributed Map ---------------------------------------------------------------------------

  /**
   * The internal step of a Distributed Map state (see prepare.ts): one Map Run. Synchronous up to
   * counting the state's entries, like invokeTask, so that the run knows which entry it is.
   */
  private runDistributedMap(exec: Execution, step: DistributedMapStep, input: Json): Promise<Json> {
    const call = exec.calls.get(step.stateName) ?? 0;
    exec.calls.set(step.stateName, call + 1);
    return this.startMapRun(exec, step, input, call);
  }

  /**
   * Evaluates ItemsPath and ItemSelector in the parent, records MapStateStarted and MapRunStarted,
   * asks authorizeChildStart, then runs the items as child executions of `<machine>/<label>` at
   * most MaxConcurrency at a time (AWS's 10,000 when it is 0 or absent). Resolves with the
   * children's outputs in item order once all closed; rejects with
   * States.ExceedToleratedFailureThreshold once more children failed than tolerated.
   */
  private async startMapRun(
    exec: Execution,
    step: DistributedMapStep,
    input: Json,
    call: number,
  ): Promise<Json> {
    const stopped = () => new TerminalStateError('States.Aborted', 'The execution was stopped');
    // Once the event log is read up to MapStateEntered, as for a Task (history order).
    await nextMacrotask();
    if (this.transitionBucket !== undefined) await this.waitForTransitions(exec, () => true);
    if (exec.status !== 'RUNNING') throw stopped();
    const items = await this.mapItems(exec, step, input);
    if (exec.status !== 'RUNNING') throw stopped();
    const maxConcurrency = maxConcurrencyOf(step, input, contextOf(exec));
    exec.history.add('MapStateStarted', { length: items.length });

    const { machine } = exec;
    const label = step.label ?? randomUUID();
    const run: MapRun = {
      arn: `arn:aws:states:${this.region}:${this.accountId}:mapRun:${machine.name}/${label}:${randomUUID()}`,
      parent: exec,
      step,
      machine: {
        arn: `${machine.arn}/${label}`,
        name: `${machine.name}/${label}`,
        rootArn: machine.rootArn,
        roleArn: machine.roleArn,
        handlers: machine.handlers,
        prepared: step.child,
        library: this.libraryFor(step.child.definition),
      },
      call,
      maxConcurrency,
      status: 'RUNNING',
      startDate: new Date(),
      counts: {
        pending: items.length,
        running: 0,
        succeeded: 0,
        failed: 0,
        timedOut: 0,
        aborted: 0,
        total: items.length,
        resultsWritten: 0,
        failuresNotRedrivable: 0,
        pendingRedrive: 0,
      },
      children: [],
      abortRecorded: false,
    };
    this.mapRuns.set(run.arn, run);
    exec.mapRuns.push(run);
    exec.history.add('MapRunStarted', { mapRunArn: run.arn });
    // That event may have been the one the history quota refused.
    if (exec.status !== 'RUNNING') {
      this.abortMapRun(run);
      throw stopped();
    }
    if (this.authorizeChildStart) {
      try {
        await this.authorizeChildStart(machine.rootArn, machine.roleArn);
      } catch (err) {
        const cause = `${machine.roleArn} is not authorized to perform: states:StartExecution on resource: ${machine.rootArn}${err instanceof Error && err.message ? ` (${err.message})` : ''}`;
        if (run.status === 'RUNNING') {
          this.closeMapRun(run, 'FAILED');
          exec.history.add('MapRunFailed', { error: 'States.Runtime', cause });
        }
        throw new TerminalStateError('States.Runtime', cause);
      }
      if (run.status !== 'RUNNING') throw stopped();
    }
    return new Promise<Json>((resolve, reject) => {
      run.settle = (outcome) => {
        run.settle = undefined;
        if (outcome.ok) resolve(outcome.output);
        else reject(outcome.error);
      };
      this.dispatch(run, items);
    });
  }

  /** The children's inputs: the selector (ItemsPath, ItemSelector) run by the library on the state's input. */
  private async mapItems(exec: Execution, step: DistributedMapStep, input: Json): Promise<Json[]> {
    const library = this.libraryFor(step.selector);
    const run = library.run(input, { context: this.libraryContext(exec, JSON.parse(exec.input) as Json) });
    let result: unknown;
    try {
      result = await run.result;
    } catch (err) {
      const inner = err instanceof ExecutionError && err.cause instanceof Error ? err.cause : err;
      const message = inner instanceof Error ? inner.message : String(inner);
      const name = inner instanceof Error ? inner.name : 'States.Runtime';
      if (name === 'States.Runtime' || !name) throw new TerminalStateError('States.Runtime', message);
      throw Object.assign(new Error(message), { name });
    }
    if (!Array.isArray(result)) {
      throw new TerminalStateError(
        'States.Runtime',
        `The ItemsPath of ${step.stateName} did not select an array`,
      );
    }
    return result as Json[];
  }

  /** Starts children up to the concurrency limit, and one more each time one closes. */
  private dispatch(run: MapRun, items: Json[]): void {
    const declared = run.maxConcurrency;
    const limit =
      declared > 0 ? Math.min(declared, DISTRIBUTED_MAP_MAX_CONCURRENCY) : DISTRIBUTED_MAP_MAX_CONCURRENCY;
    const outputs: Json[] = new Array(items.length).fill(null);
    let next = 0;
    let open = 0;
    let closed = 0;
    const more = (): void => {
      while (run.status === 'RUNNING' && open < limit && next < items.length) {
        const index = next++;
        open++;
        run.counts.pending--;
        run.counts.running++;
        const child = this.startChild(run, items[index] as Json);
        void child.done.then(() => {
          open--;
          closed++;
          run.counts.running--;
          switch (child.status) {
            case 'SUCCEEDED':
              run.counts.succeeded++;
              outputs[index] = JSON.parse(child.outcome?.output ?? 'null') as Json;
              break;
            case 'TIMED_OUT':
              run.counts.timedOut++;
              outputs[index] = failedChildResult(child);
              break;
            case 'ABORTED':
              run.counts.aborted++;
              outputs[index] = failedChildResult(child);
              break;
            default:
              run.counts.failed++;
              outputs[index] = failedChildResult(child);
          }
          if (run.status !== 'RUNNING') return;
          if (child.status !== 'SUCCEEDED' && exceedsTolerance(run)) this.failMapRun(run);
          else if (closed === items.length) this.succeedMapRun(run, outputs);
          else more();
        });
      }
    };
    if (items.length === 0) this.succeedMapRun(run, outputs);
    else more();
  }

  private startChild(run: MapRun, item: Json): Execution {
    const name = randomUUID();
    const arn = `arn:aws:states:${this.region}:${this.accountId}:execution:${run.machine.name}:${name}`;
    const input = JSON.stringify(item);
    const child = this.launch(
      run.machine,
      arn,
      name,
      input,
      JSON.parse(input) as Json,
      Buffer.byteLength(input, 'utf8'),
      run,
    );
    run.children.push(child);
    return child;
  }

  private closeMapRun(run: MapRun, status: Exclude<MapRunStatus, 'RUNNING'>): void {
    run.status = status;
    run.stopDate = new Date();
  }

  private stopChildren(run: MapRun): void {
    for (const child of run.children) this.finish(child, { status: 'ABORTED' });
  }

  private succeedMapRun(run: MapRun, outputs: Json[]): void {
    this.closeMapRun(run, 'SUCCEEDED');
    const exec = run.parent;
    exec.history.add('MapRunSucceeded');
    const bytes = payloadBytes(outputs);
    this.notePayload(exec, bytes, run.step.stateName);
    if (bytes > this.options.maxPayloadBytes) {
      run.settle?.({ ok: false, error: dataLimitExceeded(run.step.stateName) });
    } else {
      run.settle?.({ ok: true, output: outputs });
    }
  }

  /** The tolerated failure threshold is exceeded: the run fails, its running children are aborted. */
  private failMapRun(run: MapRun): void {
    this.closeMapRun(run, 'FAILED');
    this.stopChildren(run);
    const { error, cause } = EXCEED_TOLERATED_FAILURE_THRESHOLD;
    run.parent.history.add('MapRunFailed', { error, cause });
    run.settle?.({ ok: false, error: Object.assign(new Error(cause), { name: error }) });
  }

  /**
   * The parent closed, or the Map state was abandoned (a failed enclosing Map or Parallel): the
   * run is ABORTED with its running children. MapRunAborted is recorded now while the parent runs,
   * else by recordClose before the parent's closing event.
   */
  private abortMapRun(run: MapRun): void {
    if (run.status !== 'RUNNING') return;
    this.closeMapRun(run, 'ABORTED');
    this.stopChildren(run);
    if (run.parent.status === 'RUNNING') {
      run.abortRecorded = true;
      run.parent.history.add('MapRunAborted');
    }
    run.settle?.({ ok: false, error: new TerminalStateError('States.Aborted', 'The Map Run was aborted') });
  }

  /** One library machine per definition object (a child definition or a selector), made on first use. */
  private libraryFor(definition: object): StateMachine {
    let library = this.libraries.get(definition);
    if (!library) {
      library = new StateMachine(definition as never, { validationOptions: { noValidate: true } });
      this.libraries.set(definition, library);
    }
    return library;
  }

  // --- lookups -----------------------------------------------------------------------------------

  private machine(arn: string): Machine {
    if (
      typeof arn !== 'string' ||
      !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$/.test(arn)
    ) {
      throw new SfnBackendError(
        'InvalidArn',
        `Invalid Arn: 'Resource type not valid in this context: ${arn}'`,
      );
    }
    const machine = this.machines.get(arn);
    if (!machine)
      throw new SfnBackendError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return machine;
  }

  private mapRun(arn: string): MapRun {
    if (
      typeof arn !== 'string' ||
      !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:mapRun:[^:]+:[^:]+$/.test(arn)
    ) {
      throw new SfnBackendError(
        'InvalidArn',
        `Invalid Arn: 'Resource type not valid in this context: ${arn}'`,
      );
    }
    const run = this.mapRuns.get(arn);
    if (!run) throw new SfnBackendError('ResourceNotFound', `Resource not found: '${arn}'`);
    return run;
  }

  private execution(arn: string): Execution {
    if (
      typeof arn !== 'string' ||
      !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/.test(arn)
    ) {
      throw new SfnBackendError(
        'InvalidArn',
        `Invalid Arn: 'Resource type not valid in this context: ${arn}'`,
      );
    }
    const exec = this.executions.get(arn);
    if (!exec) throw new SfnBackendError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return exec;
  }

  private assertOpen() {
    if (this.closed) throw new Error('The workflow engine is closed');
  }

  private emit(exec: Execution): void {
    if (!this.listeners.size) return;
    const d = describe(exec);
    const event: ExecutionStatusChangeEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: this.accountId,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.region,
      resources: [d.executionArn],
      detail: {
        executionArn: d.executionArn,
        stateMachineArn: d.stateMachineArn,
        name: d.name,
        status: d.status,
        startDate: d.startDate.getTime(),
        stopDate: d.stopDate?.getTime() ?? null,
        input: d.input,
        inputDetails: { included: true },
        output: d.output ?? null,
        outputDetails: d.output === undefined ? null : { included: true },
        error: d.error ?? null,
        cause: d.cause ?? null,
      },
    };
    for (const listener of this.listeners) {
      try {
        listener(structuredClone(event));
      } catch {
        // A listener's failure is its own; the execution is unaffected, as with EventBridge.
      }
    }
  }
}

/** One run of one Task state: its timers, its abort controller, and the promise the library awaits. */
class Invocation implements CallbackTask {
  readonly controller = new AbortController();
  readonly promise: Promise<Json>;
  readonly deadlineMs: number;
  onClose?: () => void;
  onTimeout?: () => void;
  onCallback?: (outcome: { ok: true; output: Json } | { ok: false; error?: string; cause?: string }) => void;
  /** Told the size of a callback's output (the execution's largest payload). */
  onPayload?: (bytes: number) => void;
  private state: 'running' | 'done' | 'timedOut' | 'stopped' = 'running';
  private resolve!: (value: Json) => void;
  private reject!: (error: unknown) => void;
  private readonly timer: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private heartbeatMs = 0;
  private heartbeatError?: () => Error;
  private readonly executionSignal: AbortSignal;

  constructor(
    exec: Execution,
    readonly binding: TaskBinding,
    readonly timeoutMs: number,
    /** Which call of this state's override this is (matches the state's nth entry in the event log). */
    readonly call: number,
    /** The largest callback output accepted (the engine's maxPayloadBytes). */
    private readonly maxPayloadBytes: number,
  ) {
    this.promise = new Promise<Json>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.executionArn = exec.arn;
    this.stateName = binding.stateName;
    this.deadlineMs = Date.now() + timeoutMs;
    this.timer = setTimeout(() => this.timeOut(), timeoutMs);
    this.executionSignal = exec.controller.signal;
  }

  readonly executionArn: string;
  readonly stateName: string;

  get open(): boolean {
    return this.state === 'running';
  }

  succeed(output: unknown): void {
    if (this.binding.kind === 'lambda:invoke.waitForTaskToken' && this.open) {
      const bytes = payloadBytes(output);
      this.onPayload?.(bytes);
      if (bytes > this.maxPayloadBytes) {
        this.failWith(dataLimitExceeded(this.stateName));
        return;
      }
    }
    if (!this.close('done')) return;
    this.onCallback?.({ ok: true, output: output as Json });
    this.resolve(output as Json);
  }

  /** SendTaskFailure: the Task fails with that error name, so Retry/Catch match on it. */
  fail(error: string | undefined, cause: string | undefined): void {
    if (!this.close('done')) return;
    this.onCallback?.({ ok: false, error, cause });
    const failure = new Error(cause ?? '');
    failure.name = error ?? '';
    this.reject(failure);
  }

  /** The Task fails with this error (the handler's, or one of the engine's). */
  failWith(error: Error): void {
    if (!this.close('done')) return;
    this.reject(error);
  }

  heartbeat(): void {
    if (this.heartbeatTimer && this.heartbeatError) this.armHeartbeat(this.heartbeatMs, this.heartbeatError);
  }

  armHeartbeat(ms: number, makeError: () => Error): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatMs = ms;
    this.heartbeatError = makeError;
    this.heartbeatTimer = setTimeout(() => {
      if (!this.close('timedOut')) return;
      this.controller.abort(new DOMException('The Task missed its heartbeat', 'TimeoutError'));
      this.onTimeout?.();
      // Heartbeat expiry fails the Task with States.Timeout, an instance of the library's class
      // so that States.TaskFailed does not match it (AWS: TaskFailed matches all but States.Timeout).
      this.reject(makeError());
    }, ms);
  }

  /** TimeoutSeconds elapsed: abort the handler, close the token, leave the failure to the library's own timer. */
  private timeOut(): void {
    if (!this.close('timedOut')) return;
    this.controller.abort(new DOMException(`The Task ${this.stateName} timed out`, 'TimeoutError'));
    this.onTimeout?.();
  }

  /**
   * The execution closed, or the Map iteration or Parallel branch this ran in was aborted: abort
   * the handler and settle, so the library stops waiting (and clears its own Task timer).
   */
  stop(reason?: string): void {
    if (!this.close('stopped')) return;
    const why = reason ? new DOMException(reason, 'AbortError') : this.executionSignal.reason;
    this.controller.abort(why ?? new DOMException('The execution was stopped', 'AbortError'));
    this.reject(new TerminalStateError('States.Aborted', reason ?? 'The execution was stopped'));
  }

  private close(next: 'done' | 'timedOut' | 'stopped'): boolean {
    if (this.state !== 'running') return false;
    this.state = next;
    clearTimeout(this.timer);
    clearTimeout(this.heartbeatTimer);
    this.onClose?.();
    return true;
  }
}

function assertName(name: string): void {
  if (
    typeof name !== 'string' ||
    name.length < 1 ||
    name.length > 80 ||
    NAME_FORBIDDEN.test(name) ||
    hasControlCharacter(name)
  ) {
    throw new SfnBackendError('InvalidName', `Invalid Name: '${name}'`);
  }
}

function describe(exec: Execution): ExecutionDescription {
  const o = exec.outcome;
  return {
    executionArn: exec.arn,
    stateMachineArn: exec.machine.arn,
    name: exec.name,
    status: exec.status,
    startDate: new Date(exec.startDate),
    ...(exec.stopDate ? { stopDate: new Date(exec.stopDate) } : {}),
    input: exec.input,
    ...(o?.output !== undefined ? { output: o.output } : {}),
    ...(o?.error !== undefined ? { error: o.error } : {}),
    ...(o?.cause !== undefined ? { cause: o.cause } : {}),
    ...(exec.mapRun ? { mapRunArn: exec.mapRun.arn } : {}),
  };
}

/** AWS-style pagination: maxResults 1–1000 (0 or none: 100), an opaque nextToken bound to the listing. */
function paginate<T>(
  items: readonly T[],
  maxResults: number | undefined,
  nextToken: string | undefined,
  key: string,
) {
  if (maxResults !== undefined && (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > 1000)) {
    throw new SfnBackendError(
      'ValidationException',
      "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000",
    );
  }
  const size = maxResults || 100;
  let offset = 0;
  if (nextToken !== undefined) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(nextToken, 'base64url').toString('utf8'));
    } catch {
      decoded = undefined;
    }
    if (!isObject(decoded) || decoded.k !== key || !Number.isInteger(decoded.o)) {
      throw new SfnBackendError('InvalidToken', `Invalid Token: '${nextToken}'`);
    }
    offset = decoded.o as number;
  }
  const page = items.slice(offset, offset + size);
  const next =
    offset + size < items.length
      ? Buffer.from(JSON.stringify({ k: key, o: offset + size })).toString('base64url')
      : undefined;
  return { page, nextToken: next };
}

/**
 * A Distributed Map's MaxConcurrency: as written, or what MaxConcurrencyPath selects from the
 * state's input (after InputPath), which must be a non-negative integer (0: AWS's default).
 * @throws TerminalStateError States.Runtime naming the state and the path otherwise
 */
function maxConcurrencyOf(step: DistributedMapStep, input: Json, context: unknown): number {
  if (step.maxConcurrencyPath === undefined) return step.maxConcurrency;
  let value: unknown;
  try {
    value = evaluateReferencePath(step.maxConcurrencyPath, input, context);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TerminalStateError(
      'States.Runtime',
      `The MaxConcurrencyPath of ${step.stateName} (${step.maxConcurrencyPath}) selected ${JSON.stringify(value) ?? 'nothing'}, not a non-negative integer`,
    );
  }
  return value;
}

function contextOf(exec: Execution): Record<string, unknown> {
  const input = JSON.parse(exec.input) as Json;
  return {
    Execution: { Id: exec.arn, Name: exec.name, Input: input, StartTime: exec.startDate.toISOString() },
    StateMachine: { Id: exec.machine.arn, Name: exec.machine.name },
  };
}

/** TimeoutSeconds/HeartbeatSeconds or their Path, as the library checks TimeoutSecondsPath: an integer >= 1. */
function positiveInteger(
  value: number | undefined,
  path: string | undefined,
  input: Json,
  exec: Execution,
): number | undefined {
  if (value !== undefined) return value;
  if (path === undefined) return undefined;
  let resolved: unknown;
  try {
    resolved = evaluateReferencePath(path, input, contextOf(exec));
  } catch {
    return undefined;
  }
  return Number.isInteger(resolved) && (resolved as number) >= 1 ? (resolved as number) : undefined;
}

/**
 * The threshold of a Map Run (maprun-fail-threshold.html): failed, timed-out (and here aborted)
 * children against ToleratedFailureCount and ToleratedFailurePercentage of the item count; either
 * one exceeded fails the run. Neither declared: any failure does (both default to 0).
 */
function exceedsTolerance(run: MapRun): boolean {
  const { failed, timedOut, aborted, total } = run.counts;
  const failures = failed + timedOut + aborted;
  const { toleratedFailureCount: count, toleratedFailurePercentage: percentage } = run.step;
  if (count === undefined && percentage === undefined) return failures > 0;
  return (
    (count !== undefined && failures > count) ||
    (percentage !== undefined && total > 0 && (failures / total) * 100 > percentage)
  );
}

/**
 * What a failed child contributes to a Distributed Map's output when the run tolerates it: its
 * execution result unchanged, as for ResultWriter's `Transformation: NONE` (input-output-resultwriter.html:
 * "If a child workflow execution fails, Step Functions returns its execution results unchanged").
 */
function failedChildResult(child: Execution): Json {
  const o = child.outcome;
  return {
    ...(o?.cause !== undefined ? { Cause: o.cause } : {}),
    ...(o?.error !== undefined ? { Error: o.error } : {}),
    ExecutionArn: child.arn,
    Input: child.input,
    InputDetails: { Included: true },
    Name: child.name,
    RedriveCount: 0,
    StartDate: child.startDate.toISOString(),
    StateMachineArn: child.machine.arn,
    Status: child.status,
    StopDate: (child.stopDate ?? new Date()).toISOString(),
  };
}

function findState(prepared: PreparedDefinition, name: string): Record<string, unknown> | undefined {
  const search = (machine: unknown): Record<string, unknown> | undefined => {
    if (!isObject(machine) || !isObject(machine.States)) return undefined;
    for (const [stateName, state] of Object.entries(machine.States)) {
      if (!isObject(state)) continue;
      if (stateName === name) return state;
      const nested = [
        state.ItemProcessor,
        state.Iterator,
        ...(Array.isArray(state.Branches) ? state.Branches : []),
      ];
      for (const child of nested) {
        const found = search(child);
        if (found) return found;
      }
    }
    return undefined;
  };
  return search(prepared.definition);
}

const resourceOf = (binding: TaskBinding) => ({
  resourceType: 'lambda',
  resource: binding.kind === 'lambda' ? binding.resource : binding.kind.slice('lambda:'.length),
});

/** lambda:invoke's result, as the optimized integration returns it (Payload parsed). */
function invokeResult(payload: Json): Json {
  const requestId = randomUUID();
  return {
    ExecutedVersion: '$LATEST',
    Payload: payload,
    SdkHttpMetadata: {
      AllHttpHeaders: {
        'X-Amz-Executed-Version': ['$LATEST'],
        'x-amzn-RequestId': [requestId],
        'Content-Type': ['application/json'],
      },
      HttpHeaders: {
        'X-Amz-Executed-Version': '$LATEST',
        'x-amzn-RequestId': requestId,
        'Content-Type': 'application/json',
      },
      HttpStatusCode: 200,
    },
    SdkResponseMetadata: { RequestId: requestId },
    StatusCode: 200,
  };
}

/** What a Lambda returns as the caller sees it: serialised to JSON (undefined becomes null). */
function toJson(value: unknown): Json {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as Json);
}

function replaceToken(value: Json, token: string): Json {
  if (typeof value === 'string') return value.replaceAll(TASK_TOKEN_PLACEHOLDER, token);
  if (Array.isArray(value)) return value.map((v) => replaceToken(v, token));
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceToken(v as Json, token)]));
  }
  return value;
}

function withoutKeys(value: Json, keys: readonly string[]): Json {
  if (!keys.length || !isObject(value)) return value;
  const copy = { ...value };
  for (const key of keys) delete copy[key];
  return copy as Json;
}

const containsToken = (value: Json): boolean => JSON.stringify(value).includes(TASK_TOKEN_PLACEHOLDER);

export type { HistoryEvent };
