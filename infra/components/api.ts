import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { requireArgs } from './util.js';

export interface ApiArgs {
  handler: aws.lambda.Function;
  /** IAM principals (role, user or account root ARNs) that may assume the approver role. */
  allowedPrincipals: string[];
  logRetentionDays: number;
}

/** The routes; every one is IAM-authorised (SigV4), the handler records the caller's ARN. */
export const API_ROUTES = [
  'GET /deployments',
  'GET /deployments/{id}',
  'POST /deployments/{id}/{action}',
  'POST /services/{name}/{action}',
] as const;

// The execute-api resource of a route key: each path parameter becomes a wildcard
// ("POST /deployments/{id}/{action}" gives "POST/deployments/*/*").
export function routeResource(routeKey: string): string {
  const [method, path] = routeKey.split(' ') as [string, string];
  return `${method}${path.replace(/\{[^}]+\}/g, '*')}`;
}

/**
 * The HTTP API for people: list and follow deployments, approve, reject, abort, promote, pause,
 * resume them, undo or retry a service's release, apply its policy. Authorisation is AWS_IAM on
 * every route; HTTP APIs have no resource policy, so the program creates an approver role with
 * `execute-api:Invoke` on these routes that the allowed principals may assume.
 */
export class Api extends pulumi.ComponentResource {
  readonly api: aws.apigatewayv2.Api;
  readonly stage: aws.apigatewayv2.Stage;
  readonly routes: aws.apigatewayv2.Route[];
  readonly approverRole?: aws.iam.Role;
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: ApiArgs, opts?: pulumi.ComponentResourceOptions) {
    requireArgs('Api', [
      [
        args.allowedPrincipals.every((p) => /^arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/.test(p)),
        'allowedPrincipals: IAM role, user or root ARNs',
      ],
      [args.logRetentionDays > 0, 'logRetentionDays: positive'],
    ]);
    super('swarm-deployer:index:Api', name, {}, opts);

    this.api = new aws.apigatewayv2.Api(
      `${name}-http`,
      { protocolType: 'HTTP', description: 'swarm-deployer: see and steer deployments' },
      { parent: this },
    );
    const integration = new aws.apigatewayv2.Integration(
      `${name}-lambda`,
      {
        apiId: this.api.id,
        integrationType: 'AWS_PROXY',
        integrationUri: args.handler.arn,
        integrationMethod: 'POST',
        payloadFormatVersion: '2.0',
        timeoutMilliseconds: 29_000,
      },
      { parent: this },
    );
    this.routes = API_ROUTES.map(
      (routeKey, i) =>
        new aws.apigatewayv2.Route(
          `${name}-route-${i}`,
          {
            apiId: this.api.id,
            routeKey,
            authorizationType: 'AWS_IAM',
            target: pulumi.interpolate`integrations/${integration.id}`,
          },
          { parent: this },
        ),
    );
    const accessLogs = new aws.cloudwatch.LogGroup(
      `${name}-access`,
      { retentionInDays: args.logRetentionDays },
      { parent: this },
    );
    this.stage = new aws.apigatewayv2.Stage(
      `${name}-stage`,
      {
        apiId: this.api.id,
        name: '$default',
        autoDeploy: true,
        defaultRouteSettings: { throttlingBurstLimit: 20, throttlingRateLimit: 10 },
        accessLogSettings: {
          destinationArn: accessLogs.arn,
          format: JSON.stringify({
            requestId: '$context.requestId',
            caller: '$context.identity.userArn',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            error: '$context.error.message',
          }),
        },
      },
      { parent: this, dependsOn: this.routes },
    );
    new aws.lambda.Permission(
      `${name}-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: args.handler.name,
        principal: 'apigateway.amazonaws.com',
        sourceArn: pulumi.interpolate`${this.api.executionArn}/*/*`,
      },
      { parent: this },
    );
    if (args.allowedPrincipals.length > 0) {
      this.approverRole = new aws.iam.Role(
        `${name}-approver`,
        {
          description: 'swarm-deployer: may call the deployments API (list, status, approve, undo…)',
          assumeRolePolicy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { AWS: [...args.allowedPrincipals].sort() },
                Action: 'sts:AssumeRole',
              },
            ],
          }),
        },
        { parent: this },
      );
      new aws.iam.RolePolicy(
        `${name}-approver`,
        {
          role: this.approverRole.id,
          policy: pulumi.all([this.api.executionArn]).apply(([executionArn]) =>
            JSON.stringify({
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Action: 'execute-api:Invoke',
                  Resource: API_ROUTES.map((route) => `${executionArn}/*/${routeResource(route)}`),
                },
              ],
            }),
          ),
        },
        { parent: this },
      );
    }
    this.url = this.api.apiEndpoint;
    this.registerOutputs({ url: this.url, approverRoleArn: this.approverRole?.arn });
  }
}
