/**
 * SIMULATOR — part of the Engine API simulator for many-cluster scale tests (docs/simulator.md).
 * Not a registry: a table of the images that "exist", by digest, shared by every simulated
 * cluster. A task whose image is not in the table fails to pull as Swarm's tasks do ("No such
 * image: …"), and POST /images/create answers the registry's "manifest unknown".
 */
import { createHash } from 'node:crypto';

/** The environment the local demo image bakes in (local/fleet/demo-image.ts), variable by variable. */
export const DEMO_IMAGE_ENV: Readonly<Record<string, string>> = {
  PATH: '/bin',
  PORT: '8080',
  ERROR_RATE: '0',
  LATENCY_MS: '0',
  TRAFFIC_RPS: '5',
  CRASH: '0',
};

/** The default registry host of simulated images (a host with a port, so registryOf() sees it). */
export const SIM_REGISTRY_HOST = 'registry.sim.local:5000';

/** One image the simulated registry holds. */
export interface SimImage {
  /** `host/repository`, e.g. registry.sim.local:5000/demo. */
  repository: string;
  tag: string;
  /** sha256:<64 hex>. */
  digest: string;
  /** `host/repository:tag`. */
  reference: string;
  /** `host/repository@sha256:…`: what deployments use. */
  digestReference: string;
  /** The image's own environment (Config.Env), before a service's Env overrides it. */
  env: Readonly<Record<string, string>>;
  /** What the demo app reports as its version (its logs, demo_build_info). */
  version: string;
}

/** What an image is made of; everything but the tag has a default. */
export interface SimImageInput {
  tag: string;
  /** Repository path without the host (default `demo`). */
  repository?: string;
  /** Registry host (default {@link SIM_REGISTRY_HOST}). */
  host?: string;
  /** Variables over the demo image's defaults ({@link DEMO_IMAGE_ENV}). */
  env?: Record<string, string>;
  /** Shorthands for the demo app's variables. */
  errorRate?: number;
  latencyMs?: number;
  trafficRps?: number;
  /** CRASH=1: the task exits with code 3 right after it starts. */
  crash?: boolean;
  /** Default: the tag. */
  version?: string;
}

export interface SimRegistryOptions {
  /**
   * Consulted for a reference the table does not hold (to accept images pushed elsewhere, e.g. to
   * the local registry of the runtime); undefined means the image does not exist.
   */
  resolve?: (reference: string) => SimImage | undefined;
}

/** Splits `host/repo@sha256:…` or `host/repo:tag` into the repository and the digest or tag. */
export function parseReference(reference: string): { repository: string; digest?: string; tag?: string } {
  const at = reference.indexOf('@');
  if (at >= 0) {
    const before = reference.slice(0, at);
    const slash = before.lastIndexOf('/');
    const colon = before.lastIndexOf(':');
    // A tag before the digest (repo:tag@sha256:…) is ignored, as the engine does.
    const repository = colon > slash ? before.slice(0, colon) : before;
    return { repository, digest: reference.slice(at + 1) };
  }
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  if (colon > slash) return { repository: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { repository: reference, tag: 'latest' };
}

/**
 * The images that exist, shared by a simulated fleet. Digests are deterministic: the same input
 * gives the same digest, so a test can name an image before adding it.
 */
export class SimRegistry {
  private readonly byDigest = new Map<string, SimImage>();
  private readonly byTag = new Map<string, SimImage>();
  private readonly resolver: SimRegistryOptions['resolve'];

  constructor(options: SimRegistryOptions = {}) {
    this.resolver = options.resolve;
  }

  /** Adds an image (idempotent for the same input) and returns it. */
  add(input: SimImageInput): SimImage {
    const image = describeImage(input);
    this.byDigest.set(`${image.repository}@${image.digest}`, image);
    this.byTag.set(image.reference, image);
    return image;
  }

  /** Removes an image (a digest deleted from the registry). */
  remove(image: Pick<SimImage, 'repository' | 'digest'>): void {
    const found = this.byDigest.get(`${image.repository}@${image.digest}`);
    this.byDigest.delete(`${image.repository}@${image.digest}`);
    if (found && this.byTag.get(found.reference) === found) this.byTag.delete(found.reference);
  }

  /** The image a reference names (by digest or by tag), or undefined when it does not exist. */
  lookup(reference: string): SimImage | undefined {
    const { repository, digest, tag } = parseReference(reference);
    const found = digest
      ? this.byDigest.get(`${repository}@${digest}`)
      : this.byTag.get(`${repository}:${tag ?? 'latest'}`);
    return found ?? this.resolver?.(reference);
  }

  /** Every image held, for reports. */
  images(): SimImage[] {
    return [...this.byDigest.values()];
  }
}

/** The image an input describes, with its deterministic digest (not added anywhere). */
export function describeImage(input: SimImageInput): SimImage {
  const host = input.host ?? SIM_REGISTRY_HOST;
  const repository = `${host}/${input.repository ?? 'demo'}`;
  const env: Record<string, string> = { ...DEMO_IMAGE_ENV, ...input.env };
  if (input.errorRate !== undefined) env.ERROR_RATE = String(input.errorRate);
  if (input.latencyMs !== undefined) env.LATENCY_MS = String(input.latencyMs);
  if (input.trafficRps !== undefined) env.TRAFFIC_RPS = String(input.trafficRps);
  if (input.crash !== undefined) env.CRASH = input.crash ? '1' : '0';
  const version = input.version ?? input.tag;
  const digest = `sha256:${createHash('sha256')
    .update(JSON.stringify({ repository, tag: input.tag, env, version }))
    .digest('hex')}`;
  return {
    repository,
    tag: input.tag,
    digest,
    reference: `${repository}:${input.tag}`,
    digestReference: `${repository}@${digest}`,
    env,
    version,
  };
}
