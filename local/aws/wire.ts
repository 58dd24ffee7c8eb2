import { AwsJsonError } from '../ssm/aws-json.js';

/**
 * Helpers shared by the services of the AWS stand-in: dates on the wire, and request members
 * validated with the messages AWS's request validation gives ("1 validation error detected:
 * Value '11' at 'maxResults' failed to satisfy constraint: Member must have value less than or
 * equal to 10").
 */

/** AWS JSON protocols carry timestamps as epoch seconds (a number, fractions allowed). */
export function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

/** A deep copy of `value` with every Date turned into epoch seconds, ready for JSON.stringify. */
export function toWire(value: unknown): unknown {
  if (value instanceof Date) return epochSeconds(value);
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) {
      if (member !== undefined) out[key] = toWire(member);
    }
    return out;
  }
  return value;
}

interface StringRule {
  required?: boolean;
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** Keep the value out of the message (parameter values, task outputs). */
  sensitive?: boolean;
}

/**
 * Reads the members of one request and collects constraint violations, then `done()` throws one
 * ValidationException listing them all, as AWS does. Member paths in messages start with a lower
 * case letter ('maxResults'), as in AWS's own messages.
 */
export class Members {
  private readonly violations: string[] = [];

  constructor(
    private readonly input: Record<string, unknown>,
    private readonly errorType = 'ValidationException',
  ) {}

  string(member: string, rule: StringRule & { required: true }): string;
  string(member: string, rule?: StringRule): string | undefined;
  string(member: string, rule: StringRule = {}): string | undefined {
    const value = this.input[member];
    if (value === undefined || value === null) {
      if (rule.required) this.violate(member, undefined, 'Member must not be null');
      return rule.required ? '' : undefined;
    }
    if (typeof value !== 'string') throw wrongType(member, 'a string');
    const shown = rule.sensitive ? undefined : value;
    if (rule.min !== undefined && value.length < rule.min) {
      this.violate(member, shown, `Member must have length greater than or equal to ${rule.min}`);
    } else if (rule.max !== undefined && value.length > rule.max) {
      this.violate(member, shown, `Member must have length less than or equal to ${rule.max}`);
    } else if (rule.pattern !== undefined && !rule.pattern.test(value)) {
      this.violate(member, shown, `Member must satisfy regular expression pattern: ${rule.pattern.source}`);
    }
    return value;
  }

  integer(member: string, rule: { min?: number; max?: number } = {}): number | undefined {
    const value = this.input[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType(member, 'an integer');
    if (rule.min !== undefined && value < rule.min) {
      this.violate(member, String(value), `Member must have value greater than or equal to ${rule.min}`);
    } else if (rule.max !== undefined && value > rule.max) {
      this.violate(member, String(value), `Member must have value less than or equal to ${rule.max}`);
    }
    return value;
  }

  boolean(member: string): boolean | undefined {
    const value = this.input[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw wrongType(member, 'a boolean');
    return value;
  }

  enumeration<T extends string>(
    member: string,
    values: readonly T[],
    rule: { required?: boolean } = {},
  ): T | undefined {
    const value = this.string(member, { required: rule.required ?? false });
    if (value === undefined || this.input[member] == null) return undefined;
    if (!(values as readonly string[]).includes(value)) {
      this.violate(member, value, `Member must satisfy enum value set: [${values.join(', ')}]`);
      return undefined;
    }
    return value as T;
  }

  /** A list member; its items are returned unchecked (the caller validates their shape). */
  list(member: string, rule: { required?: boolean; min?: number; max?: number } = {}): unknown[] | undefined {
    const value = this.input[member];
    if (value === undefined || value === null) {
      if (rule.required) this.violate(member, undefined, 'Member must not be null');
      return undefined;
    }
    if (!Array.isArray(value)) throw wrongType(member, 'a list');
    if (rule.min !== undefined && value.length < rule.min) {
      this.violate(member, listText(value), `Member must have length greater than or equal to ${rule.min}`);
    } else if (rule.max !== undefined && value.length > rule.max) {
      this.violate(member, listText(value), `Member must have length less than or equal to ${rule.max}`);
    }
    return value;
  }

  /** A structure member (an object), unchecked. */
  structure(member: string): Record<string, unknown> | undefined {
    const value = this.input[member];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) throw wrongType(member, 'a structure');
    return value as Record<string, unknown>;
  }

  /** Records a violation found by the caller (same message format). */
  violate(member: string, value: string | undefined, constraint: string): void {
    const shown = value === undefined ? (this.input[member] == null ? 'null' : '') : `'${value}'`;
    this.violations.push(
      `Value ${shown}${shown === '' ? '' : ' '}at '${memberPath(member)}' failed to satisfy constraint: ${constraint}`,
    );
  }

  /** @throws AwsJsonError ValidationException (or the type given) when a member broke a constraint. */
  done(): void {
    const count = this.violations.length;
    if (count === 0) return;
    throw new AwsJsonError(
      this.errorType,
      `${count} validation error${count === 1 ? '' : 's'} detected: ${this.violations.join('; ')}`,
    );
  }
}

function memberPath(member: string): string {
  return member.charAt(0).toLowerCase() + member.slice(1);
}

function listText(value: unknown[]): string {
  return `[${value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join(', ')}]`;
}

function wrongType(member: string, expected: string): AwsJsonError {
  return new AwsJsonError('SerializationException', `the member '${memberPath(member)}' is not ${expected}`);
}

/** Opaque pagination tokens: base64url JSON, so a client cannot take them for anything else. */
export function encodeToken(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** @returns the decoded token, or undefined when it is not one of ours. */
export function decodeToken(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
