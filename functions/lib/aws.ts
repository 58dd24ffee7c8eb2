import { DescribeImagesCommand, type ECRClient } from '@aws-sdk/client-ecr';
import type { ImageCatalog } from './deploy/plan.js';
import { DeployerError } from './errors.js';
import type { EcrRegistryAuth } from './swarm/registry-auth.js';

export class RegistryLookupError extends DeployerError {
  override readonly name = 'RegistryLookupError';
  readonly retryable = true;
}

/**
 * A factory that builds one client per region on first use and hands out the same one after
 * (clients hold connection pools and credential caches: build few, build late).
 */
export function perRegion<T>(build: (region: string) => T): (region: string) => T {
  const clients = new Map<string, T>();
  return (region) => {
    let client = clients.get(region);
    if (client === undefined) {
      client = build(region);
      clients.set(region, client);
    }
    return client;
  };
}

/**
 * ECR as the plan's image catalog: the digest a tag points to (DescribeImages in the registry's
 * account, with an ECR client of its region) and the registry's host (from `auth`).
 * @param ecrFor builds the ECR client of a region (called once per region)
 */
export function ecrCatalog(
  ecrFor: (region: string) => ECRClient,
  auth: Pick<EcrRegistryAuth, 'registryHost'>,
): ImageCatalog {
  const ecr = perRegion(ecrFor);
  return {
    /** @throws RegistryLookupError */
    async digestOf(registry, repository, tag, signal) {
      try {
        const out = await ecr(registry.region).send(
          new DescribeImagesCommand({
            registryId: registry.account,
            repositoryName: repository,
            imageIds: [{ imageTag: tag }],
          }),
          { abortSignal: signal },
        );
        return out.imageDetails?.[0]?.imageDigest;
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'ImageNotFoundException' || name === 'RepositoryNotFoundException') return undefined;
        throw new RegistryLookupError(
          `ECR DescribeImages ${repository}:${tag} in ${registry.account} (${registry.region}) failed: ${name}`,
          { cause: err },
        );
      }
    },
    /** @throws RegistryLookupError */
    async hasDigest(registry, repository, digest, signal) {
      try {
        const out = await ecr(registry.region).send(
          new DescribeImagesCommand({
            registryId: registry.account,
            repositoryName: repository,
            imageIds: [{ imageDigest: digest }],
          }),
          { abortSignal: signal },
        );
        return (out.imageDetails ?? []).some((i) => i.imageDigest === digest);
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'ImageNotFoundException' || name === 'RepositoryNotFoundException') return false;
        throw new RegistryLookupError(
          `ECR DescribeImages ${repository}@${digest} in ${registry.account} (${registry.region}) failed: ${name}`,
          { cause: err },
        );
      }
    },
    registryHost: (registry, signal) => auth.registryHost(registry, signal),
  };
}
