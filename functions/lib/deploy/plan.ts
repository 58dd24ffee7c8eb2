import { minimatch } from 'minimatch';
import semver from 'semver';
import type { AnalysisPolicy } from '../analysis/index.js';
import { ConfigError } from '../config/errors.js';
import type { ClusterConfig, ServicePolicy } from '../config/schema.js';
import type {
  ContentSource,
  ServiceConfigFile,
  ServiceSecret,
  ServiceSpecPolicy,
} from '../config/service-spec.js';
import { type Config, invalidPolicyFor } from '../config/store.js';
import type { ContentReader } from '../secrets/source.js';
import type { EcrRegistry } from '../swarm/registry-auth.js';
import type { UpdatePolicy } from '../swarm/types.js';
import { laterVersion } from '../swarm/version.js';
import { InvalidEventError, SecretSourceError } from './errors.js';
import { type ParsedEvent, parseEvent } from './event.js';
import { claimsOperatorRequest, operatorRequestSchema } from './request.js';

export type { EcrRegistry } from '../swarm/registry-auth.js';

/**
 * What the plan needs from the registry an image was pushed to (the event's account and region):
 * the digest a tag points to now, and the registry's host.
 */
export interface ImageCatalog {
  digestOf(
    registry: EcrRegistry,
    repository: string,
    tag: string,
    signal?: AbortSignal,
  ): Promise<string | undefined>;
  registryHost(registry: EcrRegistry, signal?: AbortSignal): Promise<string>;
  /** True when the repository still holds an image of that digest (undo and retry deploy digests). */
  hasDigest(
    registry: EcrRegistry,
    repository: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<boolean>;
}

export interface PlanOptions {
  /** The execution's name: the deployment's id (without one, deploymentId() makes one). */
  executionName?: string;
  /** Where the versions of the policy's secret and config sources are looked up (pinned in the plan). */
  sources?: Pick<ContentReader, 'versionOf'>;
}

export interface PlannedCluster {
  name: string;
  region: string;
  target: string;
  engine: ClusterConfig['engine'];
  prometheus: ClusterConfig['prometheus'];
  minEngineVersion: string;
  /** How long a step keeps retrying an unreachable manager before giving it up (seconds). */
  unreachableSeconds?: number;
}

export interface Wave {
  name: string;
  clusters: PlannedCluster[];
  bakeSeconds: number;
  maxFailures: number;
}

export interface Deployment {
  id: string;
  policy: string;
  service: string;
  repository: string;
  tag: string;
  digest: string;
  /**
   * The ECR registry the image was pushed to: its account and region. Every plan sets it; only
   * payloads of plans made before it was recorded lack it.
   */
  registry?: EcrRegistry;
  /** registry/repository@digest: deploy digests, never tags. */
  image: string;
  eventId: string;
  plannedAt: string;
  /** Why it deploys: a push (absent), an operator's undo or retry, or a policy's spec applied. */
  trigger?: 'push' | 'undo' | 'retry' | 'apply';
  /** For undo and retry: the deployment whose digest this one restores or redeploys. */
  of?: string;
  /** For undo and retry: the caller's IAM ARN. */
  requestedBy?: string;
  reason?: string;
  /**
   * What the service needs besides its image (the policy's `spec`), with every secret and config
   * source pinned to the version the plan saw, so that every cluster gets the same content; absent
   * when the policy declares none. Never holds a value read from a secret.
   */
  spec?: DeploymentSpec;
  /** Swarm's rollback_config from the policy (default: the update policy). */
  rollbackConfig?: UpdatePolicy;
}

/** A source pinned to one version: a parameter's version number, or a Secrets Manager VersionId. */
export type PinnedSource = ContentSource & { version: string };

/** The policy's desired spec as a deployment carries it: sources pinned, no values. */
export type DeploymentSpec = Omit<ServiceSpecPolicy, 'secrets' | 'configs'> & {
  secrets?: Array<Omit<ServiceSecret, 'source'> & { source: PinnedSource }>;
  configs?: Array<Omit<ServiceConfigFile, 'source'> & { source: PinnedSource | { inline: string } }>;
};

export type Plan =
  | { outcome: 'ignored'; reason: string }
  /** ECR reported the push as not successful: nothing to deploy, but not an event to ignore silently. */
  | { outcome: 'push-failed'; reason: string }
  | {
      outcome: 'deploy';
      reason: string;
      deployment: Deployment;
      clusters: PlannedCluster[];
      canary: { cluster: PlannedCluster; percent: number };
      waves: Wave[];
      analysis: AnalysisPolicy;
      promotion: ServicePolicy['promotion'];
      concurrency: ServicePolicy['concurrency'];
      update: UpdatePolicy;
      timing: { pollSeconds: number; progressDeadlineSeconds: number; maxConcurrency: number };
    };

/** True when a tag matches a policy's pattern (glob, anchored regex, or semver range on "v1.2.3"/"1.2.3"). */
export function tagMatches(pattern: ServicePolicy['tags'], tag: string): boolean {
  if ('glob' in pattern) return minimatch(tag, pattern.glob);
  if ('regex' in pattern) return new RegExp(`^(?:${pattern.regex})$`).test(tag);
  const version = semver.clean(tag);
  return version !== null && semver.satisfies(version, pattern.semver);
}

/**
 * A deployment id for plans made without an execution name (tests, tools): execution-name-safe,
 * 1-80 chars of [A-Za-z0-9-_] (no ':' from the digest). Executions use their name instead.
 */
export function deploymentId(policy: string, tag: string, digest: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '-');
  const short = digest.replace(/^sha256:/, '').slice(0, 12);
  const head = `${safe(policy)}-${safe(tag)}`.slice(0, 80 - short.length - 1);
  return `${head}-${short}`;
}

/** A cluster of the configuration as a plan carries it. */
export const planned = (c: ClusterConfig): PlannedCluster => ({
  name: c.name,
  region: c.region,
  target: c.target,
  engine: c.engine,
  prometheus: c.prometheus,
  minEngineVersion: c.minEngineVersion,
  unreachableSeconds: c.unreachableSeconds,
});

/**
 * Turns an event into a plan: which policy, which digest (verified against the registry the image
 * was pushed to), which clusters in which waves, under the execution's name as the deployment's
 * id. Anything that should not deploy is an "ignored" outcome with the reason (also a push from a
 * registry the policy does not list); a push ECR reports as failed is "push-failed".
 * @throws InvalidEventError when an ECR Image Action event does not have ECR's shape (each field named)
 * @throws ConfigError when two policies claim the same repository and tag, or when no valid policy deploys a push that a malformed policy may be meant for (its parameters and fields named)
 * @throws RegistryLookupError, RegistryAuthError from the catalog
 */
export async function planDeployment(
  event: unknown,
  config: Config,
  catalog: ImageCatalog,
  now: Date,
  options: PlanOptions = {},
  signal?: AbortSignal,
): Promise<Plan> {
  if (claimsOperatorRequest(event)) return planRequest(event, config, catalog, now, options, signal);
  const parsed: ParsedEvent = parseEvent(event);
  if (parsed.kind === 'invalid')
    throw new InvalidEventError(`malformed ECR Image Action event: ${parsed.problems.join('; ')}`);
  if (parsed.kind === 'ignored') return { outcome: 'ignored', reason: parsed.reason };
  if (parsed.kind === 'push-failed') return { outcome: 'push-failed', reason: parsed.reason };
  const { repository, tag, digest } = parsed;
  const registry: EcrRegistry = { account: parsed.account, region: parsed.region };
  const matching = config.policies.filter((p) => p.repository === repository && tagMatches(p.tags, tag));
  if (matching.length === 0) {
    // A malformed policy that may be meant for this push blocks it, loudly, naming what is wrong.
    const broken = invalidPolicyFor(config, repository);
    if (broken.length > 0)
      throw new ConfigError(
        `${repository}:${tag} matches no valid service policy, and ${broken.length} policy parameter(s) that may deploy it are invalid: ${broken.map((b) => `${b.parameter}: ${b.message}`).join('; ')}`,
      );
    return { outcome: 'ignored', reason: `no service policy deploys ${repository}:${tag}` };
  }
  if (matching.length > 1) {
    throw new ConfigError(
      `policies ${matching.map((p) => `"${p.name}"`).join(' and ')} both deploy ${repository}:${tag}; a repository and tag must map to one policy`,
    );
  }
  const policy = matching[0] as ServicePolicy;
  if (
    policy.registries &&
    !policy.registries.some((r) => r.account === registry.account && r.region === registry.region)
  ) {
    return {
      outcome: 'ignored',
      reason: `policy "${policy.name}" does not deploy images from the registry of account ${registry.account} in ${registry.region} (it lists ${policy.registries.map((r) => `${r.account} in ${r.region}`).join(', ')})`,
    };
  }
  const current = await catalog.digestOf(registry, repository, tag, signal);
  if (current === undefined) {
    return { outcome: 'ignored', reason: `${repository}:${tag} no longer exists in the registry` };
  }
  if (current !== digest) {
    return {
      outcome: 'ignored',
      reason: `${repository}:${tag} has moved on from ${digest} to ${current}; that push deploys it`,
    };
  }
  return deployPlan(
    policy,
    { repository, tag, digest, registry, eventId: parsed.eventId },
    config,
    catalog,
    now,
    options,
    signal,
  );
}

/**
 * An operator's undo, retry or apply: the policy it names must still deploy the repository and the
 * registry must still hold the digest; the tag does not have to point to it (that is the point of
 * an undo). An apply plans the digest the service already runs under the policy as it is now, so
 * that a change of its spec alone goes through the workflow. Anything else is "ignored" with the
 * reason (the API checked the same before starting).
 * @throws InvalidEventError naming the fields that are wrong
 */
async function planRequest(
  event: unknown,
  config: Config,
  catalog: ImageCatalog,
  now: Date,
  options: PlanOptions,
  signal?: AbortSignal,
): Promise<Plan> {
  const parsed = operatorRequestSchema.safeParse(event);
  if (!parsed.success)
    throw new InvalidEventError(
      `malformed operator request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`,
    );
  const r = parsed.data.detail;
  const policy = config.policies.find((p) => p.name === r.policy);
  if (!policy) return { outcome: 'ignored', reason: `${r.trigger}: policy "${r.policy}" no longer exists` };
  if (policy.repository !== r.repository)
    return {
      outcome: 'ignored',
      reason: `${r.trigger}: policy "${policy.name}" now deploys ${policy.repository}, not ${r.repository}`,
    };
  if (!(await catalog.hasDigest(r.registry, r.repository, r.digest, signal)))
    return {
      outcome: 'ignored',
      reason: `${r.trigger}: ${r.repository}@${r.digest} is no longer in the registry`,
    };
  const plan = await deployPlan(
    policy,
    { repository: r.repository, tag: r.tag, digest: r.digest, registry: r.registry, eventId: parsed.data.id },
    config,
    catalog,
    now,
    options,
    signal,
  );
  if (plan.outcome !== 'deploy') return plan;
  plan.reason =
    r.trigger === 'apply'
      ? `apply requested by ${r.requestedBy}: the spec of policy "${policy.name}" applied to ${r.repository}@${r.digest}, the digest of ${r.of}`
      : `${r.trigger} of ${r.of} requested by ${r.requestedBy}: ${r.repository}@${r.digest} (policy "${policy.name}")`;
  plan.deployment.trigger = r.trigger;
  plan.deployment.of = r.of;
  plan.deployment.requestedBy = r.requestedBy;
  if (r.reason) plan.deployment.reason = r.reason;
  return plan;
}

async function deployPlan(
  policy: ServicePolicy,
  image: { repository: string; tag: string; digest: string; registry: EcrRegistry; eventId: string },
  config: Config,
  catalog: ImageCatalog,
  now: Date,
  options: PlanOptions,
  signal?: AbortSignal,
): Promise<Plan> {
  const { repository, tag, digest, registry } = image;
  const cluster = (name: string) => {
    const c = planned(config.clusters.get(name) as ClusterConfig);
    // The policy may need a newer engine than the cluster's own minimum: preflight checks the later.
    return policy.minEngineVersion
      ? { ...c, minEngineVersion: laterVersion(c.minEngineVersion, policy.minEngineVersion) }
      : c;
  };
  const waves: Wave[] = (
    policy.waves ?? [{ name: 'all', clusters: policy.clusters, bakeSeconds: 0, maxFailures: 0 }]
  ).map((w) => ({
    name: w.name,
    clusters: w.clusters.map(cluster),
    bakeSeconds: w.bakeSeconds,
    maxFailures: w.maxFailures,
  }));
  const host = await catalog.registryHost(registry, signal);
  const spec = await pinSpec(policy, options.sources, signal);
  const id = options.executionName ?? deploymentId(policy.name, tag, digest);
  return {
    outcome: 'deploy',
    reason: `${repository}:${tag} (${digest}) matches policy "${policy.name}"`,
    deployment: {
      id,
      policy: policy.name,
      service: policy.service,
      repository,
      tag,
      digest,
      registry,
      image: `${host}/${repository}@${digest}`,
      eventId: image.eventId,
      plannedAt: now.toISOString(),
      ...(spec ? { spec } : {}),
      ...(policy.rollbackConfig ? { rollbackConfig: policy.rollbackConfig } : {}),
    },
    clusters: policy.clusters.map(cluster),
    canary: { cluster: cluster(policy.canary.cluster), percent: policy.canary.percent },
    waves,
    analysis: policy.analysis,
    promotion: policy.promotion,
    concurrency: policy.concurrency,
    update: policy.update,
    timing: {
      pollSeconds: policy.pollSeconds,
      progressDeadlineSeconds: policy.progressDeadlineSeconds,
      maxConcurrency: policy.maxConcurrency,
    },
  };
}

/**
 * The policy's spec with each secret and config source pinned to its current version, so that
 * every cluster gets the same content. A source that does not exist or cannot be read refuses the
 * deployment here, before the lock and before any change, naming the policy field.
 * @throws SecretSourceError, SecretUnavailableError (retryable)
 */
async function pinSpec(
  policy: ServicePolicy,
  sources: PlanOptions['sources'],
  signal?: AbortSignal,
): Promise<DeploymentSpec | undefined> {
  const spec = policy.spec;
  if (!spec) return undefined;
  const pin = async (field: string, name: string, source: ContentSource): Promise<PinnedSource> => {
    if (!sources) throw new SecretSourceError(`policy "${policy.name}" ${field} (${name}): no source reader`);
    try {
      return { ...source, version: await sources.versionOf(source, signal) };
    } catch (err) {
      const e = err as Error;
      if (e.name === 'SecretUnavailableError') throw err;
      throw new SecretSourceError(`policy "${policy.name}" ${field} (${name}): ${e.message}`, { cause: err });
    }
  };
  const { secrets: declaredSecrets, configs: declaredConfigs, ...rest } = spec;
  const secrets = declaredSecrets
    ? await Promise.all(
        declaredSecrets.map(async (s, i) => ({
          ...s,
          source: await pin(`spec.secrets[${i}].source`, s.name, s.source),
        })),
      )
    : undefined;
  const configs = declaredConfigs
    ? await Promise.all(
        declaredConfigs.map(async (c, i) => ({
          ...c,
          source: 'inline' in c.source ? c.source : await pin(`spec.configs[${i}].source`, c.name, c.source),
        })),
      )
    : undefined;
  return { ...rest, ...(secrets ? { secrets } : {}), ...(configs ? { configs } : {}) };
}
