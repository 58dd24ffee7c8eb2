/**
 * Pulumi's mocks (`pulumi.runtime.setMocks`, as Pulumi's unit-testing guide runs a program without
 * its engine): every resource the program registers is recorded with its inputs and given the
 * outputs AWS would compute (ARNs, names, ids), so that the program's outputs resolve. Used by the
 * infra tests and by the local twin, which builds the local stack from what the program declares.
 * Pulumi's mocks are process-wide: one program run per process.
 */
import * as pulumi from '@pulumi/pulumi';

export const PROJECT = 'swarm-deployer';

/** Pulumi's marker of a secret value, as it reaches the mocks. */
export const SECRET_SIG = '4dabf18193072939515e22adb298388d';
export const SECRET_VALUE_SIG = '1b47061264138c4ac30d75fd1eb44270';

/** The identities the mocks answer with: where the stack "is". */
export interface MockIds {
  stack: string;
  region: string;
  account: string;
  apiId: string;
  ami: string;
}

export interface Recorded {
  type: string;
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: resource inputs are whatever the provider schema says
  inputs: any;
  id: string;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  state: any;
}

export interface Recording {
  resources: Recorded[];
  // biome-ignore lint/suspicious/noExplicitAny: invoke arguments
  calls: Array<{ token: string; inputs: any }>;
}

const hex = (s: string, n: number) => {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h.toString(16).padStart(8, '0').repeat(3).slice(0, n);
};

function computed(
  ids: MockIds,
  type: string,
  name: string,
  // biome-ignore lint/suspicious/noExplicitAny: resource inputs
  inputs: any,
): { id: string; state: Record<string, unknown> } {
  const { region: REGION, account: ACCOUNT, apiId: API_ID } = ids;
  const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
  const physical = (inputs.name as string | undefined) ?? `${name}-${hex(name, 7)}`;
  switch (type) {
    case 'aws:lambda/function:Function':
      return {
        id: physical,
        state: {
          arn: arn('lambda', `function:${physical}`),
          invokeArn: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn('lambda', `function:${physical}`)}/invocations`,
          name: physical,
        },
      };
    case 'aws:sfn/stateMachine:StateMachine':
      return { id: physical, state: { arn: arn('states', `stateMachine:${physical}`), name: physical } };
    case 'aws:sns/topic:Topic':
      return { id: physical, state: { arn: arn('sns', physical), name: physical } };
    case 'aws:dynamodb/table:Table':
      return { id: physical, state: { arn: arn('dynamodb', `table/${physical}`), name: physical } };
    case 'aws:sqs/queue:Queue':
      return {
        id: physical,
        state: {
          arn: arn('sqs', physical),
          name: physical,
          url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${physical}`,
        },
      };
    case 'aws:cloudwatch/logGroup:LogGroup':
      return { id: physical, state: { arn: arn('logs', `log-group:${physical}`), name: physical } };
    case 'aws:cloudwatch/eventRule:EventRule':
      return { id: physical, state: { arn: arn('events', `rule/${physical}`), name: physical } };
    case 'aws:apigatewayv2/api:Api':
      return {
        id: API_ID,
        state: {
          apiEndpoint: `https://${API_ID}.execute-api.${REGION}.amazonaws.com`,
          executionArn: arn('execute-api', API_ID),
          arn: `arn:aws:apigateway:${REGION}::/apis/${API_ID}`,
        },
      };
    case 'aws:apigatewayv2/integration:Integration':
      return { id: `int-${hex(name, 7)}`, state: {} };
    case 'aws:iam/role:Role':
      return { id: physical, state: { arn: `arn:aws:iam::${ACCOUNT}:role/${physical}`, name: physical } };
    case 'aws:kms/key:Key': {
      const keyId = `${hex(name, 8)}-1234-4abc-8def-${hex(`${name}k`, 12)}`;
      return { id: keyId, state: { arn: arn('kms', `key/${keyId}`), keyId } };
    }
    case 'aws:ec2/instance:Instance':
      return { id: `i-0${hex(name, 16)}`, state: { arn: arn('ec2', `instance/i-0${hex(name, 16)}`) } };
    case 'aws:ec2/securityGroup:SecurityGroup':
      return {
        id: `sg-0${hex(name, 16)}`,
        state: { arn: arn('ec2', `security-group/sg-0${hex(name, 16)}`) },
      };
    case 'awsx:ec2:Vpc':
      return {
        id: 'vpc-0123456789abcdef0',
        state: {
          vpcId: 'vpc-0123456789abcdef0',
          publicSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0aaaaaaaaaaaaaaa2'],
          privateSubnetIds: [],
          isolatedSubnetIds: [],
        },
      };
    default:
      return {
        id: physical,
        state: { arn: arn(type.split(':')[1]?.split('/')[0] ?? 'x', physical), name: physical },
      };
  }
}

/**
 * Sets the stack configuration (`key` → value; non-strings as JSON, keys without a namespace get
 * the project's) and the mocks. Call once per file, before importing the program.
 */
export function installMocks(
  ids: MockIds,
  config: Record<string, unknown>,
  secretKeys: string[] = [],
): Recording {
  const { region: REGION, account: ACCOUNT, ami: AMI } = ids;
  const full = (k: string) => (k.includes(':') ? k : `${PROJECT}:${k}`);
  pulumi.runtime.setAllConfig(
    Object.fromEntries(
      Object.entries(config).map(([k, v]) => [full(k), typeof v === 'string' ? v : JSON.stringify(v)]),
    ),
    secretKeys.map(full),
  );
  const recording: Recording = { resources: [], calls: [] };
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        const { id, state } = computed(ids, args.type, args.name, args.inputs);
        recording.resources.push({ type: args.type, name: args.name, inputs: args.inputs, id, state });
        return { id, state: { ...args.inputs, ...state } };
      },
      call(args) {
        recording.calls.push({ token: args.token, inputs: args.inputs });
        switch (args.token) {
          case 'aws:index/getPartition:getPartition':
            return {
              id: 'aws',
              partition: 'aws',
              dnsSuffix: 'amazonaws.com',
              reverseDnsPrefix: 'com.amazonaws',
            };
          case 'aws:index/getCallerIdentity:getCallerIdentity':
            return {
              id: ACCOUNT,
              accountId: ACCOUNT,
              arn: `arn:aws:iam::${ACCOUNT}:user/test`,
              userId: 'AIDATEST',
            };
          case 'aws:index/getRegion:getRegion':
            return { id: REGION, name: REGION, region: REGION, endpoint: `ec2.${REGION}.amazonaws.com` };
          case 'aws:ssm/getParameter:getParameter':
            return { id: args.inputs.name, name: args.inputs.name, type: 'String', value: AMI, arn: 'x' };
          case 'aws:index/getAvailabilityZones:getAvailabilityZones':
            return { id: REGION, names: [`${REGION}a`, `${REGION}b`], zoneIds: ['euw1-az1', 'euw1-az2'] };
          default:
            throw new Error(`unexpected invoke ${args.token}`);
        }
      },
    },
    PROJECT,
    ids.stack,
    false,
  );
  return recording;
}

/** An output's value (secrets included). */
export function resolve<T>(output: pulumi.Input<T> | undefined): Promise<T> {
  return new Promise((ok) => pulumi.output(output as pulumi.Input<T>).apply((v) => ok(v as T)));
}

/** Waits until no resource has been registered for a while (registrations are asynchronous). */
export async function settle(recording: Recording, quietMs = 300): Promise<void> {
  let count = -1;
  while (count !== recording.resources.length) {
    count = recording.resources.length;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

/** The plain value of an input that may be wrapped as a secret; `secret` says whether it was. */
export function unwrap(value: unknown): { value: unknown; secret: boolean } {
  if (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE_SIG
  )
    return { value: (value as { value: unknown }).value, secret: true };
  return { value, secret: false };
}

export const ofType = (r: Recording, type: string) => r.resources.filter((x) => x.type === type);

export function one(r: Recording, type: string, name?: string): Recorded {
  const found = ofType(r, type).filter((x) => name === undefined || x.name === name);
  if (found.length !== 1)
    throw new Error(`expected one ${type}${name ? ` named ${name}` : ''}, found ${found.length}`);
  return found[0] as Recorded;
}
