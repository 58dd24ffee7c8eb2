/**
 * Child process of loadStackModel (model.ts): reads { stack, region, account, config } on stdin,
 * runs infra/index.ts under Pulumi's mocks, and prints the StackModel after a `@@model ` marker.
 */
import { basename } from 'node:path';
import type { PolicyDocument } from '../../infra/permissions.js';
import type { ModelRole, StackModel } from './model.js';
import {
  installMocks,
  ofType as ofTypeIn,
  one,
  type Recorded,
  type Recording,
  settle,
  unwrap,
} from './pulumi-mocks.js';

const input = JSON.parse(await new Response(process.stdin as unknown as ReadableStream).text()) as {
  stack: string;
  region: string;
  account: string;
  config: Record<string, unknown>;
};

const recording: Recording = installMocks(
  { stack: input.stack, region: input.region, account: input.account, apiId: 'local0api1', ami: 'ami-local' },
  { 'aws:region': input.region, ...input.config },
);
await import('../../infra/index.js');
await settle(recording, 200);

const ofType = (type: string) => ofTypeIn(recording, type);
const single = (type: string): Recorded => one(recording, type);
const plain = (v: unknown) => unwrap(v).value;

const roles = new Map<string, ModelRole>();
for (const r of ofType('aws:iam/role:Role'))
  roles.set(r.id, { name: r.id, arn: String(r.state.arn), policies: [] });
for (const p of ofType('aws:iam/rolePolicy:RolePolicy')) {
  const role = roles.get(String(p.inputs.role));
  if (!role) throw new Error(`policy ${p.name} is attached to an unknown role ${p.inputs.role}`);
  role.policies.push({ name: p.name, document: JSON.parse(String(p.inputs.policy)) as PolicyDocument });
}
const roleByArn = (arn: string): ModelRole => {
  const role = [...roles.values()].find((r) => r.arn === arn);
  if (!role) throw new Error(`no role ${arn} in the program`);
  return role;
};

const functions = await Promise.all(
  ofType('aws:lambda/function:Function').map(async (f) => {
    const codeDir = String(await f.inputs.code.path);
    return {
      handler: basename(codeDir),
      name: String(f.state.name),
      arn: String(f.state.arn),
      codeDir,
      entry: String(f.inputs.handler),
      runtime: String(f.inputs.runtime),
      architectures: (f.inputs.architectures as string[] | undefined) ?? ['x86_64'],
      timeoutSeconds: Number(f.inputs.timeout ?? 3),
      memoryMb: Number(f.inputs.memorySize ?? 128),
      environment: Object.fromEntries(
        Object.entries((f.inputs.environment?.variables ?? {}) as Record<string, unknown>).map(([k, v]) => [
          k,
          String(plain(v)),
        ]),
      ),
      role: roleByArn(String(f.inputs.role)),
    };
  }),
);

const sm = single('aws:sfn/stateMachine:StateMachine');
// A rule has an event pattern, a schedule expression, or both (PutRule needs one of them).
const rulesByName = new Map(
  ofType('aws:cloudwatch/eventRule:EventRule').map((r): [string, StackModel['rules'][number]] => {
    const name = String(r.state.name);
    const { eventPattern, scheduleExpression } = r.inputs as {
      eventPattern?: unknown;
      scheduleExpression?: unknown;
    };
    if (eventPattern == null && scheduleExpression == null)
      throw new Error(`rule ${r.name} has neither an event pattern nor a schedule expression`);
    return [
      name,
      {
        name,
        ...(eventPattern == null
          ? {}
          : { pattern: JSON.parse(String(eventPattern)) as Record<string, unknown> }),
        ...(scheduleExpression == null ? {} : { schedule: String(scheduleExpression) }),
        targets: [],
      },
    ];
  }),
);
for (const t of ofType('aws:cloudwatch/eventTarget:EventTarget')) {
  const rule = rulesByName.get(String(t.inputs.rule));
  if (!rule) throw new Error(`target ${t.name} of an unknown rule ${t.inputs.rule}`);
  rule.targets.push({
    arn: String(t.inputs.arn),
    ...(t.inputs.retryPolicy ? { retryPolicy: t.inputs.retryPolicy } : {}),
    ...(t.inputs.deadLetterConfig?.arn ? { deadLetterArn: String(t.inputs.deadLetterConfig.arn) } : {}),
  });
}

const api = single('aws:apigatewayv2/api:Api');
const integrations = new Map(
  ofType('aws:apigatewayv2/integration:Integration').map((i) => [i.id, String(i.inputs.integrationUri)]),
);
const routes = ofType('aws:apigatewayv2/route:Route').map((r) => {
  const integrationId = String(r.inputs.target ?? '').replace(/^integrations\//, '');
  const uri = integrations.get(integrationId);
  if (!uri) throw new Error(`route ${r.inputs.routeKey} has no integration`);
  const fn = functions.find((f) => f.arn === uri || uri.includes(`/functions/${f.arn}/`));
  if (!fn)
    throw new Error(`route ${r.inputs.routeKey} integrates ${uri}, which is no function of the program`);
  return {
    routeKey: String(r.inputs.routeKey),
    authorizationType: String(r.inputs.authorizationType ?? 'NONE'),
    functionArn: fn.arn,
  };
});
const approver = ofType('aws:iam/role:Role').find((r) => r.name === 'api-approver');
const stage = single('aws:apigatewayv2/stage:Stage');
const topic = single('aws:sns/topic:Topic');
const table = single('aws:dynamodb/table:Table');
const dlq = ofType('aws:sqs/queue:Queue')[0];
// Lambda takes a function's name or its ARN in a permission; the model keeps the name.
const permissionsDoc = ofType('aws:lambda/permission:Permission').map((p) => ({
  functionName: String(p.inputs.function).replace(/^arn:[^:]+:lambda:[^:]+:\d+:function:/, ''),
  principal: String(p.inputs.principal),
  action: String(p.inputs.action),
  ...(p.inputs.sourceArn ? { sourceArn: String(p.inputs.sourceArn) } : {}),
}));

// The instance tag is stack config (default as infra/config.ts gives it).
const tagConfig = input.config.instanceTag as { key: string; value: string } | undefined;

const model: StackModel = {
  region: input.region,
  account: input.account,
  functions,
  stateMachine: {
    name: String(sm.state.name),
    arn: String(sm.state.arn),
    definition: String(sm.inputs.definition),
    role: roleByArn(String(sm.inputs.roleArn)),
  },
  rules: [...rulesByName.values()],
  permissions: permissionsDoc,
  api: {
    id: api.id,
    stage: String(stage.inputs.name ?? '$default'),
    routes,
    ...(approver ? { approverRole: roles.get(approver.id) as ModelRole } : {}),
  },
  topic: { name: String(topic.state.name), arn: String(topic.state.arn) },
  table: {
    name: String(table.state.name),
    arn: String(table.state.arn),
    hashKey: String(table.inputs.hashKey),
    attributes: ((table.inputs.attributes ?? []) as Array<{ name: string; type: string }>).map((a) => ({
      name: String(a.name),
      type: String(a.type),
    })),
    ...(table.inputs.rangeKey ? { rangeKey: String(table.inputs.rangeKey) } : {}),
    ...(table.inputs.ttl?.enabled ? { ttlAttribute: String(table.inputs.ttl.attributeName) } : {}),
  },
  parameters: ofType('aws:ssm/parameter:Parameter').map((p) => ({
    name: String(p.inputs.name),
    type: String(p.inputs.type),
    tier: String(p.inputs.tier ?? 'Standard'),
    // `insecureValue` for plain configuration, `value` (a secret) for TLS material.
    value: String(p.inputs.insecureValue ?? plain(p.inputs.value)),
  })),
  ...(dlq ? { deadLetterQueue: { name: String(dlq.state.name), arn: String(dlq.state.arn) } } : {}),
  instanceTag: tagConfig ?? { key: 'swarm-deployer', value: 'manager' },
};
process.stdout.write(`\n@@model ${JSON.stringify(model)}\n`);
// Pulumi's runtime keeps handles open; the model is out.
process.exit(0);
