import { describe, expect, it } from 'vitest';
import { AnalysisStateError, ExpressionSyntaxError } from '../../../functions/lib/analysis/errors.js';
import {
  assertSafeValue,
  checkTemplate,
  formatPromDuration,
  parseDuration,
  renderTemplate,
  type TemplateValues,
} from '../../../functions/lib/analysis/template.js';

const VALUES: TemplateValues = {
  service: 'web',
  canaryService: 'web-canary',
  cluster: 'eu-1',
  digest: 'sha256:0123abcd',
  tag: 'v2.1',
  window: '1m',
};

function rejects(template: string): ExpressionSyntaxError {
  try {
    checkTemplate(template);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionSyntaxError);
    return error as ExpressionSyntaxError;
  }
  throw new Error(`expected ${template} to be rejected`);
}

describe('checkTemplate', () => {
  it('accepts PromQL with placeholders in strings, selectors and ranges', () => {
    const used = checkTemplate(
      'sum(rate(http_requests_total{service="{{canaryService}}",code=~"5.."}[{{ window }}])) # comment (\n / 2',
    );
    expect([...used].sort()).toEqual(['canaryService', 'window']);
    expect(checkTemplate("up{image=~'.*@{{digest}}', tag=`{{tag}}`}")).toEqual(new Set(['digest', 'tag']));
    expect(checkTemplate('vector(1)').size).toBe(0);
    // Brackets inside strings do not count.
    expect(() => checkTemplate('up{path="/a(b]{"}')).not.toThrow();
    expect(() => checkTemplate('up{path="a\\"b"}')).not.toThrow();
  });

  it.each([
    ['', 0, 'empty'],
    ['   ', 0, 'empty'],
    ['rate(x{service="{{servce}}"}[5m])', 18, 'unknown template variable "servce"'],
    ['up{service="{{service}"}', 12, '"{{" without its "}}"'],
    ['up{service="{{}}"}', 12, 'empty "{{}}"'],
    ['up{service="{{ 1x }}"}', 12, 'is not a variable'],
    ['up{service="x"}}}', 15, '"}}" without its "{{"'],
    ['sum(rate(x[5m])', 3, '"(" is never closed'],
    ['sum(rate(x[5m])))', 16, '")" without its "("'],
    ['sum(rate(x[5m)))', 13, '")" closes the "[" opened at offset 10'],
    ['up{service="web}', 11, 'string opened with " is not closed'],
    ["up{service='web}", 11, "string opened with ' is not closed"],
    ['up{a="x\ny"}', 5, 'not closed on its line'],
  ])('rejects %j at offset %i', (template, offset, message) => {
    const error = rejects(template);
    expect(error.offset).toBe(offset);
    expect(error.reason).toContain(message);
  });

  it('rejects queries past the length limit', () => {
    expect(rejects(`vector(${'1'.repeat(5000)})`).reason).toContain('longer than');
  });
});

describe('renderTemplate', () => {
  it('replaces every placeholder, with or without spaces', () => {
    expect(
      renderTemplate('up{service="{{canaryService}}",cluster="{{ cluster }}"}[{{window}}] {{tag}}', VALUES),
    ).toBe('up{service="web-canary",cluster="eu-1"}[1m] v2.1');
  });

  it('fails loudly on a variable without a value', () => {
    expect(() => renderTemplate('{{nope}}', VALUES)).toThrow(AnalysisStateError);
  });
});

describe('assertSafeValue', () => {
  it('accepts service, cluster, tag and digest names', () => {
    for (const value of [
      'web',
      'web-canary',
      'eu_west.1',
      'v1.2.3+build',
      'sha256:abc',
      'org/app@sha256:ab',
    ]) {
      expect(() => assertSafeValue('x', value)).not.toThrow();
    }
  });

  it('rejects values that could break out of a PromQL string', () => {
    for (const value of ['a"b', "a'b", 'a\\b', 'a}b', 'a b', 'a\nb', 'x"}) or vector(1) #']) {
      expect(() => assertSafeValue('service', value)).toThrow(AnalysisStateError);
    }
  });
});

describe('durations', () => {
  it('parses seconds and unit strings', () => {
    expect(parseDuration(30)).toBe(30);
    expect(parseDuration('30s')).toBe(30);
    expect(parseDuration('5m')).toBe(300);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('1m30s')).toBe(90);
    expect(parseDuration('')).toBeUndefined();
    expect(parseDuration('5ms')).toBeUndefined();
    expect(parseDuration('1.5')).toBeUndefined();
    expect(parseDuration(1.5)).toBeUndefined();
    expect(parseDuration('30x')).toBeUndefined();
  });

  it('formats PromQL durations', () => {
    expect(formatPromDuration(90)).toBe('90s');
    expect(formatPromDuration(60)).toBe('1m');
    expect(formatPromDuration(300)).toBe('5m');
    expect(formatPromDuration(7200)).toBe('2h');
  });
});
