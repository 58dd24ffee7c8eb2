import { preflight, snapshot } from '../../swarm/operations.js';
import { driftedParts, specParts } from '../../swarm/spec.js';
import type { Deployment, PlannedCluster } from '../plan.js';
import { notify, onCluster, type StepDeps } from './context.js';

export interface ClusterInput {
  deployment: Deployment;
  cluster: PlannedCluster;
}

/**
 * Preflight and snapshot of one cluster, before anything changes. The snapshot is stored once; a
 * retry returns the first one. Drift (a part of the running spec other than the image that differs
 * from what the last deployment left there) is reported in the result, the audit trail and an
 * alert; the deployment goes on and replaces what the policy declares.
 * @throws the Swarm preflight errors, NetworkMismatchError, ClusterUnreachableError, RecordError
 */
export async function preflightStep(
  deps: Pick<StepDeps, 'engines' | 'record' | 'now' | 'notifier'>,
  input: ClusterInput,
  signal?: AbortSignal,
) {
  const { deployment: d, cluster } = input;
  const { pre, snap } = await onCluster(deps, d, cluster, signal, async (engine) => {
    const pre = await preflight(
      engine,
      {
        service: d.service,
        minEngineVersion: cluster.minEngineVersion,
        networkDrivers: [...new Set((d.spec?.networks ?? []).map((n) => n.driver))],
      },
      signal,
    );
    const snap = await deps.record.saveSnapshot(d.id, await snapshot(engine, d.service, signal), signal);
    return { pre, snap };
  });
  const deployed = await deps.record.deployedSpec(d.service, cluster.name, signal);
  const drift = deployed ? driftedParts(deployed.parts, specParts(snap.spec)) : [];
  if (drift.length > 0) {
    const message = `${d.service} on ${cluster.name} drifted since deployment ${deployed?.deploymentId} (${deployed?.at}): ${drift.join(', ')} changed outside the deployer`;
    await deps.record.noteCluster(d.id, cluster.name, { step: 'drift', message }, signal);
    await notify(
      deps,
      d,
      {
        transition: 'drift',
        key: cluster.name,
        cluster: cluster.name,
        summary: `${message}; this deployment replaces what the policy declares and keeps the rest`,
        details: { cluster: cluster.name, drift, lastDeployment: deployed?.deploymentId },
      },
      signal,
    );
  }
  return {
    cluster: cluster.name,
    engineVersion: pre.engineVersion,
    image: snap.image,
    digest: snap.digest,
    replicas: snap.replicas,
    specVersion: snap.specVersion,
    ...(drift.length > 0 ? { drift } : {}),
  };
}
