import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { requireArgs } from './util.js';

export interface StateArgs {
  tableName: string;
}

/**
 * The deployment record (DEPLOYER_TABLE): string keys pk/sk, on demand, TTL on expiresAt, point-in-
 * time recovery. Its local twin is createDeployerTable in functions/lib/deploy/record/dynamodb.ts.
 */
export class State extends pulumi.ComponentResource {
  readonly table: aws.dynamodb.Table;

  constructor(name: string, args: StateArgs, opts?: pulumi.ComponentResourceOptions) {
    requireArgs('State', [
      [/^[A-Za-z0-9_.-]{3,255}$/.test(args.tableName), 'tableName: 3-255 of A-Z a-z 0-9 _ . -'],
    ]);
    super('swarm-deployer:index:State', name, {}, opts);
    this.table = new aws.dynamodb.Table(
      `${name}-table`,
      {
        name: args.tableName,
        billingMode: 'PAY_PER_REQUEST',
        hashKey: 'pk',
        rangeKey: 'sk',
        attributes: [
          { name: 'pk', type: 'S' },
          { name: 'sk', type: 'S' },
        ],
        ttl: { attributeName: 'expiresAt', enabled: true },
        pointInTimeRecovery: { enabled: true },
        serverSideEncryption: { enabled: true },
      },
      { parent: this },
    );
    this.registerOutputs({ tableName: this.table.name, tableArn: this.table.arn });
  }
}
