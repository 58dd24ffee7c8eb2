/**
 * EventBridge content filtering (event patterns), as documented in "Creating event patterns" and
 * "Content filtering in Amazon EventBridge event patterns", and as aws/event-ruler implements it:
 *
 * - every field named in the pattern must match (AND); `$or` takes alternatives of sub-patterns;
 * - a leaf is an array of matchers (OR): literal strings, numbers, booleans and null compare
 *   exactly and by type (numbers numerically: 300 matches 3.0e2);
 * - objects nest; an event array matches when any of its elements matches (a nested pattern is
 *   tried element by element, so fields of different elements are never combined);
 * - matcher objects: `prefix`, `suffix` (each also as `{"equals-ignore-case": …}`),
 *   `anything-but` (a value, a list, or `prefix`/`suffix`/`equals-ignore-case`/`wildcard`),
 *   `numeric` (comparison pairs), `exists`, `equals-ignore-case`, `wildcard`, `cidr` (IPv4).
 * - `exists` and every other matcher look at leaf values only: an object is not a value.
 */

export type EventPattern = { [field: string]: unknown };

/** An event pattern EventBridge would reject (PutRule: InvalidEventPatternException). */
export class InvalidEventPatternError extends Error {
  override readonly name = 'InvalidEventPatternError';
  readonly type = 'InvalidEventPatternException';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses (when given JSON text) and checks an event pattern. @throws InvalidEventPatternError */
export function parsePattern(pattern: string | EventPattern): EventPattern {
  let parsed: unknown = pattern;
  if (typeof pattern === 'string') {
    try {
      parsed = JSON.parse(pattern);
    } catch (err) {
      throw new InvalidEventPatternError(`Event pattern is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!isObject(parsed) || Object.keys(parsed).length === 0) {
    throw new InvalidEventPatternError('Event pattern must be a non-empty JSON object');
  }
  checkObject(parsed, '');
  return parsed;
}

function checkObject(pattern: Record<string, unknown>, at: string): void {
  for (const [key, value] of Object.entries(pattern)) {
    const here = at ? `${at}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2 || !value.every(isObject)) {
        throw new InvalidEventPatternError(`${here}: $or needs an array of at least two patterns`);
      }
      for (const alternative of value) checkObject(alternative, here);
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new InvalidEventPatternError(`${here}: empty arrays match nothing`);
      for (const matcher of value) checkMatcher(matcher, here);
    } else if (isObject(value)) {
      checkObject(value, here);
    } else {
      throw new InvalidEventPatternError(`${here}: match value must be put inside a JSON array`);
    }
  }
}

const OPERATORS = new Set([
  'prefix',
  'suffix',
  'anything-but',
  'numeric',
  'exists',
  'equals-ignore-case',
  'wildcard',
  'cidr',
]);

function checkMatcher(matcher: unknown, at: string): void {
  if (!isObject(matcher)) {
    if (Array.isArray(matcher)) throw new InvalidEventPatternError(`${at}: nested arrays are not allowed`);
    return;
  }
  const keys = Object.keys(matcher);
  const op = keys[0];
  if (keys.length !== 1 || op === undefined || !OPERATORS.has(op)) {
    throw new InvalidEventPatternError(`${at}: unrecognized match type ${keys.join(', ') || '{}'}`);
  }
  const arg = matcher[op];
  switch (op) {
    case 'prefix':
    case 'suffix':
      if (typeof arg !== 'string' && !(isObject(arg) && typeof arg['equals-ignore-case'] === 'string')) {
        throw new InvalidEventPatternError(`${at}: ${op} match pattern must be a string`);
      }
      return;
    case 'equals-ignore-case':
    case 'wildcard':
      if (typeof arg !== 'string')
        throw new InvalidEventPatternError(`${at}: ${op} match pattern must be a string`);
      if (op === 'wildcard' && /\*\*/.test(arg.replace(/\\./g, ''))) {
        throw new InvalidEventPatternError(`${at}: consecutive wildcard characters are not allowed`);
      }
      return;
    case 'exists':
      if (typeof arg !== 'boolean')
        throw new InvalidEventPatternError(`${at}: exists match pattern must be true or false`);
      return;
    case 'numeric':
      numericChecks(arg, at);
      return;
    case 'cidr':
      if (typeof arg !== 'string' || !parseCidr(arg))
        throw new InvalidEventPatternError(`${at}: invalid CIDR ${String(arg)}`);
      return;
    case 'anything-but': {
      if (Array.isArray(arg)) {
        if (!arg.every((v) => typeof v === 'string' || typeof v === 'number')) {
          throw new InvalidEventPatternError(`${at}: anything-but list must hold strings or numbers`);
        }
      } else if (isObject(arg)) {
        const [inner, ...more] = Object.keys(arg);
        const value = inner === undefined ? undefined : arg[inner];
        const ok =
          more.length === 0 &&
          ((inner === 'prefix' || inner === 'suffix' || inner === 'wildcard') && typeof value === 'string'
            ? true
            : inner === 'equals-ignore-case' &&
              (typeof value === 'string' ||
                (Array.isArray(value) && value.every((v) => typeof v === 'string'))));
        if (!ok)
          throw new InvalidEventPatternError(
            `${at}: unsupported anything-but pattern ${JSON.stringify(arg)}`,
          );
      } else if (typeof arg !== 'string' && typeof arg !== 'number') {
        throw new InvalidEventPatternError(
          `${at}: anything-but needs a string, a number, a list or a prefix/suffix`,
        );
      }
      return;
    }
  }
}

function numericChecks(arg: unknown, at: string): Array<[string, number]> {
  const ops = ['=', '<', '<=', '>', '>='];
  if (!Array.isArray(arg) || arg.length === 0 || arg.length % 2 !== 0) {
    throw new InvalidEventPatternError(`${at}: numeric needs operator/value pairs`);
  }
  const pairs: Array<[string, number]> = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const value = arg[i + 1];
    if (typeof op !== 'string' || !ops.includes(op) || typeof value !== 'number' || !Number.isFinite(value)) {
      throw new InvalidEventPatternError(`${at}: bad numeric pair ${JSON.stringify([op, value])}`);
    }
    pairs.push([op, value]);
  }
  return pairs;
}

/**
 * Whether the event matches the pattern, with EventBridge's semantics (see the module comment).
 * @throws InvalidEventPatternError when the pattern is not a valid event pattern
 */
export function matchesPattern(pattern: string | EventPattern, event: unknown): boolean {
  return matchObject(parsePattern(pattern), event);
}

function matchObject(pattern: Record<string, unknown>, event: unknown): boolean {
  for (const [key, sub] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!(sub as Array<Record<string, unknown>>).some((alternative) => matchObject(alternative, event)))
        return false;
      continue;
    }
    const value = isObject(event) ? event[key] : undefined;
    const ok = Array.isArray(sub)
      ? matchLeaf(sub, value)
      : matchNested(sub as Record<string, unknown>, value);
    if (!ok) return false;
  }
  return true;
}

function matchNested(pattern: Record<string, unknown>, value: unknown): boolean {
  if (Array.isArray(value)) {
    const objects = value.flat(Number.POSITIVE_INFINITY).filter(isObject);
    if (objects.length > 0) return objects.some((element) => matchObject(pattern, element));
    return matchObject(pattern, undefined);
  }
  return matchObject(pattern, isObject(value) ? value : undefined);
}

/** The leaf values at a field: a scalar, the scalars of an array (nested arrays flattened), or none. */
function leafValues(value: unknown): unknown[] {
  if (value === undefined || isObject(value)) return [];
  if (Array.isArray(value)) return value.flat(Number.POSITIVE_INFINITY).filter((v) => !isObject(v));
  return [value];
}

function matchLeaf(matchers: unknown[], value: unknown): boolean {
  const values = leafValues(value);
  return matchers.some((matcher) => {
    if (isObject(matcher) && 'exists' in matcher) return values.length > 0 === matcher.exists;
    return values.some((v) => matchValue(matcher, v));
  });
}

function matchValue(matcher: unknown, value: unknown): boolean {
  if (!isObject(matcher)) return sameValue(matcher, value);
  const [op] = Object.keys(matcher);
  const arg = matcher[op as string];
  switch (op) {
    case 'prefix':
      return typeof value === 'string' && affix(arg, value, (v, a) => v.startsWith(a));
    case 'suffix':
      return typeof value === 'string' && affix(arg, value, (v, a) => v.endsWith(a));
    case 'equals-ignore-case':
      return typeof value === 'string' && foldCase(value) === foldCase(arg as string);
    case 'wildcard':
      return typeof value === 'string' && wildcard(arg as string).test(value);
    case 'numeric':
      return typeof value === 'number' && numericChecks(arg, '').every(([o, n]) => compare(o, value, n));
    case 'cidr':
      return typeof value === 'string' && inCidr(arg as string, value);
    case 'anything-but':
      return anythingBut(arg, value);
    default:
      return false;
  }
}

function sameValue(expected: unknown, value: unknown): boolean {
  if (typeof expected === 'number') return typeof value === 'number' && expected === value;
  return expected === value;
}

function affix(arg: unknown, value: string, test: (v: string, a: string) => boolean): boolean {
  if (typeof arg === 'string') return test(value, arg);
  const folded = (arg as Record<string, string>)['equals-ignore-case'] as string;
  return test(foldCase(value), foldCase(folded));
}

function anythingBut(arg: unknown, value: unknown): boolean {
  if (Array.isArray(arg)) return !arg.some((excluded) => sameValue(excluded, value));
  if (isObject(arg)) {
    if (typeof value !== 'string') return false;
    const [inner] = Object.keys(arg);
    const a = arg[inner as string];
    switch (inner) {
      case 'prefix':
        return !value.startsWith(a as string);
      case 'suffix':
        return !value.endsWith(a as string);
      case 'wildcard':
        return !wildcard(a as string).test(value);
      case 'equals-ignore-case': {
        const list = Array.isArray(a) ? (a as string[]) : [a as string];
        return !list.some((s) => foldCase(s) === foldCase(value));
      }
    }
    return false;
  }
  return !sameValue(arg, value);
}

const foldCase = (s: string) => s.toLowerCase();

function compare(op: string, value: number, bound: number): boolean {
  switch (op) {
    case '=':
      return value === bound;
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    case '>=':
      return value >= bound;
  }
  return false;
}

const wildcards = new Map<string, RegExp>();

/** `*` matches any run of characters; `\*` and `\\` are literal (EventBridge wildcard filter). */
function wildcard(pattern: string): RegExp {
  let re = wildcards.get(pattern);
  if (!re) {
    let source = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i] as string;
      if (c === '\\' && i + 1 < pattern.length) {
        source += escapeRegExp(pattern[++i] as string);
      } else if (c === '*') {
        source += '[\\s\\S]*';
      } else {
        source += escapeRegExp(c);
      }
    }
    re = new RegExp(`^${source}$`);
    wildcards.set(pattern, re);
  }
  return re;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    n = n * 256 + Number(part);
  }
  return n;
}

function parseCidr(text: string): { base: number; bits: number } | undefined {
  const [ip, bitsText] = text.split('/');
  const base = ip === undefined ? undefined : parseIPv4(ip);
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  return { base, bits };
}

function inCidr(cidr: string, value: string): boolean {
  const range = parseCidr(cidr);
  const ip = parseIPv4(value);
  if (!range || ip === undefined) return false;
  const size = 2 ** (32 - range.bits);
  const start = Math.floor(range.base / size) * size;
  return ip >= start && ip < start + size;
}
