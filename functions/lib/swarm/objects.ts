import { apiStatus, type Engine } from './engine.js';
import { EngineApiError, NetworkMismatchError } from './errors.js';
import { LABELS } from './operations.js';
import { contentVersion } from './spec.js';
import type { ServiceSpec } from './types.js';

/**
 * The swarm objects a service needs besides its image: secrets and configs (immutable in Docker,
 * so each content is its own object `<name>-<content hash>`) and networks. Each object the deployer
 * makes carries labels saying which service it belongs to, its logical name and the deployment
 * that made it, so that a rollback removes what that deployment made and a success prunes the rest.
 */

export type ObjectKind = 'secret' | 'config';

/** Labels on the deployer's secrets and configs. */
export const OBJECT_LABELS = {
  of: 'deployer.object-of',
  name: 'deployer.object-name',
} as const;

interface SwarmObject {
  ID: string;
  Spec: { Name: string; Labels?: Record<string, string> };
}

const path = (kind: ObjectKind) => (kind === 'secret' ? '/secrets' : '/configs');

async function listObjects(
  engine: Engine,
  kind: ObjectKind,
  filters: Record<string, string[]>,
  signal?: AbortSignal,
): Promise<SwarmObject[]> {
  return engine.request<SwarmObject[]>({
    method: 'GET',
    path: path(kind),
    query: { filters: JSON.stringify(filters) },
    signal,
  });
}

export interface EnsureObjectInput {
  kind: ObjectKind;
  service: string;
  deploymentId: string;
  /** The logical name from the policy. */
  name: string;
  /** The content; a secret's is never logged, returned or put into an error. */
  content: Buffer;
}

/**
 * The object `<name>-<content hash>` for this content, created when the cluster lacks it.
 * Idempotent: a retry, or another deployment of the same content, finds it and creates nothing.
 * @throws EngineUnreachableError, EngineApiError
 */
export async function ensureObject(
  engine: Engine,
  input: EnsureObjectInput,
  signal?: AbortSignal,
): Promise<{ id: string; dockerName: string; created: boolean }> {
  const dockerName = `${input.name}-${contentVersion(input.content)}`;
  const find = async () =>
    // The name filter matches prefixes: compare the names exactly.
    (await listObjects(engine, input.kind, { name: [dockerName] }, signal)).find(
      (o) => o.Spec.Name === dockerName,
    );
  const existing = await find();
  if (existing) return { id: existing.ID, dockerName, created: false };
  try {
    const created = await engine.request<{ ID: string }>({
      method: 'POST',
      path: `${path(input.kind)}/create`,
      body: {
        Name: dockerName,
        Data: input.content.toString('base64'),
        Labels: {
          [OBJECT_LABELS.of]: input.service,
          [OBJECT_LABELS.name]: input.name,
          [LABELS.deployment]: input.deploymentId,
        },
      },
      signal,
    });
    return { id: created.ID, dockerName, created: true };
  } catch (err) {
    // Created in between by an earlier attempt whose answer was lost: use it.
    if (apiStatus(err).statusCode === 409) {
      const raced = await find();
      if (raced) return { id: raced.ID, dockerName, created: false };
    }
    throw err;
  }
}

export interface NetworkInput {
  name: string;
  driver: string;
  encrypted: boolean;
  attachable: boolean;
  deploymentId: string;
}

interface NetworkInfo {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Options?: Record<string, string>;
}

/**
 * The network's id, created (swarm scope) when the cluster lacks it. An existing network with
 * another driver, or unencrypted when encryption is asked for, is refused, never replaced.
 * @throws NetworkMismatchError, EngineUnreachableError, EngineApiError
 */
export async function ensureNetwork(
  engine: Engine,
  input: NetworkInput,
  signal?: AbortSignal,
): Promise<{ id: string; created: boolean }> {
  const where = `cluster ${engine.cluster}: network ${input.name}`;
  const inspect = () =>
    engine.request<NetworkInfo | undefined>({
      method: 'GET',
      path: `/networks/${encodeURIComponent(input.name)}`,
      allow404: true,
      signal,
    });
  const existing = await inspect();
  if (existing) {
    if (existing.Driver !== input.driver) {
      throw new NetworkMismatchError(
        `${where} exists with driver ${existing.Driver}, the policy wants ${input.driver}; not replacing it`,
      );
    }
    if (input.encrypted && !('encrypted' in (existing.Options ?? {}))) {
      throw new NetworkMismatchError(
        `${where} exists unencrypted, the policy wants it encrypted; not replacing it`,
      );
    }
    return { id: existing.Id, created: false };
  }
  try {
    const created = await engine.request<{ Id: string }>({
      method: 'POST',
      path: '/networks/create',
      body: {
        Name: input.name,
        Driver: input.driver,
        Scope: 'swarm',
        Attachable: input.attachable,
        CheckDuplicate: true,
        Options: input.encrypted ? { encrypted: '' } : {},
        Labels: { [LABELS.deployment]: input.deploymentId },
      },
      signal,
    });
    return { id: created.Id, created: true };
  } catch (err) {
    if (apiStatus(err).statusCode === 409) {
      const raced = await inspect();
      if (raced) return { id: raced.Id, created: false };
    }
    if (err instanceof EngineApiError) {
      throw new NetworkMismatchError(`${where} could not be created: ${apiStatus(err).engineMessage}`, {
        cause: err,
      });
    }
    throw err;
  }
}

/** The secret and config ids a spec references. */
export function referencedObjects(spec: ServiceSpec): Set<string> {
  const c = spec.TaskTemplate.ContainerSpec as {
    Secrets?: Array<{ SecretID?: string }>;
    Configs?: Array<{ ConfigID?: string }>;
  };
  return new Set([
    ...(c.Secrets ?? []).map((s) => s.SecretID ?? ''),
    ...(c.Configs ?? []).map((s) => s.ConfigID ?? ''),
  ]);
}

export interface RemovedObjects {
  removed: string[];
  /** Objects left because a service still uses them (each with the engine's reason). */
  kept: string[];
}

/**
 * Removes the service's secrets and configs that carry `labels` (beside the service's own), except
 * those `keep` references. One still used by a service is kept, with its name in `kept`.
 */
async function removeObjects(
  engine: Engine,
  input: { service: string; keep: Set<string>; labels: string[] },
  signal: AbortSignal | undefined,
): Promise<RemovedObjects> {
  const out: RemovedObjects = { removed: [], kept: [] };
  for (const kind of ['secret', 'config'] as const) {
    const found = await listObjects(
      engine,
      kind,
      { label: [`${OBJECT_LABELS.of}=${input.service}`, ...input.labels] },
      signal,
    );
    for (const o of found.filter((x) => !input.keep.has(x.ID))) {
      try {
        await engine.request({ method: 'DELETE', path: `${path(kind)}/${o.ID}`, signal });
        out.removed.push(o.Spec.Name);
      } catch (err) {
        const { statusCode } = apiStatus(err);
        if (statusCode === 404) continue;
        // In use by a service (the engine answers 400 or 409 with the services' names).
        if (statusCode === 400 || statusCode === 409) out.kept.push(o.Spec.Name);
        else throw err;
      }
    }
  }
  return out;
}

/**
 * Removes the secrets and configs a deployment made for a service, except those `keep` references
 * (the restored spec): the rollback's clean-up. Idempotent.
 * @throws EngineUnreachableError, EngineApiError
 */
export function removeObjectsOf(
  engine: Engine,
  input: { service: string; deploymentId: string; keep: Set<string> },
  signal?: AbortSignal,
): Promise<RemovedObjects> {
  return removeObjects(
    engine,
    { service: input.service, keep: input.keep, labels: [`${LABELS.deployment}=${input.deploymentId}`] },
    signal,
  );
}

/**
 * Removes every version of the service's secrets and configs that `keep` (the promoted spec) does
 * not reference: after a success, the old versions go. One still used elsewhere is kept.
 * @throws EngineUnreachableError, EngineApiError
 */
export function pruneObjects(
  engine: Engine,
  input: { service: string; keep: Set<string> },
  signal?: AbortSignal,
): Promise<RemovedObjects> {
  return removeObjects(engine, { ...input, labels: [] }, signal);
}
