import {
  type AnalysisState,
  appendToRecord,
  type DecisionRecord,
  describeMeasurement,
  describeRecord,
  emptyRecord,
  type Metric,
  runRound,
} from '../../analysis/index.js';
import { withPrometheus } from '../../clusters/connect.js';
import { canaryName } from '../../swarm/operations.js';
import { AnalysisFailedError } from '../errors.js';
import type { Deployment, PlannedCluster } from '../plan.js';
import type { ChangeResult } from './change.js';
import { failIfAborted, notify, type StepDeps } from './context.js';
import type { ClusterInput } from './preflight.js';

export interface AnalyzeInput {
  deployment: Deployment;
  cluster: PlannedCluster;
  metrics: Metric[];
  state: AnalysisState | null;
  record: DecisionRecord | null;
}

/**
 * One analysis round on the canary cluster's Prometheus. The waiting between rounds is the
 * workflow's Wait state (waitSeconds), never inside a Lambda.
 * @throws AnalysisFailedError (Failed, Inconclusive or Error, with the decisive measurement), DeploymentAbortedError
 */
export async function analyzeStep(
  deps: Pick<StepDeps, 'metrics' | 'record' | 'now' | 'notifier'>,
  input: AnalyzeInput,
  signal?: AbortSignal,
) {
  const { deployment: d, cluster } = input;
  await failIfAborted(deps, d, signal);
  const round = (input.state?.round ?? 0) + 1;
  // An operator's promote ends the analysis as passed, recorded with who and why.
  const promote = await deps.record.promoteRequested(d.id, signal);
  if (promote) {
    const summary = `analysis skipped by ${promote.by}'s promote${promote.reason ? `: ${promote.reason}` : ''}`;
    await deps.record.noteRound(
      d.id,
      { round, at: deps.now().toISOString(), phase: 'Successful', summary, measurements: [] },
      signal,
    );
    return {
      state: input.state,
      record: input.record ?? emptyRecord(),
      phase: 'Successful' as const,
      done: true,
      waitSeconds: 1,
      summary,
      promotedBy: promote.by,
    };
  }
  const outcome = await withPrometheus(deps.metrics, cluster, signal, (client) =>
    runRound(
      input.state,
      input.metrics,
      {
        service: d.service,
        canaryService: canaryName(d.service),
        cluster: cluster.name,
        digest: d.digest,
        tag: d.tag,
      },
      client.queryFn(),
      deps.now(),
      { signal },
    ),
  );
  // Keep the record small in the state payload: a few measurements per metric plus the decisive one.
  const record = appendToRecord(input.record, outcome, { perMetric: 3, maxBytes: 12_000 });
  // A call inside the initial delay measures nothing: no round to record.
  if (outcome.state.round > (input.state?.round ?? 0) || outcome.done)
    await deps.record.noteRound(
      d.id,
      {
        round: Math.max(1, outcome.state.round),
        at: deps.now().toISOString(),
        phase: outcome.done ? outcome.phase : 'Running',
        summary: outcome.decisive?.sentence ?? outcome.summary,
        measurements: outcome.measurements.map((m) => ({
          metric: m.metric,
          value: m.value === undefined || m.value === null ? null : Number(m.value),
          phase: m.phase,
          sentence: describeMeasurement(m),
          at: m.at,
        })),
      },
      signal,
    );
  if (outcome.done && outcome.phase !== 'Successful') {
    const decisive = outcome.decisive?.sentence ?? outcome.summary;
    await notify(
      deps,
      d,
      {
        transition: 'analysis-failed',
        cluster: cluster.name,
        summary: `canary of ${d.service} ${d.tag} on ${cluster.name}: analysis ${outcome.phase}: ${decisive}`,
        details: { measurements: describeRecord(record).slice(-10) },
      },
      signal,
    );
    throw new AnalysisFailedError(`analysis ${outcome.phase} on ${cluster.name}: ${decisive}`);
  }
  return {
    state: outcome.state,
    record,
    phase: outcome.phase,
    done: outcome.done,
    waitSeconds: Math.max(1, Math.ceil(outcome.waitSeconds)),
    summary: outcome.summary,
  };
}

/** The canary converged: tell people, and start the analysis with no state. */
export async function canaryReadyStep(
  deps: Pick<StepDeps, 'record' | 'notifier'>,
  input: ClusterInput & { canary: ChangeResult & { replicas?: number } },
  signal?: AbortSignal,
) {
  const d = input.deployment;
  await notify(
    deps,
    d,
    {
      transition: 'canary-ready',
      cluster: input.cluster.name,
      summary: `canary ${input.canary.service} of ${d.tag} runs on ${input.cluster.name}${input.canary.replicas ? ` (${input.canary.replicas} replica(s))` : ''}; analysis starts`,
    },
    signal,
  );
  return {
    state: null,
    record: null,
    phase: 'Running',
    done: false,
    waitSeconds: 1,
    summary: 'analysis starting',
  };
}
