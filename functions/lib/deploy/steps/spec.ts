import { bytesOf } from '../../config/service-spec.js';
import type { Engine } from '../../swarm/engine.js';
import { ensureNetwork, ensureObject } from '../../swarm/objects.js';
import type { ResolvedFile, ResolvedSpec } from '../../swarm/spec.js';
import type { Deployment, PinnedSource } from '../plan.js';
import type { StepDeps } from './context.js';

/** The content of every secret and config of a deployment's spec, read at the pinned versions. */
export interface Contents {
  secrets: Buffer[];
  configs: Buffer[];
}

/**
 * Reads every secret and config the deployment's spec references, at the versions the plan
 * pinned: called by the steps that write them, before they touch the cluster, so a source that
 * cannot be read fails the step with nothing changed. The values stay in this invocation.
 * @throws SecretNotFoundError, SecretAccessDeniedError, SecretUnavailableError
 */
export async function readContents(
  deps: Pick<StepDeps, 'contents'>,
  d: Deployment,
  signal?: AbortSignal,
): Promise<Contents> {
  const read = (source: PinnedSource | { inline: string }) =>
    'inline' in source
      ? Promise.resolve(Buffer.from(source.inline, 'utf8'))
      : deps.contents.read(source, signal);
  return {
    secrets: await Promise.all((d.spec?.secrets ?? []).map((s) => read(s.source))),
    configs: await Promise.all((d.spec?.configs ?? []).map((c) => read(c.source))),
  };
}

const nano = (cpus: number | undefined) => (cpus === undefined ? undefined : Math.round(cpus * 1e9));
const limits = (l: { cpus?: number; memory?: number | string } | undefined) =>
  l && { nanoCpus: nano(l.cpus), memoryBytes: l.memory === undefined ? undefined : bytesOf(l.memory) };

/**
 * The deployment's spec on one cluster: its networks created when absent, a secret and a config
 * for each content (`<name>-<content hash>`, created when absent), everything else as declared.
 * @throws NetworkMismatchError, EngineUnreachableError, EngineApiError
 */
export async function resolveOn(
  engine: Engine,
  d: Deployment,
  contents: Contents,
  signal?: AbortSignal,
): Promise<ResolvedSpec | undefined> {
  const spec = d.spec;
  if (!spec) return undefined;
  const objects = async (
    kind: 'secret' | 'config',
    items: Array<{ name: string; target?: string; uid: string; gid: string; mode: number }>,
    content: Buffer[],
  ): Promise<ResolvedFile[]> => {
    const out: ResolvedFile[] = [];
    for (const [i, item] of items.entries()) {
      const o = await ensureObject(
        engine,
        { kind, service: d.service, deploymentId: d.id, name: item.name, content: content[i] as Buffer },
        signal,
      );
      out.push({
        id: o.id,
        dockerName: o.dockerName,
        target: item.target ?? (kind === 'secret' ? item.name : `/${item.name}`),
        uid: item.uid,
        gid: item.gid,
        mode: item.mode,
      });
    }
    return out;
  };
  const networks = [];
  for (const n of spec.networks ?? []) {
    const { id } = await ensureNetwork(engine, { ...n, deploymentId: d.id }, signal);
    networks.push({ id, name: n.name, aliases: n.aliases });
  }
  return {
    env: spec.env,
    labels: spec.labels,
    resources: spec.resources && {
      limits: limits(spec.resources.limits),
      reservations: limits(spec.resources.reservations),
    },
    placement: spec.placement,
    healthcheck: spec.healthcheck,
    networks: spec.networks && networks,
    secrets: spec.secrets && (await objects('secret', spec.secrets, contents.secrets)),
    configs: spec.configs && (await objects('config', spec.configs, contents.configs)),
  };
}
