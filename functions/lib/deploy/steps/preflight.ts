import { preflight, snapshot } from '../../swarm/operations.js';
import type { Deployment, PlannedCluster } from '../plan.js';
import { onCluster, type StepDeps } from './context.js';

export interface ClusterInput {
  deployment: Deployment;
  cluster: PlannedCluster;
}

/**
 * Preflight and snapshot of one cluster, before anything changes. The snapshot is stored once; a
 * retry returns the first one.
 * @throws the Swarm preflight errors, ClusterUnreachableError, RecordError
 */
export async function preflightStep(
  deps: Pick<StepDeps, 'engines' | 'record' | 'now'>,
  input: ClusterInput,
  signal?: AbortSignal,
) {
  const { deployment: d, cluster } = input;
  return onCluster(deps, d, cluster, signal, async (engine) => {
    const pre = await preflight(
      engine,
      { service: d.service, minEngineVersion: cluster.minEngineVersion },
      signal,
    );
    const snap = await deps.record.saveSnapshot(d.id, await snapshot(engine, d.service, signal), signal);
    return {
      cluster: cluster.name,
      engineVersion: pre.engineVersion,
      image: snap.image,
      digest: snap.digest,
      replicas: snap.replicas,
      specVersion: snap.specVersion,
    };
  });
}
