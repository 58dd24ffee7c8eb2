import { DeployerError } from '../errors.js';

/** One thing wrong with a policy: where (metric, field, character offset) and what. */
export interface PolicyIssue {
  /** The metric's name when known, else its position (`metrics[2]`). */
  metric?: string;
  /** Dotted path inside the metric (`query`, `baseline.condition`, `minTraffic.threshold`), or the policy path. */
  field: string;
  /** 0-based character offset inside the field's text, for templates and conditions. */
  offset?: number;
  message: string;
}

/** Renders an issue as one line: `metric "success-rate", field successCondition, offset 9: ...`. */
export function formatPolicyIssue(issue: PolicyIssue): string {
  const where = [
    issue.metric === undefined ? undefined : `metric "${issue.metric}"`,
    `field ${issue.field}`,
    issue.offset === undefined ? undefined : `offset ${issue.offset}`,
  ].filter((part) => part !== undefined);
  return `${where.join(', ')}: ${issue.message}`;
}

/**
 * The analysis part of a policy is invalid: an unknown template variable, unbalanced PromQL, a
 * malformed condition, a limit out of range. Raised when the policy is loaded, never mid-deployment.
 */
export class PolicyValidationError extends DeployerError {
  override readonly name = 'PolicyValidationError';
  readonly retryable = false;
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[], options?: { cause?: unknown }) {
    const lines = issues.map(formatPolicyIssue);
    const head =
      issues.length === 1 ? 'invalid analysis policy' : `invalid analysis policy (${issues.length} issues)`;
    super(`${head}: ${lines.join('; ')}`, options);
    this.issues = issues;
  }
}

/** A condition or template that does not parse; `offset` is the 0-based character offset in its text. */
export class ExpressionSyntaxError extends DeployerError {
  override readonly name = 'ExpressionSyntaxError';
  readonly retryable = false;
  readonly offset: number;
  /** The message without the offset, to be placed in a {@link PolicyIssue}. */
  readonly reason: string;

  constructor(reason: string, offset: number) {
    super(`${reason} (offset ${offset})`);
    this.reason = reason;
    this.offset = offset;
  }
}

/**
 * A query returned several series and the metric has no `reduce`: the measurement cannot pick one
 * value. Recorded as an Error measurement.
 */
export class AmbiguousResultError extends DeployerError {
  override readonly name = 'AmbiguousResultError';
  readonly retryable = false;
}

/**
 * The analysis state handed back by the workflow does not fit the metrics (another policy, a
 * corrupted payload), or the deployment variables are unusable in a query.
 */
export class AnalysisStateError extends DeployerError {
  override readonly name = 'AnalysisStateError';
  readonly retryable = false;
}

/**
 * The round was aborted (the Lambda's deadline signal) before it completed. Nothing was counted:
 * running the same round again is safe.
 */
export class AnalysisAbortedError extends DeployerError {
  override readonly name = 'AnalysisAbortedError';
  readonly retryable = true;
}
