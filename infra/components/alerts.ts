import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { AlertSubscription } from '../config.js';
import { requireArgs } from './util.js';

export interface AlertsArgs {
  topicName: string;
  subscriptions: AlertSubscription[];
  partition: pulumi.Input<string>;
  region: string;
  account: pulumi.Input<string>;
}

/**
 * The alert topic (TOPIC_ARN), encrypted with a key of its own, and its subscriptions. The key's
 * policy lets principals of the account use it through SNS only (the functions publish with their
 * roles' sns:Publish alone) and CloudWatch alarms publish to the topic.
 */
export class Alerts extends pulumi.ComponentResource {
  readonly key: aws.kms.Key;
  readonly topic: aws.sns.Topic;
  readonly subscriptions: aws.sns.TopicSubscription[];

  constructor(name: string, args: AlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    requireArgs('Alerts', [
      [/^[A-Za-z0-9_-]{1,256}$/.test(args.topicName), 'topicName: 1-256 of A-Z a-z 0-9 _ -'],
      [
        args.subscriptions.every(
          (s) => ['email', 'https', 'sqs'].includes(s.protocol) && s.endpoint.length > 0,
        ),
        'subscriptions: email, https or sqs, each with an endpoint',
      ],
    ]);
    super('swarm-deployer:index:Alerts', name, {}, opts);

    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: 'swarm-deployer: alert topic encryption',
        enableKeyRotation: true,
        deletionWindowInDays: 7,
        policy: pulumi.all([args.partition, args.account]).apply(([partition, account]) =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'Account',
                Effect: 'Allow',
                Principal: { AWS: `arn:${partition}:iam::${account}:root` },
                Action: 'kms:*',
                Resource: '*',
              },
              {
                // Publishers (the functions) need the key to publish to an encrypted topic; through
                // SNS only, by principals of this account: who may publish is the topic's and IAM's say.
                Sid: 'PublishThroughSns',
                Effect: 'Allow',
                Principal: { AWS: '*' },
                Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
                Resource: '*',
                Condition: {
                  StringEquals: {
                    'kms:CallerAccount': account,
                    'kms:ViaService': `sns.${args.region}.amazonaws.com`,
                  },
                },
              },
              {
                Sid: 'CloudWatchAlarms',
                Effect: 'Allow',
                Principal: { Service: 'cloudwatch.amazonaws.com' },
                Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
                Resource: '*',
                Condition: { StringEquals: { 'aws:SourceAccount': account } },
              },
            ],
          }),
        ),
      },
      { parent: this },
    );
    new aws.kms.Alias(
      `${name}-key`,
      { name: `alias/${args.topicName}`, targetKeyId: this.key.keyId },
      { parent: this },
    );
    this.topic = new aws.sns.Topic(
      `${name}-topic`,
      { name: args.topicName, kmsMasterKeyId: this.key.arn },
      { parent: this },
    );
    this.subscriptions = args.subscriptions.map(
      (s, i) =>
        new aws.sns.TopicSubscription(
          `${name}-${s.protocol}-${i}`,
          { topic: this.topic.arn, protocol: s.protocol, endpoint: s.endpoint },
          { parent: this },
        ),
    );
    this.registerOutputs({ topicArn: this.topic.arn });
  }
}
