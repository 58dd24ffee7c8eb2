import { describe, expect, it } from 'vitest';
import { ExpressionSyntaxError } from '../../../functions/lib/analysis/errors.js';
import {
  type Condition,
  evaluateCondition,
  parseCondition,
} from '../../../functions/lib/analysis/expression.js';

const RESULT = ['result'] as const;

function check(source: string, result: number, variables: readonly string[] = RESULT): boolean {
  return evaluateCondition(parseCondition(source, variables), { result });
}

function syntaxError(source: string, variables: readonly string[] = RESULT): ExpressionSyntaxError {
  try {
    parseCondition(source, variables);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionSyntaxError);
    return error as ExpressionSyntaxError;
  }
  throw new Error(`expected "${source}" to be rejected`);
}

describe('parseCondition / evaluateCondition', () => {
  it('evaluates comparisons', () => {
    expect(check('result < 0.05', 0.01)).toBe(true);
    expect(check('result < 0.05', 0.05)).toBe(false);
    expect(check('result <= 0.05', 0.05)).toBe(true);
    expect(check('result > 1e-3', 0.01)).toBe(true);
    expect(check('result >= .5', 0.5)).toBe(true);
    expect(check('result == 3', 3)).toBe(true);
    expect(check('result != 3', 3)).toBe(false);
  });

  it('evaluates and/or/not with their aliases', () => {
    expect(check('result >= 0.95 and result <= 1', 0.97)).toBe(true);
    expect(check('result >= 0.95 and result <= 1', 1.2)).toBe(false);
    expect(check('result < 0 or result > 1', 2)).toBe(true);
    expect(check('result >= 0.95 && result <= 1', 0.97)).toBe(true);
    expect(check('result < 0 || result > 1', 0.5)).toBe(false);
    expect(check('not result > 1', 0.5)).toBe(true);
    expect(check('!(result > 1)', 2)).toBe(false);
    expect(check('true', 0)).toBe(true);
    expect(check('false or result == 0', 0)).toBe(true);
  });

  it('gives * and / precedence over + and -, and arithmetic over comparison', () => {
    // prepare: 1 + 2 * 3 = 7, not 9
    expect(check('result == 1 + 2 * 3', 7)).toBe(true);
    expect(check('result == (1 + 2) * 3', 9)).toBe(true);
    expect(check('result == 8 - 2 - 1', 5)).toBe(true); // left associative
    expect(check('result == 8 / 4 / 2', 1)).toBe(true);
    expect(check('-result == -2', 2)).toBe(true);
    expect(check('result * 100 < 5', 0.04)).toBe(true);
  });

  it('binds and tighter than or, and not tighter than and', () => {
    // true or (false and false) = true; (true or false) and false = false
    expect(check('result == 1 or result == 2 and result == 3', 1)).toBe(true);
    expect(check('(result == 1 or result == 2) and result == 3', 1)).toBe(false);
    // (not false) and false = false; not (false and false) = true
    expect(check('not result == 2 and result == 2', 1)).toBe(false);
  });

  it('follows IEEE 754 for NaN and infinities', () => {
    expect(check('result < 0.05', Number.NaN)).toBe(false);
    expect(check('result >= 0.95', Number.NaN)).toBe(false);
    expect(check('result != 0', Number.NaN)).toBe(true);
    expect(check('result > 100', Number.POSITIVE_INFINITY)).toBe(true);
    expect(check('result / 0 > 1000', 1)).toBe(true);
  });

  it('reads several variables when allowed', () => {
    const condition = parseCondition('result <= 1.5 or canary <= 0.05', ['result', 'canary', 'baseline']);
    expect([...condition.variables].sort()).toEqual(['canary', 'result']);
    expect(evaluateCondition(condition, { result: 3, canary: 0.01, baseline: 0.001 })).toBe(true);
    expect(evaluateCondition(condition, { result: 3, canary: 0.2, baseline: 0.01 })).toBe(false);
  });

  it.each([
    ['', 0, 'empty'],
    ['result <', 8, 'ends too early'],
    ['result < 0.05 and', 17, 'ends too early'],
    ['result << 0.05', 8, 'unexpected "<"'],
    ['result = 1', 7, 'compare with "=="'],
    ['result & 1', 7, '"and"'],
    ['(result < 1', 11, 'missing ")" for the "(" at offset 0'],
    ['result < 1)', 10, '")" without its "("'],
    ['resutl < 0.05', 0, 'unknown name "resutl"'],
    ['result < 5m', 10, 'no units'],
    ['result[0] >= 0.95', 6, 'no indexing'],
    ['result.constructor', 6, 'no indexing'],
    ['0 < result < 1', 11, 'cannot be chained'],
    ['result + 1', 0, 'must be true or false'],
    ['result and true', 0, '"and" needs a true/false expression, not a number'],
    ['result > 1 and 2', 15, '"and" needs a true/false expression, not a number'],
    ['not result', 4, '"not" needs a true/false expression'],
    ['(result > 1) + 1', 1, '"+" needs a number'],
    ['result < "x"', 9, 'unexpected character'],
    ['result < 0.05;', 13, 'unexpected character ";"'],
    ['and result', 0, 'needs something on its left'],
  ])('rejects %j at offset %i', (source, offset, message) => {
    const error = syntaxError(source);
    expect(error.offset).toBe(offset);
    expect(error.reason).toContain(message);
    expect(error.name).toBe('ExpressionSyntaxError');
    expect(error.retryable).toBe(false);
  });

  it('executes no code: JavaScript in a condition is rejected before evaluation', () => {
    // prepare: things that would run under eval/new Function
    const attempts = [
      'process.exit(1)',
      'globalThis.x = 1',
      'constructor',
      '__proto__ == 1',
      'toString() == 1',
      'result < 1; require("fs")',
      '`result` == 1',
      'result => 1',
      'new Date() > 0',
    ];
    // act / assess
    for (const source of attempts) {
      expect(() => parseCondition(source, RESULT), source).toThrow(ExpressionSyntaxError);
    }
    expect((globalThis as { x?: unknown }).x).toBeUndefined();
  });

  it('looks variables up as own values only', () => {
    const condition = parseCondition('result > 0', RESULT);
    expect(() => evaluateCondition(condition, {} as Record<string, number>)).toThrow(/no value for "result"/);
  });

  it('limits length and nesting', () => {
    expect(syntaxError(`result > ${'1'.repeat(1001)}`).reason).toContain('longer than');
    const deep = `${'('.repeat(100)}result > 1${')'.repeat(100)}`;
    expect(syntaxError(deep).reason).toContain('nests deeper');
    const parsed: Condition = parseCondition(`${'('.repeat(20)}result > 1${')'.repeat(20)}`, RESULT);
    expect(evaluateCondition(parsed, { result: 2 })).toBe(true);
  });
});
