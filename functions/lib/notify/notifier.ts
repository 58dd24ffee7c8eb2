import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { DeployerError } from '../errors.js';

export class NotifyError extends DeployerError {
  override readonly name = 'NotifyError';
  readonly retryable = true;
}

export type Transition =
  | 'started'
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

const SEVERITY: Record<Transition, 'info' | 'warning' | 'critical'> = {
  started: 'info',
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

/** Marks a message as sent once, so that a retried step does not notify twice. */
export interface Deduper {
  firstTime(key: string, signal?: AbortSignal): Promise<boolean>;
  forget(key: string, signal?: AbortSignal): Promise<void>;
}

/**
 * One SNS message per transition, with message attributes for subscription filter policies
 * (transition, service, severity, cluster), deduplicated across retries.
 * @throws NotifyError (retryable)
 */
export class Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly dedupe: Deduper,
  ) {}

  async publish(n: Notification, signal?: AbortSignal): Promise<{ sent: boolean }> {
    const key = `${n.deploymentId}/${n.transition}${n.key ? `-${n.key}` : ''}`;
    if (!(await this.dedupe.firstTime(key, signal))) return { sent: false };
    const severity = SEVERITY[n.transition];
    const message = {
      transition: n.transition,
      severity,
      deployment: n.deploymentId,
      service: n.service,
      tag: n.tag,
      digest: n.digest,
      summary: n.summary,
      ...(n.cluster ? { cluster: n.cluster } : {}),
      ...(n.details ? { details: n.details } : {}),
      at: new Date().toISOString(),
    };
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
          Subject: `[${severity}] ${n.service} ${n.tag}: ${n.transition}`.slice(0, 100),
          Message: JSON.stringify(message),
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
