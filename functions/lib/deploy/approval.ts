import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { DeployerError } from '../errors.js';
import type { DeploymentStore } from './store.js';

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
  store: DeploymentStore,
  sfn: SFNClient,
  d: Decision,
  decision: 'approve' | 'reject',
  signal?: AbortSignal,
): Promise<{ deploymentId: string; decision: 'approved' | 'rejected'; approver: string }> {
  const token = await store.approvalToken(d.deploymentId, signal);
  if (!token) throw new NoPendingApprovalError(`deployment ${d.deploymentId} is not waiting for approval`);
  try {
    if (decision === 'approve') {
      const output = JSON.stringify({
        decision: 'approved',
        approver: d.approver,
        reason: d.reason ?? null,
        at: new Date().toISOString(),
      });
      await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output }), { abortSignal: signal });
    } else {
      const cause = `rejected by ${d.approver}${d.reason ? `: ${d.reason}` : ''}`;
      await sfn.send(
        new SendTaskFailureCommand({ taskToken: token, error: 'ApprovalRejectedError', cause }),
        { abortSignal: signal },
      );
    }
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TaskTimedOut' || name === 'TaskDoesNotExist' || name === 'InvalidToken') {
      throw new NoPendingApprovalError(
        `deployment ${d.deploymentId} no longer waits for approval (${name})`,
        { cause: err },
      );
    }
    throw err;
  }
  return {
    deploymentId: d.deploymentId,
    decision: decision === 'approve' ? 'approved' : 'rejected',
    approver: d.approver,
  };
}
