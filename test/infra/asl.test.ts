/** infra/asl.ts: rendering the workflow definition is all or nothing, before any resource exists. */
import { describe, expect, it } from 'vitest';
import {
  AslRenderError,
  aslPlaceholders,
  checkAslPlaceholders,
  placeholderFor,
  readAslTemplate,
  renderAsl,
  taskTimeouts,
} from '../../infra/asl.js';
import { HANDLERS, OUTSIDE_WORKFLOW } from '../../infra/handlers.js';

const template = readAslTemplate();
const workflowHandlers = HANDLERS.filter((h) => !OUTSIDE_WORKFLOW.includes(h));
const arns = Object.fromEntries(
  workflowHandlers.map((h) => [placeholderFor(h), `arn:aws:lambda:eu-west-1:123456789012:function:x-${h}`]),
);

describe('renderAsl', () => {
  it('has one placeholder per workflow handler, and none for the rule and API targets', () => {
    expect(aslPlaceholders(template)).toEqual(workflowHandlers.map(placeholderFor).sort());
    expect(placeholderFor('promote-cluster')).toBe('PromoteClusterFunctionArn');
  });

  it('replaces every placeholder', () => {
    const out = renderAsl(template, arns);
    expect(out).not.toMatch(/\$\{/);
    for (const arn of Object.values(arns)) expect(out).toContain(`"${arn}"`);
    expect(JSON.parse(out).StartAt).toBe(JSON.parse(template).StartAt);
  });

  it('throws on a missing placeholder ARN, naming it', () => {
    const { PlanFunctionArn: _, ...missing } = arns;
    expect(() => renderAsl(template, missing)).toThrow(AslRenderError);
    expect(() => renderAsl(template, missing)).toThrow(`no ARN for placeholder(s) ${'$'}{PlanFunctionArn}`);
  });

  it('throws on an ARN no placeholder uses, naming it', () => {
    expect(() => checkAslPlaceholders(template, [...Object.keys(arns), 'ApiFunctionArn'])).toThrow(
      'no placeholder uses ApiFunctionArn',
    );
  });

  it('throws on a placeholder that is not <Name>FunctionArn', () => {
    expect(() => renderAsl(`{"a": "${'$'}{Oops}"}`, { Oops: 'x' })).toThrow(
      'not named <Name>FunctionArn: Oops',
    );
  });

  it('reads the Task states’ timeouts per function', () => {
    const t = taskTimeouts(template);
    expect(Object.keys(t).every((k) => k.endsWith('FunctionArn'))).toBe(true);
    expect(t.PreflightClusterFunctionArn).toBe(120);
  });
});
