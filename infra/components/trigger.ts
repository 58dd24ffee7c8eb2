import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { deployRulePattern, reaperRulePattern } from '../../functions/lib/events.js';
import { deadLetterQueuePolicy } from '../permissions.js';
import { requireArgs } from './util.js';

export interface TriggerArgs {
  /** ECR repositories whose successful pushes start a deployment. */
  repositories: string[];
  /** The workflow's ARN (the reaper rule watches its executions). */
  stateMachineArn: pulumi.Input<string>;
  startDeployment: aws.lambda.Function;
  reapExecution: aws.lambda.Function;
  refreshRegistryAuth: aws.lambda.Function;
  /** Hours between two registry credential refreshes: 1–11, under ECR's 12-hour token lifetime. */
  registryAuthRefreshHours: number;
}

/** Retries of an undeliverable event before it goes to the dead-letter queue. */
const RETRY = { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 20 };

/**
 * An EventBridge rate expression of whole hours: the unit is singular for 1 and plural above
 * ("rate(1 hour)", "rate(6 hours)"; EventBridge rejects "rate(1 hours)" and "rate(6 hour)").
 */
export function hourlyRate(hours: number): string {
  if (!Number.isInteger(hours) || hours < 1) throw new RangeError(`not a whole number of hours: ${hours}`);
  return `rate(${hours} ${hours === 1 ? 'hour' : 'hours'})`;
}

/**
 * The EventBridge rules: ECR pushes of the watched repositories → StartDeployment, workflow
 * executions that ended without succeeding → ReapExecution, and a schedule → RefreshRegistryAuth
 * (every `registryAuthRefreshHours`, before the services' stored ECR credentials expire); each with
 * a retry policy and one SQS dead-letter queue.
 */
export class Trigger extends pulumi.ComponentResource {
  readonly pushRule: aws.cloudwatch.EventRule;
  readonly reaperRule: aws.cloudwatch.EventRule;
  readonly registryAuthRule: aws.cloudwatch.EventRule;
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly pushPattern: ReturnType<typeof deployRulePattern>;

  constructor(name: string, args: TriggerArgs, opts?: pulumi.ComponentResourceOptions) {
    requireArgs('Trigger', [
      [args.repositories.length > 0, 'repositories: at least one (EventBridge rejects an empty list)'],
      [
        Number.isInteger(args.registryAuthRefreshHours) &&
          args.registryAuthRefreshHours >= 1 &&
          args.registryAuthRefreshHours <= 11,
        'registryAuthRefreshHours: whole hours from 1 to 11 (under the 12-hour lifetime of an ECR token)',
      ],
    ]);
    super('swarm-deployer:index:Trigger', name, {}, opts);
    this.pushPattern = deployRulePattern(args.repositories);

    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { messageRetentionSeconds: 14 * 24 * 3600, sqsManagedSseEnabled: true },
      { parent: this },
    );
    this.pushRule = new aws.cloudwatch.EventRule(
      `${name}-push`,
      {
        description: 'swarm-deployer: successful ECR pushes of the watched repositories',
        eventPattern: JSON.stringify(this.pushPattern),
      },
      { parent: this },
    );
    this.reaperRule = new aws.cloudwatch.EventRule(
      `${name}-reaper`,
      {
        description: 'swarm-deployer: workflow executions that ended without succeeding',
        eventPattern: pulumi
          .output(args.stateMachineArn)
          .apply((arn) => JSON.stringify(reaperRulePattern(arn))),
      },
      { parent: this },
    );
    this.registryAuthRule = new aws.cloudwatch.EventRule(
      `${name}-registry-auth`,
      {
        description:
          "swarm-deployer: refresh the services' stored ECR credentials before the 12-hour token expires",
        scheduleExpression: hourlyRate(args.registryAuthRefreshHours),
      },
      { parent: this },
    );
    const rules = [this.pushRule, this.reaperRule, this.registryAuthRule];
    const queuePolicy = new aws.sqs.QueuePolicy(
      `${name}-dlq`,
      {
        queueUrl: this.deadLetterQueue.url,
        policy: pulumi
          .all([this.deadLetterQueue.arn, pulumi.all(rules.map((r) => r.arn))])
          .apply(([queue, ruleArns]) => JSON.stringify(deadLetterQueuePolicy(queue, ruleArns))),
      },
      { parent: this },
    );
    const targets: Array<[string, aws.cloudwatch.EventRule, aws.lambda.Function]> = [
      ['push', this.pushRule, args.startDeployment],
      ['reaper', this.reaperRule, args.reapExecution],
      ['registry-auth', this.registryAuthRule, args.refreshRegistryAuth],
    ];
    for (const [kind, rule, fn] of targets) {
      const permission = new aws.lambda.Permission(
        `${name}-${kind}`,
        {
          action: 'lambda:InvokeFunction',
          function: fn.arn,
          principal: 'events.amazonaws.com',
          sourceArn: rule.arn,
        },
        { parent: this },
      );
      new aws.cloudwatch.EventTarget(
        `${name}-${kind}`,
        {
          rule: rule.name,
          arn: fn.arn,
          retryPolicy: RETRY,
          deadLetterConfig: { arn: this.deadLetterQueue.arn },
        },
        { parent: this, dependsOn: [permission, queuePolicy] },
      );
    }
    this.registerOutputs({ deadLetterQueueArn: this.deadLetterQueue.arn });
  }
}
