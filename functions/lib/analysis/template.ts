/**
 * PromQL templates: `{{variable}}` placeholders, a light syntactic check (balanced (), [] and {},
 * closed quotes, not empty) done when the policy is loaded, and rendering at measurement time.
 */
import { AnalysisStateError, ExpressionSyntaxError } from './errors.js';

/** The variables a query template may use. */
export const TEMPLATE_VARIABLES = ['service', 'canaryService', 'cluster', 'digest', 'tag', 'window'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Readonly<Record<TemplateVariable, string>>;

export const MAX_QUERY_LENGTH = 4000;
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\}\}/y;
const CLOSERS: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

/**
 * Checks a PromQL template and returns the variables it uses.
 * @throws ExpressionSyntaxError at the offset of the first problem.
 */
export function checkTemplate(template: string): Set<TemplateVariable> {
  if (template.length > MAX_QUERY_LENGTH) {
    throw new ExpressionSyntaxError(
      `the query is longer than ${MAX_QUERY_LENGTH} characters`,
      MAX_QUERY_LENGTH,
    );
  }
  if (template.trim() === '') throw new ExpressionSyntaxError('the query is empty', 0);
  const used = new Set<TemplateVariable>();
  const open: { ch: string; at: number }[] = [];
  let quote: { ch: string; at: number } | undefined;
  let i = 0;
  while (i < template.length) {
    const ch = template[i] as string;
    if (template.startsWith('{{', i)) {
      i = placeholder(template, i, used);
      continue;
    }
    if (quote) {
      if (ch === '\\' && quote.ch !== '`') {
        if (i + 1 >= template.length) break;
        i += 2;
        continue;
      }
      if (ch === '\n' && quote.ch !== '`') {
        throw new ExpressionSyntaxError(
          `the string opened with ${quote.ch} is not closed on its line`,
          quote.at,
        );
      }
      if (ch === quote.ch) quote = undefined;
      i += 1;
      continue;
    }
    if (template.startsWith('}}', i) && open[open.length - 1]?.ch !== '{') {
      throw new ExpressionSyntaxError('"}}" without its "{{"', i);
    }
    if (ch === '#') {
      // PromQL comment to the end of the line.
      const end = template.indexOf('\n', i);
      i = end === -1 ? template.length : end + 1;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = { ch, at: i };
    } else if (ch === '(' || ch === '[' || ch === '{') {
      open.push({ ch, at: i });
    } else if (ch === ')' || ch === ']' || ch === '}') {
      const last = open.pop();
      if (!last) throw new ExpressionSyntaxError(`"${ch}" without its "${CLOSERS[ch]}"`, i);
      if (last.ch !== CLOSERS[ch]) {
        throw new ExpressionSyntaxError(`"${ch}" closes the "${last.ch}" opened at offset ${last.at}`, i);
      }
    }
    i += 1;
  }
  if (quote) throw new ExpressionSyntaxError(`the string opened with ${quote.ch} is not closed`, quote.at);
  const unclosed = open.pop();
  if (unclosed) throw new ExpressionSyntaxError(`"${unclosed.ch}" is never closed`, unclosed.at);
  return used;
}

function placeholder(template: string, at: number, used: Set<TemplateVariable>): number {
  PLACEHOLDER.lastIndex = at;
  const match = PLACEHOLDER.exec(template);
  if (!match) {
    const close = template.indexOf('}}', at + 2);
    if (close === -1) throw new ExpressionSyntaxError('"{{" without its "}}"', at);
    throw new ExpressionSyntaxError(
      `"${template.slice(at, close + 2)}" is not a variable: write {{service}}, {{canaryService}}, ...`,
      at,
    );
  }
  const name = match[1];
  if (name === undefined) throw new ExpressionSyntaxError('empty "{{}}"', at);
  if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
    throw new ExpressionSyntaxError(
      `unknown template variable "${name}" (known: ${TEMPLATE_VARIABLES.join(', ')})`,
      at + match[0].indexOf(name),
    );
  }
  used.add(name as TemplateVariable);
  return at + match[0].length;
}

const GLOBAL_PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * Replaces every `{{variable}}`. The template was checked at load; an unknown variable here is a bug.
 * @throws AnalysisStateError for a variable without a value.
 */
export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(GLOBAL_PLACEHOLDER, (_whole, name: string) => {
    const value = Object.hasOwn(values, name) ? values[name as TemplateVariable] : undefined;
    if (value === undefined) throw new AnalysisStateError(`no value for template variable "${name}"`);
    return value;
  });
}

/** Characters a variable value may carry: they cannot break out of a PromQL string or matcher. */
export const SAFE_VALUE = /^[A-Za-z0-9_.:@/+-]*$/;

/**
 * Rejects values that could change the query's meaning once inserted (quotes, backslashes, braces,
 * spaces). Service, cluster, tag and digest names never need them.
 * @throws AnalysisStateError naming the variable (its value may be shown: it is not a secret).
 */
export function assertSafeValue(name: string, value: string): void {
  if (!SAFE_VALUE.test(value) || value.length > 256) {
    throw new AnalysisStateError(
      `deployment variable ${name}=${JSON.stringify(value.slice(0, 80))} cannot be put in a query (allowed: letters, digits, _ . : @ / + -)`,
    );
  }
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?$/;

/**
 * Parses a duration: a number of seconds, or a string like `30s`, `5m`, `1h30m`.
 * Returns undefined when it is not one.
 */
export function parseDuration(input: number | string): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input >= 0 ? input : undefined;
  const match = DURATION.exec(input.trim());
  if (!match || input.trim() === '') return undefined;
  const [, h, m, s] = match;
  return Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
}

/** Formats seconds as a PromQL duration (`90s`, `5m`, `2h`). */
export function formatPromDuration(seconds: number): string {
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
