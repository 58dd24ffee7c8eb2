import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { HANDLERS, type Handler } from '../handlers.js';
import { functionLogsPolicy, type PermissionContext, policyFor } from '../permissions.js';
import { assumeRolePolicy, requireArgs } from './util.js';

export interface FunctionsArgs {
  /** Physical names are `<namePrefix>-<handler>`. */
  namePrefix: string;
  /** dist/functions: one directory per handler holding index.mjs (`npm run build`). */
  distDir: string;
  logRetentionDays: number;
  /** Parameter Store prefix of the configuration (DEPLOYER_PREFIX). */
  prefix: string;
  tableName: pulumi.Input<string>;
  topicArn: pulumi.Input<string>;
  stateMachineArn: pulumi.Input<string>;
  /** What the roles' policies are built from (infra/permissions.ts). */
  permissions: pulumi.Input<PermissionContext>;
  /** Timeout of each function (seconds); default 60. */
  timeouts?: Partial<Record<Handler, number>>;
}

/** Every handler as a Lambda function (nodejs22.x, arm64), each with its own role and log group. */
export class Functions extends pulumi.ComponentResource {
  readonly functions: Record<Handler, aws.lambda.Function>;
  readonly roles: Record<Handler, aws.iam.Role>;
  readonly logGroups: Record<Handler, aws.cloudwatch.LogGroup>;
  readonly arns: Record<Handler, pulumi.Output<string>>;

  constructor(name: string, args: FunctionsArgs, opts?: pulumi.ComponentResourceOptions) {
    const missing = HANDLERS.filter((h) => !existsSync(join(args.distDir, h, 'index.mjs')));
    requireArgs('Functions', [
      [
        missing.length === 0,
        `no bundle for ${missing.join(', ')} under ${args.distDir}: run \`npm run build\` at the repository root first`,
      ],
      [/^[a-z][a-z0-9-]{0,40}$/.test(args.namePrefix), 'namePrefix: lowercase letters, digits and dashes'],
      [args.prefix.startsWith('/'), 'prefix: a parameter path'],
      [args.logRetentionDays > 0, 'logRetentionDays: positive'],
      ...Object.entries(args.timeouts ?? {}).map(
        ([h, t]) => [t >= 1 && t <= 900, `timeouts.${h}: between 1 and 900 seconds`] as [boolean, string],
      ),
    ]);
    super('swarm-deployer:index:Functions', name, {}, opts);

    const functions = {} as Record<Handler, aws.lambda.Function>;
    const roles = {} as Record<Handler, aws.iam.Role>;
    const logGroups = {} as Record<Handler, aws.cloudwatch.LogGroup>;
    for (const handler of HANDLERS) {
      const functionName = `${args.namePrefix}-${handler}`;
      const logGroup = new aws.cloudwatch.LogGroup(
        `${name}-${handler}`,
        { name: `/aws/lambda/${functionName}`, retentionInDays: args.logRetentionDays },
        { parent: this },
      );
      const role = new aws.iam.Role(
        `${name}-${handler}`,
        {
          assumeRolePolicy: assumeRolePolicy('lambda.amazonaws.com'),
          description: `swarm-deployer ${handler} function`,
        },
        { parent: this },
      );
      const policy = new aws.iam.RolePolicy(
        `${name}-${handler}`,
        {
          role: role.id,
          policy: pulumi.output(args.permissions).apply((ctx) => JSON.stringify(policyFor(handler, ctx))),
        },
        { parent: this },
      );
      const logsPolicy = new aws.iam.RolePolicy(
        `${name}-${handler}-logs`,
        {
          role: role.id,
          policy: logGroup.arn.apply((arn) => JSON.stringify(functionLogsPolicy(arn, { tracing: true }))),
        },
        { parent: this },
      );
      const environment: Record<string, pulumi.Input<string>> = {
        TOPIC_ARN: args.topicArn,
        DEPLOYER_TABLE: args.tableName,
        DEPLOYER_PREFIX: args.prefix,
        NODE_OPTIONS: '--enable-source-maps',
        // Every function: the alerts it sends link to their execution in the console.
        STATE_MACHINE_ARN: args.stateMachineArn,
      };
      functions[handler] = new aws.lambda.Function(
        `${name}-${handler}`,
        {
          name: functionName,
          description: `swarm-deployer: ${handler}`,
          runtime: aws.lambda.Runtime.NodeJS22dX,
          architectures: ['arm64'],
          handler: 'index.handler',
          code: new pulumi.asset.FileArchive(join(args.distDir, handler)),
          role: role.arn,
          memorySize: 512,
          timeout: args.timeouts?.[handler] ?? 60,
          environment: { variables: environment },
          loggingConfig: { logFormat: 'Text', logGroup: logGroup.name },
          tracingConfig: { mode: 'Active' },
        },
        { parent: this, dependsOn: [logGroup, policy, logsPolicy] },
      );
      roles[handler] = role;
      logGroups[handler] = logGroup;
    }
    this.functions = functions;
    this.roles = roles;
    this.logGroups = logGroups;
    this.arns = Object.fromEntries(HANDLERS.map((h) => [h, functions[h].arn])) as Record<
      Handler,
      pulumi.Output<string>
    >;
    this.registerOutputs({ arns: this.arns });
  }
}
