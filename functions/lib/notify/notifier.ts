import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { DeployerError } from '../errors.js';

export class NotifyError extends DeployerError {
  override readonly name = 'NotifyError';
  readonly retryable = true;
}

export type Transition =
  | 'started'
  | 'drift'
  | 'canary-ready'
  | 'analysis-failed'
  | 'awaiting-approval'
  | 'wave-promoted'
  | 'succeeded'
  | 'rejected'
  | 'rolled-back'
  | 'rollback-failed'
  | 'partially-deployed'
  | 'deployment-failed';

export type Severity = 'info' | 'warning' | 'critical';

const SEVERITY: Record<Transition, Severity> = {
  started: 'info',
  drift: 'warning',
  'canary-ready': 'info',
  'analysis-failed': 'warning',
  'awaiting-approval': 'info',
  'wave-promoted': 'info',
  succeeded: 'info',
  rejected: 'warning',
  'rolled-back': 'warning',
  'rollback-failed': 'critical',
  'partially-deployed': 'critical',
  'deployment-failed': 'critical',
};

/** What a person reads in the subject line: the outcome in words (critical ones in capitals). */
const OUTCOME: Record<Transition, string> = {
  started: 'deploying',
  drift: 'drift found before deploying',
  'canary-ready': 'canary ready',
  'analysis-failed': 'canary analysis failed',
  'awaiting-approval': 'awaiting approval',
  'wave-promoted': 'wave promoted',
  succeeded: 'deployed',
  rejected: 'rejected',
  'rolled-back': 'rolled back',
  'rollback-failed': 'ROLLBACK FAILED',
  'partially-deployed': 'PARTIALLY DEPLOYED',
  'deployment-failed': 'DEPLOYMENT FAILED',
};

export interface Notification {
  transition: Transition;
  deploymentId: string;
  service: string;
  digest: string;
  tag: string;
  /** One sentence a person reads first: what happened and why. */
  summary: string;
  /** Structured details (clusters, decisive measurement, reason). Never credentials. */
  details?: Record<string, unknown>;
  /** Distinguishes several messages of one transition (the wave's name). */
  key?: string;
  cluster?: string;
}

export interface NotifierOptions {
  /**
   * The workflow's state machine (arn:<partition>:states:<region>:<account>:stateMachine:<name>):
   * with it, every message links to its deployment's execution in the Step Functions console (the
   * deployment id is the execution's name). Without it, the messages carry no link.
   */
  stateMachineArn?: string;
  /** The clock of the `at` field. */
  now?: () => Date;
}

/** Marks a message as sent once, so that a retried step does not notify twice. */
export interface Deduper {
  firstTime(key: string, signal?: AbortSignal): Promise<boolean>;
  forget(key: string, signal?: AbortSignal): Promise<void>;
}

/** The longest subject sent: SNS takes subjects of less than 100 characters. */
export const MAX_SUBJECT = 99;
/** Where a failed rollback is handled by hand. */
export const RUNBOOK = 'docs/runbook.md, section "Failed rollback"';
/** The line between the text people read and the machine-readable JSON (the message's last line). */
export const JSON_MARKER = '-- JSON (one line, for programs) --';

const REDACTED = '[redacted]';
const SENSITIVE_KEY = /token|password|secret|authorization|credential/i;

/**
 * Scrubs what looks like a credential from free text: the password of a URL, a bearer or basic
 * authorization, and `key=value` or `key: value` where the key names a secret.
 */
function scrub(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, `$1${REDACTED}@`)
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, `$1 ${REDACTED}`)
    .replace(
      /([\w.-]*(?:token|password|secret|authorization|credential)[\w.-]*["']?)(=|:[ \t]*)("[^"]*"|'[^']*'|[^\s,;&"'}]+)/gi,
      (match, key: string, sep: string, value: string) =>
        // An error's name ("SecretSourceError: …") is not a secret's key.
        value === REDACTED || value.startsWith('[redacted') || /(?:Error|Exception)["']?$/.test(key)
          ? match
          : `${key}${sep}${REDACTED}`,
    );
}

/**
 * The value with every entry whose key names a credential (token, password, secret, authorization,
 * credential) replaced by "[redacted]", and credentials in strings scrubbed, at any depth.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SENSITIVE_KEY.test(k) ? REDACTED : redact(v, depth + 1)]),
  );
}

/** The console link and ARN of deployment `deploymentId`'s execution, when the state machine is known. */
export function executionLink(
  stateMachineArn: string | undefined,
  deploymentId: string,
): { executionArn: string; console?: string } | undefined {
  const m = /^arn:(aws[\w-]*):states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]+)$/.exec(
    stateMachineArn ?? '',
  );
  if (!m || !/^[A-Za-z0-9_-]{1,80}$/.test(deploymentId)) return undefined;
  const [, partition, region, account, name] = m;
  const executionArn = `arn:${partition}:states:${region}:${account}:execution:${name}:${deploymentId}`;
  const domain = { aws: 'aws.amazon.com', 'aws-cn': 'amazonaws.cn', 'aws-us-gov': 'amazonaws-us-gov.com' }[
    partition ?? ''
  ];
  if (!domain) return { executionArn };
  return {
    executionArn,
    console: `https://${region}.console.${domain}/states/home?region=${region}#/v2/executions/details/${executionArn}`,
  };
}

/** An argument of a shell command, quoted when it is more than plain name characters. */
function arg(s: string): string {
  return /^[\w.:@/+=-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The commands a person runs to act on the message (the `deployer` CLI), and the runbook when it takes one. */
export function actionsFor(n: Pick<Notification, 'transition' | 'deploymentId' | 'service' | 'digest'>): {
  commands: string[];
  runbook?: string;
} {
  const id = arg(n.deploymentId);
  const status = `deployer status ${id}`;
  // A deployment that failed before it was planned has no service or digest to redeploy.
  const planned = n.digest !== '' && /^[\w.-]+$/.test(n.service);
  switch (n.transition) {
    case 'awaiting-approval':
      return { commands: [`deployer approve ${id}`, `deployer reject ${id}`] };
    case 'succeeded':
      return { commands: [`deployer undo ${arg(n.service)}`, status] };
    case 'rolled-back':
    case 'deployment-failed':
      return {
        commands: planned ? [`deployer retry ${arg(n.service)} --deployment ${id}`, status] : [status],
      };
    case 'rollback-failed':
    case 'partially-deployed':
      return { commands: [status], runbook: RUNBOOK };
    case 'analysis-failed':
      // The rollback follows on its own; its own message offers the retry.
      return { commands: [`deployer watch ${id}`, status] };
    case 'drift':
    case 'started':
    case 'canary-ready':
    case 'wave-promoted':
      return { commands: [`deployer watch ${id}`, `deployer abort ${id}`] };
    case 'rejected':
      return { commands: [status] };
  }
}

/** Printable ASCII only, on one line. */
function ascii(s: string): string {
  return s
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** `s` in at most `max` characters, "..." marking a cut. */
function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  if (max <= 3) return s.slice(0, Math.max(0, max));
  return `${s.slice(0, max - 3)}...`;
}

/** The first 12 hex digits of a digest (sha256:abc... -> abc...), as `docker images` shows it. */
export function shortDigest(digest: string): string {
  const hex = digest.slice(digest.indexOf(':') + 1);
  return ascii(hex.slice(0, 12));
}

/**
 * The subject: `[severity] service tag (digest): outcome on cluster`, in printable ASCII, at most
 * MAX_SUBJECT characters. The severity, outcome and cluster are kept whole (the cluster up to 24
 * characters); the tag, then the service, are cut to fit.
 */
export function renderSubject(n: Notification): string {
  const severity = SEVERITY[n.transition];
  const outcome =
    n.transition === 'wave-promoted' && n.key
      ? `wave ${clip(ascii(n.key), 16)} promoted`
      : OUTCOME[n.transition];
  const cluster = n.cluster ? clip(ascii(n.cluster), 24) : '';
  const head = `[${severity}] `;
  const digest = n.digest ? ` (${shortDigest(n.digest)})` : '';
  const tail = `: ${outcome}${cluster ? ` on ${cluster}` : ''}`;
  let service = ascii(n.service) || '(unknown service)';
  let tag = ascii(n.tag);
  const room = MAX_SUBJECT - head.length - digest.length - tail.length;
  const sep = tag ? 1 : 0;
  if (service.length + sep + tag.length > room) {
    // The tag gives way first (the digest names the image), down to 6 characters, then out; then the service.
    const tagRoom = room - 1 - service.length;
    tag = tagRoom >= 6 ? clip(tag, tagRoom) : '';
    if (!tag) service = clip(service, Math.max(8, room));
  }
  const subject = `${head}${service}${tag ? ` ${tag}` : ''}${digest}${tail}`;
  return clip(subject, MAX_SUBJECT);
}

/**
 * Keys of `details` shown as the reason (`Why:`), in this order (`failed` when it is the sentence
 * naming the failures, not a list of clusters); the others follow as details.
 */
const WHY_KEYS = ['reason', 'error', 'cause', 'measurements', 'failed'];
const isWhy = (k: string, v: unknown) => WHY_KEYS.includes(k) && (k !== 'failed' || typeof v === 'string');
/** How much of one detail the text shows (the JSON line carries all of it). */
const MAX_DETAIL_CHARS = 2000;
const MAX_DETAIL_LINES = 20;

function detailLines(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) {
      if (value.some((v) => typeof v === 'string' && v.length > 60))
        return value.slice(-MAX_DETAIL_LINES).map((v) => clip(String(v), MAX_DETAIL_CHARS));
      return value.length ? [clip(value.join(', '), MAX_DETAIL_CHARS)] : [];
    }
    return value.slice(-MAX_DETAIL_LINES).map((v) => clip(JSON.stringify(v), MAX_DETAIL_CHARS));
  }
  if (typeof value === 'object') return [clip(JSON.stringify(value), MAX_DETAIL_CHARS)];
  return [clip(String(value), MAX_DETAIL_CHARS)];
}

/** Lines of text, each indented, no line breaks inside. */
const indent = (lines: string[]) => lines.flatMap((l) => l.split(/\r?\n/)).map((l) => `  ${l}`);

export interface RenderedAlert {
  subject: string;
  /** Plain text for people, then JSON_MARKER, then the alert as one line of JSON. */
  message: string;
  /** What the last line holds. */
  json: Record<string, unknown>;
}

/**
 * The message of a notification. Everything in it comes from the notification with credentials
 * redacted (see redact). The text says what happened (the summary), why (the decisive measurement
 * or error from the details), where (the execution in the Step Functions console) and what to run.
 */
export function renderAlert(n: Notification, options: NotifierOptions = {}, at = new Date()): RenderedAlert {
  const severity = SEVERITY[n.transition];
  const summary = scrub(n.summary);
  const details = n.details ? (redact(n.details) as Record<string, unknown>) : undefined;
  const link = executionLink(options.stateMachineArn, n.deploymentId);
  const actions = actionsFor(n);

  const text: string[] = [summary, ''];
  const why = WHY_KEYS.flatMap((k) => (isWhy(k, details?.[k]) ? detailLines(details?.[k]) : []));
  if (why.length) text.push('Why:', ...indent(why), '');
  if (link) {
    text.push('Where:');
    if (link.console) text.push(`  ${link.console}`);
    text.push(`  execution ${link.executionArn}`, '');
  }
  text.push('What to do:', ...indent(actions.commands));
  if (actions.runbook) text.push(`  runbook: ${actions.runbook}`);
  text.push(
    '',
    `Deployment: ${n.deploymentId}`,
    `Service: ${n.service}`,
    `Image: ${n.tag || '(no tag)'} ${n.digest || '(no digest)'}`,
  );
  if (n.cluster) text.push(`Cluster: ${n.cluster}`);
  text.push(`Transition: ${n.transition}${n.key ? ` (${n.key})` : ''}, severity ${severity}`);
  text.push(`At: ${at.toISOString()}`);
  const rest = Object.entries(details ?? {}).filter(([k, v]) => !isWhy(k, v));
  const restLines = rest.flatMap(([k, v]) => {
    const lines = detailLines(v);
    if (!lines.length) return [];
    return lines.length === 1 ? [`${k}: ${lines[0]}`] : [`${k}:`, ...indent(lines)];
  });
  if (restLines.length) text.push('Details:', ...indent(restLines));

  const json: Record<string, unknown> = {
    transition: n.transition,
    severity,
    deployment: n.deploymentId,
    service: n.service,
    tag: n.tag,
    digest: n.digest,
    summary,
    ...(n.cluster ? { cluster: n.cluster } : {}),
    ...(n.key ? { key: n.key } : {}),
    ...(details ? { details } : {}),
    ...(link ? { execution: link.executionArn } : {}),
    ...(link?.console ? { console: link.console } : {}),
    commands: actions.commands,
    ...(actions.runbook ? { runbook: actions.runbook } : {}),
    at: at.toISOString(),
  };
  const message = [...text.map((l) => l.replace(/\r?\n/g, ' ')), '', JSON_MARKER, JSON.stringify(json)].join(
    '\n',
  );
  return { subject: renderSubject(n), message, json };
}

/** The JSON of a message the notifier sent (its last line). @throws SyntaxError when there is none */
export function alertJson(message: string): Record<string, unknown> {
  return JSON.parse(message.slice(message.lastIndexOf('\n') + 1)) as Record<string, unknown>;
}

/**
 * One SNS message per transition, with message attributes for subscription filter policies
 * (transition, service, severity, cluster), deduplicated across retries. Its subject names the
 * service, image, outcome and cluster; its body is text for people (what happened, why, where,
 * what to run) ending in one line of JSON for programs (see renderAlert, alertJson).
 * @throws NotifyError (retryable)
 */
export class Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly dedupe: Deduper,
    private readonly options: NotifierOptions = {},
  ) {}

  async publish(n: Notification, signal?: AbortSignal): Promise<{ sent: boolean }> {
    const key = `${n.deploymentId}/${n.transition}${n.key ? `-${n.key}` : ''}`;
    if (!(await this.dedupe.firstTime(key, signal))) return { sent: false };
    const severity = SEVERITY[n.transition];
    const { subject, message } = renderAlert(n, this.options, this.options.now?.() ?? new Date());
    const attributes: Record<string, { DataType: 'String'; StringValue: string }> = {
      transition: { DataType: 'String', StringValue: n.transition },
      service: { DataType: 'String', StringValue: n.service },
      severity: { DataType: 'String', StringValue: severity },
    };
    if (n.cluster) attributes.cluster = { DataType: 'String', StringValue: n.cluster };
    try {
      await this.sns.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          Subject: subject,
          Message: message,
          MessageAttributes: attributes,
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      await this.dedupe.forget(key, signal).catch(() => {});
      throw new NotifyError(
        `publishing "${n.transition}" of ${n.deploymentId} failed: ${(err as Error).name}`,
        { cause: err },
      );
    }
    return { sent: true };
  }
}
