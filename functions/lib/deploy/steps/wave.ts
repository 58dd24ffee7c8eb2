import { WaveFailedError } from '../errors.js';
import type { Deployment, PlannedCluster } from '../plan.js';
import { notify, type StepDeps } from './context.js';

export interface ClusterResult {
  cluster: string;
  ok: boolean;
  error?: string;
  cause?: string;
}

/** Step Functions puts a Lambda error's Cause as a JSON string {errorMessage, errorType}; read the message. */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}

export const describeFailures = (failed: ClusterResult[]) =>
  failed.map((f) => `${f.cluster}: ${f.error}: ${causeMessage(f.cause)}`).join('; ');

/**
 * After a wave's clusters: fail the deployment when more clusters failed than the wave allows.
 * Within the budget, the failed clusters that were touched are handed back to be restored from
 * their snapshots (never counted as deployed).
 * @throws WaveFailedError
 */
export async function judgeWaveStep(
  deps: Pick<StepDeps, 'record' | 'notifier'>,
  input: {
    deployment: Deployment;
    wave: { name: string; maxFailures: number };
    clusters: PlannedCluster[];
    results: ClusterResult[];
  },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  const failed = input.results.filter((r) => !r.ok);
  const promoted = input.results.filter((r) => r.ok).map((r) => r.cluster);
  for (const f of failed)
    await deps.record.noteCluster(
      d.id,
      f.cluster,
      { step: 'failed', message: `${f.error}: ${causeMessage(f.cause)}` },
      signal,
    );
  if (failed.length > input.wave.maxFailures) {
    throw new WaveFailedError(
      `wave ${input.wave.name}: ${failed.length} cluster(s) failed (budget ${input.wave.maxFailures}): ${describeFailures(failed)}`,
    );
  }
  const touched = new Set((await deps.record.touched(d.id, signal)).map((t) => t.cluster));
  const failedNames = new Set(failed.map((f) => f.cluster));
  const restore = input.clusters.filter((c) => failedNames.has(c.name) && touched.has(c.name));
  await notify(
    deps,
    d,
    {
      transition: 'wave-promoted',
      key: input.wave.name,
      summary: `wave ${input.wave.name} of ${d.service} runs ${d.tag} on ${promoted.join(', ') || 'no cluster'}${failed.length ? `; failed within the budget of ${input.wave.maxFailures} and being restored: ${describeFailures(failed)}` : ''}`,
      details: { promoted, failed: failed.map((f) => f.cluster) },
    },
    signal,
  );
  return {
    wave: input.wave.name,
    promoted,
    failed: failed.map((f) => ({ cluster: f.cluster, error: f.error, cause: causeMessage(f.cause) })),
    restore,
    /** Filled in by the workflow's restore of `restore` (null when nothing was to restore). */
    restored: null,
  };
}
