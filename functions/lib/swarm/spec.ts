import { createHash } from 'node:crypto';
import type { ServiceSpec } from './types.js';

/**
 * The desired spec beyond the image, resolved on one cluster: the policy's fields with every
 * secret, config and network turned into the Docker object this cluster has for it.
 */
export interface ResolvedSpec {
  env?: Record<string, string>;
  labels?: Record<string, string>;
  resources?: {
    limits?: { nanoCpus?: number; memoryBytes?: number };
    reservations?: { nanoCpus?: number; memoryBytes?: number };
  };
  placement?: { constraints: string[] };
  healthcheck?:
    | {
        test: string[];
        intervalSeconds: number;
        timeoutSeconds: number;
        retries: number;
        startPeriodSeconds: number;
      }
    | { disable: true };
  networks?: Array<{ id: string; name: string; aliases?: string[] }>;
  secrets?: ResolvedFile[];
  configs?: ResolvedFile[];
}

/** A Docker secret or config as the service mounts it. */
export interface ResolvedFile {
  id: string;
  /** The Docker object's name, `<name>-<content hash>`. */
  dockerName: string;
  /** Where it is mounted: a file name under /run/secrets for a secret, an absolute path for a config. */
  target: string;
  uid: string;
  gid: string;
  mode: number;
}

const NS = 1_000_000_000;
const DEPLOYER_LABEL = /^deployer\./;

function resources(r: { nanoCpus?: number; memoryBytes?: number } | undefined) {
  if (!r) return undefined;
  return {
    ...(r.nanoCpus === undefined ? {} : { NanoCPUs: r.nanoCpus }),
    ...(r.memoryBytes === undefined ? {} : { MemoryBytes: r.memoryBytes }),
  };
}

const file = (f: ResolvedFile) => ({ Name: f.target, UID: f.uid, GID: f.gid, Mode: f.mode });

/**
 * A service spec with the desired parts applied: every part the policy declares replaces the
 * cluster's; the image, replicas, ports and anything else undeclared stay as they were. Pure.
 */
export function applyDesired(base: ServiceSpec, desired: ResolvedSpec | undefined): ServiceSpec {
  const spec = structuredClone(base);
  if (!desired) return spec;
  const task = spec.TaskTemplate;
  const container = task.ContainerSpec;
  if (desired.env) container.Env = Object.entries(desired.env).map(([k, v]) => `${k}=${v}`);
  if (desired.labels) {
    const own = Object.entries(container.Labels ?? {}).filter(([k]) => DEPLOYER_LABEL.test(k));
    container.Labels = { ...desired.labels, ...Object.fromEntries(own) };
  }
  if (desired.resources) {
    const limits = resources(desired.resources.limits);
    const reservations = resources(desired.resources.reservations);
    task.Resources = {
      ...(limits ? { Limits: limits } : {}),
      ...(reservations ? { Reservations: reservations } : {}),
    };
  }
  if (desired.placement) task.Placement = { ...task.Placement, Constraints: desired.placement.constraints };
  if (desired.healthcheck) {
    const h = desired.healthcheck;
    container.Healthcheck =
      'disable' in h
        ? { Test: ['NONE'] }
        : {
            Test: h.test,
            Interval: Math.round(h.intervalSeconds * NS),
            Timeout: Math.round(h.timeoutSeconds * NS),
            Retries: h.retries,
            StartPeriod: Math.round(h.startPeriodSeconds * NS),
          };
  }
  if (desired.networks) {
    // The service-level Networks field is deprecated (Engine API 1.44 moved it to the task template).
    delete spec.Networks;
    task.Networks = desired.networks.map((n) => ({
      Target: n.id,
      ...(n.aliases?.length ? { Aliases: n.aliases } : {}),
    }));
  }
  if (desired.secrets) {
    container.Secrets = desired.secrets.map((s) => ({
      File: file(s),
      SecretID: s.id,
      SecretName: s.dockerName,
    }));
  }
  if (desired.configs) {
    container.Configs = desired.configs.map((c) => ({
      File: file(c),
      ConfigID: c.id,
      ConfigName: c.dockerName,
    }));
  }
  return spec;
}

/** The first 12 hex digits of the content's SHA-256: the version suffix of a Docker secret or config. */
export function contentVersion(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

/** The parts of a running spec that drift is reported on, beside the image. */
export const SPEC_PARTS = [
  'env',
  'labels',
  'secrets',
  'configs',
  'healthcheck',
  'mounts',
  'container',
  'resources',
  'placement',
  'networks',
  'restart',
  'ports',
  'mode',
] as const;
export type SpecPart = (typeof SPEC_PARTS)[number];

/**
 * A short hash of each part of a service's spec, the image and the deployer's own labels left out:
 * what the deployer leaves on a cluster, to compare with what runs there at the next deployment.
 * Computed from the engine's own answer both times, so its normalisation of a spec never counts.
 */
export function specParts(spec: ServiceSpec): Record<SpecPart, string> {
  const task = spec.TaskTemplate;
  const {
    Image: _image,
    Labels: labels,
    Env: env,
    Secrets: secrets,
    Configs: configs,
    Healthcheck: healthcheck,
    Mounts: mounts,
    PullOptions: _pull,
    ...container
  } = task.ContainerSpec as Record<string, unknown> & { Labels?: Record<string, string> };
  const ownLabelsOut = Object.fromEntries(
    Object.entries(labels ?? {}).filter(([k]) => !DEPLOYER_LABEL.test(k)),
  );
  const parts: Record<SpecPart, unknown> = {
    env,
    labels: ownLabelsOut,
    secrets,
    configs,
    healthcheck,
    mounts,
    container,
    resources: task.Resources,
    placement: task.Placement,
    networks: task.Networks ?? spec.Networks,
    restart: task.RestartPolicy,
    ports: spec.EndpointSpec?.Ports,
    mode: spec.Mode,
  };
  return Object.fromEntries(
    SPEC_PARTS.map((p) => [
      p,
      createHash('sha256')
        .update(canonical(parts[p] ?? null))
        .digest('hex')
        .slice(0, 12),
    ]),
  ) as Record<SpecPart, string>;
}

/** The parts whose hashes differ (drift), in SPEC_PARTS order. */
export function driftedParts(deployed: Record<string, string>, running: Record<string, string>): SpecPart[] {
  return SPEC_PARTS.filter((p) => deployed[p] !== undefined && deployed[p] !== running[p]);
}

/** JSON with object keys sorted, so equal specs give equal text. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([x], [y]) => x.localeCompare(y)))
      : value,
  );
}
