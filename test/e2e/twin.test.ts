import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushedImage } from '../../local/fleet/demo-image.js';
import type { LocalRuntime } from '../../local/runtime/runtime.js';
import type { StackModel } from '../../local/twin/model.js';
import {
  alertOf,
  baseline,
  clusterImages,
  deploymentIdOf,
  finished,
  functionOf,
  release,
  runningImages,
  startRuntime,
} from './support.js';

/**
 * The local twin is the stack: what the Pulumi program declares, with least privilege enforced.
 * These tests change the model (never the code) and show what a user of the deployed stack would see.
 */

/** The model with one statement removed from a function's role: the one that grants `action` on `resource`. */
function withoutStatement(handler: string, action: string, resource: string) {
  return (model: StackModel) => {
    const fn = model.functions.find((f) => f.handler === handler);
    if (!fn) throw new Error(`no function ${handler}`);
    let removed = 0;
    for (const policy of fn.role.policies) {
      const statements = policy.document.Statement;
      policy.document.Statement = statements.filter(
        (s) => !(s.Action.includes(action) && JSON.stringify(s.Resource).includes(resource)),
      );
      removed += statements.length - policy.document.Statement.length;
    }
    if (removed !== 1)
      throw new Error(`${handler}'s role has ${removed} statements granting ${action} on ${resource}`);
  };
}

const everywhere = (image: string) =>
  Object.fromEntries(['c1', 'c2', 'c3'].map((c) => [c, { image, canary: false }]));

describe('a role without the statement its step needs', () => {
  let rt: LocalRuntime;

  beforeAll(async () => {
    rt = await startRuntime(undefined, {
      editModel: withoutStatement('promote-cluster', 'ssm:StartSession', ':managed-instance/'),
    });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('fails the deployment with the AccessDenied that names the action and resource, alerts, and leaves every cluster as it was', async () => {
    // Prepare
    const base = await baseline(rt);
    // Act: the canary is deployed (its own role is whole), then promoting it is refused.
    const rel = await release(rt, { tag: 'v8.0.0', version: '8.0.0' });
    const [execution] = await finished(rt, rel.digest);
    const rolledBack = await alertOf(rt, rel.digest, 'rolled-back');
    // Assess
    const promote = rt.model.functions.find((f) => f.handler === 'promote-cluster');
    const c1 = rt.fleet.clusters.find((c) => c.name === 'c1');
    const denial = new RegExp(
      `assumed-role/${promote?.role.name}/${promote?.name} is not authorized to perform: ssm:StartSession on resource: arn:aws:ssm:us-east-1:000000000000:managed-instance/${c1?.target}`,
    );
    expect(execution?.status).toBe('FAILED');
    expect(JSON.stringify(execution?.cause)).toMatch(/SessionRefusedError/);
    expect(JSON.stringify(execution?.cause)).toMatch(denial);
    expect(rolledBack.summary).toMatch(/AccessDeniedException/);
    expect(rolledBack.summary).toMatch(/ssm:StartSession/);
    expect(await clusterImages(rt)).toEqual(everywhere(base.digestReference));
    expect(await runningImages(rt)).toEqual({
      c1: [base.digestReference],
      c2: [base.digestReference],
      c3: [base.digestReference],
    });
    // Only that call was refused, and refused once per try: the refusal is not retried by name.
    const denied = (rt.aws.iam?.decisions ?? []).filter((d) => !d.allowed);
    expect(denied.length).toBeGreaterThan(0);
    expect(denied.length).toBeLessThanOrEqual(2);
    expect(new Set(denied.map((d) => `${d.principalArn} ${d.action}`))).toEqual(
      new Set([
        `arn:aws:sts::000000000000:assumed-role/${promote?.role.name}/${promote?.name} ssm:StartSession`,
      ]),
    );
  });
});

describe('a step that overruns its function timeout', () => {
  let rt: LocalRuntime;
  const TIMEOUT_SECONDS = 10;

  beforeAll(async () => {
    rt = await startRuntime(undefined, {
      editModel: (model) => {
        const promote = model.functions.find((f) => f.handler === 'promote-cluster');
        if (!promote) throw new Error('no promote-cluster function');
        promote.timeoutSeconds = TIMEOUT_SECONDS;
      },
    });
  });
  afterAll(async () => {
    rt.aws.faults.dropIf = undefined;
    await rt?.stop();
  });

  it('is ended before Lambda would cut it off, ends its SSM session, and the workflow rolls back', async () => {
    // Prepare: while a promote-cluster session is open, nothing the manager sends gets through,
    // so the promote hangs on its engine until the function's time is up.
    const base = await baseline(rt);
    const promote = functionOf(rt, 'promote-cluster');
    const promoteSessions = () =>
      rt.aws.gateway.listSessions().filter((s) => s.sessionId.startsWith(`${promote.name}-`));
    rt.aws.faults.dropIf = (direction) =>
      direction === 'toClient' && promoteSessions().some((s) => s.state === 'active');
    // Act
    const rel = await release(rt, { tag: 'v8.2.0', version: '8.2.0' });
    const [execution] = await finished(rt, rel.digest);
    const rolledBack = await alertOf(rt, rel.digest, 'rolled-back');
    rt.aws.faults.dropIf = undefined;
    // Assess: middy's early timeout answered (TimeoutError) inside the function's timeout, after
    // the tunnel ended its session; nothing was left open, and every cluster is as it was.
    expect(execution?.status).toBe('FAILED');
    expect(rolledBack.summary).toMatch(/TimeoutError/);
    expect(promote.stats().timeouts).toBe(0);
    const sessions = promoteSessions();
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.filter((s) => s.state !== 'terminated')).toEqual([]);
    expect(await clusterImages(rt)).toEqual(everywhere(base.digestReference));
  });
});

describe('the whole stack on its least privilege', () => {
  let rt: LocalRuntime;
  let rel: PushedImage;

  beforeAll(async () => {
    rt = await startRuntime();
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('deploys a release with every call authorized, each function as its own role, from its built bundle', async () => {
    // Prepare
    await baseline(rt);
    // Act
    rel = await release(rt, { tag: 'v8.1.0', version: '8.1.0' });
    const [execution] = await finished(rt, rel.digest);
    // Assess
    expect(execution?.status, `${execution?.error}: ${execution?.cause}`).toBe('SUCCEEDED');
    expect(await clusterImages(rt)).toEqual(everywhere(rel.digestReference));
    const decisions = rt.aws.iam?.decisions ?? [];
    expect(decisions.filter((d) => !d.allowed)).toEqual([]);
    // Every function that ran called AWS as its own role session, and nothing else did.
    const roleOf = new Map(
      rt.model.functions.map((f) => [
        `arn:aws:sts::000000000000:assumed-role/${f.role.name}/${f.name}`,
        f.handler,
      ]),
    );
    const callers = new Set(decisions.map((d) => d.principalArn));
    for (const caller of callers)
      expect(roleOf.has(caller) || caller.endsWith(':user/operator'), caller).toBe(true);
    for (const handler of ['plan', 'acquire-lock', 'deploy-canary', 'analyze', 'promote-cluster', 'complete'])
      expect([...callers].map((c) => roleOf.get(c))).toContain(handler);
  });

  it('reuses a warm environment’s clients across invocations (counted by connections)', () => {
    // Arrange: check-progress polls each change until it converges, many times in one environment.
    const fn = functionOf(rt, 'check-progress');
    const stats = fn.stats();
    const invocations = stats.invocationsPerEnvironment.reduce((a, b) => a + b, 0);
    const key = rt.functionPrincipals.get(fn.name)?.accessKeyId as string;
    // Act
    const connections = rt.aws.connectionsOf(key);
    // Assert: fewer environments than invocations (warm starts), and fewer connections than
    // invocations: each invocation makes several calls (DynamoDB, ECR, SSM), which a client
    // rebuilt per invocation would make over new connections.
    expect(stats.coldStarts).toBeLessThan(invocations);
    expect(Math.max(...stats.invocationsPerEnvironment)).toBeGreaterThanOrEqual(3);
    expect(connections).toBeGreaterThan(0);
    expect(connections).toBeLessThan(invocations);
  });

  it('refuses API calls that are unsigned, wrongly signed or not permitted, and serves a permitted one', async () => {
    // Prepare
    const id = await deploymentIdOf(rt, rel.digest);
    const path = `/deployments/${id}/approve`;
    const approver = rt.user('release-manager');
    const outsider = rt.user('outsider', [
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: '*' }] },
    ]);
    // Act
    const unsigned = await rt.callApi('POST', path, undefined);
    const forged = await rt.callApi('POST', path, { ...approver, secretAccessKey: 'not-the-secret' });
    const refused = await rt.callApi('POST', path, outsider);
    const served = await rt.callApi('POST', path, approver);
    // Assert
    expect(unsigned).toEqual({ status: 403, body: { message: 'Forbidden' } });
    expect(forged.status).toBe(403);
    expect(forged.body.message).toMatch(/signature we calculated does not match/);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(
      /^User: arn:aws:iam::000000000000:user\/outsider is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:000000000000:[a-z0-9]+\/\$default\/POST\/deployments\//,
    );
    // The function itself answers the permitted caller: this deployment has ended.
    expect(served.status).toBe(409);
    expect(served.body.message).toMatch(/ is (succeeded|rolled-back|failed): it has ended/);
  });
});
