import { type EngineAccess, type MetricsAccess, withEngine } from '../../clusters/connect.js';
import type { Config } from '../../config/store.js';
import type { Notification, Notifier } from '../../notify/notifier.js';
import type { ContentReader } from '../../secrets/source.js';
import type { Engine } from '../../swarm/engine.js';
import type { RegistryAuthProvider } from '../../swarm/registry-auth.js';
import { ClusterUnreachableError, DeploymentAbortedError } from '../errors.js';
import type { Deployment, ImageCatalog, PlannedCluster } from '../plan.js';
import type { DeploymentRecord, Workflow } from '../ports.js';

/**
 * Everything the steps need from the outside world, by port. Each step takes only the ports it uses
 * (a Pick of these), and its handler names their factories (functions/lib/deps.ts), which build
 * each adapter once per container.
 */
export interface StepDeps {
  config: (signal?: AbortSignal) => Promise<Config>;
  catalog: ImageCatalog;
  record: DeploymentRecord;
  registryAuth: RegistryAuthProvider;
  notifier: Pick<Notifier, 'publish'>;
  /** How a step reaches a cluster's Engine API: the SSM tunnel, and TLS material when configured. */
  engines: EngineAccess;
  /** How a step reaches a cluster's Prometheus: by URL or the SSM tunnel, with its credentials. */
  metrics: MetricsAccess;
  workflow: Workflow;
  /** Where the contents of the service's secrets and configs are read, at pinned versions. */
  contents: ContentReader;
  now: () => Date;
}

/** What a step knows of the Lambda invocation running it. */
export interface Invocation {
  /** When Lambda cuts the invocation off: a change started now may land until then. */
  deadline: Date;
}

export const deadlineFrom = (now: Date, seconds: number) =>
  new Date(now.getTime() + seconds * 1000).toISOString();

/** One notification about deployment `d`: the deployment's own fields filled in. */
export function notify(
  deps: Pick<StepDeps, 'notifier'>,
  d: Pick<Deployment, 'id' | 'service' | 'digest' | 'tag'>,
  n: Omit<Notification, 'deploymentId' | 'service' | 'digest' | 'tag'>,
  signal?: AbortSignal,
) {
  return deps.notifier.publish(
    { deploymentId: d.id, service: d.service, digest: d.digest, tag: d.tag, ...n },
    signal,
  );
}

/** @throws DeploymentAbortedError when an abort was requested (API abort, superseded). */
export async function failIfAborted(
  deps: Pick<StepDeps, 'record'>,
  d: Deployment,
  signal?: AbortSignal,
): Promise<void> {
  const reason = await deps.record.abortRequested(d.id, signal);
  if (reason) throw new DeploymentAbortedError(`deployment ${d.id} was aborted: ${reason}`);
}

/** The errors that mean "the manager did not answer", as opposed to "it answered no". */
const UNREACHABLE = new Set([
  'SessionStartError',
  'TunnelConnectError',
  'TunnelClosedError',
  'TunnelHandshakeError',
  'TunnelProtocolError',
  'PortConnectError',
  'EngineUnreachableError',
]);

/** Default bound on how long a deployment keeps trying an unreachable manager. */
export const DEFAULT_UNREACHABLE_SECONDS = 300;

/**
 * Runs `fn` against a cluster's engine. A manager that cannot be reached is retried by the
 * workflow (the error stays retryable) until it has been unreachable for the cluster's bound since
 * this deployment first failed to reach it; then the error becomes ClusterUnreachableError, which
 * is not retried and names the cluster and the fact that its state could not be verified.
 * @throws ClusterUnreachableError, and whatever `fn` or the tunnel throws
 */
export async function onCluster<T>(
  deps: Pick<StepDeps, 'engines' | 'record' | 'now'>,
  d: Deployment,
  cluster: PlannedCluster,
  signal: AbortSignal | undefined,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  try {
    const out = await withEngine(deps.engines, cluster, signal, fn);
    await deps.record.reached(d.id, cluster.name, signal);
    return out;
  } catch (err) {
    const e = err as Error;
    if (!UNREACHABLE.has(e.name) || (err as { retryable?: boolean }).retryable === false) throw err;
    const now = deps.now();
    const since = await deps.record.unreachableSince(d.id, cluster.name, now.toISOString(), signal);
    const bound = cluster.unreachableSeconds ?? DEFAULT_UNREACHABLE_SECONDS;
    const elapsed = Math.round((now.getTime() - Date.parse(since)) / 1000);
    if (elapsed >= bound) {
      throw new ClusterUnreachableError(
        `cluster ${cluster.name} (${cluster.target}) has been unreachable for ${elapsed} s (bound ${bound} s; last: ${e.name}: ${e.message}); its state could not be verified`,
        { cause: err },
      );
    }
    throw err;
  }
}
