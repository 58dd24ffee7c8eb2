import { minimatch } from 'minimatch';
import semver from 'semver';
import type { AnalysisPolicy } from '../analysis/index.js';
import { ConfigError } from '../config/errors.js';
import type { ClusterConfig, ServicePolicy } from '../config/schema.js';
import type { Config } from '../config/store.js';
import type { UpdatePolicy } from '../swarm/types.js';
import { type ParsedEvent, parseEvent } from './event.js';

/** What the plan needs from the registry: the digest a tag points to now, and the registry's host. */
export interface ImageCatalog {
  digestOf(repository: string, tag: string, signal?: AbortSignal): Promise<string | undefined>;
  registryHost(signal?: AbortSignal): Promise<string>;
}

export interface PlannedCluster {
  name: string;
  region: string;
  target: string;
  engine: ClusterConfig['engine'];
  prometheus: ClusterConfig['prometheus'];
  minEngineVersion: string;
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
  /** registry/repository@digest: deploy digests, never tags. */
  image: string;
  eventId: string;
  plannedAt: string;
}

export type Plan =
  | { outcome: 'ignored'; reason: string }
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

/** Execution-name-safe id: AWS allows 1-80 chars of [A-Za-z0-9-_] safely (no ':' from the digest). */
export function deploymentId(policy: string, tag: string, digest: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '-');
  const short = digest.replace(/^sha256:/, '').slice(0, 12);
  const head = `${safe(policy)}-${safe(tag)}`.slice(0, 80 - short.length - 1);
  return `${head}-${short}`;
}

const planned = (c: ClusterConfig): PlannedCluster => ({
  name: c.name,
  region: c.region,
  target: c.target,
  engine: c.engine,
  prometheus: c.prometheus,
  minEngineVersion: c.minEngineVersion,
});

/**
 * Turns an event into a plan: which policy, which digest (verified against the registry), which
 * clusters in which waves. Anything that should not deploy is an "ignored" outcome with the reason.
 * @throws ConfigError when two policies claim the same repository and tag
 */
export async function planDeployment(
  event: unknown,
  config: Config,
  catalog: ImageCatalog,
  now: Date,
  signal?: AbortSignal,
): Promise<Plan> {
  const parsed: ParsedEvent = parseEvent(event);
  if (parsed.kind === 'ignored') return { outcome: 'ignored', reason: parsed.reason };
  const { repository, tag, digest } = parsed;
  const matching = config.policies.filter((p) => p.repository === repository && tagMatches(p.tags, tag));
  if (matching.length === 0) {
    return { outcome: 'ignored', reason: `no service policy deploys ${repository}:${tag}` };
  }
  if (matching.length > 1) {
    throw new ConfigError(
      `policies ${matching.map((p) => `"${p.name}"`).join(' and ')} both deploy ${repository}:${tag}; a repository and tag must map to one policy`,
    );
  }
  const policy = matching[0] as ServicePolicy;
  const current = await catalog.digestOf(repository, tag, signal);
  if (current === undefined) {
    return { outcome: 'ignored', reason: `${repository}:${tag} no longer exists in the registry` };
  }
  if (current !== digest) {
    return {
      outcome: 'ignored',
      reason: `${repository}:${tag} has moved on from ${digest} to ${current}; that push deploys it`,
    };
  }
  const cluster = (name: string) => planned(config.clusters.get(name) as ClusterConfig);
  const waves: Wave[] = (
    policy.waves ?? [{ name: 'all', clusters: policy.clusters, bakeSeconds: 0, maxFailures: 0 }]
  ).map((w) => ({
    name: w.name,
    clusters: w.clusters.map(cluster),
    bakeSeconds: w.bakeSeconds,
    maxFailures: w.maxFailures,
  }));
  const host = await catalog.registryHost(signal);
  const id = deploymentId(policy.name, tag, digest);
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
      image: `${host}/${repository}@${digest}`,
      eventId: parsed.eventId,
      plannedAt: now.toISOString(),
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
