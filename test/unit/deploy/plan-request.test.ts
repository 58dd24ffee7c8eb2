import { describe, expect, it } from 'vitest';
import { clusterSchema, servicePolicySchema } from '../../../functions/lib/config/schema.js';
import type { Config } from '../../../functions/lib/config/store.js';
import { InvalidEventError } from '../../../functions/lib/deploy/errors.js';
import { type ImageCatalog, planDeployment } from '../../../functions/lib/deploy/plan.js';
import { OPERATOR_SOURCE, type OperatorRequest } from '../../../functions/lib/deploy/request.js';

/**
 * Plan of an operator's request (undo, retry, apply) as the API starts it: the digest it names,
 * under the policy as the configuration holds it now.
 */

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REGISTRY = { account: '123456789012', region: 'eu-west-1' };
const ALICE = 'arn:aws:iam::123456789012:user/alice';
const NOW = new Date('2026-11-21T10:00:05Z');

const request = (
  trigger: OperatorRequest['detail']['trigger'],
  over: Partial<OperatorRequest['detail']> = {},
): OperatorRequest => ({
  source: OPERATOR_SOURCE,
  'detail-type': 'Redeploy Requested',
  id: `${trigger}-web-abababababab-0badcafe`,
  time: '2026-11-21T10:00:00Z',
  detail: {
    trigger,
    policy: 'web',
    repository: 'demo',
    tag: 'v1.2.3',
    digest: DIGEST,
    registry: REGISTRY,
    of: 'web-v1-2-3-abababababab',
    requestedBy: ALICE,
    ...over,
  },
});
const cluster = (name: string) =>
  clusterSchema.parse({ name, region: 'eu-west-1', target: `mi-${name}`, prometheus: { tunnelPort: 9090 } });
const policy = (over: Record<string, unknown> = {}) =>
  servicePolicySchema.parse({
    name: 'web',
    service: 'web',
    repository: 'demo',
    tags: { semver: '^1.0.0' },
    clusters: ['a', 'b'],
    canary: { cluster: 'a', percent: 10 },
    analysis: { metrics: [{ template: 'success-rate' }] },
    ...over,
  });
const config = (policies = [policy()]): Config => ({
  clusters: new Map(['a', 'b'].map((n) => [n, cluster(n)])),
  policies,
});
/** A registry that holds `held` digests only; a tag lookup is a mistake for an operator's request. */
const catalog = (held: string[] = [DIGEST]): ImageCatalog => ({
  digestOf: async () => {
    throw new Error('an operator request does not look its tag up');
  },
  registryHost: async (r) => `${r.account}.dkr.ecr.${r.region}.amazonaws.com`,
  hasDigest: async (_registry, _repository, d) => held.includes(d),
});

describe("planning an operator's apply", () => {
  it('plans the same digest under the current policy, with trigger apply, the deployment it follows and who asked', async () => {
    // prepare: the policy changed since that digest was deployed (its canary, here)
    const current = config([policy({ canary: { cluster: 'b', percent: 25 } })]);
    const apply = request('apply', { reason: 'new DATABASE_URL' });

    // act
    const plan = await planDeployment(apply, current, catalog(), NOW, { executionName: apply.id });

    // assess
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);
    expect(plan.deployment).toMatchObject({
      id: apply.id,
      policy: 'web',
      service: 'web',
      repository: 'demo',
      tag: 'v1.2.3',
      digest: DIGEST,
      registry: REGISTRY,
      image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo@${DIGEST}`,
      eventId: apply.id,
      trigger: 'apply',
      of: 'web-v1-2-3-abababababab',
      requestedBy: ALICE,
      reason: 'new DATABASE_URL',
    });
    expect(plan.canary).toMatchObject({ cluster: { name: 'b' }, percent: 25 });
    expect(plan.reason).toBe(
      `apply requested by ${ALICE}: the spec of policy "web" applied to demo@${DIGEST}, the digest of web-v1-2-3-abababababab`,
    );
  });

  it('makes the same checks as a retry: the policy, its repository, the digest in the registry', async () => {
    // prepare
    const moved = config([policy({ repository: 'demo-next' })]);

    // act
    const gone = await planDeployment(request('apply'), config([policy({ name: 'api' })]), catalog(), NOW);
    const elsewhere = await planDeployment(request('apply'), moved, catalog(), NOW);
    const deleted = await planDeployment(request('apply'), config(), catalog([]), NOW);

    // assess
    expect(gone).toEqual({ outcome: 'ignored', reason: 'apply: policy "web" no longer exists' });
    expect(elsewhere).toEqual({
      outcome: 'ignored',
      reason: 'apply: policy "web" now deploys demo-next, not demo',
    });
    expect(deleted).toEqual({
      outcome: 'ignored',
      reason: `apply: demo@${DIGEST} is no longer in the registry`,
    });
  });

  it('keeps the reason of an undo or a retry as it was, and refuses a trigger it does not know', async () => {
    // prepare
    const unknown = { ...request('apply'), detail: { ...request('apply').detail, trigger: 'rewind' } };

    // act
    const retry = await planDeployment(request('retry'), config(), catalog(), NOW);
    const error = await planDeployment(unknown, config(), catalog(), NOW).catch((e: unknown) => e);

    // assess
    expect(retry).toMatchObject({
      outcome: 'deploy',
      reason: `retry of web-v1-2-3-abababababab requested by ${ALICE}: demo@${DIGEST} (policy "web")`,
      deployment: { trigger: 'retry', digest: DIGEST },
    });
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toMatch(/^malformed operator request: detail\.trigger: /);
  });
});
