/**
 * Deployments as the API returns them (functions/lib/deploy/view.ts), built by hand: a three-cluster
 * deployment of web (canary c1, waves first = [c1] and rest = [c2, c3]) at successive moments.
 */
import type {
  ClusterView,
  DeploymentSummary,
  DeploymentView,
  WaveView,
} from '../../../functions/lib/deploy/view.js';

export const OLD = `sha256:${'1'.repeat(64)}`;
export const NEW = `sha256:${'a'.repeat(12)}${'b'.repeat(52)}`;
export const ALICE = 'arn:aws:iam::111122223333:user/alice';
export const T0 = '2026-03-01T12:00:00.000Z';
export const at = (seconds: number): string => new Date(Date.parse(T0) + seconds * 1000).toISOString();

export function cluster(name: string, over: Partial<ClusterView> = {}): ClusterView {
  return {
    cluster: name,
    before: OLD,
    after: null,
    step: 'pending',
    progress: null,
    message: null,
    updatedAt: null,
    ...over,
  };
}

export function wave(name: string, clusters: ClusterView[], over: Partial<WaveView> = {}): WaveView {
  return { name, bakeSeconds: 0, state: 'pending', clusters, ...over };
}

/** The deployment just started: the canary is being deployed on c1. */
export function view(over: Partial<DeploymentView> = {}): DeploymentView {
  return {
    id: 'web-v2-aaaaaaaaaaaa',
    service: 'web',
    policy: 'web',
    repository: 'demo',
    tag: 'v2',
    digest: NEW,
    status: 'running',
    trigger: 'push',
    startedAt: T0,
    clusters: [
      { cluster: 'c1', before: OLD, after: null },
      { cluster: 'c2', before: OLD, after: null },
      { cluster: 'c3', before: OLD, after: null },
    ],
    actions: [],
    canary: { cluster: 'c1', percent: 34 },
    waves: [
      wave('first', [cluster('c1', { step: 'canary-deploying' })], { bakeSeconds: 5 }),
      wave('rest', [cluster('c2'), cluster('c3')]),
    ],
    analysis: { phase: 'Pending', rounds: [] },
    execution: {
      arn: 'arn:aws:states:eu-west-1:111122223333:execution:deployer:web-v2-aaaaaaaaaaaa',
      consoleUrl:
        'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/x',
    },
    ...over,
  };
}

/** Later: the canary passed two rounds, c1 is promoted, the rest wave is promoting c2. */
export function promotingView(over: Partial<DeploymentView> = {}): DeploymentView {
  return view({
    analysis: {
      phase: 'Successful',
      rounds: [
        {
          round: 1,
          at: at(30),
          phase: 'Successful',
          summary: 'success-rate = 0.99 met condition result >= 0.95',
          measurements: [
            {
              metric: 'success-rate',
              value: 0.99,
              phase: 'Successful',
              sentence: 'success-rate = 0.99 met condition result >= 0.95',
              at: at(30),
            },
          ],
        },
      ],
    },
    waves: [
      wave(
        'first',
        [
          cluster('c1', {
            step: 'promoted',
            after: NEW,
            progress: { desired: 3, runningOnTarget: 3, updateState: 'completed' },
          }),
        ],
        { bakeSeconds: 5, state: 'done' },
      ),
      wave(
        'rest',
        [
          cluster('c2', {
            step: 'promoting',
            after: NEW,
            progress: { desired: 3, runningOnTarget: 1, updateState: 'updating' },
          }),
          cluster('c3'),
        ],
        { state: 'promoting' },
      ),
    ],
    actions: [{ action: 'promote', by: ALICE, at: at(40), reason: 'skip the rest' }],
    ...over,
  });
}

/** The end: every cluster runs the new digest. */
export function succeededView(): DeploymentView {
  const v = promotingView();
  return {
    ...v,
    status: 'succeeded',
    finishedAt: at(125),
    clusters: v.clusters.map((c) => ({ ...c, after: NEW })),
    waves: v.waves.map((w) => ({
      ...w,
      state: 'done',
      clusters: w.clusters.map((c) => ({
        ...c,
        step: 'promoted',
        after: NEW,
        progress: { desired: 3, runningOnTarget: 3, updateState: 'completed' },
      })),
    })),
  };
}

/** A bad canary: round 2 failed, c1 restored, the deployment rolled back. */
export function rolledBackView(): DeploymentView {
  return view({
    status: 'rolled-back',
    finishedAt: at(90),
    reason: 'analysis failed: success-rate = 0.70 did not meet condition result >= 0.95',
    analysis: {
      phase: 'Failed',
      rounds: [
        {
          round: 1,
          at: at(30),
          phase: 'Successful',
          summary: 'all measurements successful',
          measurements: [],
        },
        {
          round: 2,
          at: at(60),
          phase: 'Failed',
          summary: '1 of 2 measurements failed',
          measurements: [
            {
              metric: 'latency',
              value: 0.1,
              phase: 'Successful',
              sentence: 'latency = 0.1 met condition result < 0.5',
              at: at(60),
            },
            {
              metric: 'success-rate',
              value: 0.7,
              phase: 'Failed',
              sentence: 'success-rate = 0.70 did not meet condition result >= 0.95',
              at: at(60),
            },
          ],
        },
      ],
    },
    waves: [
      wave(
        'first',
        [
          cluster('c1', {
            step: 'restored',
            progress: { desired: 3, runningOnTarget: 3, updateState: 'completed' },
          }),
        ],
        { bakeSeconds: 5, state: 'failed' },
      ),
      wave('rest', [cluster('c2'), cluster('c3')]),
    ],
  });
}

/** A summary as GET /deployments lists it. */
export function summary(over: Partial<DeploymentSummary> = {}): DeploymentSummary {
  const {
    canary: _c,
    waves: _w,
    analysis: _a,
    execution: _e,
    approvalDeadline: _d,
    ...rest
  } = succeededView();
  return { ...rest, ...over };
}
