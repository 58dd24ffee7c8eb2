import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * The deployer's own metrics, as CloudWatch embedded metric format (EMF) records on stdout
 * (Powertools Metrics): CloudWatch Logs turns them into metrics of the namespace SwarmDeployer,
 * with no AWS client and no call in the function; the local twin reads the same lines from each
 * function's output and serves them to Prometheus (local/twin/emf.ts).
 *
 * Two kinds of dimensions:
 * - the deployer's own work (StepLatency, StepErrors, SsmSessionOpenTime, SsmSessionReuses) carries Powertools'
 *   `service` dimension, the deployer's name (POWERTOOLS_SERVICE_NAME, default swarm-deployer),
 *   with `step` ([service, step]) or `cluster` ([service, cluster] and [service]);
 * - deployments (started, succeeded, rolled back, failed, their times, lock waits) carry `service`,
 *   the Swarm service deployed, and come a second time without it: [service] and [] (the empty
 *   dimension set is a metric with no dimension, the fleet-wide series the stack's alarms watch);
 *   analysis verdicts: [service, verdict] and [verdict].
 */
export const METRICS_NAMESPACE = 'SwarmDeployer';

/** The metrics' names, for the stack's dashboard and alarms. */
export const METRIC = {
  /** ms one invocation of a step took (dimensions service, step). */
  stepLatency: 'StepLatency',
  /** 1 for an invocation that failed, 0 otherwise: Sum is the failures, SampleCount the invocations. */
  stepErrors: 'StepErrors',
  /**
   * ms from StartSession to an open tunnel (dimensions service, cluster; and service alone): one per
   * session opened, so its SampleCount is the sessions opened.
   */
  ssmSessionOpenTime: 'SsmSessionOpenTime',
  /**
   * 1 per use of a cluster's tunnel that needed no StartSession: a session the warm container kept
   * open from an earlier use (functions/lib/ssm/pool.ts). Dimensions service, cluster; and service alone.
   */
  ssmSessionReuses: 'SsmSessionReuses',
  /** A deployment took its service's lock and starts changing clusters. */
  deploymentsStarted: 'DeploymentsStarted',
  /** A deployment promoted every wave (within the waves' failure budgets). */
  deploymentsSucceeded: 'DeploymentsSucceeded',
  /** A deployment was rolled back: every cluster it touched was restored. */
  deploymentsRolledBack: 'DeploymentsRolledBack',
  /**
   * A deployment that took the lock ended neither promoted nor cleanly rolled back: partially
   * deployed, a rollback that failed or never concluded, an execution that ended before concluding.
   */
  deploymentsFailed: 'DeploymentsFailed',
  /** ms from the plan (plannedAt) to success. */
  timeToDeploy: 'TimeToDeploy',
  /** ms from the plan (plannedAt) to the rollback's conclusion, every touched cluster restored. */
  timeToRollBack: 'TimeToRollBack',
  /** One per finished canary analysis (dimension verdict: Successful, Failed, Inconclusive, Error). */
  analysisVerdicts: 'AnalysisVerdicts',
  /** A deployment found its service's lock held by another and waits (queue or supersede). */
  lockWaits: 'LockWaits',
} as const;

/** The container's metrics: one instance, published after every invocation by logMetrics. */
export const deployerMetrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'swarm-deployer',
});

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * One metric on a record of its own, under two dimension sets: `common` with `split`, and `common`
 * alone (the series across what `split` tells apart). `own` adds the deployer's default `service`
 * dimension to both; a deployment's metric goes without it (its `service` is the one deployed).
 * (`common` goes in as default dimensions: a key in two dimension sets makes Powertools warn.)
 */
function emit(
  name: string,
  unit: Unit,
  value: number,
  split: Record<string, string>,
  common: Record<string, string>,
  own: boolean,
) {
  try {
    const single = deployerMetrics.singleMetric();
    if (!own) single.clearDefaultDimensions();
    single.setDefaultDimensions(common);
    single.addDimensions(split);
    single.addDimensions({});
    single.addMetric(name, unit, value);
  } catch {
    // A metric is never worth failing the work it measures (Powertools throws only on invalid
    // names, units or values, which these constants and measured numbers are not).
  }
}

/** A deployment's metric: by `service` (and `extra`), and by `extra` alone across services. */
const deploymentMetric = (
  name: string,
  unit: Unit,
  value: number,
  service: string,
  extra: Record<string, string> = {},
) => emit(name, unit, value, { service }, extra, false);

/** The step's latency and whether it failed, on the invocation's record (published by logMetrics). */
export function recordStep(step: string, ms: number, failed: boolean): void {
  deployerMetrics.addDimension('step', step);
  deployerMetrics.addMetric(METRIC.stepLatency, MetricUnit.Milliseconds, ms);
  deployerMetrics.addMetric(METRIC.stepErrors, MetricUnit.Count, failed ? 1 : 0);
}

/** How long an SSM session to `cluster` took to open (StartSession to the tunnel's handshake). */
export function recordSessionOpen(cluster: string, ms: number): void {
  emit(METRIC.ssmSessionOpenTime, MetricUnit.Milliseconds, ms, { cluster }, {}, true);
}

/** A use of `cluster`'s tunnel served by a session already open (no StartSession). */
export function recordSessionReuse(cluster: string): void {
  emit(METRIC.ssmSessionReuses, MetricUnit.Count, 1, { cluster }, {}, true);
}

/** A deployment of `service` ended failed (see METRIC.deploymentsFailed). */
export function recordDeploymentFailed(service: string): void {
  deploymentMetric(METRIC.deploymentsFailed, MetricUnit.Count, 1, service);
}

const VERDICTS = new Set(['Successful', 'Failed', 'Inconclusive', 'Error']);

/** The phase an AnalysisFailedError names ("analysis Inconclusive on c1: …"), Failed when it names none. */
function failedVerdict(error: Error): string {
  const phase = /^analysis (\w+) on /.exec(error.message)?.[1] ?? '';
  return VERDICTS.has(phase) ? phase : 'Failed';
}

const record = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};

/**
 * The deployment metrics a step's outcome means, by the step's name (the steps stay unaware of
 * metrics): AcquireLock (started, lock waits), Analyze (verdicts), Complete (succeeded with its
 * time, or partially deployed: failed), ConcludeRollback (rolled back with its time, or failed).
 * Called once per invocation whose answer reaches the workflow (never for one cut off by a timeout
 * or a stop: its retry counts).
 */
export function recordOutcome(
  step: string,
  input: unknown,
  outcome: { result: unknown } | { error: unknown },
  now: number = Date.now(),
): void {
  const i = record(input);
  const deployment = record(i.deployment ?? record(i.plan).deployment);
  const service = typeof deployment.service === 'string' ? deployment.service : undefined;
  if (!service) return;
  const since = (name: string) => {
    const plannedAt = Date.parse(String(deployment.plannedAt));
    if (Number.isFinite(plannedAt))
      deploymentMetric(name, MetricUnit.Milliseconds, Math.max(0, now - plannedAt), service);
  };
  const count = (name: string, extra: Record<string, string> = {}) =>
    deploymentMetric(name, MetricUnit.Count, 1, service, extra);
  const error = 'error' in outcome ? (outcome.error as Error | undefined) : undefined;
  const result = 'result' in outcome ? record(outcome.result) : {};
  switch (step) {
    case 'AcquireLock':
      if (result.status === 'acquired') count(METRIC.deploymentsStarted);
      else if (result.status === 'busy') count(METRIC.lockWaits);
      return;
    case 'Analyze':
      if (error?.name === 'AnalysisFailedError')
        count(METRIC.analysisVerdicts, { verdict: failedVerdict(error) });
      else if (result.done === true && typeof result.phase === 'string')
        count(METRIC.analysisVerdicts, { verdict: result.phase });
      return;
    case 'Complete':
      if (result.outcome === 'succeeded') {
        count(METRIC.deploymentsSucceeded);
        since(METRIC.timeToDeploy);
      } else if (result.outcome === 'partially-deployed') count(METRIC.deploymentsFailed);
      return;
    case 'ConcludeRollback':
      if (result.outcome === 'rolled-back') {
        count(METRIC.deploymentsRolledBack);
        since(METRIC.timeToRollBack);
      } else if (error?.name === 'RollbackFailedError') count(METRIC.deploymentsFailed);
      return;
  }
}
