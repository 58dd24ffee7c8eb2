/**
 * Drives a canary analysis against a cluster's real Prometheus as the workflow does: one `runRound`
 * per Analyze, a real wait of `waitSeconds` (the Wait state) in between, every outcome appended to
 * the decision record.
 */
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import {
  type AnalysisState,
  type AnalysisVars,
  appendToRecord,
  type DecisionRecord,
  emptyRecord,
  type Measurement,
  type Metric,
  type RoundOutcome,
  runRound,
} from '../../../functions/lib/analysis/index.js';
import { PrometheusClient, type QueryFn } from '../../../functions/lib/prometheus/index.js';
import type { ClusterStatus, FleetStatus } from '../../../local/fleet/fleet.js';
import { promQuery } from '../support/fleet.js';

/** A service name prefix of our own for this run: `an-<6 hex>-<what>`, so reruns never see old series. */
export const runId = () => `an-${randomBytes(3).toString('hex')}`;

export const clusterNamed = (f: FleetStatus, name: string): ClusterStatus => {
  const cluster = f.clusters.find((c) => c.name === name);
  if (!cluster) throw new Error(`the fleet has no cluster ${name}`);
  return cluster;
};

/** The production client on a cluster's Prometheus, as `runRound` takes it. */
export const queryFor = (c: ClusterStatus): QueryFn =>
  new PrometheusClient({ url: c.prometheusUrl, timeoutMs: 5_000 }).queryFn();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One analysis in progress: its state, every outcome, and the decision record. */
export class LiveAnalysis {
  state: AnalysisState | undefined;
  record: DecisionRecord = emptyRecord();
  readonly outcomes: RoundOutcome[] = [];

  constructor(
    readonly metrics: readonly Metric[],
    readonly vars: AnalysisVars,
    readonly query: QueryFn,
  ) {}

  /** One Analyze: a round at the current time. */
  async round(): Promise<RoundOutcome> {
    const outcome = await runRound(this.state, this.metrics, this.vars, this.query, new Date());
    this.outcomes.push(outcome);
    this.record = appendToRecord(this.record, outcome);
    this.state = outcome.state;
    return outcome;
  }

  /** Rounds with the real waits in between until the analysis is decided; fails past `maxRounds`. */
  async untilDone(maxRounds = 12): Promise<RoundOutcome> {
    for (;;) {
      const outcome = await this.round();
      if (outcome.done) return outcome;
      if (this.outcomes.length >= maxRounds) {
        throw new Error(`analysis undecided after ${maxRounds} rounds: ${outcome.summary}`);
      }
      await sleep(outcome.waitSeconds * 1000);
    }
  }

  /** The analysis phase after each round, e.g. `['Running', 'Running', 'Successful']`. */
  get phases(): string[] {
    return this.outcomes.map((o) => o.phase);
  }

  /** Every measurement of one metric, in order. */
  measurementsOf(metric: string): Measurement[] {
    return this.outcomes.flatMap((o) => o.measurements.filter((m) => m.metric === metric));
  }
}

/**
 * Waits until Prometheus has scraped every task of each service at least `samples` times over the
 * last 30 s, so the first round sees a window with data, as it would after WaitForCanary.
 */
export async function waitForScrapes(
  c: ClusterStatus,
  services: ReadonlyArray<{ name: string; replicas: number }>,
  samples = 4,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Map(services.map((s) => [s.name, s.replicas]));
  while (pending.size > 0) {
    for (const [name, replicas] of pending) {
      const [ready] = await promQuery(
        c.prometheusUrl,
        `count(count_over_time(up{service="${name}",cluster="${c.name}"}[30s]) >= ${samples})`,
      );
      if ((ready?.value ?? 0) >= replicas) pending.delete(name);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`Prometheus of ${c.name} has not scraped ${[...pending.keys()].join(', ')} enough`);
    }
    await sleep(2_000);
  }
}

/** Kills one running container of a service, as a crash or the OOM killer would; returns its task id. */
export async function killOneTask(docker: Docker, service: string): Promise<string> {
  const [container] = await docker.listContainers({
    filters: { label: [`com.docker.swarm.service.name=${service}`] },
  });
  if (!container) throw new Error(`service ${service} has no running container`);
  await docker.getContainer(container.Id).kill();
  return container.Labels['com.docker.swarm.task.id'] ?? container.Id;
}

/** Numbers as recorded (JSON spells NaN/Inf as strings); undefined when the measurement had none. */
export const num = (value: Measurement['value']): number | undefined =>
  typeof value === 'number'
    ? value
    : value === undefined
      ? undefined
      : Number(value.replace('Inf', 'Infinity'));
