import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { Workflow } from '../deploy/ports.js';
import { DeployerError } from '../errors.js';

/** Step Functions did not answer (throttled, unavailable): the step is retried. */
export class WorkflowUnavailableError extends DeployerError {
  override readonly name = 'WorkflowUnavailableError';
  readonly retryable = true;
}

/** The token no longer waits: it timed out, was answered, or its execution ended. */
const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

function wrap(action: string, err: unknown): never {
  throw new WorkflowUnavailableError(`Step Functions ${action} failed: ${(err as Error).name}`, {
    cause: err,
  });
}

/** Step Functions as the use cases' Workflow port. */
export function sfnWorkflow(sfn: SFNClient): Workflow {
  return {
    async executionStatus(executionArn, signal) {
      try {
        const out = await sfn.send(new DescribeExecutionCommand({ executionArn }), { abortSignal: signal });
        return out.status;
      } catch (err) {
        if ((err as Error).name === 'ExecutionDoesNotExist') return undefined;
        return wrap('DescribeExecution', err);
      }
    },
    async start(stateMachineArn, name, input, signal) {
      try {
        const out = await sfn.send(
          new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
          { abortSignal: signal },
        );
        return { started: true, executionArn: out.executionArn as string };
      } catch (err) {
        if ((err as Error).name === 'ExecutionAlreadyExists') {
          const arn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
          return { started: false, executionArn: arn };
        }
        return wrap('StartExecution', err);
      }
    },
    async sendTaskSuccess(token, output, signal) {
      try {
        await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }), {
          abortSignal: signal,
        });
        return true;
      } catch (err) {
        if (GONE.has((err as Error).name)) return false;
        return wrap('SendTaskSuccess', err);
      }
    },
    async sendTaskFailure(token, error, cause, signal) {
      try {
        await sfn.send(new SendTaskFailureCommand({ taskToken: token, error, cause }), {
          abortSignal: signal,
        });
        return true;
      } catch (err) {
        if (GONE.has((err as Error).name)) return false;
        return wrap('SendTaskFailure', err);
      }
    },
  };
}
