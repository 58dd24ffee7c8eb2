import { DescribeImagesCommand, ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { ecrCatalog } from '../../../functions/lib/aws.js';
import { ConfigError } from '../../../functions/lib/config/errors.js';
import { clusterSchema, servicePolicySchema } from '../../../functions/lib/config/schema.js';
import type { Config } from '../../../functions/lib/config/store.js';
import { InvalidEventError } from '../../../functions/lib/deploy/errors.js';
import {
  deploymentId,
  type EcrRegistry,
  type ImageCatalog,
  planDeployment,
  tagMatches,
} from '../../../functions/lib/deploy/plan.js';
import { executionName } from '../../../functions/lib/deploy/start.js';
import { EcrRegistryAuth } from '../../../functions/lib/swarm/registry-auth.js';

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
/** A catalog whose tags point at `digest` in every registry; it records the registries it was asked about. */
const catalog = (digest: string | undefined, asked: EcrRegistry[] = []): ImageCatalog => ({
  digestOf: async (registry) => {
    asked.push(registry);
    return digest;
  },
  registryHost: async (registry) => `${registry.account}.dkr.ecr.${registry.region}.amazonaws.com`,
  hasDigest: async (_registry, _repository, d) => d === digest,
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
      registry: { account: '123456789012', region: 'eu-west-1' },
      image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo@${DIGEST}`,
      eventId: 'e-1',
      plannedAt: NOW.toISOString(),
    });
    expect(plan.waves.map((w) => [w.name, w.clusters.map((c) => c.name)])).toEqual([['all', ['a', 'b']]]);
    expect(plan.canary).toMatchObject({ cluster: { name: 'a', target: 'mi-a' }, percent: 10 });
  });

  it('fails a malformed ECR Image Action with InvalidEventError naming each field, never its value', async () => {
    // prepare
    const malformed = event(
      { 'image-digest': 'sha256:NOT-A-DIGEST-secret', 'repository-name': undefined },
      { id: undefined },
    );

    // act
    const planning = planDeployment(malformed, config(), catalog(DIGEST), NOW);

    // assess
    await expect(planning).rejects.toThrow(InvalidEventError);
    const err = (await planning.catch((e: unknown) => e)) as InvalidEventError;
    expect(err).toMatchObject({ name: 'InvalidEventError', retryable: false });
    expect(err.message).toContain('id: missing');
    expect(err.message).toContain('detail.repository-name: missing');
    expect(err.message).toContain('detail.image-digest: not a sha256 digest');
    expect(err.message).not.toContain('NOT-A-DIGEST');
  });

  it('fails an ECR Image Action without its detail, and keeps ignoring events of other sources', async () => {
    const noDetail = event({}, { detail: undefined });
    await expect(planDeployment(noDetail, config(), catalog(DIGEST), NOW)).rejects.toThrow(/detail: missing/);
    const s3 = { source: 'aws.s3', 'detail-type': 'Object Created', detail: { 'image-digest': 'x' } };
    expect((await planDeployment(s3, config(), catalog(DIGEST), NOW)).outcome).toBe('ignored');
  });

  it('reports a push ECR did not complete as push-failed, naming repository, tag and result', async () => {
    const tagged = await planDeployment(event({ result: 'FAILURE' }), config(), catalog(DIGEST), NOW);
    const untagged = await planDeployment(
      event({ result: 'FAILURE', 'image-tag': undefined }),
      config(),
      catalog(DIGEST),
      NOW,
    );
    expect(tagged).toEqual({
      outcome: 'push-failed',
      reason: 'ECR push of demo:v1.2.3 did not succeed (result FAILURE)',
    });
    expect(untagged).toEqual({
      outcome: 'push-failed',
      reason: 'ECR push of demo (untagged) did not succeed (result FAILURE)',
    });
  });

  it("makes the execution's name the deployment's id", async () => {
    // prepare
    const name = executionName('demo', 'v1.2.3', DIGEST);

    // act
    const plan = await planDeployment(event({}), config(), catalog(DIGEST), NOW, { executionName: name });

    // assess
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);
    expect(plan.deployment.id).toBe(name);
  });

  it('takes the image and its digest from the registry of the account and region that pushed it', async () => {
    // prepare
    const asked: EcrRegistry[] = [];
    const pushed = event({}, { account: '111122223333', region: 'eu-west-1' });

    // act
    const plan = await planDeployment(pushed, config(), catalog(DIGEST, asked), NOW);

    // assess
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);
    expect(asked).toEqual([{ account: '111122223333', region: 'eu-west-1' }]);
    expect(plan.deployment.registry).toEqual({ account: '111122223333', region: 'eu-west-1' });
    expect(plan.deployment.image).toBe(`111122223333.dkr.ecr.eu-west-1.amazonaws.com/demo@${DIGEST}`);
  });

  it('refuses a push from a registry the policy does not list, naming its account and region', async () => {
    // prepare
    const pinned = config([policy({ registries: [{ account: '123456789012', region: 'eu-west-1' }] })]);
    const asked: EcrRegistry[] = [];

    // act
    const foreign = await planDeployment(
      event({}, { account: '111122223333', region: 'us-east-2' }),
      pinned,
      catalog(DIGEST, asked),
      NOW,
    );
    const listed = await planDeployment(event({}), pinned, catalog(DIGEST), NOW);

    // assess
    expect(foreign.outcome).toBe('ignored');
    expect(foreign.reason).toMatch(/account 111122223333 in us-east-2/);
    expect(asked).toEqual([]);
    expect(listed.outcome).toBe('deploy');
  });

  it('validates the registries a policy lists', () => {
    const bad = servicePolicySchema.safeParse({
      ...policy(),
      tags: { semver: '^1.0.0' },
      registries: [{ account: '1234', region: 'Europe' }],
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual([
      'registries.0.account',
      'registries.0.region',
    ]);
  });
});

describe('planning against ECR in the account and region of the push', () => {
  it('looks the digest up and asks for credentials in that registry, with a client of its region', async () => {
    // prepare: the deployer runs in us-east-1; the image was pushed to 111122223333 in eu-west-1
    const ecrMock = mockClient(ECRClient);
    ecrMock.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST }] });
    ecrMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        {
          authorizationToken: Buffer.from('AWS:t').toString('base64'),
          proxyEndpoint: 'https://111122223333.dkr.ecr.eu-west-1.amazonaws.com',
        },
      ],
    });
    const built = new Map<string, ECRClient[]>();
    const ecrFor = (region: string) => {
      const client = new ECRClient({ region });
      built.set(region, [...(built.get(region) ?? []), client]);
      return client;
    };
    const auth = new EcrRegistryAuth(ecrFor, 'us-east-1');
    const pushed = event({}, { account: '111122223333', region: 'eu-west-1' });

    try {
      // act
      const plan = await planDeployment(pushed, config(), ecrCatalog(ecrFor, auth), NOW);
      await planDeployment(pushed, config(), ecrCatalog(ecrFor, auth), NOW);

      // assess
      if (plan.outcome !== 'deploy') throw new Error(plan.reason);
      expect(plan.deployment.image).toBe(`111122223333.dkr.ecr.eu-west-1.amazonaws.com/demo@${DIGEST}`);
      const lookups = ecrMock.commandCalls(DescribeImagesCommand);
      expect(lookups[0]?.args[0].input).toEqual({
        registryId: '111122223333',
        repositoryName: 'demo',
        imageIds: [{ imageTag: 'v1.2.3' }],
      });
      const token = ecrMock.commandCalls(GetAuthorizationTokenCommand);
      expect(token).toHaveLength(1); // cached for the second plan
      expect(token[0]?.args[0].input).toEqual({ registryIds: ['111122223333'] });
      expect([...built.keys()]).toEqual(['eu-west-1']);
      const clients = built.get('eu-west-1') ?? [];
      expect(clients).toContain(lookups[0]?.thisValue);
      expect(clients).toContain(token[0]?.thisValue);
      expect(await (clients[0] as ECRClient).config.region()).toBe('eu-west-1');
    } finally {
      ecrMock.restore();
    }
  });
});

describe('planning what a service needs besides its image', () => {
  const withSpec = (over: Record<string, unknown> = {}) =>
    policy({
      spec: {
        env: { A: '1' },
        secrets: [
          { name: 'db-password', source: { parameter: '/app/db' } },
          { name: 'token', source: { secretsManager: 'app/token' } },
        ],
        configs: [
          { name: 'app.conf', source: { inline: 'x=1' } },
          { name: 'flags', source: { parameter: '/app/flags' } },
        ],
      },
      rollbackConfig: { parallelism: 2 },
      ...over,
    });
  const versions: Record<string, string> = { '/app/db': '7', 'app/token': 'v-uuid-1', '/app/flags': '2' };
  const sources = {
    versionOf: async (ref: { parameter: string } | { secretsManager: string }) => {
      const key = 'parameter' in ref ? ref.parameter : ref.secretsManager;
      const v = versions[key];
      if (v === undefined)
        throw Object.assign(new Error(`${key} does not exist`), { name: 'SecretNotFoundError' });
      return v;
    },
  };

  it('pins every secret and config source to its current version, and carries no value', async () => {
    // Act
    const plan = await planDeployment(event({}), config([withSpec()]), catalog(DIGEST), NOW, { sources });
    // Assess
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);
    expect(plan.deployment.spec).toEqual({
      env: { A: '1' },
      secrets: [
        {
          name: 'db-password',
          source: { parameter: '/app/db', version: '7' },
          uid: '0',
          gid: '0',
          mode: 0o444,
        },
        {
          name: 'token',
          source: { secretsManager: 'app/token', version: 'v-uuid-1' },
          uid: '0',
          gid: '0',
          mode: 0o444,
        },
      ],
      configs: [
        { name: 'app.conf', source: { inline: 'x=1' }, uid: '0', gid: '0', mode: 0o444 },
        { name: 'flags', source: { parameter: '/app/flags', version: '2' }, uid: '0', gid: '0', mode: 0o444 },
      ],
    });
    expect(plan.deployment.rollbackConfig).toMatchObject({ parallelism: 2, order: 'stop-first' });
  });

  it('refuses a source that does not exist, naming the policy field and the source', async () => {
    // Prepare
    const missing = withSpec({
      spec: { secrets: [{ name: 'gone', source: { parameter: '/app/gone' } }] },
    });
    // Act / Assess
    await expect(
      planDeployment(event({}), config([missing]), catalog(DIGEST), NOW, { sources }),
    ).rejects.toMatchObject({
      name: 'SecretSourceError',
      message: 'policy "web" spec.secrets[0].source (gone): /app/gone does not exist',
    });
  });

  it('lets a source that did not answer be retried (SecretUnavailableError passes through)', async () => {
    const flaky = {
      versionOf: async () => {
        throw Object.assign(new Error('throttled'), { name: 'SecretUnavailableError' });
      },
    };
    await expect(
      planDeployment(event({}), config([withSpec()]), catalog(DIGEST), NOW, { sources: flaky }),
    ).rejects.toMatchObject({ name: 'SecretUnavailableError' });
  });

  it("raises each cluster's minimum engine version to the policy's when that is later", async () => {
    const plan = await planDeployment(
      event({}),
      config([policy({ minEngineVersion: '24.0' })]),
      catalog(DIGEST),
      NOW,
    );
    if (plan.outcome !== 'deploy') throw new Error(plan.reason);
    expect(plan.clusters.map((c) => c.minEngineVersion)).toEqual(['24.0', '24.0']);
    const older = await planDeployment(
      event({}),
      config([policy({ minEngineVersion: '19.3' })]),
      catalog(DIGEST),
      NOW,
    );
    if (older.outcome !== 'deploy') throw new Error(older.reason);
    expect(older.clusters.map((c) => c.minEngineVersion)).toEqual(['20.10.0', '20.10.0']);
  });
});
