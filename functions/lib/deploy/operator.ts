import { randomBytes } from 'node:crypto';
import { DeployerError } from '../errors.js';
import { decide, NoPendingApprovalError } from './approval.js';
import type { DeploymentRecord, Workflow } from './ports.js';
import { summaryOf } from './record/history.js';
import { OPERATOR_SOURCE, type OperatorRequest } from './request.js';
import { MAX_EXECUTION_NAME } from './start.js';
import { abortDeployment } from './steps/abort.js';
import {
  type ActionEntry,
  type ActionResult,
  type DeploymentActionName,
  type DeploymentPage,
  type DeploymentStatus,
  type DeploymentView,
  FINAL_STATUSES,
  type HistoryEntry,
  type ServiceActionName,
  type StartedResult,
  type WaveView,
} from './view.js';

/**
 * What an operator asked that cannot be done, as the API answers it: 400 (a field is wrong), 404
 * (no such deployment or service), 409 (not in this state: the state is given), 410 (the approval's
 * task token is no longer valid).
 */
export class OperatorError extends DeployerError {
  override readonly name = 'OperatorError';
  readonly retryable = false;
  constructor(
    readonly httpStatus: 400 | 404 | 409 | 410,
    message: string,
    readonly detail: { status?: DeploymentStatus; field?: string } = {},
  ) {
    super(message);
  }
}

export interface OperatorDeps {
  record: DeploymentRecord;
  workflow: Workflow;
  /** The deployment workflow's ARN (links, and undo/retry/apply start it). */
  stateMachineArn: string;
  now: () => Date;
}

const notFound = (id: string) => new OperatorError(404, `no deployment ${id} is recorded`);

/** The Step Functions console page of a deployment's execution (the deployment id is its name). */
export function executionLinks(stateMachineArn: string, deploymentId: string) {
  const arn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${deploymentId}`;
  const region = stateMachineArn.split(':')[3] ?? 'us-east-1';
  return {
    arn,
    consoleUrl: `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${arn}`,
  };
}

/** GET /deployments: newest first, by service and status. */
export function listDeployments(
  deps: Pick<OperatorDeps, 'record'>,
  query: { service?: string; status?: DeploymentStatus; limit: number; next?: string },
  signal?: AbortSignal,
): Promise<DeploymentPage> {
  return deps.record.listHistory(query, signal);
}

/** GET /deployments/{id}: the deployment as recorded, with its waves, clusters and rounds. */
export async function deploymentView(
  deps: Pick<OperatorDeps, 'record' | 'stateMachineArn'>,
  id: string,
  signal?: AbortSignal,
): Promise<DeploymentView> {
  const entry = await deps.record.history(id, signal);
  if (!entry) throw notFound(id);
  return viewOf(entry, deps.stateMachineArn);
}

export function viewOf(entry: HistoryEntry, stateMachineArn: string): DeploymentView {
  const state = (name: string) => entry.clusterStates[name];
  const waves: WaveView[] = entry.waves.map((w) => {
    const clusters = w.clusters.flatMap((c) => {
      const s = state(c);
      if (!s) return [];
      const { wave: _wave, ...view } = s;
      return [view];
    });
    // A wave's own change starts with its promotion: the canary's steps leave it pending.
    const steps = clusters.map((c) => (c.step.startsWith('canary-') ? 'pending' : c.step));
    const waveState: WaveView['state'] = steps.every((s) => s === 'pending')
      ? 'pending'
      : steps.some((s) => s === 'failed' || s === 'restore-failed')
        ? 'failed'
        : steps.every((s) => s === 'promoted' || s === 'restored') && steps.includes('promoted')
          ? 'done' // a cluster that failed within the wave's budget was restored
          : steps.some((s) => s === 'restoring' || s === 'restored')
            ? 'rolled-back'
            : 'promoting';
    return { name: w.name, bakeSeconds: w.bakeSeconds, state: waveState, clusters };
  });
  // A done wave bakes until the next one moves (or, for the last wave, until the deployment ends).
  waves.forEach((w, i) => {
    const next = waves[i + 1];
    if (
      w.name === entry.baking &&
      w.state === 'done' &&
      (!next || next.state === 'pending') &&
      !FINAL_STATUSES.includes(entry.status)
    )
      w.state = 'baking';
  });
  const last = entry.rounds.at(-1);
  const decided = entry.rounds.find((r) => r.phase !== 'Running');
  return {
    ...summaryOf(entry),
    canary: entry.canary,
    waves,
    analysis: {
      phase: decided?.phase ?? (last ? 'Running' : 'Pending'),
      rounds: entry.rounds,
      ...(decided ? { decidedBy: decided.summary } : {}),
    },
    execution: executionLinks(stateMachineArn, entry.id),
    ...(entry.status === 'awaiting-approval' && entry.approvalDeadline
      ? { approvalDeadline: entry.approvalDeadline }
      : {}),
  };
}

const ACTIONS: readonly DeploymentActionName[] = ['approve', 'reject', 'abort', 'promote', 'pause', 'resume'];

/** The actions on a service, in the order the API names them: each starts a new deployment. */
export const SERVICE_ACTIONS: readonly ServiceActionName[] = ['undo', 'retry', 'apply'];

/** True when `action` is one of POST /deployments/{id}/{action}'s. */
export function isDeploymentAction(action: string): action is DeploymentActionName {
  return (ACTIONS as readonly string[]).includes(action);
}

/** True when `action` is one of POST /services/{name}/{action}'s. */
export function isServiceAction(action: string): action is ServiceActionName {
  return (SERVICE_ACTIONS as readonly string[]).includes(action);
}

/**
 * POST /deployments/{id}/{action}: what the caller asked, done or refused with the state; every
 * action is recorded with the caller's IAM identity in the audit trail.
 * @throws OperatorError
 */
export async function act(
  deps: Pick<OperatorDeps, 'record' | 'workflow' | 'now'>,
  id: string,
  action: DeploymentActionName,
  by: string,
  reason: string | undefined,
  signal?: AbortSignal,
): Promise<ActionResult> {
  const entry = await deps.record.history(id, signal);
  if (!entry) throw notFound(id);
  const status = entry.status;
  const refuse = (why: string) => new OperatorError(409, `deployment ${id} is ${status}: ${why}`, { status });
  const note: ActionEntry = {
    action,
    by,
    at: deps.now().toISOString(),
    ...(reason ? { reason } : {}),
  };
  const done = async (outcome: string): Promise<ActionResult> => {
    await deps.record.noteAction(id, note, signal);
    return { deploymentId: id, action, by, outcome };
  };
  if (FINAL_STATUSES.includes(status)) throw refuse(`it has ended; ${action} applies only while it runs`);

  if (action === 'approve' || action === 'reject') {
    if (status !== 'awaiting-approval') throw refuse('it does not wait for approval');
    const decision = await decideOrExplain(deps, id, by, reason, action, signal);
    if (action === 'approve') await deps.record.noteStatus(id, 'running', { approver: by }, signal);
    return done(decision);
  }
  if (action === 'abort') {
    const { interrupted } = await abortDeployment(
      deps,
      id,
      `aborted by ${by}${reason ? `: ${reason}` : ''}`,
      signal,
    );
    return done(
      `abort requested: it rolls back ${interrupted.length ? `now (its ${interrupted.join(' and ')} wait was ended)` : 'at its next step'}`,
    );
  }
  if (action === 'promote') {
    if (status === 'awaiting-approval') {
      // The analysis runs beside the approval wait: it ends now too.
      await deps.record.requestPromote(id, note, signal);
      await decideOrExplain(deps, id, by, reason ?? 'promoted', 'approve', signal);
      await deps.record.noteStatus(id, 'running', { approver: by }, signal);
      return done('approved, and the rest of the analysis skipped: the canary is promoted to the waves');
    }
    if (entry.rounds.some((r) => r.phase !== 'Running'))
      throw refuse('its analysis is already decided; nothing is left to skip');
    if (status !== 'running' || !(await deps.record.requestPromote(id, note, signal)))
      throw refuse('only a running analysis can be promoted');
    return done('the analysis ends as passed at its next round, skipping the rest');
  }
  if (action === 'pause') {
    if (status === 'paused' || (await deps.record.pauseRequested(id, signal)))
      throw refuse('it is paused already');
    if (status === 'rolling-back') throw refuse('a rollback is not paused');
    if (!(await deps.record.requestPause(id, note, signal)))
      throw refuse('only a running deployment can be paused');
    return done('paused: it holds before its next wave (a change in flight finishes)');
  }
  // resume
  if (!(await deps.record.pauseRequested(id, signal))) throw refuse('it is not paused');
  await deps.record.clearPause(id, signal);
  const hold = await deps.record.waitingTask(id, 'pause', signal);
  // Recorded before the workflow moves on, so that nobody sees it paused while it promotes.
  if (status === 'paused') await deps.record.noteStatus(id, 'running', {}, signal);
  if (hold) {
    await deps.workflow.sendTaskSuccess(hold.token, { resumedBy: by, at: note.at }, signal);
    await deps.record.clearWaitingTask(id, 'pause', signal);
  }
  return done(hold ? 'resumed: the next wave starts now' : 'resumed: it had not reached a wave yet');
}

async function decideOrExplain(
  deps: Pick<OperatorDeps, 'record' | 'workflow'>,
  id: string,
  by: string,
  reason: string | undefined,
  action: 'approve' | 'reject',
  signal?: AbortSignal,
): Promise<string> {
  try {
    const result = await decide(
      deps,
      { deploymentId: id, approver: by, ...(reason ? { reason } : {}) },
      action,
      signal,
    );
    return result.decision === 'approved'
      ? 'approved: the canary is promoted to the waves'
      : 'rejected: it rolls back';
  } catch (err) {
    if (!(err instanceof NoPendingApprovalError)) throw err;
    // The record says it waits, Step Functions says the token is gone: the approval window closed.
    throw new OperatorError(
      410,
      `the approval of deployment ${id} has expired (its task token is no longer valid): the workflow has moved on`,
    );
  }
}

/**
 * POST /services/{name}/undo, /retry and /apply: a new deployment of a digest the service ran
 * through the same workflow (canary, analysis, waves), started by the caller. Undo deploys the
 * digest the latest successful deployment replaced; retry the digest of a failed or rolled-back
 * deployment (the newest, or the one named); apply the digest of the latest successful deployment
 * again, under the policy as it is now (a change of its spec alone: environment, resources,
 * secrets…).
 * @throws OperatorError
 */
export async function redeploy(
  deps: OperatorDeps,
  service: string,
  trigger: ServiceActionName,
  by: string,
  options: { deploymentId?: string; reason?: string },
  signal?: AbortSignal,
): Promise<StartedResult> {
  // An apply to a service never deployed is refused below, with what to do instead.
  if (trigger !== 'apply' && (await deps.record.findHistory(service, () => true, 1, signal)).length === 0)
    throw new OperatorError(404, `no deployment of service ${service} is recorded`);
  let source: HistoryEntry | undefined;
  let digest: string;
  let tag: string;
  if (trigger === 'undo') {
    const [latest] = await deps.record.findHistory(service, (d) => d.status === 'succeeded', 1, signal);
    if (!latest) throw new OperatorError(409, `service ${service} has no successful deployment to undo`);
    source = await deps.record.history(latest.id, signal);
    if (!source) throw notFound(latest.id);
    const befores = [...new Set(source.clusters.map((c) => c.before).filter((b): b is string => !!b))];
    if (befores.length === 0)
      throw new OperatorError(
        409,
        `deployment ${source.id} of ${service} recorded no previous digest on any cluster (it was the first): nothing to undo to`,
      );
    if (befores.length > 1)
      throw new OperatorError(
        409,
        `the clusters ran different digests before deployment ${source.id} (${source.clusters.map((c) => `${c.cluster}: ${c.before ?? 'none'}`).join(', ')}): undo cannot pick one; retry a deployment of the digest you want`,
      );
    digest = befores[0] as string;
    const earlier = await deps.record.findHistory(service, (d) => d.digest === digest, 1, signal);
    tag = earlier[0]?.tag ?? `undo-of-${source.tag}`;
  } else if (trigger === 'apply') {
    const [latest] = await deps.record.findHistory(service, (d) => d.status === 'succeeded', 1, signal);
    if (!latest)
      throw new OperatorError(
        409,
        `nothing to apply the policy to: no successful deployment of ${service} yet; push an image`,
      );
    source = await deps.record.history(latest.id, signal);
    if (!source) throw notFound(latest.id);
    digest = source.digest;
    tag = source.tag;
  } else {
    const id = options.deploymentId;
    if (id) {
      source = await deps.record.history(id, signal);
      if (!source || source.service !== service)
        throw new OperatorError(404, `no deployment ${id} of service ${service} is recorded`);
      if (source.status !== 'failed' && source.status !== 'rolled-back')
        throw new OperatorError(
          409,
          `deployment ${id} is ${source.status}: only a failed or rolled-back deployment is retried`,
          {
            status: source.status,
          },
        );
    } else {
      const [latest] = await deps.record.findHistory(
        service,
        (d) => d.status === 'failed' || d.status === 'rolled-back',
        1,
        signal,
      );
      if (!latest)
        throw new OperatorError(409, `service ${service} has no failed or rolled-back deployment to retry`);
      source = await deps.record.history(latest.id, signal);
      if (!source) throw notFound(latest.id);
    }
    digest = source.digest;
    tag = source.tag;
  }
  if (!source.registry)
    throw new OperatorError(409, `deployment ${source.id} recorded no registry: it cannot be deployed again`);
  const name = executionNameOf(trigger, service, digest);
  const request: OperatorRequest = {
    source: OPERATOR_SOURCE,
    'detail-type': 'Redeploy Requested',
    id: name,
    time: deps.now().toISOString(),
    detail: {
      trigger,
      policy: source.policy,
      repository: source.repository,
      tag,
      digest,
      registry: source.registry,
      of: source.id,
      requestedBy: by,
      ...(options.reason ? { reason: options.reason } : {}),
    },
  };
  const started = await deps.workflow.start(deps.stateMachineArn, name, request, signal);
  return {
    deploymentId: name,
    executionArn: started.executionArn,
    service,
    digest,
    of: source.id,
    trigger,
  };
}

/** `<undo|retry|apply>-<service>-<digest 12>-<random 8>`, at most 80 characters of [A-Za-z0-9-_]. */
function executionNameOf(trigger: ServiceActionName, service: string, digest: string): string {
  const tail = `-${digest.replace(/^sha256:/, '').slice(0, 12)}-${randomBytes(4).toString('hex')}`;
  const head = `${trigger}-${service.replace(/[^A-Za-z0-9_-]+/g, '-')}`;
  return head.slice(0, MAX_EXECUTION_NAME - tail.length) + tail;
}
