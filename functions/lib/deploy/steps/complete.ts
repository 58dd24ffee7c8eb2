import type { Deployment } from '../plan.js';
import { notify, type StepDeps } from './context.js';
import { type ClusterResult, causeMessage } from './wave.js';

export interface WaveOutcome {
  wave: string;
  promoted: string[];
  failed: Array<{ cluster: string; error?: string; cause?: string }>;
  /** The restores of the wave's failed clusters (absent when none failed). */
  restored?: ClusterResult[] | null;
}

/**
 * The end of the waves: the record is finished first (so that a failure after it is never mistaken
 * for an unfinished deployment), then people are told, then the lock is released. Clusters that
 * failed within a wave's budget are named; any of them that could not be restored makes the
 * outcome "partially-deployed" (critical), and their snapshots are kept.
 */
export async function completeStep(
  deps: Pick<StepDeps, 'record' | 'now' | 'notifier'>,
  input: { deployment: Deployment; executionArn: string; waves: WaveOutcome[] },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  const deployed = input.waves.flatMap((w) => w.promoted);
  const restores = new Map(input.waves.flatMap((w) => w.restored ?? []).map((r) => [r.cluster, r]));
  const failed = input.waves.flatMap((w) => w.failed);
  const notRestored = failed.filter((f) => restores.has(f.cluster) && !restores.get(f.cluster)?.ok);
  const restored = failed.filter((f) => restores.get(f.cluster)?.ok);
  const untouched = failed.filter((f) => !restores.has(f.cluster));
  const why = (f: { cluster: string; error?: string; cause?: string }) =>
    `${f.cluster} (${f.error}: ${causeMessage(f.cause)})`;
  const partial = notRestored.length > 0;
  await deps.record.finish(
    d.id,
    partial ? 'failed' : 'succeeded',
    {
      keepSnapshotsOf: notRestored.map((f) => f.cluster),
      reason: partial
        ? `not restored after failing: ${notRestored.map(why).join(', ')}`
        : `runs on ${deployed.join(', ') || 'no cluster'}${failed.length ? `; failed within the budget: ${failed.map(why).join(', ')}` : ''}`,
    },
    signal,
  );
  const parts = [`${d.service} runs ${d.tag} (${d.digest}) on ${deployed.join(', ') || 'no cluster'}`];
  if (restored.length) parts.push(`failed within the budget and restored: ${restored.map(why).join(', ')}`);
  if (untouched.length)
    parts.push(`failed before any change, left as they were: ${untouched.map(why).join(', ')}`);
  if (partial)
    parts.push(
      `NOT RESTORED, state unverified: ${notRestored
        .map(
          (f) =>
            `${f.cluster} (${restores.get(f.cluster)?.error}: ${causeMessage(restores.get(f.cluster)?.cause)})`,
        )
        .join(', ')}`,
    );
  await notify(
    deps,
    d,
    {
      transition: partial ? 'partially-deployed' : 'succeeded',
      summary: parts.join('; '),
      details: {
        deployed,
        restored: restored.map((f) => f.cluster),
        notRestored: notRestored.map((f) => f.cluster),
        unchanged: untouched.map((f) => f.cluster),
      },
    },
    signal,
  );
  await deps.record.releaseLock(d.service, input.executionArn, signal);
  return {
    outcome: partial ? 'partially-deployed' : 'succeeded',
    deployed,
    failed: failed.map((f) => ({
      cluster: f.cluster,
      reason: `${f.error}: ${causeMessage(f.cause)}`,
      restored: restores.has(f.cluster) ? (restores.get(f.cluster)?.ok ?? false) : 'untouched',
    })),
    summary: parts.join('; '),
    finishedAt: deps.now().toISOString(),
  };
}
