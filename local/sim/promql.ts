/**
 * SIMULATOR — a small PromQL evaluator for the simulated Prometheus (docs/simulator.md): enough of
 * the language for the deployer's analysis templates and for hand-written queries in the same
 * style, evaluated over series a {@link SeriesSource} makes up. Semantics follow Prometheus
 * (promql/engine.go, promql/functions.go, promql/quantile.go): lookback and staleness for instant
 * selectors, extrapolated rate(), histogram_quantile() with linear interpolation, one-to-one vector
 * matching, `or`/`and`/`unless` on label sets without the metric name.
 *
 * Supported: number and string literals; selectors with =, !=, =~, !~ matchers, range [d] and
 * offset d; + - * / % ^, == != > < >= <= (with bool), and or unless, on()/ignoring() one-to-one;
 * sum avg min max count group with by/without; rate irate increase delta, avg/min/max/sum/count/
 * last_over_time, histogram_quantile, vector, scalar, time, abs ceil floor round sqrt exp ln,
 * clamp_min clamp_max, absent. Anything else (subqueries, group_left/right, @, topk, label_*) is
 * {@link PromqlUnsupportedError}.
 */

export type Labels = Record<string, string>;
export interface Point {
  /** Milliseconds since the epoch. */
  t: number;
  v: number;
}
export interface Series {
  labels: Labels;
  points: Point[];
  /** When a stale marker ends the series (its target went away); instant selectors skip it after that. */
  staleAt?: number;
}
export interface Sample {
  labels: Labels;
  value: number;
}
export type Value =
  | { kind: 'scalar'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'vector'; samples: Sample[] }
  | { kind: 'matrix'; series: Series[] };

export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** Where the evaluator gets its data. */
export interface SeriesSource {
  /** Every series the matchers select, with its samples in [startMs, endMs]. */
  select(matchers: Matcher[], startMs: number, endMs: number): Series[];
}

/** The query is not PromQL (Prometheus answers bad_data). */
export class PromqlSyntaxError extends Error {
  override readonly name = 'PromqlSyntaxError';
}
/** Valid PromQL the simulator does not evaluate. */
export class PromqlUnsupportedError extends Error {
  override readonly name = 'PromqlUnsupportedError';
}
/** The query is valid but cannot be evaluated (many-to-many matching, wrong argument types). */
export class PromqlExecutionError extends Error {
  override readonly name = 'PromqlExecutionError';
}

type Node =
  | { type: 'number'; value: number }
  | { type: 'string'; value: string }
  | { type: 'selector'; matchers: Matcher[]; rangeMs?: number; offsetMs: number }
  | { type: 'call'; fn: string; args: Node[] }
  | {
      type: 'agg';
      op: string;
      grouping: { without: boolean; labels: string[] } | undefined;
      param?: Node;
      expr: Node;
    }
  | {
      type: 'binary';
      op: string;
      lhs: Node;
      rhs: Node;
      bool: boolean;
      matching: { on: boolean; labels: string[] } | undefined;
    }
  | { type: 'neg'; expr: Node };

const AGGREGATIONS = new Set(['sum', 'avg', 'min', 'max', 'count', 'group']);
const UNSUPPORTED_AGGREGATIONS = new Set([
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'limitk',
]);
const FUNCTIONS = new Set([
  'rate',
  'irate',
  'increase',
  'delta',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'last_over_time',
  'histogram_quantile',
  'vector',
  'scalar',
  'time',
  'abs',
  'ceil',
  'floor',
  'round',
  'sqrt',
  'exp',
  'ln',
  'clamp_min',
  'clamp_max',
  'absent',
]);
const LOOKBACK_MS = 5 * 60 * 1000;

/** Parses a PromQL duration (`30s`, `1h30m`, `500ms`) into milliseconds. */
export function parsePromDuration(text: string): number | undefined {
  const units: Record<string, number> = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
    y: 31_536_000_000,
  };
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|s|m|h|d|w|y)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * (units[m[2] as string] as number);
    at = re.lastIndex;
  }
  return text.length > 0 ? total : undefined;
}

class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.expr();
    this.ws();
    if (this.pos < this.src.length) this.fail(`unexpected ${JSON.stringify(this.src[this.pos])}`);
    return node;
  }

  private fail(message: string): never {
    throw new PromqlSyntaxError(`1:${this.pos + 1}: parse error: ${message}`);
  }

  private ws(): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos += 1;
      else if (c === '#') {
        const end = this.src.indexOf('\n', this.pos);
        this.pos = end < 0 ? this.src.length : end + 1;
      } else return;
    }
  }

  private peekWord(): string | undefined {
    this.ws();
    return /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(this.src.slice(this.pos))?.[0];
  }

  private eat(text: string): boolean {
    this.ws();
    if (this.src.startsWith(text, this.pos)) {
      this.pos += text.length;
      return true;
    }
    return false;
  }

  private eatWord(word: string): boolean {
    if (this.peekWord() !== word) return false;
    this.pos += word.length;
    return true;
  }

  private expect(text: string): void {
    if (!this.eat(text)) this.fail(`expected ${JSON.stringify(text)}`);
  }

  private expr(): Node {
    return this.binaryLevel(0);
  }

  // Precedence, lowest first: or; and unless; comparisons; + -; * / %; ^ (in unary()).
  private static readonly LEVELS: Array<{ words?: string[]; ops?: string[] }> = [
    { words: ['or'] },
    { words: ['and', 'unless'] },
    { ops: ['==', '!=', '>=', '<=', '>', '<'] },
    { ops: ['+', '-'] },
    { ops: ['*', '/', '%'] },
  ];

  private binaryLevel(level: number): Node {
    const spec = Parser.LEVELS[level];
    if (!spec) return this.unary();
    let lhs = this.binaryLevel(level + 1);
    for (;;) {
      let op: string | undefined;
      if (spec.words) op = spec.words.find((w) => this.eatWord(w));
      else {
        this.ws();
        op = spec.ops?.find((o) => this.src.startsWith(o, this.pos) && !this.src.startsWith('=~', this.pos));
        if (op) this.pos += op.length;
      }
      if (!op) return lhs;
      const bool = this.eatWord('bool');
      let matching: { on: boolean; labels: string[] } | undefined;
      const word = this.peekWord();
      if (word === 'on' || word === 'ignoring') {
        this.pos += word.length;
        matching = { on: word === 'on', labels: this.labelList() };
      }
      const next = this.peekWord();
      if (next === 'group_left' || next === 'group_right') {
        throw new PromqlUnsupportedError(`${next} (many-to-one matching) is not simulated`);
      }
      const rhs = this.binaryLevel(level + 1);
      lhs = { type: 'binary', op, lhs, rhs, bool, matching };
    }
  }

  private unary(): Node {
    this.ws();
    if (this.src[this.pos] === '-' || this.src[this.pos] === '+') {
      const neg = this.src[this.pos] === '-';
      this.pos += 1;
      const expr = this.unary();
      return neg ? { type: 'neg', expr } : expr;
    }
    const base = this.postfix(this.primary());
    if (this.eat('^')) {
      return { type: 'binary', op: '^', lhs: base, rhs: this.unary(), bool: false, matching: undefined };
    }
    return base;
  }

  private labelList(): string[] {
    this.expect('(');
    const labels: string[] = [];
    while (!this.eat(')')) {
      const word = this.peekWord();
      if (!word) this.fail('expected a label name');
      this.pos += word.length;
      labels.push(word);
      if (!this.eat(',')) {
        this.expect(')');
        break;
      }
    }
    return labels;
  }

  private string(): string {
    this.ws();
    const quote = this.src[this.pos];
    if (quote !== '"' && quote !== "'" && quote !== '`') this.fail('expected a string');
    this.pos += 1;
    let out = '';
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) this.fail('unterminated quoted string');
      this.pos += 1;
      if (c === quote) return out;
      if (c === '\\' && quote !== '`') {
        const e = this.src[this.pos] ?? '';
        this.pos += 1;
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e;
      } else out += c;
    }
  }

  private duration(): number {
    this.ws();
    const m = /^[0-9][0-9a-z.]*/.exec(this.src.slice(this.pos));
    const ms = m ? parsePromDuration(m[0]) : undefined;
    if (!m || ms === undefined) this.fail('expected a duration');
    this.pos += m[0].length;
    return ms;
  }

  private matchers(): Matcher[] {
    const out: Matcher[] = [];
    this.expect('{');
    while (!this.eat('}')) {
      const name = this.peekWord();
      if (!name) this.fail('expected a label matcher');
      this.pos += name.length;
      this.ws();
      const op = (['=~', '!~', '!=', '='] as const).find((o) => this.src.startsWith(o, this.pos));
      if (!op) this.fail('expected a matching operator');
      this.pos += op.length;
      out.push({ name, op, value: this.string() });
      if (!this.eat(',')) {
        this.expect('}');
        break;
      }
    }
    return out;
  }

  private primary(): Node {
    this.ws();
    const c = this.src[this.pos];
    if (c === '(') {
      this.pos += 1;
      const inner = this.expr();
      this.expect(')');
      return inner;
    }
    if (c === '"' || c === "'" || c === '`') return { type: 'string', value: this.string() };
    const number = /^(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(this.src.slice(this.pos));
    if (number) {
      this.pos += number[0].length;
      return { type: 'number', value: Number(number[0]) };
    }
    if (c === '{') return { type: 'selector', matchers: this.matchers(), offsetMs: 0 };
    const word = this.peekWord();
    if (!word) this.fail(c === undefined ? 'unexpected end of input' : `unexpected ${JSON.stringify(c)}`);
    const lower = word.toLowerCase();
    if (lower === 'inf' || lower === 'nan') {
      this.pos += word.length;
      return { type: 'number', value: lower === 'inf' ? Number.POSITIVE_INFINITY : Number.NaN };
    }
    this.pos += word.length;
    if (AGGREGATIONS.has(word) || UNSUPPORTED_AGGREGATIONS.has(word)) {
      const nextWord = this.peekWord();
      this.ws();
      if (this.src[this.pos] === '(' || nextWord === 'by' || nextWord === 'without')
        return this.aggregation(word);
    }
    this.ws();
    if (this.src[this.pos] === '(') {
      if (!FUNCTIONS.has(word)) {
        throw new PromqlUnsupportedError(`function ${word}() is not simulated`);
      }
      this.pos += 1;
      const args: Node[] = [];
      while (!this.eat(')')) {
        args.push(this.expr());
        if (!this.eat(',')) {
          this.expect(')');
          break;
        }
      }
      return { type: 'call', fn: word, args };
    }
    const matchers: Matcher[] = [{ name: '__name__', op: '=', value: word }];
    this.ws();
    if (this.src[this.pos] === '{') matchers.push(...this.matchers());
    return { type: 'selector', matchers, offsetMs: 0 };
  }

  private aggregation(op: string): Node {
    if (UNSUPPORTED_AGGREGATIONS.has(op)) throw new PromqlUnsupportedError(`${op} is not simulated`);
    let grouping: { without: boolean; labels: string[] } | undefined;
    const readGrouping = () => {
      const word = this.peekWord();
      if (word === 'by' || word === 'without') {
        this.pos += word.length;
        grouping = { without: word === 'without', labels: this.labelList() };
      }
    };
    readGrouping();
    this.expect('(');
    const expr = this.expr();
    this.expect(')');
    if (!grouping) readGrouping();
    return { type: 'agg', op, grouping, expr };
  }

  private postfix(node: Node): Node {
    let out = node;
    for (;;) {
      this.ws();
      if (this.src[this.pos] === '[') {
        this.pos += 1;
        const range = this.duration();
        if (this.eat(':')) throw new PromqlUnsupportedError('subqueries are not simulated');
        this.expect(']');
        if (out.type !== 'selector') this.fail('ranges only allowed for vector selectors');
        out = { ...out, rangeMs: range };
      } else if (this.peekWord() === 'offset') {
        this.pos += 'offset'.length;
        const ms = this.duration();
        if (out.type !== 'selector')
          throw new PromqlUnsupportedError('offset is simulated on selectors only');
        out = { ...out, offsetMs: ms };
      } else if (this.src[this.pos] === '@') {
        throw new PromqlUnsupportedError('the @ modifier is not simulated');
      } else return out;
    }
  }
}

/** Parses a query. @throws PromqlSyntaxError, PromqlUnsupportedError */
export function parsePromql(query: string): Node {
  return new Parser(query).parse();
}

// ---------------------------------------------------------------------------------------------
// Evaluation

const dropName = (labels: Labels): Labels => {
  const { __name__: _, ...rest } = labels;
  return rest;
};

const key = (labels: Labels): string =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function signature(labels: Labels, matching: { on: boolean; labels: string[] } | undefined): string {
  const base = dropName(labels);
  if (!matching) return key(base);
  const kept = Object.fromEntries(
    Object.entries(base).filter(([k]) =>
      matching.on ? matching.labels.includes(k) : !matching.labels.includes(k),
    ),
  );
  return key(kept);
}

const REGEXPS = new Map<string, RegExp>();

/** A matcher's anchored regular expression, compiled once (RE2 syntax is close enough to JavaScript's here). */
function anchored(source: string): RegExp {
  let re = REGEXPS.get(source);
  if (!re) {
    try {
      re = new RegExp(`^(?:${source})$`);
    } catch (err) {
      throw new PromqlSyntaxError(
        `invalid regular expression ${JSON.stringify(source)}: ${(err as Error).message}`,
      );
    }
    if (REGEXPS.size > 1000) REGEXPS.clear();
    REGEXPS.set(source, re);
  }
  return re;
}

function matches(labels: Labels, matchers: Matcher[]): boolean {
  return matchers.every((m) => {
    const v = labels[m.name] ?? '';
    switch (m.op) {
      case '=':
        return v === m.value;
      case '!=':
        return v !== m.value;
      case '=~':
        return anchored(m.value).test(v);
      case '!~':
        return !anchored(m.value).test(v);
    }
    return false;
  });
}

/** Whether `labels` satisfy every matcher (anchored regular expressions, as Prometheus). */
export const labelsMatch = matches;

function compareOp(op: string, a: number, b: number): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '<':
      return a < b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
  }
  return false;
}

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
    case '^':
      return a ** b;
  }
  return Number.NaN;
}

const COMPARISONS = new Set(['==', '!=', '>', '<', '>=', '<=']);

/** promql/functions.go extrapolatedRate. */
function extrapolatedRate(
  points: Point[],
  startMs: number,
  endMs: number,
  isCounter: boolean,
  isRate: boolean,
) {
  if (points.length < 2) return undefined;
  const first = points[0] as Point;
  const last = points[points.length - 1] as Point;
  let result = last.v - first.v;
  if (isCounter) {
    for (let i = 1; i < points.length; i++) {
      const prev = points[i - 1] as Point;
      if ((points[i] as Point).v < prev.v) result += prev.v;
    }
  }
  const sampled = (last.t - first.t) / 1000;
  const avg = sampled / (points.length - 1);
  const threshold = avg * 1.1;
  let toStart = (first.t - startMs) / 1000;
  let toEnd = (endMs - last.t) / 1000;
  if (toStart >= threshold) toStart = avg / 2;
  if (isCounter && result > 0 && first.v >= 0) {
    const toZero = sampled * (first.v / result);
    if (toZero < toStart) toStart = toZero;
  }
  if (toEnd >= threshold) toEnd = avg / 2;
  result *= (sampled + toStart + toEnd) / sampled;
  return isRate ? result / ((endMs - startMs) / 1000) : result;
}

/** promql/quantile.go bucketQuantile. */
function bucketQuantile(q: number, buckets: Array<{ upper: number; count: number }>): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  buckets.sort((a, b) => a.upper - b.upper);
  if (buckets.length < 2) return Number.NaN;
  if ((buckets[buckets.length - 1] as { upper: number }).upper !== Number.POSITIVE_INFINITY)
    return Number.NaN;
  for (let i = 1; i < buckets.length; i++) {
    const b = buckets[i] as { count: number };
    b.count = Math.max(b.count, (buckets[i - 1] as { count: number }).count);
  }
  const observations = (buckets[buckets.length - 1] as { count: number }).count;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  let b = buckets.findIndex((x) => x.count >= rank);
  if (b < 0) b = buckets.length - 1;
  if (b === buckets.length - 1) return (buckets[buckets.length - 2] as { upper: number }).upper;
  if (b === 0 && (buckets[0] as { upper: number }).upper <= 0) return (buckets[0] as { upper: number }).upper;
  let start = 0;
  const end = (buckets[b] as { upper: number }).upper;
  let count = (buckets[b] as { count: number }).count;
  if (b > 0) {
    start = (buckets[b - 1] as { upper: number }).upper;
    count -= (buckets[b - 1] as { count: number }).count;
    rank -= (buckets[b - 1] as { count: number }).count;
  }
  return start + (end - start) * (rank / count);
}

/** Evaluates a parsed query at `timeMs`. @throws PromqlExecutionError, PromqlUnsupportedError */
export function evaluate(node: Node, source: SeriesSource, timeMs: number): Value {
  const ev = (n: Node, t: number): Value => evaluate(n, source, t);
  const vectorOf = (v: Value, what: string): Sample[] => {
    if (v.kind !== 'vector')
      throw new PromqlExecutionError(`${what}: expected an instant vector, got ${v.kind}`);
    return v.samples;
  };
  const scalarOf = (v: Value, what: string): number => {
    if (v.kind !== 'scalar') throw new PromqlExecutionError(`${what}: expected a scalar, got ${v.kind}`);
    return v.value;
  };
  switch (node.type) {
    case 'number':
      return { kind: 'scalar', value: node.value };
    case 'string':
      return { kind: 'string', value: node.value };
    case 'neg': {
      const v = ev(node.expr, timeMs);
      if (v.kind === 'scalar') return { kind: 'scalar', value: -v.value };
      return {
        kind: 'vector',
        samples: vectorOf(v, 'unary minus').map((s) => ({ labels: dropName(s.labels), value: -s.value })),
      };
    }
    case 'selector': {
      const t = timeMs - node.offsetMs;
      if (node.rangeMs !== undefined) {
        const start = t - node.rangeMs;
        const series = source
          .select(node.matchers, start, t)
          .map((s) => ({ labels: s.labels, points: s.points.filter((p) => p.t > start && p.t <= t) }))
          .filter((s) => s.points.length > 0);
        return { kind: 'matrix', series };
      }
      const samples: Sample[] = [];
      for (const s of source.select(node.matchers, t - LOOKBACK_MS, t)) {
        const inside = s.points.filter((p) => p.t > t - LOOKBACK_MS && p.t <= t);
        const last = inside[inside.length - 1];
        if (!last) continue;
        if (s.staleAt !== undefined && s.staleAt > last.t && s.staleAt <= t) continue;
        samples.push({ labels: s.labels, value: last.v });
      }
      return { kind: 'vector', samples };
    }
    case 'call':
      return call(node.fn, node.args, timeMs);
    case 'agg': {
      const samples = vectorOf(ev(node.expr, timeMs), node.op);
      const groups = new Map<string, { labels: Labels; values: number[] }>();
      for (const s of samples) {
        const base = dropName(s.labels);
        let labels: Labels = {};
        if (node.grouping?.without) {
          labels = Object.fromEntries(
            Object.entries(base).filter(([k]) => !node.grouping?.labels.includes(k)),
          );
        } else if (node.grouping) {
          labels = Object.fromEntries(
            Object.entries(base).filter(([k]) => node.grouping?.labels.includes(k)),
          );
        }
        const k = key(labels);
        const group = groups.get(k) ?? { labels, values: [] };
        group.values.push(s.value);
        groups.set(k, group);
      }
      return {
        kind: 'vector',
        samples: [...groups.values()].map(({ labels, values }) => {
          let value: number;
          switch (node.op) {
            case 'sum':
              value = values.reduce((a, b) => a + b, 0);
              break;
            case 'avg':
              value = values.reduce((a, b) => a + b, 0) / values.length;
              break;
            case 'min':
              value = values.reduce((a, b) => (Number.isNaN(a) || b < a ? b : a));
              break;
            case 'max':
              value = values.reduce((a, b) => (Number.isNaN(a) || b > a ? b : a));
              break;
            case 'count':
              value = values.length;
              break;
            default:
              value = 1;
          }
          return { labels, value };
        }),
      };
    }
    case 'binary':
      return binary(node, ev(node.lhs, timeMs), ev(node.rhs, timeMs));
  }

  function call(fn: string, args: Node[], t: number): Value {
    const arg = (i: number) => {
      const a = args[i];
      if (!a) throw new PromqlExecutionError(`${fn}(): missing argument ${i + 1}`);
      return ev(a, t);
    };
    const matrix = (i: number): Series[] => {
      const v = arg(i);
      if (v.kind !== 'matrix')
        throw new PromqlExecutionError(`${fn}(): expected a range vector, got ${v.kind}`);
      return v.series;
    };
    const rangeOf = () => {
      const a = args[0];
      return a?.type === 'selector' ? (a.rangeMs ?? 0) : 0;
    };
    const overTime = (reduce: (vs: number[]) => number): Value => ({
      kind: 'vector',
      samples: matrix(0).map((s) => ({
        labels: dropName(s.labels),
        value: reduce(s.points.map((p) => p.v)),
      })),
    });
    const pointwise = (f: (v: number) => number): Value => ({
      kind: 'vector',
      samples: vectorOf(arg(0), fn).map((s) => ({ labels: dropName(s.labels), value: f(s.value) })),
    });
    switch (fn) {
      case 'rate':
      case 'increase':
      case 'delta': {
        const end = t - (args[0]?.type === 'selector' ? args[0].offsetMs : 0);
        const start = end - rangeOf();
        const samples: Sample[] = [];
        for (const s of matrix(0)) {
          const value = extrapolatedRate(s.points, start, end, fn !== 'delta', fn === 'rate');
          if (value !== undefined) samples.push({ labels: dropName(s.labels), value });
        }
        return { kind: 'vector', samples };
      }
      case 'irate': {
        const samples: Sample[] = [];
        for (const s of matrix(0)) {
          const [a, b] = s.points.slice(-2);
          if (!a || !b) continue;
          const dv = b.v < a.v ? b.v : b.v - a.v;
          samples.push({ labels: dropName(s.labels), value: dv / ((b.t - a.t) / 1000) });
        }
        return { kind: 'vector', samples };
      }
      case 'avg_over_time':
        return overTime((vs) => vs.reduce((a, b) => a + b, 0) / vs.length);
      case 'min_over_time':
        return overTime((vs) => Math.min(...vs));
      case 'max_over_time':
        return overTime((vs) => Math.max(...vs));
      case 'sum_over_time':
        return overTime((vs) => vs.reduce((a, b) => a + b, 0));
      case 'count_over_time':
        return overTime((vs) => vs.length);
      case 'last_over_time':
        return {
          kind: 'vector',
          samples: matrix(0).map((s) => ({
            labels: s.labels,
            value: (s.points[s.points.length - 1] as Point).v,
          })),
        };
      case 'histogram_quantile': {
        const q = scalarOf(arg(0), fn);
        const groups = new Map<
          string,
          { labels: Labels; buckets: Array<{ upper: number; count: number }> }
        >();
        for (const s of vectorOf(arg(1), fn)) {
          const le = s.labels.le;
          if (le === undefined) continue;
          const { le: _, ...rest } = dropName(s.labels);
          const k = key(rest);
          const group = groups.get(k) ?? { labels: rest, buckets: [] };
          group.buckets.push({
            upper: le === '+Inf' || le === 'Inf' ? Number.POSITIVE_INFINITY : Number(le),
            count: s.value,
          });
          groups.set(k, group);
        }
        return {
          kind: 'vector',
          samples: [...groups.values()].map((g) => ({
            labels: g.labels,
            value: bucketQuantile(q, g.buckets),
          })),
        };
      }
      case 'vector':
        return { kind: 'vector', samples: [{ labels: {}, value: scalarOf(arg(0), fn) }] };
      case 'scalar': {
        const samples = vectorOf(arg(0), fn);
        return { kind: 'scalar', value: samples.length === 1 ? (samples[0] as Sample).value : Number.NaN };
      }
      case 'time':
        return { kind: 'scalar', value: t / 1000 };
      case 'abs':
        return pointwise(Math.abs);
      case 'ceil':
        return pointwise(Math.ceil);
      case 'floor':
        return pointwise(Math.floor);
      case 'round':
        return pointwise(Math.round);
      case 'sqrt':
        return pointwise(Math.sqrt);
      case 'exp':
        return pointwise(Math.exp);
      case 'ln':
        return pointwise(Math.log);
      case 'clamp_min': {
        const min = scalarOf(arg(1), fn);
        return pointwise((v) => Math.max(v, min));
      }
      case 'clamp_max': {
        const max = scalarOf(arg(1), fn);
        return pointwise((v) => Math.min(v, max));
      }
      case 'absent': {
        const samples = vectorOf(arg(0), fn);
        if (samples.length > 0) return { kind: 'vector', samples: [] };
        const a = args[0];
        const labels: Labels =
          a?.type === 'selector'
            ? Object.fromEntries(
                a.matchers.filter((m) => m.op === '=' && m.name !== '__name__').map((m) => [m.name, m.value]),
              )
            : {};
        return { kind: 'vector', samples: [{ labels, value: 1 }] };
      }
    }
    throw new PromqlUnsupportedError(`function ${fn}() is not simulated`);
  }
}

function binary(node: Extract<Node, { type: 'binary' }>, lhs: Value, rhs: Value): Value {
  const { op, bool, matching } = node;
  const comparison = COMPARISONS.has(op);
  if (op === 'and' || op === 'or' || op === 'unless') {
    if (lhs.kind !== 'vector' || rhs.kind !== 'vector') {
      throw new PromqlExecutionError(`set operator "${op}" not allowed in binary scalar expression`);
    }
    const rightSigs = new Set(rhs.samples.map((s) => signature(s.labels, matching)));
    if (op === 'and')
      return {
        kind: 'vector',
        samples: lhs.samples.filter((s) => rightSigs.has(signature(s.labels, matching))),
      };
    if (op === 'unless') {
      return {
        kind: 'vector',
        samples: lhs.samples.filter((s) => !rightSigs.has(signature(s.labels, matching))),
      };
    }
    const leftSigs = new Set(lhs.samples.map((s) => signature(s.labels, matching)));
    return {
      kind: 'vector',
      samples: [...lhs.samples, ...rhs.samples.filter((s) => !leftSigs.has(signature(s.labels, matching)))],
    };
  }
  if (lhs.kind === 'scalar' && rhs.kind === 'scalar') {
    if (comparison) {
      if (!bool) throw new PromqlExecutionError('comparisons between scalars must use BOOL modifier');
      return { kind: 'scalar', value: compareOp(op, lhs.value, rhs.value) ? 1 : 0 };
    }
    return { kind: 'scalar', value: arith(op, lhs.value, rhs.value) };
  }
  if (lhs.kind === 'vector' && rhs.kind === 'scalar') return vectorScalar(lhs.samples, rhs.value, false);
  if (lhs.kind === 'scalar' && rhs.kind === 'vector') return vectorScalar(rhs.samples, lhs.value, true);
  if (lhs.kind !== 'vector' || rhs.kind !== 'vector') {
    throw new PromqlExecutionError(`binary expression must contain only scalar and instant vector types`);
  }
  const right = new Map<string, Sample>();
  for (const s of rhs.samples) {
    const sig = signature(s.labels, matching);
    if (right.has(sig)) {
      throw new PromqlExecutionError(
        'found duplicate series for the match group on the right hand-side of the operation; many-to-many matching not allowed',
      );
    }
    right.set(sig, s);
  }
  const out: Sample[] = [];
  const seen = new Set<string>();
  for (const l of lhs.samples) {
    const sig = signature(l.labels, matching);
    const r = right.get(sig);
    if (!r) continue;
    if (seen.has(sig)) {
      throw new PromqlExecutionError(
        'multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)',
      );
    }
    seen.add(sig);
    let labels = comparison && !bool ? { ...l.labels } : dropName(l.labels);
    if (matching) {
      labels = Object.fromEntries(
        Object.entries(labels).filter(([k]) =>
          matching.on
            ? matching.labels.includes(k) || (k === '__name__' && comparison && !bool)
            : !matching.labels.includes(k),
        ),
      );
    }
    if (comparison) {
      const keep = compareOp(op, l.value, r.value);
      if (bool) out.push({ labels, value: keep ? 1 : 0 });
      else if (keep) out.push({ labels, value: l.value });
    } else out.push({ labels, value: arith(op, l.value, r.value) });
  }
  return { kind: 'vector', samples: out };

  function vectorScalar(samples: Sample[], scalar: number, swap: boolean): Value {
    const result: Sample[] = [];
    for (const s of samples) {
      const [a, b] = swap ? [scalar, s.value] : [s.value, scalar];
      if (comparison) {
        const keep = compareOp(op, a, b);
        if (bool) result.push({ labels: dropName(s.labels), value: keep ? 1 : 0 });
        else if (keep) result.push({ labels: s.labels, value: s.value });
      } else result.push({ labels: dropName(s.labels), value: arith(op, a, b) });
    }
    return { kind: 'vector', samples: result };
  }
}

/** Parses and evaluates `query` at `timeMs`. @throws PromqlSyntaxError, PromqlUnsupportedError, PromqlExecutionError */
export function query(text: string, source: SeriesSource, timeMs: number): Value {
  return evaluate(parsePromql(text), source, timeMs);
}

/** A sample value as the Prometheus API writes it (Go's FormatFloat 'f', -1; NaN, +Inf, -Inf). */
export function formatSampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  const text = String(v);
  if (!/e/i.test(text)) return text;
  // Exponent notation: spell the number out, as Go's 'f' format does.
  const [mantissa = '0', exp = '0'] = text.toLowerCase().split('e');
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const point =
    (mantissa.replace('-', '').indexOf('.') >= 0 ? mantissa.replace('-', '').indexOf('.') : digits.length) +
    Number(exp);
  const body =
    point <= 0
      ? `0.${'0'.repeat(-point)}${digits}`
      : point >= digits.length
        ? `${digits}${'0'.repeat(point - digits.length)}`
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${negative ? '-' : ''}${body}`;
}
