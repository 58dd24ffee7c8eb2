import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/lib/config/errors.js';
import { servicePolicySchema } from '../../../functions/lib/config/schema.js';
import type { Config } from '../../../functions/lib/config/store.js';
import {
  deploymentId,
  type ImageCatalog,
  planDeployment,
  tagMatches,
} from '../../../functions/lib/deploy/plan.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const event = (detail: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
  version: '0',
  id: 'e-1',
  'detail-type': 'ECR Image Action',
  source: 'aws.ecr',
  account: '123456789012',
  time: '2026-11-21T10:00:00Z',
  region: 'eu-west-1',
  resources: [],
  detail: {
    result: 'SUCCESS',
    'repository-name': 'demo',
    'image-digest': DIGEST,
    'action-type': 'PUSH',
    'image-tag': 'v1.2.3',
    ...detail,
  },
  ...over,
});
const cluster = (name: string) => ({
  name,
  region: 'eu-west-1',
  target: `mi-${name}`,
  engine: { port: 2375, document: 'AWS-StartPortForwardingSession' },
  prometheus: { tunnelPort: 9090 },
  labels: {},
  minEngineVersion: '20.10.0',
});
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
const catalog = (digest: string | undefined): ImageCatalog => ({
  digestOf: async () => digest,
  registryHost: async () => '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
});
const NOW = new Date('2026-11-21T10:00:05Z');

describe('planning a deployment from an ECR event', () => {
  it('matches tags by glob, anchored regex and semver range', () => {
    expect(tagMatches({ glob: 'v*' }, 'v2')).toBe(true);
    expect(tagMatches({ glob: 'v*' }, 'nightly')).toBe(false);
    expect(tagMatches({ regex: 'release-\\d+' }, 'release-12')).toBe(true);
    expect(tagMatches({ regex: 'release-\\d+' }, 'prerelease-12-x')).toBe(false); // anchored
    expect(tagMatches({ semver: '^1.2.0' }, 'v1.4.0')).toBe(true);
    expect(tagMatches({ semver: '^1.2.0' }, '2.0.0')).toBe(false);
    expect(tagMatches({ semver: '^1.2.0' }, 'latest')).toBe(false);
  });

  it('makes execution-name-safe deployment ids of at most 80 characters', () => {
    expect(deploymentId('web', 'v1.2.3', DIGEST)).toBe('web-v1-2-3-abababababab');
    const long = deploymentId('web', `feature/${'x'.repeat(100)}`, DIGEST);
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(/^[A-Za-z0-9_-]+-abababababab$/);
  });

  it.each([
    [event({ 'action-type': 'DELETE' }), /ECR DELETE of demo@sha256:\w+: only pushes deploy/],
    [event({ result: 'FAILURE' }), /push to demo did not succeed \(result FAILURE\)/],
    [event({ 'image-tag': undefined }), /push of demo@sha256:\w+ without a tag/],
    [event({ 'repository-name': 'other' }), /no service policy deploys other:v1\.2\.3/],
    [event({ 'image-tag': 'v2.0.0' }), /no service policy deploys demo:v2\.0\.0/],
    [
      { source: 'aws.s3', 'detail-type': 'Object Created' },
      /not an ECR Image Action event \(source aws\.s3, detail-type Object Created\)/,
    ],
  ])('ignores, with the reason, what should not deploy (%#)', async (e, reason) => {
    const plan = await planDeployment(e, config(), catalog(DIGEST), NOW);
    expect(plan.outcome).toBe('ignored');
    expect(plan.reason).toMatch(reason);
  });

  it('ignores a push whose tag has moved on, or is gone', async () => {
    const other = `sha256:${'cd'.repeat(32)}`;
    expect((await planDeployment(event({}), config(), catalog(other), NOW)).reason).toBe(
      `demo:v1.2.3 has moved on from ${DIGEST} to ${other}; that push deploys it`,
    );
    expect((await planDeployment(event({}), config(), catalog(undefined), NOW)).reason).toBe(
      'demo:v1.2.3 no longer exists in the registry',
    );
  });

  it('refuses two policies that claim the same repository and tag', async () => {
    await expect(
      planDeployment(
        event({}),
        config([policy(), policy({ name: 'web2', service: 'web2' })]),
        catalog(DIGEST),
        NOW,
      ),
    ).rejects.toThrow(ConfigError);
  });

  it('plans the digest on the policy clusters, one wave by default', async () => {
    const plan = await planDeployment(event({}), config(), catalog(DIGEST), NOW);
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);
    expect(plan.deployment).toEqual({
      id: 'web-v1-2-3-abababababab',
      policy: 'web',
      service: 'web',
      repository: 'demo',
      tag: 'v1.2.3',
      digest: DIGEST,
      image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo@${DIGEST}`,
      eventId: 'e-1',
      plannedAt: NOW.toISOString(),
    });
    expect(plan.waves.map((w) => [w.name, w.clusters.map((c) => c.name)])).toEqual([['all', ['a', 'b']]]);
    expect(plan.canary).toMatchObject({ cluster: { name: 'a', target: 'mi-a' }, percent: 10 });
  });
});
