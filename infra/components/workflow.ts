import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { checkAslPlaceholders, renderAsl } from '../asl.js';
import { stateMachinePolicy } from '../permissions.js';
import { assumeRolePolicy, requireArgs } from './util.js';

export interface WorkflowArgs {
  /** The state machine's fixed name (its ARN is known before it exists). */
  stateMachineName: string;
  /** statemachines/deploy.asl.json as it is. */
  template: string;
  /** Placeholder name (`PlanFunctionArn`) → the function's ARN: exactly the template's placeholders. */
  functionArns: Record<string, pulumi.Input<string>>;
  logRetentionDays: number;
}

/** The deployment workflow: a STANDARD state machine with full logging to its log group, and X-Ray. */
export class Workflow extends pulumi.ComponentResource {
  readonly stateMachine: aws.sfn.StateMachine;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly role: aws.iam.Role;
  /** The rendered definition. */
  readonly definition: pulumi.Output<string>;

  constructor(name: string, args: WorkflowArgs, opts?: pulumi.ComponentResourceOptions) {
    requireArgs('Workflow', [
      [/^[A-Za-z0-9_-]{1,80}$/.test(args.stateMachineName), 'stateMachineName: 1-80 of A-Z a-z 0-9 _ -'],
      [args.logRetentionDays > 0, 'logRetentionDays: positive'],
    ]);
    // Throws here, before any resource, on a missing or unused placeholder.
    checkAslPlaceholders(args.template, Object.keys(args.functionArns));
    super('swarm-deployer:index:Workflow', name, {}, opts);

    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `/aws/vendedlogs/states/${args.stateMachineName}`, retentionInDays: args.logRetentionDays },
      { parent: this },
    );
    this.role = new aws.iam.Role(
      `${name}-role`,
      { assumeRolePolicy: assumeRolePolicy('states.amazonaws.com'), description: 'swarm-deployer workflow' },
      { parent: this },
    );
    const arns = pulumi.all(args.functionArns);
    const policy = new aws.iam.RolePolicy(
      `${name}-role`,
      {
        role: this.role.id,
        policy: arns.apply((a) => JSON.stringify(stateMachinePolicy(Object.values(a).sort()))),
      },
      { parent: this },
    );
    this.definition = arns.apply((a) => renderAsl(args.template, a));
    this.stateMachine = new aws.sfn.StateMachine(
      `${name}-state-machine`,
      {
        name: args.stateMachineName,
        type: 'STANDARD',
        roleArn: this.role.arn,
        definition: this.definition,
        loggingConfiguration: {
          level: 'ALL',
          includeExecutionData: true,
          logDestination: pulumi.interpolate`${this.logGroup.arn}:*`,
        },
        tracingConfiguration: { enabled: true },
      },
      { parent: this, dependsOn: [policy] },
    );
    this.registerOutputs({ stateMachineArn: this.stateMachine.arn });
  }
}
