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

describe('the state machine within what the local runtime runs faithfully', () => {
  it('has no construct that aws-local-stepfunctions ignores or gets wrong', async () => {
    const { lintDefinition } = await import('../../../local/runtime/workflow/definition.js');
    const violations = lintDefinition(text).map((v) => `${v.rule} at ${v.path}`);
    // The approval wait is a human decision: no heartbeat makes sense there (its timeout is the policy's).
    expect(
      violations.filter((v) => !v.startsWith('callback-heartbeat at ') || !v.includes('RequestApproval')),
    ).toEqual([]);
  });
});
