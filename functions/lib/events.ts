/**
 * The EventBridge rule patterns the infrastructure deploys, in one place so that the local runtime
 * matches events with exactly the same patterns.
 */

/** Successful ECR pushes to the watched repositories start the deployment workflow. */
export function deployRulePattern(repositories: readonly string[]) {
  return {
    source: ['aws.ecr'],
    'detail-type': ['ECR Image Action'],
    detail: {
      'action-type': ['PUSH'],
      result: ['SUCCESS'],
      'repository-name': [...new Set(repositories)].sort(),
    },
  };
}

/**
 * Executions of the deploy workflow that end without succeeding: stopped and timed out ones skipped
 * their own rollback states, and failed ones may have failed outside their catch paths
 * (States.Runtime, payload or history limits): the reaper finishes what their record left open.
 */
export function reaperRulePattern(stateMachineArn: string) {
  return {
    source: ['aws.states'],
    'detail-type': ['Step Functions Execution Status Change'],
    detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: [stateMachineArn] },
  };
}
