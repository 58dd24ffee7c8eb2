import { withEngine } from '../clusters/connect.js';
import type { Engine } from '../swarm/engine.js';
import { apiStatus } from '../swarm/engine.js';
import { canaryName, inspectService, LABELS, updateService } from '../swarm/operations.js';
import { RegistryAuthRefreshError } from './errors.js';
import { planned } from './plan.js';
import type { StepDeps } from './steps/context.js';

/** What the refresh did for one service on one cluster. */
export interface RefreshOutcome {
  policy: string;
  service: string;
  cluster: string;
  outcome: 'refreshed' | 'skipped' | 'failed';
  /** Why it was skipped or failed (never a credential). */
  reason?: string;
}

/**
 * Re-sends each deployed service's unchanged spec with fresh registry credentials. Swarm keeps the
 * X-Registry-Auth of the last create or update and pulls with it for every task it schedules
 * later (a node lost, a task restarted): with ECR's 12-hour tokens, a task rescheduled after that
 * cannot pull. An update whose spec is unchanged restarts no task (swarmkit ignores the pull
 * options when it compares a task with its service), so this only moves the stored credentials.
 */
async function refreshOne(
  engine: Engine,
  service: string,
  header: (image: string) => Promise<string | undefined>,
  signal?: AbortSignal,
): Promise<RefreshOutcome['outcome'] | string> {
  const primary = await inspectService(engine, service, signal);
  if (!primary) return `no service ${service} on the cluster`;
  if (!primary.Spec.Labels?.[LABELS.deployment]) return 'not deployed by the deployer yet';
  for (const live of [primary, await inspectService(engine, canaryName(service), signal)]) {
    if (!live) continue;
    const auth = await header(live.Spec.TaskTemplate.ContainerSpec.Image);
    if (!auth) return `no registry credentials for ${live.Spec.TaskTemplate.ContainerSpec.Image}`;
    try {
      await updateService(engine, live, live.Spec, auth, signal);
    } catch (err) {
      // Changed in between (a deployment took it over): that change carried fresh credentials.
      if (/out of sequence/.test(apiStatus(err).engineMessage)) return 'changed while refreshing';
      throw err;
    }
  }
  return 'refreshed';
}

/**
 * RefreshRegistryAuth (scheduled): for every policy and each of its clusters, the stored registry
 * credentials of the service (and of its canary, if one runs) are replaced by fresh ones. A service
 * whose lock a deployment holds is skipped: that deployment sends fresh credentials itself.
 * @throws RegistryAuthRefreshError naming every cluster where it failed (after trying them all)
 */
export async function refreshRegistryAuth(
  deps: Pick<StepDeps, 'config' | 'record' | 'engines' | 'registryAuth'>,
  signal?: AbortSignal,
): Promise<{ outcomes: RefreshOutcome[] }> {
  const config = await deps.config(signal);
  const outcomes: RefreshOutcome[] = [];
  for (const policy of config.policies) {
    const held = await deps.record.lockHolder(policy.service, signal);
    for (const name of policy.clusters) {
      const base = { policy: policy.name, service: policy.service, cluster: name };
      const cluster = config.clusters.get(name);
      if (!cluster) {
        outcomes.push({ ...base, outcome: 'failed', reason: `cluster ${name} is not configured` });
        continue;
      }
      if (held) {
        outcomes.push({
          ...base,
          outcome: 'skipped',
          reason: `deployment ${held.deploymentId} holds the service`,
        });
        continue;
      }
      try {
        const r = await withEngine(deps.engines, planned(cluster), signal, (engine) =>
          refreshOne(engine, policy.service, (image) => deps.registryAuth.headerFor(image, signal), signal),
        );
        outcomes.push(
          r === 'refreshed' ? { ...base, outcome: 'refreshed' } : { ...base, outcome: 'skipped', reason: r },
        );
      } catch (err) {
        const e = err as Error;
        outcomes.push({ ...base, outcome: 'failed', reason: `${e.name}: ${e.message}` });
      }
    }
  }
  const failed = outcomes.filter((o) => o.outcome === 'failed');
  if (failed.length > 0) {
    throw new RegistryAuthRefreshError(
      `refreshing the registry credentials failed for ${failed.map((f) => `${f.service} on ${f.cluster} (${f.reason})`).join('; ')}; refreshed: ${
        outcomes
          .filter((o) => o.outcome === 'refreshed')
          .map((o) => `${o.service} on ${o.cluster}`)
          .join(', ') || 'none'
      }`,
    );
  }
  return { outcomes };
}
