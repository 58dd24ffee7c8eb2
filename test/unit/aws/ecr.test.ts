import { createHmac, randomBytes } from 'node:crypto';
import {
  BatchGetImageCommand,
  DescribeImagesCommand,
  GetAuthorizationTokenCommand,
  ImageNotFoundException,
  InvalidParameterException,
  ListImagesCommand,
  paginateDescribeImages,
  RepositoryNotFoundException,
  ServerException,
} from '@aws-sdk/client-ecr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EcrOptions, EcrStandIn, registryTokenPassword } from '../../../local/aws/ecr.js';
import { type AwsStandIn, startAwsStandIn } from '../../../local/aws/server.js';
import { type Clients, caught, clients, FakeRegistry, imageManifest, MEDIA } from './harness.js';

let registry: FakeRegistry;
let standIn: AwsStandIn;
let aws: Clients;
let v1: string;
let v2: string;
let index: string;

beforeAll(async () => {
  registry = await new FakeRegistry().start();
  v1 = registry.putImage('demo', ['1.0.0', 'stable'], [1000, 2000]);
  v2 = registry.putImage('demo', ['1.1.0', 'latest', 'candidate'], [1000, 2500], 'v2');
  registry.putImage('team/web', ['2.0.0'], [42]);
  const amd64 = registry.putManifest('multi', {
    ...imageManifest([300, 400], 'amd64'),
    mediaType: MEDIA.ociManifest,
  });
  const arm64 = registry.putManifest('multi', {
    ...imageManifest([900], 'arm64'),
    mediaType: MEDIA.ociManifest,
  });
  index = registry.putManifest(
    'multi',
    {
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [
        {
          mediaType: MEDIA.ociManifest,
          digest: amd64,
          size: 500,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: MEDIA.ociManifest,
          digest: arm64,
          size: 500,
          platform: { os: 'linux', architecture: 'arm64' },
        },
      ],
    },
    ['3.0.0'],
  );
  standIn = await startAwsStandIn({
    registry: { address: registry.address, username: registry.username, password: registry.password },
  });
  aws = clients(standIn.endpoint);
});

afterAll(async () => {
  aws?.destroy();
  await standIn?.stop();
  await registry?.close();
});

describe('DescribeImages', () => {
  it('resolves a tag to its digest, with every tag of that image', async () => {
    const pushedAt = new Date('2026-03-04T05:06:07Z');
    standIn.ecr?.recordPush('demo', v2, pushedAt);

    const result = await aws.ecr.send(
      new DescribeImagesCommand({ repositoryName: 'demo', imageIds: [{ imageTag: 'latest' }] }),
    );

    expect(result.imageDetails).toEqual([
      {
        registryId: '000000000000',
        repositoryName: 'demo',
        imageDigest: v2,
        imageTags: ['1.1.0', 'candidate', 'latest'],
        imageSizeInBytes: 3500,
        imagePushedAt: pushedAt,
        imageManifestMediaType: MEDIA.dockerManifest,
        artifactMediaType: MEDIA.dockerConfig,
      },
    ]);
    expect(registry.requests.every((request) => request.authorization?.startsWith('Basic '))).toBe(true);
  });

  it('finds images by digest, and by tag and digest together, once each', async () => {
    const result = await aws.ecr.send(
      new DescribeImagesCommand({
        repositoryName: 'demo',
        imageIds: [{ imageDigest: v1 }, { imageTag: 'stable', imageDigest: v1 }, { imageTag: '1.0.0' }],
      }),
    );

    expect(result.imageDetails?.map((image) => [image.imageDigest, image.imageTags])).toEqual([
      [v1, ['1.0.0', 'stable']],
    ]);
    expect(result.imageDetails?.[0]?.imagePushedAt).toBeInstanceOf(Date);
  });

  it('says ImageNotFoundException for a missing tag or a tag that names another digest', async () => {
    const missingTag = await caught(() =>
      aws.ecr.send(new DescribeImagesCommand({ repositoryName: 'demo', imageIds: [{ imageTag: '9.9.9' }] })),
    );
    const mismatch = await caught(() =>
      aws.ecr.send(
        new DescribeImagesCommand({
          repositoryName: 'demo',
          imageIds: [{ imageTag: 'latest', imageDigest: v1 }],
        }),
      ),
    );
    const missingDigest = await caught(() =>
      aws.ecr.send(
        new DescribeImagesCommand({
          repositoryName: 'demo',
          imageIds: [{ imageDigest: `sha256:${'0'.repeat(64)}` }],
        }),
      ),
    );

    expect(missingTag).toBeInstanceOf(ImageNotFoundException);
    expect(missingTag.message).toBe(
      "The image with imageId {imageDigest:'null', imageTag:'9.9.9'} does not exist within the repository with name 'demo' in the registry with id '000000000000'",
    );
    expect(mismatch).toBeInstanceOf(ImageNotFoundException);
    expect(missingDigest).toBeInstanceOf(ImageNotFoundException);
  });

  it('says RepositoryNotFoundException for a repository the registry does not know', async () => {
    const error = await caught(() =>
      aws.ecr.send(new DescribeImagesCommand({ repositoryName: 'nope', imageIds: [{ imageTag: 'x' }] })),
    );

    expect(error).toBeInstanceOf(RepositoryNotFoundException);
    expect(error.message).toBe(
      "The repository with name 'nope' does not exist in the registry with id '000000000000'",
    );
  });

  it('validates the repository name and the image ids', async () => {
    const upper = await caught(() => aws.ecr.send(new DescribeImagesCommand({ repositoryName: 'Demo' })));
    const emptyId = await caught(() =>
      aws.ecr.send(new DescribeImagesCommand({ repositoryName: 'demo', imageIds: [{}] })),
    );
    const badDigest = await caught(() =>
      aws.ecr.send(
        new DescribeImagesCommand({ repositoryName: 'demo', imageIds: [{ imageDigest: 'sha256:xyz' }] }),
      ),
    );
    const missing = await caught(() =>
      aws.ecr.send(new DescribeImagesCommand({ repositoryName: undefined as never })),
    );

    expect(upper).toBeInstanceOf(InvalidParameterException);
    expect(emptyId).toBeInstanceOf(InvalidParameterException);
    expect(badDigest).toBeInstanceOf(InvalidParameterException);
    expect(missing.name).toBe('ValidationException');
    expect(missing.message).toBe(
      "1 validation error detected: Value null at 'repositoryName' failed to satisfy constraint: Member must not be null",
    );
  });

  it('lists every tagged image across pages of the registry and of the API', async () => {
    const pages: string[][] = [];
    for await (const page of paginateDescribeImages(
      { client: aws.ecr, pageSize: 1 },
      { repositoryName: 'demo' },
    )) {
      pages.push((page.imageDetails ?? []).map((image) => image.imageDigest ?? ''));
    }

    expect(pages).toHaveLength(2);
    expect(pages.flat().sort()).toEqual([v1, v2].sort());
    // Five tags, two a page: the client followed the registry's Link header.
    expect(registry.requests.filter((r) => r.path === '/v2/demo/tags/list').length).toBeGreaterThanOrEqual(3);
  });

  it('sizes an image index by its largest image, and serves nested repository names', async () => {
    const multi = await aws.ecr.send(
      new DescribeImagesCommand({ repositoryName: 'multi', imageIds: [{ imageTag: '3.0.0' }] }),
    );
    const nested = await aws.ecr.send(
      new DescribeImagesCommand({ repositoryName: 'team/web', imageIds: [{ imageTag: '2.0.0' }] }),
    );

    expect(multi.imageDetails?.[0]).toMatchObject({
      imageDigest: index,
      imageManifestMediaType: MEDIA.ociIndex,
      imageSizeInBytes: 900,
    });
    expect(multi.imageDetails?.[0]?.artifactMediaType).toBeUndefined();
    expect(nested.imageDetails?.[0]).toMatchObject({ repositoryName: 'team/web', imageSizeInBytes: 42 });
  });
});

describe('ListImages and BatchGetImage', () => {
  it('lists one id per tag', async () => {
    const listed = await aws.ecr.send(new ListImagesCommand({ repositoryName: 'demo' }));

    expect(listed.imageIds).toHaveLength(5);
    expect(listed.imageIds).toContainEqual({ imageDigest: v1, imageTag: 'stable' });
  });

  it('returns manifests and per-image failures', async () => {
    const result = await aws.ecr.send(
      new BatchGetImageCommand({
        repositoryName: 'demo',
        imageIds: [{ imageTag: 'stable' }, { imageTag: 'gone' }, { imageTag: 'latest', imageDigest: v1 }],
      }),
    );

    expect(result.images).toHaveLength(1);
    expect(result.images?.[0]).toMatchObject({
      registryId: '000000000000',
      repositoryName: 'demo',
      imageId: { imageDigest: v1, imageTag: 'stable' },
      imageManifestMediaType: MEDIA.dockerManifest,
    });
    expect(JSON.parse(result.images?.[0]?.imageManifest ?? '{}')).toMatchObject({ schemaVersion: 2 });
    expect(result.failures).toEqual([
      {
        imageId: { imageTag: 'gone' },
        failureCode: 'ImageNotFound',
        failureReason: 'Requested image not found',
      },
      {
        imageId: { imageTag: 'latest', imageDigest: v1 },
        failureCode: 'ImageTagDoesNotMatchDigest',
        failureReason: 'Requested image tag does not match the requested digest',
      },
    ]);
  });
});

describe('GetAuthorizationToken', () => {
  it('hands out the registry credentials in the ECR shape', async () => {
    const before = Date.now();

    const result = await aws.ecr.send(new GetAuthorizationTokenCommand({}));

    const [data] = result.authorizationData ?? [];
    expect(Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8')).toBe('deployer:s3cret');
    expect(data?.proxyEndpoint).toBe(`http://${registry.address}`);
    const expires = data?.expiresAt?.getTime() ?? 0;
    expect(expires - before).toBeGreaterThan(11.9 * 3600_000);
    expect(expires - before).toBeLessThan(12.1 * 3600_000);
  });

  describe('with the registry gate key', () => {
    const key = randomBytes(32);

    /** A stand-in minting tokens with `key`; `run` gets its clients. */
    async function withStandIn(extra: Partial<EcrOptions>, run: (c: Clients) => Promise<void>) {
      const options: EcrOptions = {
        address: registry.address,
        username: registry.username,
        password: registry.password,
        tokenKey: key,
        ...extra,
      };
      const standInWithKey = await startAwsStandIn({ registry: options });
      const c = clients(standInWithKey.endpoint);
      try {
        await run(c);
      } finally {
        c.destroy();
        await standInWithKey.stop();
      }
    }

    const decode = (token: string | undefined) => Buffer.from(token ?? '', 'base64').toString('utf8');

    it('mints AWS:<expiresAt>.<mac> lasting 12 hours, expiresAt as in the token', async () => {
      await withStandIn({}, async (c) => {
        const before = Date.now();

        const result = await c.ecr.send(new GetAuthorizationTokenCommand({}));

        const [data] = result.authorizationData ?? [];
        const m = /^AWS:(\d+)\.([A-Za-z0-9_-]+)$/.exec(decode(data?.authorizationToken));
        expect(m).not.toBeNull();
        const expiresAt = Number(m?.[1]);
        expect(m?.[2]).toBe(createHmac('sha256', key).update(String(expiresAt)).digest('base64url'));
        expect(data?.expiresAt?.getTime()).toBe(expiresAt * 1000);
        expect(expiresAt * 1000 - before).toBeGreaterThanOrEqual(12 * 3600_000);
        expect(expiresAt * 1000 - before).toBeLessThan(12 * 3600_000 + 2000);
        expect(data?.proxyEndpoint).toBe(`http://${registry.address}`);
      });
    });

    it('mints tokens of the lifetime asked for, one per registry id', async () => {
      await withStandIn({ tokenLifetimeSeconds: 20 }, async (c) => {
        const before = Date.now();

        const result = await c.ecr.send(
          new GetAuthorizationTokenCommand({ registryIds: ['000000000000', '111122223333'] }),
        );

        expect(result.authorizationData).toHaveLength(2);
        for (const data of result.authorizationData ?? []) {
          const [, password] = decode(data.authorizationToken).split(':');
          const expiresAt = Number(password?.split('.')[0]);
          expect(password).toBe(registryTokenPassword(key, expiresAt));
          expect(data.expiresAt?.getTime()).toBe(expiresAt * 1000);
          expect(expiresAt * 1000 - before).toBeGreaterThanOrEqual(20_000);
          expect(expiresAt * 1000 - before).toBeLessThan(22_000);
        }
      });
    });

    it('signs the expiry with the key: another key or another expiry gives another MAC', () => {
      const password = registryTokenPassword(key, 1_900_000_000);

      expect(password).toMatch(/^1900000000\.[A-Za-z0-9_-]{43}$/);
      expect(registryTokenPassword(randomBytes(32), 1_900_000_000)).not.toBe(password);
      expect(registryTokenPassword(key, 1_900_000_001).split('.')[1]).not.toBe(password.split('.')[1]);
    });

    it('refuses a lifetime that is not positive', () => {
      expect(() => new EcrStandIn({ address: registry.address, tokenLifetimeSeconds: 0 })).toThrow(
        /tokenLifetimeSeconds must be positive/,
      );
    });
  });
});

describe('registry failures', () => {
  it('answers ServerException when the registry refuses the credentials', async () => {
    const wrong = await startAwsStandIn({
      registry: { address: registry.address, username: 'deployer', password: 'wrong' },
    });
    const client = clients(wrong.endpoint);
    try {
      const error = await caught(() =>
        client.ecr.send(
          new DescribeImagesCommand({ repositoryName: 'demo', imageIds: [{ imageTag: 'latest' }] }),
        ),
      );

      expect(error).toBeInstanceOf(ServerException);
      expect(error.message).toMatch(/UNAUTHORIZED/);
      expect(error.$metadata).toMatchObject({ httpStatusCode: 500 });
    } finally {
      client.destroy();
      await wrong.stop();
    }
  });
});
