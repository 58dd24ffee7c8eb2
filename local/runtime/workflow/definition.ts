import aslValidator from 'asl-validator';

/**
 * The state machine definition as the engine handles it: ASL text rendered with
 * CloudFormation-style `${Name}` substitutions, parsed, walked (Map ItemProcessor/Iterator and
 * Parallel Branches included), linted against the subset aws-local-stepfunctions runs faithfully,
 * and validated with asl-validator.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type AslState = { Type: string; [field: string]: unknown };
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  [field: string]: unknown;
}

/** A definition the engine cannot take: bad substitutions, bad JSON, invalid ASL, unsupported features. */
export class DefinitionError extends Error {
  override readonly name = 'DefinitionError';
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(problems.length ? `${message}:\n- ${problems.join('\n- ')}` : message);
  }
}

const PLACEHOLDER = /^\$\{([A-Za-z0-9_]+)\}/;

/**
 * Renders `${Name}` placeholders the way CloudFormation's DefinitionSubstitutions (and the Pulumi
 * program) do: every placeholder needs a value and every value must be used. Inside a JSON string
 * a value is inserted JSON-escaped; outside one (`"TimeoutSeconds": ${ApprovalTimeout}`) as is.
 * @throws DefinitionError naming every missing and every unused key.
 */
export function substituteDefinition(
  text: string,
  substitutions: Record<string, string | number | boolean> = {},
): string {
  const missing = new Set<string>();
  const used = new Set<string>();
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '$' && text[i + 1] === '{') {
      const m = PLACEHOLDER.exec(text.slice(i, i + 200));
      const key = m?.[1];
      if (m && key !== undefined) {
        if (Object.hasOwn(substitutions, key)) {
          used.add(key);
          const value = String(substitutions[key]);
          out += inString ? JSON.stringify(value).slice(1, -1) : value;
        } else {
          missing.add(key);
          out += m[0];
        }
        i += m[0].length - 1;
        continue;
      }
    }
    if (inString && c === '\\') {
      out += c + (text[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') inString = !inString;
    out += c;
  }
  const unused = Object.keys(substitutions).filter((key) => !used.has(key));
  const problems = [
    ...[...missing].map((key) => `\${${key}} has no substitution`),
    ...unused.map((key) => `substitution ${key} is not used by the definition`),
  ];
  if (problems.length)
    throw new DefinitionError('Definition substitutions do not match the definition', problems);
  return out;
}

/** Parses ASL text. @throws DefinitionError when it is not a JSON object with StartAt and States. */
export function parseDefinition(text: string): AslDefinition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DefinitionError(`Definition is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed) || typeof parsed.StartAt !== 'string' || !isObject(parsed.States)) {
    throw new DefinitionError('Definition must be an object with StartAt and States');
  }
  return parsed as AslDefinition;
}

export interface StateVisit {
  name: string;
  state: AslState;
  /** Dotted location in the definition, e.g. `States.Promote.ItemProcessor.States.PromoteCluster`. */
  path: string;
  /**
   * True inside an inline Map's ItemProcessor/Iterator or a Parallel branch (a nested run in the
   * library). A Distributed Map's ItemProcessor is a child execution's own state machine: its
   * top-level states are not nested.
   */
  nested: boolean;
  /** The Map and Parallel states enclosing this one, outermost first. */
  ancestors: string[];
}

/** Every state of the definition, nested ones included, parents before children. */
export function collectStates(definition: { States: Record<string, AslState> }): StateVisit[] {
  const out: StateVisit[] = [];
  const walk = (machine: { States?: unknown }, prefix: string, ancestors: string[], nested: boolean) => {
    if (!isObject(machine.States)) return;
    for (const [name, state] of Object.entries(machine.States)) {
      if (!isObject(state)) continue;
      const path = `${prefix}States.${name}`;
      out.push({ name, state: state as AslState, path, nested, ancestors });
      const inner = [...ancestors, name];
      const child = isDistributedMap(state as AslState);
      for (const field of ['ItemProcessor', 'Iterator'] as const) {
        if (isObject(state[field])) walk(state[field], `${path}.${field}.`, inner, !child);
      }
      if (Array.isArray(state.Branches)) {
        state.Branches.forEach((branch, i) => {
          if (isObject(branch)) walk(branch, `${path}.Branches[${i}].`, inner, true);
        });
      }
    }
  };
  walk(definition, '', [], false);
  return out;
}

/**
 * Visits the path-like strings of one state (ReferencePaths, `.$` payload templates, intrinsic
 * calls, Choice `Variable` and `*Path` operands), nested machines excluded, with the object and
 * key holding each so a caller can rewrite it.
 */
export function visitPathExpressions(
  state: AslState,
  visit: (holder: Record<string, unknown>, key: string, expression: string, field: string) => void,
): void {
  const scan = (holder: Record<string, unknown>, prefix: string, top: boolean) => {
    for (const [key, value] of Object.entries(holder)) {
      if (top && (NESTED_FIELDS.has(key) || key === 'Comment' || (state.Type === 'Pass' && key === 'Result')))
        continue;
      const field = prefix ? `${prefix}.${key}` : key;
      if (typeof value === 'string') {
        if (isPathField(key)) visit(holder, key, value, field);
      } else if (Array.isArray(value)) {
        value.forEach((item, i) => {
          if (isObject(item)) scan(item, `${field}[${i}]`, false);
        });
      } else if (isObject(value)) {
        scan(value, field, false);
      }
    }
  };
  scan(state, '', true);
}

/** Path-like strings of one state, see visitPathExpressions. */
export function pathExpressions(state: AslState): Array<{ field: string; expression: string }> {
  const out: Array<{ field: string; expression: string }> = [];
  visitPathExpressions(state, (_holder, _key, expression, field) => out.push({ field, expression }));
  return out;
}

const NESTED_FIELDS = new Set(['ItemProcessor', 'Iterator', 'Branches']);
const isPathField = (key: string) => key.endsWith('.$') || key.endsWith('Path') || key === 'Variable';

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export interface LintViolation {
  rule: LintRule;
  /** Dotted location in the definition. */
  path: string;
  message: string;
}

export type LintRule =
  | 'jsonata'
  | 'assign'
  | 'arguments-output'
  | 'result-path-root'
  | 'falsy-pass-result'
  | 'state-context'
  | 'execution-context-in-nested'
  | 'distributed-map'
  | 'credentials'
  | 'task-timeout'
  | 'callback-heartbeat'
  | 'heartbeat-not-below-timeout'
  | 'heartbeat-timeout-error';

/**
 * Rules whose violation the engine cannot run faithfully (aws-local-stepfunctions ignores the
 * feature silently or fails at run time): `WorkflowEngine.registerStateMachine` refuses them. The
 * other rules are portability advice: the engine corrects those itself (see docs/local-runtime.md).
 */
export const BLOCKING_RULES: ReadonlySet<LintRule> = new Set<LintRule>([
  'jsonata',
  'assign',
  'arguments-output',
  'state-context',
  'distributed-map',
  'credentials',
  'heartbeat-not-below-timeout',
]);

const CALLBACK = /\.waitForTaskToken$/;

/**
 * The violations of the local-fidelity subset (what the engine runs as AWS does; docs/local-runtime.md):
 * JSONata, Assign, Arguments/Output, ResultPath "$", a falsy Pass Result, `$$.State.*`,
 * `$$.Execution.Input`/`StartTime` inside an inline Map or Parallel, a Distributed Map using what
 * the engine does not emulate (S3 ItemReader/ResultWriter, ItemBatcher, EXPRESS children, the *Path
 * settings), Credentials, a Task
 * without TimeoutSeconds, a callback Task without a HeartbeatSeconds below its TimeoutSeconds, and
 * a catcher or retrier on States.HeartbeatTimeout without States.Timeout.
 */
export function lintDefinition(definition: string | object): LintViolation[] {
  const def = (typeof definition === 'string' ? parseDefinition(definition) : definition) as AslDefinition;
  const out: LintViolation[] = [];
  const add = (rule: LintRule, path: string, message: string) => out.push({ rule, path, message });

  if (def.QueryLanguage === 'JSONata')
    add('jsonata', 'QueryLanguage', 'JSONata is ignored by the local engine');
  for (const { name, state, path, nested } of collectStates(def)) {
    if (state.QueryLanguage === 'JSONata') add('jsonata', `${path}.QueryLanguage`, `${name}: JSONata state`);
    if (containsJsonataExpression(state)) add('jsonata', path, `${name}: JSONata {% %} expression`);
    for (const { at } of findKeys(state, 'Assign'))
      add('assign', `${path}.${at}`, `${name}: Assign (variables)`);
    for (const field of ['Arguments', 'Output'] as const) {
      if (field in state) add('arguments-output', `${path}.${field}`, `${name}: ${field} is JSONata-only`);
    }
    if (state.ResultPath === '$')
      add('result-path-root', `${path}.ResultPath`, `${name}: ResultPath "$"; omit it`);
    if (Array.isArray(state.Catch)) {
      state.Catch.forEach((catcher, i) => {
        if (isObject(catcher) && catcher.ResultPath === '$') {
          add(
            'result-path-root',
            `${path}.Catch[${i}].ResultPath`,
            `${name}: catcher ResultPath "$"; omit it`,
          );
        }
      });
    }
    if (state.Type === 'Pass' && 'Result' in state && !state.Result) {
      add(
        'falsy-pass-result',
        `${path}.Result`,
        `${name}: falsy Pass Result ${JSON.stringify(state.Result)}`,
      );
    }
    for (const { field, expression } of pathExpressions(state)) {
      if (/\$\$\.State\b/.test(expression)) {
        add('state-context', `${path}.${field}`, `${name}: $$.State.* is not provided locally`);
      }
      if (nested && /\$\$\.Execution(?:\.(?:Input|StartTime)\b|(?![.\w[]))/.test(expression)) {
        add(
          'execution-context-in-nested',
          `${path}.${field}`,
          `${name}: $$.Execution.Input/StartTime inside a Map or Parallel is the item or branch in the library`,
        );
      }
    }
    if (state.Type === 'Map') {
      if (isDistributedMap(state)) {
        const unsupported = unsupportedDistributedFields(state);
        if (unsupported.length) {
          add(
            'distributed-map',
            path,
            `${name}: Distributed Map with ${unsupported.join(', ')}; the local engine runs Distributed Maps over the state input only`,
          );
          for (const field of unsupported) {
            if (field in state)
              add('distributed-map', `${path}.${field}`, `${name}: ${field} is not emulated locally`);
          }
        }
      } else {
        for (const field of DISTRIBUTED_ONLY_FIELDS) {
          if (field in state)
            add('distributed-map', `${path}.${field}`, `${name}: ${field} (Distributed Map only)`);
        }
      }
    }
    if (state.Type === 'Task') {
      if ('Credentials' in state) add('credentials', `${path}.Credentials`, `${name}: Credentials`);
      const timeout = state.TimeoutSeconds;
      if (timeout === undefined && state.TimeoutSecondsPath === undefined) {
        add(
          'task-timeout',
          path,
          `${name}: Task without TimeoutSeconds (the library defaults to 60 s, AWS to 99999999 s)`,
        );
      }
      const heartbeat = state.HeartbeatSeconds;
      if (typeof state.Resource === 'string' && CALLBACK.test(state.Resource) && heartbeat === undefined) {
        if (state.HeartbeatSecondsPath === undefined) {
          add('callback-heartbeat', path, `${name}: callback Task without HeartbeatSeconds`);
        }
      }
      if (
        typeof heartbeat === 'number' &&
        heartbeat >= (typeof timeout === 'number' ? timeout : 99_999_999)
      ) {
        add(
          'heartbeat-not-below-timeout',
          `${path}.HeartbeatSeconds`,
          `${name}: HeartbeatSeconds ${heartbeat} must be less than TimeoutSeconds ${timeout ?? 99_999_999}`,
        );
      }
    }
    for (const field of ['Retry', 'Catch'] as const) {
      const list = state[field];
      if (!Array.isArray(list)) continue;
      list.forEach((entry, i) => {
        const errors = isObject(entry) && Array.isArray(entry.ErrorEquals) ? entry.ErrorEquals : [];
        if (errors.includes('States.HeartbeatTimeout') && !errors.includes('States.Timeout')) {
          add(
            'heartbeat-timeout-error',
            `${path}.${field}[${i}].ErrorEquals`,
            `${name}: a heartbeat expiry raises States.Timeout; list it next to States.HeartbeatTimeout`,
          );
        }
      });
    }
  }
  return out;
}

/** Map fields AWS accepts only on a Distributed Map. */
const DISTRIBUTED_ONLY_FIELDS = [
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'Label',
] as const;

/** Distributed Map fields the engine does not emulate (S3 readers and writers, batches, dynamic settings). */
const UNSUPPORTED_DISTRIBUTED_FIELDS = [
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCountPath',
] as const;

/** True for a Map state whose ItemProcessor runs in DISTRIBUTED mode (each item a child execution). */
export function isDistributedMap(state: AslState): boolean {
  const processor = isObject(state.ItemProcessor) ? state.ItemProcessor : undefined;
  const config = processor && isObject(processor.ProcessorConfig) ? processor.ProcessorConfig : undefined;
  return state.Type === 'Map' && config?.Mode === 'DISTRIBUTED';
}

/**
 * What of a Distributed Map the engine cannot run: UNSUPPORTED_DISTRIBUTED_FIELDS, and an
 * ExecutionType other than STANDARD (EXPRESS child workflows keep no history AWS could return).
 */
export function unsupportedDistributedFields(state: AslState): string[] {
  const out: string[] = UNSUPPORTED_DISTRIBUTED_FIELDS.filter((field) => field in state);
  const processor = state.ItemProcessor as Record<string, unknown>;
  const config = processor.ProcessorConfig as Record<string, unknown>;
  if (config.ExecutionType !== 'STANDARD')
    out.push(`ProcessorConfig.ExecutionType ${JSON.stringify(config.ExecutionType ?? null)}`);
  return out;
}

function containsJsonataExpression(state: AslState): boolean {
  let found = false;
  const scan = (value: unknown, key: string) => {
    if (found || NESTED_FIELDS.has(key) || key === 'Comment') return;
    if (typeof value === 'string') found = /^\s*\{%[\s\S]*%\}\s*$/.test(value);
    else if (Array.isArray(value)) for (const v of value) scan(v, '');
    else if (isObject(value)) for (const [k, v] of Object.entries(value)) scan(v, k);
  };
  for (const [k, v] of Object.entries(state)) scan(v, k);
  return found;
}

function findKeys(value: unknown, wanted: string, at = ''): Array<{ at: string }> {
  const out: Array<{ at: string }> = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push(...findKeys(v, wanted, `${at}[${i}]`));
    });
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (NESTED_FIELDS.has(k)) continue;
      const here = at ? `${at}.${k}` : k;
      if (k === wanted) out.push({ at: here });
      else out.push(...findKeys(v, wanted, here));
    }
  }
  return out;
}

export interface ValidationResult {
  isValid: boolean;
  errors: Array<{ code: string; message: string }>;
}

/**
 * asl-validator 4.0.0 with both checks on (`checkArn` and `checkPaths`; given options replace its
 * defaults) on a fresh clone (it writes `QueryLanguage` into every state it sees).
 */
export function validateDefinition(definition: string | object): ValidationResult {
  const fresh = typeof definition === 'string' ? parseDefinition(definition) : structuredClone(definition);
  const { isValid, errors } = aslValidator(fresh, { checkArn: true, checkPaths: true });
  return {
    isValid,
    errors: errors.map((e) => ({ code: e['Error code'], message: e.Message })),
  };
}
