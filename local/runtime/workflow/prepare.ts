import {
  type AslDefinition,
  type AslState,
  collectStates,
  DefinitionError,
  isDistributedMap,
  isObject,
  type Json,
  visitPathExpressions,
} from './definition.js';

/**
 * Turns a validated ASL definition into the one aws-local-stepfunctions 3.0.0 runs, correcting the
 * library where AWS behaves differently, and collects what the engine binds per Task state.
 *
 * Rewrites (all on a clone; the original stays what AWS would run):
 * - Task TimeoutSeconds: made explicit (the library's default is 60 s) and capped at
 *   MAX_TIMER_SECONDS, since Node turns a longer setTimeout into 1 ms (AWS allows 99,999,999 s);
 * - ResultPath "$" (state or catcher) removed: the library writes a key named "$", AWS replaces;
 * - a Pass with a falsy Result (0, false, "", null) becomes an internal step returning it: the
 *   library tests `if (Result)` and passes the input through;
 * - `$$.Execution…` paths read `$$.LocalExecution…`, a copy of the execution's context the engine
 *   passes on, because the library's Map iterations and Parallel branches are nested runs whose
 *   `$$.Execution.Input` is the item and whose `StartTime` is new;
 * - with a timeScale: Wait `Seconds` through waitTimeOverrides, dynamic Waits (SecondsPath,
 *   Timestamp, TimestampPath) as internal steps, Retry IntervalSeconds/MaxDelaySeconds scaled;
 * - a Distributed Map (the library would run it inline) becomes an internal step that keeps the
 *   state's InputPath/ResultSelector/ResultPath/OutputPath/Retry/Catch and transition: the engine
 *   runs its items as child executions (a Map Run). Its ItemProcessor is cut out and prepared as
 *   the child executions' own definition; ItemsPath and ItemSelector go into a one-state inline
 *   Map (the selector) the engine runs with the library to get the children's inputs, so both
 *   are evaluated exactly as for an inline Map.
 */

/** The longest timer Node keeps (2^31-1 ms), in whole seconds. */
export const MAX_TIMER_SECONDS = 2_147_483;
export const EXECUTION_CONTEXT_KEY = 'LocalExecution';
export const INTERNAL_RESOURCE = 'arn:aws:states:::local:internal';

export type TaskKind = 'lambda' | 'lambda:invoke' | 'lambda:invoke.waitForTaskToken';

export interface TaskBinding {
  stateName: string;
  kind: TaskKind;
  resource: string;
  /** The function a direct ARN or a static FunctionName names; undefined for `FunctionName.$`. */
  functionName?: string;
  timeoutSeconds?: number;
  timeoutSecondsPath?: string;
  heartbeatSeconds?: number;
  heartbeatSecondsPath?: string;
  /** Fields the engine added to the effective input (see carryPath), removed before the handler runs. */
  hiddenKeys: string[];
}

export type InternalStep =
  | {
      kind: 'wait';
      seconds?: number;
      secondsPath?: string;
      timestamp?: string;
      timestampPath?: string;
    }
  | { kind: 'literal'; value: Json }
  | DistributedMapStep;

/** A Distributed Map state the engine runs as a Map Run (see prepareDefinition). */
export interface DistributedMapStep {
  kind: 'distributed';
  stateName: string;
  /**
   * A definition of one inline Map (ItemsPath, ItemSelector or Parameters, and a Pass processor)
   * whose output, for the Map state's effective input, is the array of the children's inputs.
   */
  selector: AslDefinition;
  /** The ItemProcessor's StartAt/States, prepared: what every child execution runs. */
  child: PreparedDefinition;
  /** MaxConcurrency as written: 0 (or absent) means AWS's default for Distributed mode. */
  maxConcurrency: number;
  /** MaxConcurrencyPath: read from the state's input (after InputPath) when the Map Run starts. */
  maxConcurrencyPath?: string;
  toleratedFailureCount?: number;
  toleratedFailurePercentage?: number;
  label?: string;
}

export interface PreparedDefinition {
  definition: AslDefinition;
  tasks: Map<string, TaskBinding>;
  internal: Map<string, InternalStep>;
  /** Original state types by name (internal steps run as Tasks in the library). */
  stateTypes: Map<string, string>;
  /** The Map/Parallel states enclosing each state, outermost first. */
  ancestors: Map<string, string[]>;
  waitTimeOverrides: Record<string, number>;
}

export interface PrepareOptions {
  defaultTaskTimeoutSeconds: number;
  timeScale: number;
  waitTimeOverrides: Record<string, number>;
}

const DIRECT_LAMBDA =
  /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]{1,64})(?::[A-Za-z0-9_$-]+)?$/;
const INTEGRATION = /^arn:aws[a-z-]*:states:::lambda:invoke(\.waitForTaskToken)?$/;

/**
 * The function a FunctionName parameter names: a name, `name:qualifier`, a partial ARN
 * `123456789012:function:name` or a full function ARN (Lambda's Invoke accepts all four).
 */
export function functionNameOf(value: string): string | undefined {
  const m =
    /^(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:)?(?:\d{12}:function:)?([A-Za-z0-9_-]{1,64})(?::[A-Za-z0-9_$-]+)?$/.exec(
      value,
    );
  return m?.[1];
}

/** @throws DefinitionError on a Resource other than a Lambda function or the lambda:invoke integrations. */
export function prepareDefinition(source: AslDefinition, options: PrepareOptions): PreparedDefinition {
  const definition = structuredClone(source);
  const tasks = new Map<string, TaskBinding>();
  const internal = new Map<string, InternalStep>();
  const stateTypes = new Map<string, string>();
  const ancestors = new Map<string, string[]>();
  const waitTimeOverrides: Record<string, number> = {};
  const problems: string[] = [];
  const scale = options.timeScale;

  if (typeof definition.TimeoutSeconds === 'number') {
    definition.TimeoutSeconds = Math.min(definition.TimeoutSeconds, MAX_TIMER_SECONDS);
  }

  // Before the walk below, so that the children's states are not part of this machine.
  const distributed = cutDistributedMaps(definition, options);
  for (const [name, step] of distributed) internal.set(name, step);

  for (const { name, state, path, ancestors: enclosing } of collectStates(definition)) {
    stateTypes.set(name, distributed.has(name) ? 'Map' : state.Type);
    ancestors.set(name, enclosing);
    rewriteExecutionContext(state);
    if (state.ResultPath === '$') delete state.ResultPath;
    if (Array.isArray(state.Catch)) {
      for (const catcher of state.Catch)
        if (isObject(catcher) && catcher.ResultPath === '$') delete catcher.ResultPath;
    }
    if (scale !== 1 && Array.isArray(state.Retry)) {
      for (const retrier of state.Retry) {
        if (!isObject(retrier)) continue;
        retrier.IntervalSeconds =
          (typeof retrier.IntervalSeconds === 'number' ? retrier.IntervalSeconds : 1) * scale;
        if (typeof retrier.MaxDelaySeconds === 'number') retrier.MaxDelaySeconds *= scale;
      }
    }

    if (distributed.has(name)) continue;
    switch (state.Type) {
      case 'Task': {
        const binding = bindTask(name, state, options, problems, path);
        if (binding) tasks.set(name, binding);
        break;
      }
      case 'Pass':
        if ('Result' in state && !state.Result) {
          internal.set(name, { kind: 'literal', value: state.Result as Json });
          toInternalTask(state);
        }
        break;
      case 'Wait': {
        if (Object.hasOwn(options.waitTimeOverrides, name)) break;
        if (typeof state.Seconds === 'number') {
          const ms = state.Seconds * 1000 * scale;
          if (scale !== 1 || ms > MAX_TIMER_SECONDS * 1000)
            waitTimeOverrides[name] = Math.min(ms, MAX_TIMER_SECONDS * 1000);
        } else if (scale !== 1) {
          internal.set(name, {
            kind: 'wait',
            secondsPath: state.SecondsPath as string | undefined,
            timestamp: state.Timestamp as string | undefined,
            timestampPath: state.TimestampPath as string | undefined,
          });
          toInternalTask(state);
        }
        break;
      }
    }
  }
  if (problems.length)
    throw new DefinitionError('Definition has Task resources the engine cannot bind', problems);
  return { definition, tasks, internal, stateTypes, ancestors, waitTimeOverrides };
}

/** The Map fields the internal step of a Distributed Map no longer carries (the engine runs them). */
const DISTRIBUTED_FIELDS = [
  'ItemProcessor',
  'Iterator',
  'ItemsPath',
  'ItemSelector',
  'Parameters',
  'MaxConcurrency',
  'MaxConcurrencyPath',
  'Label',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
];

/**
 * Replaces every Distributed Map of this machine (inside inline Maps and Parallel branches too,
 * not inside another Distributed Map's processor: that one is the child's) by an internal Task,
 * and returns what the engine needs to run each as a Map Run.
 */
function cutDistributedMaps(
  definition: AslDefinition,
  options: PrepareOptions,
): Map<string, DistributedMapStep> {
  const out = new Map<string, DistributedMapStep>();
  const walk = (machine: Record<string, unknown>) => {
    if (!isObject(machine.States)) return;
    for (const [name, state] of Object.entries(machine.States)) {
      if (!isObject(state)) continue;
      if (isDistributedMap(state as AslState)) {
        out.set(name, toDistributedStep(name, state as AslState, options));
        continue;
      }
      for (const field of ['ItemProcessor', 'Iterator'] as const) {
        if (isObject(state[field])) walk(state[field]);
      }
      if (Array.isArray(state.Branches)) {
        for (const branch of state.Branches) if (isObject(branch)) walk(branch);
      }
    }
  };
  walk(definition);
  return out;
}

function toDistributedStep(name: string, state: AslState, options: PrepareOptions): DistributedMapStep {
  const processor = state.ItemProcessor as Record<string, unknown>;
  const child = prepareDefinition(
    { StartAt: processor.StartAt as string, States: processor.States as Record<string, AslState> },
    options,
  );
  const selectorMap: AslState = {
    Type: 'Map',
    ItemProcessor: { StartAt: 'Item', States: { Item: { Type: 'Pass', End: true } } },
    End: true,
  };
  if (state.ItemsPath !== undefined) selectorMap.ItemsPath = state.ItemsPath;
  if (state.ItemSelector !== undefined) selectorMap.ItemSelector = state.ItemSelector;
  else if (state.Parameters !== undefined) selectorMap.ItemSelector = state.Parameters;
  // ItemSelector is evaluated in the parent: `$$.Execution…` is the parent's.
  rewriteExecutionContext(selectorMap);
  const step: DistributedMapStep = {
    kind: 'distributed',
    stateName: name,
    selector: { StartAt: 'Items', States: { Items: selectorMap } },
    child,
    maxConcurrency: typeof state.MaxConcurrency === 'number' ? state.MaxConcurrency : 0,
  };
  if (typeof state.ToleratedFailureCount === 'number')
    step.toleratedFailureCount = state.ToleratedFailureCount;
  if (typeof state.ToleratedFailurePercentage === 'number')
    step.toleratedFailurePercentage = state.ToleratedFailurePercentage;
  if (typeof state.Label === 'string') step.label = state.Label;
  if (typeof state.MaxConcurrencyPath === 'string') step.maxConcurrencyPath = state.MaxConcurrencyPath;
  for (const field of DISTRIBUTED_FIELDS) delete state[field];
  state.Type = 'Task';
  state.Resource = INTERNAL_RESOURCE;
  state.TimeoutSeconds = MAX_TIMER_SECONDS;
  return step;
}

/** The Task bindings of a prepared definition and of its Distributed Maps' children, recursively. */
export function allTaskBindings(prepared: PreparedDefinition): TaskBinding[] {
  const out = [...prepared.tasks.values()];
  for (const step of prepared.internal.values()) {
    if (step.kind === 'distributed') out.push(...allTaskBindings(step.child));
  }
  return out;
}

function bindTask(
  name: string,
  state: AslState,
  options: PrepareOptions,
  problems: string[],
  path: string,
): TaskBinding | undefined {
  const resource = typeof state.Resource === 'string' ? state.Resource : '';
  let kind: TaskKind;
  let functionName: string | undefined;
  const direct = DIRECT_LAMBDA.exec(resource);
  const integration = INTEGRATION.exec(resource);
  if (direct) {
    kind = 'lambda';
    functionName = direct[1];
  } else if (integration) {
    kind = integration[1] ? 'lambda:invoke.waitForTaskToken' : 'lambda:invoke';
    const parameters = isObject(state.Parameters) ? state.Parameters : {};
    if (typeof parameters.FunctionName === 'string') {
      functionName = functionNameOf(parameters.FunctionName);
      if (!functionName)
        problems.push(`${path}: FunctionName ${parameters.FunctionName} is not a function name or ARN`);
    } else if (typeof parameters['FunctionName.$'] !== 'string') {
      problems.push(`${path}: ${resource} needs Parameters.FunctionName`);
    }
  } else {
    problems.push(
      `${path}: Resource ${JSON.stringify(resource)} is not a Lambda function ARN, lambda:invoke or lambda:invoke.waitForTaskToken`,
    );
    return undefined;
  }

  const binding: TaskBinding = { stateName: name, kind, resource, functionName, hiddenKeys: [] };
  if (typeof state.TimeoutSecondsPath === 'string') {
    binding.timeoutSecondsPath = carryPath(state, 'TimeoutSecondsPath', HIDDEN_TIMEOUT, binding);
  } else {
    const seconds =
      typeof state.TimeoutSeconds === 'number' ? state.TimeoutSeconds : options.defaultTaskTimeoutSeconds;
    binding.timeoutSeconds = Math.min(seconds, MAX_TIMER_SECONDS);
    state.TimeoutSeconds = binding.timeoutSeconds;
  }
  if (typeof state.HeartbeatSeconds === 'number')
    binding.heartbeatSeconds = Math.min(state.HeartbeatSeconds, MAX_TIMER_SECONDS);
  if (typeof state.HeartbeatSecondsPath === 'string') {
    binding.heartbeatSecondsPath = carryPath(state, 'HeartbeatSecondsPath', HIDDEN_HEARTBEAT, binding);
  }
  return binding;
}

const HIDDEN_TIMEOUT = '__localTimeoutSeconds';
const HIDDEN_HEARTBEAT = '__localHeartbeatSeconds';

/**
 * AWS resolves TimeoutSecondsPath/HeartbeatSecondsPath against the state input (after InputPath);
 * aws-local-stepfunctions resolves TimeoutSecondsPath against the effective input (after
 * Parameters), where a path like `$.plan.approvalTimeoutSeconds` points to nothing. When the Task
 * has Parameters, the value is carried through them in a hidden field (Parameters are evaluated
 * against the same input AWS uses) and the path reads that field; the engine strips it before the
 * handler sees its event. Returns the path to use on the effective input.
 */
function carryPath(
  state: AslState,
  field: 'TimeoutSecondsPath' | 'HeartbeatSecondsPath',
  hidden: string,
  binding: TaskBinding,
) {
  const path = state[field] as string;
  if (!isObject(state.Parameters)) return path;
  state.Parameters[`${hidden}.$`] = path.replace(EXECUTION_PATH, `$$$$.${EXECUTION_CONTEXT_KEY}`);
  binding.hiddenKeys.push(hidden);
  const carried = `$.${hidden}`;
  if (field === 'TimeoutSecondsPath') state.TimeoutSecondsPath = carried;
  return carried;
}

/** Keeps the state's InputPath/Parameters/ResultPath/OutputPath and transition; the step returns its result. */
function toInternalTask(state: AslState) {
  for (const field of ['Result', 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath']) delete state[field];
  state.Type = 'Task';
  state.Resource = INTERNAL_RESOURCE;
  state.TimeoutSeconds = MAX_TIMER_SECONDS;
}

const EXECUTION_PATH = /\$\$\.Execution(?![\w])/g;

/** Points every `$$.Execution…` expression of the state at the engine's copy of the execution context. */
function rewriteExecutionContext(state: AslState) {
  visitPathExpressions(state, (holder, key, expression) => {
    holder[key] = expression.replace(EXECUTION_PATH, `$$$$.${EXECUTION_CONTEXT_KEY}`);
  });
}
