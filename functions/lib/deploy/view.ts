/**
 * What the operators' API returns and the `deployer` CLI shows: the contract between them.
 * Every field is what the deployer recorded as it happened (never what it intended): a cluster that
 * was not changed has no `after` digest.
 */

/** Every status a deployment can be in, in the order of its life. */
export const DEPLOYMENT_STATUSES = [
  'running',
  'awaiting-approval',
  'paused',
  'rolling-back',
  'succeeded',
  'rolled-back',
  'failed',
] as const;

/** Where a deployment stands, as a person asks it. */
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** The statuses in which nothing more will happen to a deployment. */
export const FINAL_STATUSES: readonly DeploymentStatus[] = ['succeeded', 'rolled-back', 'failed'];

/** Why a deployment was started: a push, or an operator's undo, retry or apply (of the policy's spec). */
export type Trigger = 'push' | 'undo' | 'retry' | 'apply';

/** An operator's action on a service (POST /services/{name}/{action}): it starts a new deployment. */
export type ServiceActionName = Exclude<Trigger, 'push'>;

/** An operator's action, on a deployment or on a service, with the caller's IAM identity. */
export type ActionName = 'approve' | 'reject' | 'abort' | 'promote' | 'pause' | 'resume' | ServiceActionName;

/** An operator's action on a running deployment (POST /deployments/{id}/{action}). */
export type DeploymentActionName = Exclude<ActionName, ServiceActionName>;

export interface ActionEntry {
  action: ActionName;
  /** The caller's IAM ARN as API Gateway's IAM authorizer saw it. */
  by: string;
  at: string;
  reason?: string;
}

/** What a step last did to one cluster. */
export type ClusterStep =
  | 'pending'
  | 'drift'
  | 'canary-deploying'
  | 'canary-running'
  | 'promoting'
  | 'promoted'
  | 'failed'
  | 'restoring'
  | 'restored'
  | 'restore-failed';

export interface ClusterProgress {
  desired: number;
  runningOnTarget: number;
  updateState: string | null;
}

/** One cluster in the audit trail: the digest it ran before and the one it runs after (null: not changed). */
export interface ClusterDigests {
  cluster: string;
  before: string | null;
  after: string | null;
}

export interface ClusterView extends ClusterDigests {
  step: ClusterStep;
  progress: ClusterProgress | null;
  /** The last error or note of a step on this cluster (never a secret). */
  message: string | null;
  updatedAt: string | null;
}

export interface MeasurementView {
  metric: string;
  value: number | null;
  phase: 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
  /** The sentence the analysis wrote ("success-rate = 0.99 met condition …"). */
  sentence: string;
  at: string;
}

export interface AnalysisRoundView {
  round: number;
  at: string;
  /** The round's phase: Running while undecided, then the verdict. */
  phase: 'Running' | 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
  summary: string;
  measurements: MeasurementView[];
}

export interface WaveView {
  name: string;
  bakeSeconds: number;
  /** rolled-back: its clusters are being or were restored (the deployment is rolling back). */
  state: 'pending' | 'promoting' | 'baking' | 'done' | 'failed' | 'rolled-back';
  clusters: ClusterView[];
}

/** One deployment as listed (GET /deployments) and kept in the audit trail (no expiry). */
export interface DeploymentSummary {
  id: string;
  service: string;
  policy: string;
  repository: string;
  tag: string;
  digest: string;
  status: DeploymentStatus;
  trigger: Trigger;
  /** For undo, retry and apply: the deployment whose digest this one restores or redeploys. */
  of?: string;
  /** Who started it: the pusher is not known to the deployer, an operator's ARN is. */
  requestedBy?: string;
  startedAt: string;
  finishedAt?: string;
  /** Why it ended as it did: the decisive measurement or error, in a sentence. */
  reason?: string;
  approver?: string;
  clusters: ClusterDigests[];
  actions: ActionEntry[];
}

/** One deployment in full (GET /deployments/{id}). */
export interface DeploymentView extends DeploymentSummary {
  canary: { cluster: string; percent: number } | null;
  waves: WaveView[];
  analysis: {
    phase: AnalysisRoundView['phase'] | 'Pending';
    rounds: AnalysisRoundView[];
    /** The deciding round's sentence: its decisive measurement, or the operator who promoted. */
    decidedBy?: string;
  };
  /** Execution ARN and the Step Functions console URL of the execution. */
  execution: { arn: string; consoleUrl: string };
  /** Set while the canary waits for a person: until when. */
  approvalDeadline?: string;
}

/** A page of GET /deployments (newest first); `next` is the opaque token of the following page. */
export interface DeploymentPage {
  items: DeploymentSummary[];
  next?: string;
}

/** The body of every 4xx/5xx answer of the API. */
export interface ApiError {
  message: string;
  /** For 409: the deployment's status at the time. */
  status?: DeploymentStatus;
  /** For 400: the field that was wrong ("body.reason", "query.limit"). */
  field?: string;
}

/** The answer to POST /deployments/{id}/{action}. */
export interface ActionResult {
  deploymentId: string;
  action: ActionName;
  by: string;
  /** What the action did at once ("approved", "abort requested", "paused at the next wave"…). */
  outcome: string;
}

/** The answer to POST /services/{name}/undo, /retry and /apply: the new deployment. */
export interface StartedResult {
  deploymentId: string;
  executionArn: string;
  service: string;
  digest: string;
  of: string;
  trigger: ServiceActionName;
}

/** One deployment as the record keeps it for people (the audit trail): never expires. */
export interface HistoryEntry extends DeploymentSummary {
  image: string;
  registry?: { account: string; region: string };
  canary: { cluster: string; percent: number } | null;
  waves: Array<{ name: string; bakeSeconds: number; clusters: string[] }>;
  /** Every planned cluster's state, by name. */
  clusterStates: Record<string, ClusterView & { wave: string }>;
  rounds: AnalysisRoundView[];
  /** Until when the latest approval request waits. */
  approvalDeadline?: string;
  /** The wave whose bake started last. */
  baking?: string;
}
