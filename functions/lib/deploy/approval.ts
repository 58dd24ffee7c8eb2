import { DeployerError } from '../errors.js';
import type { DeploymentRecord, Workflow } from './ports.js';

/** Nothing waits for a decision on this deployment (unknown id, not manual, already decided). */
export class NoPendingApprovalError extends DeployerError {
  override readonly name = 'NoPendingApprovalError';
  readonly retryable = false;
}

export interface Decision {
  deploymentId: string;
  /** The caller's identity as API Gateway's IAM authorizer saw it. */
  approver: string;
  reason?: string;
}

/**
 * Approves or rejects a canary waiting for a person: the stored task token is completed with
 * SendTaskSuccess ({decision, approver, at}) or SendTaskFailure (ApprovalRejectedError), so that
 * the workflow promotes or rolls back. The token never leaves the deployer.
 * @throws NoPendingApprovalError
 */
export async function decide(
  deps: { record: DeploymentRecord; workflow: Workflow },
  d: Decision,
  decision: 'approve' | 'reject',
  signal?: AbortSignal,
): Promise<{ deploymentId: string; decision: 'approved' | 'rejected'; approver: string }> {
  const task = await deps.record.waitingTask(d.deploymentId, 'approval', signal);
  if (!task) throw new NoPendingApprovalError(`deployment ${d.deploymentId} is not waiting for approval`);
  const answered =
    decision === 'approve'
      ? await deps.workflow.sendTaskSuccess(
          task.token,
          {
            decision: 'approved',
            approver: d.approver,
            reason: d.reason ?? null,
            at: new Date().toISOString(),
          },
          signal,
        )
      : await deps.workflow.sendTaskFailure(
          task.token,
          'ApprovalRejectedError',
          `rejected by ${d.approver}${d.reason ? `: ${d.reason}` : ''}`,
          signal,
        );
  if (!answered)
    throw new NoPendingApprovalError(`deployment ${d.deploymentId} no longer waits for approval`);
  await deps.record.clearWaitingTask(d.deploymentId, 'approval', signal);
  return {
    deploymentId: d.deploymentId,
    decision: decision === 'approve' ? 'approved' : 'rejected',
    approver: d.approver,
  };
}
