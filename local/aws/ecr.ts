import { createHmac } from 'node:crypto';
import { AwsJsonError, type AwsJsonRouter } from '../ssm/aws-json.js';
import { type Manifest, RegistryClient, RegistryError, type RegistryOptions } from './registry-client.js';
import { decodeToken, encodeToken, epochSeconds, Members } from './wire.js';

/**
 * ECR for the AWS stand-in (AWS JSON 1.1, target prefix AmazonEC2ContainerRegistry_V20150921),
 * backed by the local distribution registry: DescribeImages, BatchGetImage, ListImages and
 * GetAuthorizationToken. A repository is a registry repository name; an image is a manifest,
 * found by tag or digest, with every tag that points at it. The registry API has no push times
 * and no way to list untagged manifests: `recordPush` takes push times from the registry's
 * notifications, and a digest seen first without one gets the time the stand-in first saw it.
 * GetAuthorizationToken hands out tokens that expire (EcrOptions.tokenKey) when the registry sits
 * behind the fleet's registry gate, which refuses them once expired as ECR does.
 */

export const ECR_TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921';

const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const IMAGE_TAG = /^[\w][\w.-]{0,127}$/;
const IMAGE_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
/** Authorization tokens last 12 hours on ECR. */
const TOKEN_LIFETIME_SECONDS = 12 * 60 * 60;
const RESOLVE_CONCURRENCY = 8;

export interface EcrOptions extends RegistryOptions {
  /**
   * The HMAC key of the fleet's registry gate (the bytes of FleetStatus.registry.tokenKeyFile).
   * With it, GetAuthorizationToken hands out `AWS:<expiresAt>.<mac>`, which the gate accepts until
   * expiresAt and refuses after it, as ECR does; without it, the registry's own credentials (they
   * never expire).
   */
  tokenKey?: Buffer;
  /** How long a token lasts, in seconds (default 12 hours, as on ECR). */
  tokenLifetimeSeconds?: number;
}

/**
 * The password of an ECR token the fleet's registry gate accepts until `expiresAt` (epoch seconds):
 * `<expiresAt>.<base64url HMAC-SHA256(key, expiresAt)>` (checked in local/fleet/registry-gate.mjs).
 */
export function registryTokenPassword(key: Buffer, expiresAt: number): string {
  return `${expiresAt}.${createHmac('sha256', key).update(String(expiresAt)).digest('base64url')}`;
}

interface ImageId {
  imageTag?: string;
  imageDigest?: string;
}

interface ResolvedImage {
  manifest: Manifest;
  tags: string[];
}

export class EcrStandIn {
  readonly registry: RegistryClient;
  readonly registryAddress: string;
  private readonly username: string;
  private readonly password: string;
  private readonly tokenKey: Buffer | undefined;
  private readonly tokenLifetimeSeconds: number;
  private readonly pushes = new Map<string, Date>();

  constructor(
    options: EcrOptions,
    readonly accountId = '000000000000',
  ) {
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? TOKEN_LIFETIME_SECONDS;
    if (!(this.tokenLifetimeSeconds > 0))
      throw new Error(`tokenLifetimeSeconds must be positive, not ${options.tokenLifetimeSeconds}`);
    this.tokenKey = options.tokenKey;
    this.registry = new RegistryClient(options);
    this.registryAddress = options.address;
    this.username = options.username ?? '';
    this.password = options.password ?? '';
  }

  /** Records when a digest was pushed (from a registry notification); imagePushedAt reports it. */
  recordPush(repository: string, digest: string, at: Date = new Date()): void {
    this.pushes.set(`${repository}@${digest}`, at);
  }

  pushedAt(repository: string, digest: string): Date {
    const key = `${repository}@${digest}`;
    let at = this.pushes.get(key);
    if (at === undefined) {
      at = new Date();
      this.pushes.set(key, at);
    }
    return at;
  }

  close(): void {
    this.registry.close();
  }

  register(router: AwsJsonRouter): void {
    router.register('GetAuthorizationToken', (input) => {
      const members = new Members(input);
      const registryIds = members.list('registryIds', { min: 1, max: 10 });
      members.done();
      for (const id of registryIds ?? []) {
        if (typeof id !== 'string' || !/^\d{12}$/.test(id)) {
          throw new AwsJsonError(
            'InvalidParameterException',
            `Invalid parameter at 'registryIds' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''`,
          );
        }
      }
      // Whole seconds, at least the lifetime from now: the gate compares the token's own expiresAt.
      const expires = Math.ceil(Date.now() / 1000 + this.tokenLifetimeSeconds);
      const credentials =
        this.tokenKey === undefined
          ? `${this.username}:${this.password}`
          : `AWS:${registryTokenPassword(this.tokenKey, expires)}`;
      const token = Buffer.from(credentials).toString('base64');
      const expiresAt = epochSeconds(new Date(expires * 1000));
      return {
        authorizationData: (registryIds ?? [this.accountId]).map(() => ({
          authorizationToken: token,
          expiresAt,
          proxyEndpoint: `http://${this.registryAddress}`,
        })),
      };
    });

    router.register('DescribeImages', async (input) => {
      const members = new Members(input);
      const repository = members.string('repositoryName', { required: true, min: 2, max: 256 });
      const registryId = members.string('registryId');
      const imageIds = members.list('imageIds', { min: 1, max: 100 });
      const maxResults = members.integer('maxResults', { min: 1, max: 1000 });
      const nextToken = members.string('nextToken');
      const filter = members.structure('filter');
      members.done();
      const registry = this.checkRepository(repository, registryId);
      if (imageIds !== undefined && (maxResults !== undefined || nextToken !== undefined)) {
        throw new AwsJsonError(
          'InvalidParameterException',
          'Invalid parameter: maxResults and nextToken cannot be used together with imageIds',
        );
      }
      const tagStatus = filter?.tagStatus;
      if (tagStatus !== undefined && !['TAGGED', 'UNTAGGED', 'ANY'].includes(String(tagStatus))) {
        throw new AwsJsonError(
          'InvalidParameterException',
          `Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]'`,
        );
      }
      let images: ResolvedImage[];
      let next: string | undefined;
      if (imageIds !== undefined) {
        const ids = imageIds.map((id) => checkImageId(id));
        const index = await this.tagIndex(repository, registry);
        images = [];
        for (const id of ids) {
          const manifest = await this.find(repository, registry, id);
          if (images.some((image) => image.manifest.digest === manifest.digest)) continue;
          images.push({ manifest, tags: index.get(manifest.digest)?.tags ?? [] });
        }
      } else {
        // Untagged manifests cannot be listed through the registry API: UNTAGGED finds none.
        const all = tagStatus === 'UNTAGGED' ? [] : [...(await this.tagIndex(repository, registry)).values()];
        const start = nextToken === undefined ? 0 : offsetOf(nextToken, repository);
        const size = maxResults ?? 100;
        images = all.slice(start, start + size);
        next = start + size < all.length ? encodeToken({ offset: start + size, repository }) : undefined;
      }
      const imageDetails = await Promise.all(
        images.map(async ({ manifest, tags }) => {
          const size = await this.sizeOf(repository, manifest);
          return {
            registryId: registry,
            repositoryName: repository,
            imageDigest: manifest.digest,
            ...(tags.length === 0 ? {} : { imageTags: tags }),
            ...(size === undefined ? {} : { imageSizeInBytes: size }),
            imagePushedAt: epochSeconds(this.pushedAt(repository, manifest.digest)),
            imageManifestMediaType: manifest.mediaType,
            ...(manifest.config?.mediaType === undefined
              ? {}
              : { artifactMediaType: manifest.config.mediaType }),
          };
        }),
      );
      return { imageDetails, ...(next === undefined ? {} : { nextToken: next }) };
    });

    router.register('ListImages', async (input) => {
      const members = new Members(input);
      const repository = members.string('repositoryName', { required: true, min: 2, max: 256 });
      const registryId = members.string('registryId');
      const maxResults = members.integer('maxResults', { min: 1, max: 1000 });
      const nextToken = members.string('nextToken');
      const filter = members.structure('filter');
      members.done();
      const registry = this.checkRepository(repository, registryId);
      const ids: Array<{ imageDigest: string; imageTag: string }> = [];
      if (filter?.tagStatus !== 'UNTAGGED') {
        for (const image of (await this.tagIndex(repository, registry)).values()) {
          for (const tag of image.tags) ids.push({ imageDigest: image.manifest.digest, imageTag: tag });
        }
      }
      const start = nextToken === undefined ? 0 : offsetOf(nextToken, repository);
      const size = maxResults ?? 100;
      return {
        imageIds: ids.slice(start, start + size),
        ...(start + size < ids.length
          ? { nextToken: encodeToken({ offset: start + size, repository }) }
          : {}),
      };
    });

    router.register('BatchGetImage', async (input) => {
      const members = new Members(input);
      const repository = members.string('repositoryName', { required: true, min: 2, max: 256 });
      const registryId = members.string('registryId');
      const imageIds = members.list('imageIds', { required: true, min: 1, max: 100 }) ?? [];
      const accepted = members.list('acceptedMediaTypes', { min: 1, max: 100 });
      members.done();
      const registry = this.checkRepository(repository, registryId);
      await this.tags(repository, registry);
      const images: Record<string, unknown>[] = [];
      const failures: Record<string, unknown>[] = [];
      for (const raw of imageIds) {
        const id = (raw ?? {}) as ImageId;
        const failure = (failureCode: string, failureReason: string): void => {
          failures.push({ imageId: id, failureCode, failureReason });
        };
        if (id.imageTag === undefined && id.imageDigest === undefined) {
          failure('MissingDigestAndTag', 'Invalid request parameters: both tag and digest cannot be null');
          continue;
        }
        if (id.imageDigest !== undefined && !IMAGE_DIGEST.test(id.imageDigest)) {
          failure('InvalidImageDigest', 'Invalid image digest');
          continue;
        }
        if (id.imageTag !== undefined && !IMAGE_TAG.test(id.imageTag)) {
          failure('InvalidImageTag', 'Invalid image tag');
          continue;
        }
        let manifest: Manifest;
        try {
          manifest = await this.find(repository, registry, id);
        } catch (error) {
          if (!(error instanceof AwsJsonError) || error.type !== 'ImageNotFoundException') throw error;
          const mismatch = id.imageTag !== undefined && id.imageDigest !== undefined;
          if (mismatch && (await this.exists(repository, id.imageTag as string))) {
            failure('ImageTagDoesNotMatchDigest', 'Requested image tag does not match the requested digest');
          } else {
            failure('ImageNotFound', 'Requested image not found');
          }
          continue;
        }
        if (accepted !== undefined && !accepted.includes(manifest.mediaType)) {
          failure(
            'UnsupportedImageType',
            `Requested image has media type ${manifest.mediaType}, not an accepted one`,
          );
          continue;
        }
        images.push({
          registryId: registry,
          repositoryName: repository,
          imageId: {
            imageDigest: manifest.digest,
            ...(id.imageTag === undefined ? {} : { imageTag: id.imageTag }),
          },
          imageManifest: manifest.body,
          imageManifestMediaType: manifest.mediaType,
        });
      }
      return { images, failures };
    });
  }

  /** @returns the registry id to answer with. @throws AwsJsonError InvalidParameterException */
  private checkRepository(repository: string, registryId: string | undefined): string {
    if (registryId !== undefined && !/^\d{12}$/.test(registryId)) {
      throw new AwsJsonError(
        'InvalidParameterException',
        "Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''",
      );
    }
    if (!REPOSITORY_NAME.test(repository)) {
      throw new AwsJsonError(
        'InvalidParameterException',
        `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '${REPOSITORY_NAME.source}''`,
      );
    }
    return registryId ?? this.accountId;
  }

  /** The tags of a repository. @throws AwsJsonError RepositoryNotFoundException, ServerException */
  private async tags(repository: string, registry: string): Promise<string[]> {
    try {
      return await this.registry.tags(repository);
    } catch (error) {
      throw this.translate(error, repository, registry);
    }
  }

  /** Every tagged image of a repository, by digest, with its tags. */
  private async tagIndex(repository: string, registry: string): Promise<Map<string, ResolvedImage>> {
    const tags = await this.tags(repository, registry);
    const resolved: Array<{ tag: string; manifest: Manifest | undefined }> = [];
    for (let i = 0; i < tags.length; i += RESOLVE_CONCURRENCY) {
      const batch = tags.slice(i, i + RESOLVE_CONCURRENCY);
      resolved.push(
        ...(await Promise.all(
          batch.map(async (tag) => {
            try {
              return { tag, manifest: await this.registry.manifest(repository, tag) };
            } catch (error) {
              // A tag deleted between the list and the lookup is simply gone.
              if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN')
                return { tag, manifest: undefined };
              throw this.translate(error, repository, registry);
            }
          }),
        )),
      );
    }
    const index = new Map<string, ResolvedImage>();
    for (const { tag, manifest } of resolved) {
      if (manifest === undefined) continue;
      const image = index.get(manifest.digest) ?? { manifest, tags: [] };
      image.tags.push(tag);
      index.set(manifest.digest, image);
    }
    return index;
  }

  /**
   * The manifest an image id names (by digest, by tag, or by both, which must agree).
   * @throws AwsJsonError ImageNotFoundException, RepositoryNotFoundException, InvalidParameterException, ServerException
   */
  private async find(repository: string, registry: string, id: ImageId): Promise<Manifest> {
    const notFound = (): AwsJsonError =>
      new AwsJsonError(
        'ImageNotFoundException',
        `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} ` +
          `does not exist within the repository with name '${repository}' in the registry with id '${registry}'`,
      );
    const fetch = async (reference: string): Promise<Manifest> => {
      try {
        return await this.registry.manifest(repository, reference);
      } catch (error) {
        if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN') throw notFound();
        throw this.translate(error, repository, registry);
      }
    };
    const manifest = await fetch(id.imageDigest ?? (id.imageTag as string));
    if (id.imageDigest !== undefined && id.imageTag !== undefined) {
      const tagged = await fetch(id.imageTag);
      if (tagged.digest !== manifest.digest) throw notFound();
    }
    return manifest;
  }

  private async exists(repository: string, reference: string): Promise<boolean> {
    try {
      await this.registry.manifest(repository, reference);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * imageSizeInBytes as ECR reports it: the compressed layers of an image; for an image index or
   * manifest list, the largest of its images.
   */
  private async sizeOf(repository: string, manifest: Manifest): Promise<number | undefined> {
    if (manifest.manifests.length === 0) {
      return manifest.layers.reduce((total, layer) => total + (layer.size ?? 0), 0);
    }
    let largest: number | undefined;
    for (const entry of manifest.manifests) {
      if (entry.digest === undefined) continue;
      try {
        const child = await this.registry.manifest(repository, entry.digest);
        const size = child.layers.reduce((total, layer) => total + (layer.size ?? 0), 0);
        largest = Math.max(largest ?? 0, size);
      } catch {
        // A platform image that is not in this registry (a partial copy of an index) counts for nothing.
      }
    }
    return largest;
  }

  private translate(error: unknown, repository: string, registry: string): AwsJsonError {
    if (error instanceof AwsJsonError) return error;
    if (error instanceof RegistryError && error.code === 'NAME_UNKNOWN') {
      return new AwsJsonError(
        'RepositoryNotFoundException',
        `The repository with name '${repository}' does not exist in the registry with id '${registry}'`,
      );
    }
    if (error instanceof RegistryError && (error.code === 'NAME_INVALID' || error.code === 'TAG_INVALID')) {
      return new AwsJsonError('InvalidParameterException', error.message);
    }
    const message = error instanceof Error ? error.message : String(error);
    return new AwsJsonError('ServerException', `The stand-in could not read the registry: ${message}`, 500);
  }
}

/** @throws AwsJsonError InvalidParameterException for malformed ids (as ECR validates them). */
function checkImageId(raw: unknown): ImageId {
  const id = (raw ?? {}) as ImageId;
  if (id.imageTag === undefined && id.imageDigest === undefined) {
    throw new AwsJsonError(
      'InvalidParameterException',
      "Invalid parameter at 'imageIds' failed to satisfy constraint: 'an image id needs an imageTag or an imageDigest'",
    );
  }
  if (id.imageDigest !== undefined && !IMAGE_DIGEST.test(id.imageDigest)) {
    throw new AwsJsonError(
      'InvalidParameterException',
      `Invalid parameter at 'imageDigest' failed to satisfy constraint: 'Invalid digest format: ${id.imageDigest}'`,
    );
  }
  if (id.imageTag !== undefined && !IMAGE_TAG.test(id.imageTag)) {
    throw new AwsJsonError(
      'InvalidParameterException',
      `Invalid parameter at 'imageTag' failed to satisfy constraint: 'Invalid tag format: ${id.imageTag}'`,
    );
  }
  return id;
}

function offsetOf(token: string, repository: string): number {
  const decoded = decodeToken(token) as { offset?: unknown; repository?: unknown } | undefined;
  if (decoded === undefined || typeof decoded.offset !== 'number' || decoded.repository !== repository) {
    throw new AwsJsonError('InvalidParameterException', 'Invalid parameter: nextToken is not valid');
  }
  return decoded.offset;
}
