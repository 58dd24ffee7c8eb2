import { describe, expect, it } from 'vitest';
import {
  DefinitionError,
  lintDefinition,
  substituteDefinition,
  validateDefinition,
} from '../../../local/runtime/workflow/index.js';
import { fixture, fnArn, placeholder } from './harness.js';

const task = (extra: Record<string, unknown> = {}) => ({
  Type: 'Task',
  Resource: fnArn('work'),
  TimeoutSeconds: 30,
  ...extra,
});

const machine = (states: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  StartAt: Object.keys(states)[0],
  States: states,
  ...extra,
});

describe('substituteDefinition (CloudFormation DefinitionSubstitutions semantics)', () => {
  it('renders strings escaped inside JSON strings and values as-is outside them', () => {
    const text = `{"Resource":"${placeholder('Fn')}","TimeoutSeconds":${placeholder('Timeout')},"Comment":"say \\"${placeholder('Quote')}\\""}`;

    const rendered = substituteDefinition(text, { Fn: fnArn('plan'), Timeout: 300, Quote: 'a "b" \\ c' });

    expect(JSON.parse(rendered)).toEqual({
      Resource: fnArn('plan'),
      TimeoutSeconds: 300,
      Comment: 'say "a "b" \\ c"',
    });
  });

  it('fails on a missing and on an unused key, naming both', () => {
    const attempt = () => substituteDefinition(`{"Resource":"${placeholder('Fn')}"}`, { Other: 'x' });

    expect(attempt).toThrow(DefinitionError);
    expect(attempt).toThrow(/\$\{Fn\} has no substitution/);
    expect(attempt).toThrow(/substitution Other is not used/);
  });
});

describe('lintDefinition (the local-fidelity subset)', () => {
  it('passes a definition inside the subset', () => {
    const good = machine({
      Plan: task({ Next: 'Each' }),
      Each: {
        Type: 'Map',
        ItemsPath: '$.clusters',
        ItemSelector: { 'cluster.$': '$$.Map.Item.Value', 'execution.$': '$$.Execution.Name' },
        ItemProcessor: { StartAt: 'Deploy', States: { Deploy: task({ End: true }) } },
        Next: 'Approve',
      },
      Approve: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: fnArn('approve'), Payload: { 'token.$': '$$.Task.Token' } },
        TimeoutSeconds: 3600,
        HeartbeatSeconds: 600,
        Catch: [{ ErrorEquals: ['States.Timeout', 'States.HeartbeatTimeout'], Next: 'Done' }],
        Next: 'Done',
      },
      Done: { Type: 'Pass', Result: { ok: true }, End: true },
    });

    expect(lintDefinition(good)).toEqual([]);
    expect(lintDefinition(JSON.stringify(good))).toEqual([]);
  });

  it('flags every construct outside the subset, with where it is', () => {
    const bad = machine(
      {
        Jsonata: { Type: 'Pass', QueryLanguage: 'JSONata', Output: '{% $states.input %}', Next: 'Vars' },
        Vars: { Type: 'Pass', Assign: { x: 1 }, Next: 'Args' },
        Args: task({ Arguments: { a: 1 }, Next: 'Root' }),
        Root: task({
          ResultPath: '$',
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$', Next: 'Falsy' }],
          Next: 'Falsy',
        }),
        Falsy: { Type: 'Pass', Result: 0, Next: 'StateCtx' },
        StateCtx: task({ Parameters: { 'retry.$': '$$.State.RetryCount' }, Next: 'Nested' }),
        Nested: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'UsesInput',
              States: { UsesInput: task({ Parameters: { 'in.$': '$$.Execution.Input' }, End: true }) },
            },
          ],
          Next: 'Distributed',
        },
        Distributed: {
          Type: 'Map',
          ItemReader: { Resource: 'arn:aws:states:::s3:getObject', Parameters: { Bucket: 'b', Key: 'k' } },
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
            StartAt: 'Item',
            States: { Item: task({ End: true }) },
          },
          Next: 'Creds',
        },
        Creds: task({ Credentials: { RoleArn: 'arn:aws:iam::000000000000:role/x' }, Next: 'NoTimeout' }),
        NoTimeout: { Type: 'Task', Resource: fnArn('work'), Next: 'Callback' },
        Callback: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: { FunctionName: 'x', Payload: { 'token.$': '$$.Task.Token' } },
          TimeoutSeconds: 60,
          Retry: [{ ErrorEquals: ['States.HeartbeatTimeout'] }],
          Next: 'SlowHeartbeat',
        },
        SlowHeartbeat: task({ HeartbeatSeconds: 60, End: true }),
      },
      { QueryLanguage: 'JSONata' },
    );

    const violations = lintDefinition(bad);
    const rules = violations.map((v) => `${v.rule} ${v.path}`);

    expect(rules).toEqual(
      expect.arrayContaining([
        'jsonata QueryLanguage',
        'jsonata States.Jsonata.QueryLanguage',
        'jsonata States.Jsonata',
        'arguments-output States.Jsonata.Output',
        'assign States.Vars.Assign',
        'arguments-output States.Args.Arguments',
        'result-path-root States.Root.ResultPath',
        'result-path-root States.Root.Catch[0].ResultPath',
        'falsy-pass-result States.Falsy.Result',
        'state-context States.StateCtx.Parameters.retry.$',
        'execution-context-in-nested States.Nested.Branches[0].States.UsesInput.Parameters.in.$',
        'distributed-map States.Distributed',
        'distributed-map States.Distributed.ItemReader',
        'credentials States.Creds.Credentials',
        'task-timeout States.NoTimeout',
        'callback-heartbeat States.Callback',
        'heartbeat-timeout-error States.Callback.Retry[0].ErrorEquals',
        'heartbeat-not-below-timeout States.SlowHeartbeat.HeartbeatSeconds',
      ]),
    );
    expect(new Set(violations.map((v) => v.rule)).size).toBe(13);
  });

  it('keeps the toy workflow inside the subset except for its deliberate $$.Execution.Input in a branch', () => {
    const violations = lintDefinition(fixture('toy.asl.json'));

    expect(violations.map((v) => v.rule)).toEqual([
      'execution-context-in-nested',
      'execution-context-in-nested',
    ]);
  });
});

describe('validateDefinition (asl-validator, both checks, on a copy)', () => {
  it('accepts a valid definition and leaves the object untouched', () => {
    const definition = machine({ Plan: task({ End: true }) });
    const before = structuredClone(definition);

    expect(validateDefinition(definition)).toEqual({ isValid: true, errors: [] });
    expect(definition).toEqual(before); // asl-validator would have added QueryLanguage
  });

  it('accepts the toy ASL with its placeholders unrendered', () => {
    expect(validateDefinition(fixture('toy.asl.json')).isValid).toBe(true);
  });

  it('reports unreachable states, bad paths and bad ARNs', () => {
    const unreachable = validateDefinition(
      machine({ Plan: task({ End: true }), Orphan: { Type: 'Succeed' } }),
    );
    const badArn = validateDefinition(machine({ Plan: task({ Resource: 'not-an-arn', End: true }) }));
    const badPath = validateDefinition(machine({ Plan: task({ InputPath: '$.a[?(@.x', End: true }) }));

    expect(unreachable).toEqual({
      isValid: false,
      errors: [{ code: 'MISSING_TRANSITION_TARGET', message: 'State Orphan is not reachable' }],
    });
    expect(badArn.errors[0]?.message).toMatch(/Resource is invalid/);
    expect(badPath.errors[0]?.message).toMatch(/InputPath is invalid/);
  });
});
