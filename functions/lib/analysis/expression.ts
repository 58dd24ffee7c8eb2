/**
 * The condition language: a tokenizer, a recursive-descent parser with static types (number and
 * boolean) and an evaluator over a closed set of variables. No eval, no property access, no calls:
 * the only names are the variables the caller allows.
 *
 *   condition  := or
 *   or         := and (("or" | "||") and)*
 *   and        := not (("and" | "&&") not)*
 *   not        := ("not" | "!") not | comparison
 *   comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
 *   sum        := product (("+" | "-") product)*
 *   product    := unary (("*" | "/") unary)*
 *   unary      := ("-" | "+") unary | primary
 *   primary    := NUMBER | "true" | "false" | VARIABLE | "(" or ")"
 */
import { ExpressionSyntaxError } from './errors.js';

export type ExprType = 'number' | 'boolean';
export type ComparisonOp = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type ArithmeticOp = '+' | '-' | '*' | '/';

export type Expr =
  | { kind: 'number'; value: number; at: number }
  | { kind: 'boolean'; value: boolean; at: number }
  | { kind: 'variable'; name: string; at: number }
  | { kind: 'negate'; operand: Expr; at: number }
  | { kind: 'not'; operand: Expr; at: number }
  | { kind: 'arithmetic'; op: ArithmeticOp; left: Expr; right: Expr; at: number }
  | { kind: 'compare'; op: ComparisonOp; left: Expr; right: Expr; at: number }
  | { kind: 'and' | 'or'; left: Expr; right: Expr; at: number };

/** A parsed condition, ready to evaluate. */
export interface Condition {
  readonly source: string;
  readonly ast: Expr;
  /** The variables the condition reads. */
  readonly variables: ReadonlySet<string>;
}

export const MAX_CONDITION_LENGTH = 1000;
const MAX_DEPTH = 64;

type TokenKind = 'number' | 'name' | 'op' | '(' | ')' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  at: number;
  value?: number;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'true', 'false']);
const NUMBER = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const OPERATORS = ['<=', '>=', '==', '!=', '&&', '||', '<', '>', '+', '-', '*', '/', '!'];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (/\s/.test(ch)) {
      i += 1;
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(source);
      if (!match) throw new ExpressionSyntaxError(`unexpected "${ch}"`, i);
      const text = match[0];
      const next = source[i + text.length];
      if (next !== undefined && /[A-Za-z0-9_.]/.test(next)) {
        throw new ExpressionSyntaxError(
          `unexpected "${next}" after the number ${text} (no units in conditions)`,
          i + text.length,
        );
      }
      tokens.push({ kind: 'number', text, at: i, value: Number(text) });
      i += text.length;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      NAME.lastIndex = i;
      const text = (NAME.exec(source) as RegExpExecArray)[0];
      tokens.push({ kind: 'name', text, at: i });
      i += text.length;
      continue;
    }
    if (ch === '(' || ch === ')') {
      tokens.push({ kind: ch, text: ch, at: i });
      i += 1;
      continue;
    }
    const op = OPERATORS.find((candidate) => source.startsWith(candidate, i));
    if (op) {
      tokens.push({ kind: 'op', text: op, at: i });
      i += op.length;
      continue;
    }
    if (ch === '=') throw new ExpressionSyntaxError('"=" is not an operator: compare with "=="', i);
    if (ch === '&' || ch === '|')
      throw new ExpressionSyntaxError(`"${ch}" is not an operator: use "and" / "or"`, i);
    if (ch === '[' || ch === '.') {
      throw new ExpressionSyntaxError(
        `unexpected "${ch}": variables are plain numbers (no indexing or fields)`,
        i,
      );
    }
    throw new ExpressionSyntaxError(`unexpected character "${ch}"`, i);
  }
  tokens.push({ kind: 'end', text: '', at: source.length });
  return tokens;
}

interface Typed {
  node: Expr;
  type: ExprType;
}

class Parser {
  private position = 0;
  private depth = 0;
  readonly used = new Set<string>();

  constructor(
    private readonly tokens: Token[],
    private readonly variables: ReadonlySet<string>,
  ) {}

  parse(): Typed {
    const result = this.or();
    const token = this.peek();
    if (token.kind !== 'end') {
      const hint = token.kind === ')' ? 'a ")" without its "("' : `unexpected "${token.text}"`;
      throw new ExpressionSyntaxError(`${hint}: expected an operator or the end of the condition`, token.at);
    }
    return result;
  }

  private peek(): Token {
    return this.tokens[this.position] as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.position += 1;
    return token;
  }

  private isOp(...ops: string[]): boolean {
    const token = this.peek();
    return (
      (token.kind === 'op' && ops.includes(token.text)) || (token.kind === 'name' && ops.includes(token.text))
    );
  }

  private expect(type: ExprType, side: Typed, what: string): void {
    if (side.type !== type) {
      const need = type === 'boolean' ? 'a true/false expression' : 'a number';
      throw new ExpressionSyntaxError(`${what} needs ${need}, not ${article(side.type)}`, startOf(side.node));
    }
  }

  private or(): Typed {
    let left = this.and();
    while (this.isOp('or', '||')) {
      const op = this.next();
      const right = this.and();
      this.expect('boolean', left, `"${op.text}"`);
      this.expect('boolean', right, `"${op.text}"`);
      left = { node: { kind: 'or', left: left.node, right: right.node, at: op.at }, type: 'boolean' };
    }
    return left;
  }

  private and(): Typed {
    let left = this.not();
    while (this.isOp('and', '&&')) {
      const op = this.next();
      const right = this.not();
      this.expect('boolean', left, `"${op.text}"`);
      this.expect('boolean', right, `"${op.text}"`);
      left = { node: { kind: 'and', left: left.node, right: right.node, at: op.at }, type: 'boolean' };
    }
    return left;
  }

  private not(): Typed {
    if (this.isOp('not', '!')) {
      const op = this.next();
      const operand = this.nested(() => this.not());
      this.expect('boolean', operand, `"${op.text}"`);
      return { node: { kind: 'not', operand: operand.node, at: op.at }, type: 'boolean' };
    }
    return this.comparison();
  }

  private comparison(): Typed {
    const left = this.sum();
    if (!this.isOp('<', '<=', '>', '>=', '==', '!=')) return left;
    const op = this.next();
    const right = this.sum();
    this.expect('number', left, `"${op.text}"`);
    this.expect('number', right, `"${op.text}"`);
    if (this.isOp('<', '<=', '>', '>=', '==', '!=')) {
      throw new ExpressionSyntaxError(
        'comparisons cannot be chained: write "a < result and result < b"',
        this.peek().at,
      );
    }
    return {
      node: { kind: 'compare', op: op.text as ComparisonOp, left: left.node, right: right.node, at: op.at },
      type: 'boolean',
    };
  }

  private sum(): Typed {
    let left = this.product();
    while (this.isOp('+', '-')) {
      const op = this.next();
      const right = this.product();
      left = this.arithmetic(op, left, right);
    }
    return left;
  }

  private product(): Typed {
    let left = this.unary();
    while (this.isOp('*', '/')) {
      const op = this.next();
      const right = this.unary();
      left = this.arithmetic(op, left, right);
    }
    return left;
  }

  private arithmetic(op: Token, left: Typed, right: Typed): Typed {
    this.expect('number', left, `"${op.text}"`);
    this.expect('number', right, `"${op.text}"`);
    return {
      node: {
        kind: 'arithmetic',
        op: op.text as ArithmeticOp,
        left: left.node,
        right: right.node,
        at: op.at,
      },
      type: 'number',
    };
  }

  private unary(): Typed {
    if (this.isOp('-', '+')) {
      const op = this.next();
      const operand = this.nested(() => this.unary());
      this.expect('number', operand, `"${op.text}"`);
      if (op.text === '+') return operand;
      return { node: { kind: 'negate', operand: operand.node, at: op.at }, type: 'number' };
    }
    return this.primary();
  }

  private primary(): Typed {
    const token = this.next();
    switch (token.kind) {
      case 'number':
        return { node: { kind: 'number', value: token.value as number, at: token.at }, type: 'number' };
      case 'name': {
        if (token.text === 'true' || token.text === 'false') {
          return { node: { kind: 'boolean', value: token.text === 'true', at: token.at }, type: 'boolean' };
        }
        if (KEYWORDS.has(token.text)) {
          throw new ExpressionSyntaxError(`"${token.text}" needs something on its left`, token.at);
        }
        if (!this.variables.has(token.text)) {
          const known = [...this.variables].join(', ');
          throw new ExpressionSyntaxError(
            `unknown name "${token.text}" (this condition can use: ${known})`,
            token.at,
          );
        }
        if (this.peek().kind === '(') {
          throw new ExpressionSyntaxError(`"${token.text}" is a number, not a function`, this.peek().at);
        }
        this.used.add(token.text);
        return { node: { kind: 'variable', name: token.text, at: token.at }, type: 'number' };
      }
      case '(': {
        const inner = this.nested(() => this.or());
        const close = this.next();
        if (close.kind !== ')') {
          throw new ExpressionSyntaxError(`missing ")" for the "(" at offset ${token.at}`, close.at);
        }
        return inner;
      }
      case 'end':
        throw new ExpressionSyntaxError(
          'the condition ends too early: expected a number, a name or "("',
          token.at,
        );
      default:
        throw new ExpressionSyntaxError(
          `unexpected "${token.text}": expected a number, a name or "("`,
          token.at,
        );
    }
  }

  private nested(parse: () => Typed): Typed {
    this.depth += 1;
    if (this.depth > MAX_DEPTH) {
      throw new ExpressionSyntaxError(`the condition nests deeper than ${MAX_DEPTH} levels`, this.peek().at);
    }
    try {
      return parse();
    } finally {
      this.depth -= 1;
    }
  }
}

/** Where a sub-expression begins: its leftmost operand (the operator's offset is in `at`). */
function startOf(node: Expr): number {
  switch (node.kind) {
    case 'arithmetic':
    case 'compare':
    case 'and':
    case 'or':
      return startOf(node.left);
    default:
      return node.at;
  }
}

function article(type: ExprType): string {
  return type === 'boolean' ? 'a true/false expression' : 'a number';
}

/**
 * Parses a condition that may read only `variables` and must be true or false.
 * @throws ExpressionSyntaxError with the 0-based offset of the problem.
 */
export function parseCondition(source: string, variables: readonly string[]): Condition {
  if (source.length > MAX_CONDITION_LENGTH) {
    throw new ExpressionSyntaxError(
      `the condition is longer than ${MAX_CONDITION_LENGTH} characters`,
      MAX_CONDITION_LENGTH,
    );
  }
  if (source.trim() === '') throw new ExpressionSyntaxError('the condition is empty', 0);
  const parser = new Parser(tokenize(source), new Set(variables));
  const { node, type } = parser.parse();
  if (type !== 'boolean') {
    throw new ExpressionSyntaxError(
      'a condition must be true or false, but this is a number (compare it, e.g. "result < 0.05")',
      firstNonSpace(source),
    );
  }
  return { source, ast: node, variables: parser.used };
}

function firstNonSpace(source: string): number {
  const match = /\S/.exec(source);
  return match ? match.index : 0;
}

/**
 * Evaluates a parsed condition. Arithmetic follows IEEE 754 (x/0 is ±Infinity, 0/0 is NaN) and every
 * comparison with NaN is false, except `!=`.
 * @throws ExpressionSyntaxError if a variable the condition reads is missing (a programming error).
 */
export function evaluateCondition(condition: Condition, env: Readonly<Record<string, number>>): boolean {
  return evaluate(condition.ast, env) as boolean;
}

function evaluate(node: Expr, env: Readonly<Record<string, number>>): number | boolean {
  switch (node.kind) {
    case 'number':
    case 'boolean':
      return node.value;
    case 'variable': {
      if (!Object.hasOwn(env, node.name))
        throw new ExpressionSyntaxError(`no value for "${node.name}"`, node.at);
      return env[node.name] as number;
    }
    case 'negate':
      return -(evaluate(node.operand, env) as number);
    case 'not':
      return !(evaluate(node.operand, env) as boolean);
    case 'and':
      return (evaluate(node.left, env) as boolean) && (evaluate(node.right, env) as boolean);
    case 'or':
      return (evaluate(node.left, env) as boolean) || (evaluate(node.right, env) as boolean);
    case 'arithmetic': {
      const left = evaluate(node.left, env) as number;
      const right = evaluate(node.right, env) as number;
      switch (node.op) {
        case '+':
          return left + right;
        case '-':
          return left - right;
        case '*':
          return left * right;
        case '/':
          return left / right;
      }
      break;
    }
    case 'compare': {
      const left = evaluate(node.left, env) as number;
      const right = evaluate(node.right, env) as number;
      switch (node.op) {
        case '<':
          return left < right;
        case '<=':
          return left <= right;
        case '>':
          return left > right;
        case '>=':
          return left >= right;
        case '==':
          return left === right;
        case '!=':
          return left !== right;
      }
    }
  }
  throw new ExpressionSyntaxError('unknown expression node', 0);
}
