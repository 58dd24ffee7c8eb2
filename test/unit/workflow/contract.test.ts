import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const text = readFileSync(join(ROOT, 'statemachines', 'deploy.asl.json'), 'utf8');
const definition = () => JSON.parse(text) as Record<string, unknown>;

/** Every state of the machine, nested Map and Parallel states included, with its name. */
function allStates(node: {
  States?: Record<string, Record<string, unknown>>;
}): Array<[string, Record<string, unknown>]> {
  const out: Array<[string, Record<string, unknown>]> = [];
  for (const [name, state] of Object.entries(node.States ?? {})) {
    out.push([name, state]);
    const proc = (state.ItemProcessor ?? state.Iterator) as typeof node | undefined;
    if (proc) out.push(...allStates(proc));
    for (const b of (state.Branches as Array<typeof node> | undefined) ?? []) out.push(...allStates(b));
  }
  return out;
}

/** Error names that the code defines: `override readonly name = 'XxxError'` in functions/lib. */
function codeErrorNames(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/readonly name = '(\w+Error)'/g))
          names.add(m[1] as string);
    }
  };
  walk(join(ROOT, 'functions', 'lib'));
  return names;
}

describe('the state machine contract', () => {
  it('is valid ASL (asl-validator, ARNs and paths checked)', () => {
    const { isValid, errorsText } = aslValidator(definition(), { checkArn: true, checkPaths: true });
    expect(isValid, errorsText('\n')).toBe(true);
  });

  it('routes only on error names the code throws, and the workflow errors are all routed on', () => {
    const states = allStates(definition() as never);
    const routed = new Set<string>();
    for (const [, s] of states) {
      for (const r of [
        ...((s.Retry as Array<{ ErrorEquals: string[] }>) ?? []),
        ...((s.Catch as Array<{ ErrorEquals: string[] }>) ?? []),
      ]) {
        for (const e of r.ErrorEquals)
          if (!e.startsWith('States.') && !e.startsWith('Lambda.')) routed.add(e);
      }
      if (s.Type === 'Fail' && typeof s.Error === 'string') routed.add(s.Error);
    }
    const defined = codeErrorNames();
    defined.add('ApprovalTimedOutError'); // raised by the ASL's own Fail state
    expect([...routed].filter((n) => !defined.has(n))).toEqual([]);
    // The errors that decide the workflow's path must each be routed on somewhere.
    for (const n of [
      'DeploymentRejectedError',
      'LockTimeoutError',
      'DeploymentAbortedError',
      'RollbackFailedError',
      'EngineUnreachableError',
      'RecordError',
    ]) {
      expect(routed, n).toContain(n);
    }
  });

  it('gives every Task a timeout, Lambda retries and a comment on every Retry and Catch', () => {
    for (const [name, s] of allStates(definition() as never)) {
      if (s.Type !== 'Task') continue;
      expect(s.TimeoutSeconds ?? s.TimeoutSecondsPath, `${name}: TimeoutSeconds`).toBeDefined();
      const retry = (s.Retry as Array<{ ErrorEquals: string[]; Comment?: string }>) ?? [];
      expect(
        retry.some((r) => r.ErrorEquals.includes('Lambda.ServiceException')),
        `${name}: Lambda retry`,
      ).toBe(true);
      for (const r of [...retry, ...((s.Catch as Array<{ Comment?: string }>) ?? [])])
        expect(r.Comment, `${name}: comment`).toBeTruthy();
    }
  });

  it('binds every Lambda placeholder to a handler file', () => {
    const placeholders = [
      ...new Set([...text.matchAll(/\$\{(\w+)FunctionArn\}/g)].map((m) => m[1] as string)),
    ];
    const handlers = new Set(
      readdirSync(join(ROOT, 'functions', 'handlers')).map((f) => f.replace(/\.ts$/, '')),
    );
    const kebab = (s: string) => s.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
    expect(placeholders.filter((p) => !handlers.has(kebab(p)))).toEqual([]);
  });
});

/** The error classes of functions/lib: every file that defines a subclass of an *Error, imported. */
async function errorClasses(): Promise<Map<string, { retryable: Set<boolean>; file: string }>> {
  const { DeployerError } = await import('../../../functions/lib/errors.js');
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (
        e.name.endsWith('.ts') &&
        (e.name === 'errors.ts' || /class \w+ extends \w*Error\b/.test(readFileSync(p, 'utf8')))
      )
        files.push(p);
    }
  };
  walk(join(ROOT, 'functions', 'lib'));
  // Constructors take (message, options?), (message, retryable) or (issues): try the shapes that set the flag both ways.
  const shapes: unknown[][] = [
    ['m'],
    [[{ field: 'f', message: 'm' }]],
    ['m', { retryable: true, target: 't', reference: 'r' }],
    ['m', { retryable: false, target: 't', reference: 'r' }],
    ['m', true],
    ['m', false],
  ];
  const classes = new Map<string, { retryable: Set<boolean>; file: string }>();
  for (const file of files) {
    const module = (await import(file)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if (typeof value !== 'function' || !(value.prototype instanceof DeployerError)) continue;
      const Ctor = value as new (...args: unknown[]) => { name: string; retryable: unknown };
      const retryable = new Set<boolean>();
      let name: string | undefined;
      for (const args of shapes) {
        try {
          const error = new Ctor(...args);
          name = error.name;
          if (typeof error.retryable === 'boolean') retryable.add(error.retryable);
        } catch {
          // this shape does not fit the constructor
        }
      }
      expect(name, `${Ctor.name} in ${file}: cannot be instantiated`).toBeDefined();
      classes.set(name as string, { retryable, file: file.slice(ROOT.length + 1) });
    }
  }
  return classes;
}

/**
 * Retryable errors that never leave a Task under their own name (so no Retry needs to list them).
 * Each says what becomes of it; keep this list short and true.
 */
const NOT_RAISED_BY_A_TASK: Record<string, string> = {
  PrometheusAbortedError: 'runRound turns it into AnalysisAbortedError',
};

type State = Record<string, unknown>;
const listed = (s: State) =>
  new Set(((s.Retry as Array<{ ErrorEquals: string[] }>) ?? []).flatMap((r) => r.ErrorEquals));

/**
 * Retryable errors that only some Tasks raise, with which: every other retryable error can come
 * from any Task (a store, the registry, Step Functions, notifications, config, secrets) and must
 * be in every Task's Retry. `undefined` = wherever the ASL retries it (checked: somewhere).
 */
function scope(name: string, file: string): ((task: State) => boolean) | undefined | 'everywhere' {
  // Not reaching a manager through the SSM tunnel: a Task that retries one way must retry them all.
  if (file.startsWith('functions/lib/ssm/') || name === 'EngineUnreachableError')
    return (task) =>
      [...listed(task)].some((e) => e === 'EngineUnreachableError' || e === 'TunnelConnectError');
  if (name === 'AnalysisAbortedError') return (task) => String(task.Resource).includes('AnalyzeFunctionArn');
  if (name === 'ChangeInFlightError') return undefined; // the rollback steps: a change still in flight
  return 'everywhere';
}
const custom = (name: string) => !name.startsWith('States.') && !name.startsWith('Lambda.');

describe('the retry contract, both ways', () => {
  it('finds the error classes by importing them, one per name the code defines', async () => {
    const classes = await errorClasses();
    expect([...codeErrorNames()].filter((n) => !classes.has(n))).toEqual([]);
    for (const name of Object.keys(NOT_RAISED_BY_A_TASK)) expect(classes.has(name), name).toBe(true);
  });

  it('retries only errors whose class can be retryable', async () => {
    const classes = await errorClasses();
    const wrong: string[] = [];
    for (const [state, s] of allStates(definition() as never)) {
      for (const r of (s.Retry as Array<{ ErrorEquals: string[] }>) ?? []) {
        for (const e of r.ErrorEquals.filter(custom)) {
          const c = classes.get(e);
          if (!c) wrong.push(`${state}: ${e} is not an error class`);
          else if (!c.retryable.has(true)) wrong.push(`${state}: ${e} (${c.file}) has retryable false`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('retries every retryable error in every Task that can raise it', async () => {
    const classes = await errorClasses();
    const retryable = [...classes]
      .filter(([name, c]) => c.retryable.has(true) && !(name in NOT_RAISED_BY_A_TASK))
      .map(([name, c]) => ({ name, where: scope(name, c.file) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const tasks = allStates(definition() as never).filter(([, s]) => s.Type === 'Task');
    const missing: string[] = [];
    for (const [state, s] of tasks) {
      const retried = listed(s);
      const absent = retryable
        .filter(({ name, where }) => (where === 'everywhere' || where?.(s)) && !retried.has(name))
        .map(({ name }) => name);
      if (absent.length > 0) missing.push(`${state}: ${absent.join(', ')}`);
    }
    for (const { name } of retryable)
      if (!tasks.some(([, s]) => listed(s).has(name))) missing.push(`no Task retries ${name}`);
    expect(missing).toEqual([]);
  });
});

describe('the state machine within what the local runtime runs faithfully', () => {
  it('has no construct that aws-local-stepfunctions ignores or gets wrong', async () => {
    const { lintDefinition } = await import('../../../local/runtime/workflow/definition.js');
    const violations = lintDefinition(text).map((v) => `${v.rule} at ${v.path}`);
    // The approval wait is a human decision, the bake a timer and the pause a hold until resumed: no
    // heartbeat makes sense there (their timeouts are the policy's approval timeout, the wave's bake
    // time and the hold's re-check period).
    expect(
      violations.filter(
        (v) => !v.startsWith('callback-heartbeat at ') || !/RequestApproval|BakeWave|HoldWave/.test(v),
      ),
    ).toEqual([]);
  });
});
