import type { SfnBackend } from '../workflow/sfn-backend.js';
import type { EventBridgeEvent, EventBusTarget } from './bus.js';

/**
 * A Step Functions state machine as a rule target, as EventBridge drives it: StartExecution with
 * the whole event as input and no execution name (an AWS target has no name field, so two
 * deliveries of one event start two executions; the workflow has to be idempotent). Errors that a
 * retry cannot fix (no such state machine, a malformed ARN) are not retried, like EventBridge's
 * NO_RESOURCE/NO_PERMISSIONS failures; they go straight to the dead-letter list.
 */
export function stepFunctionsTarget(
  sfn: Pick<SfnBackend, 'startExecution'>,
  stateMachineArn: string,
  options: { id?: string; onStarted?: (executionArn: string, event: EventBridgeEvent) => void } = {},
): EventBusTarget {
  return {
    id: options.id ?? stateMachineArn,
    async deliver(event) {
      try {
        const { executionArn } = await sfn.startExecution({ stateMachineArn, input: JSON.stringify(event) });
        options.onStarted?.(executionArn, event);
      } catch (err) {
        const type = (err as { type?: unknown }).type;
        if (
          type === 'StateMachineDoesNotExist' ||
          type === 'InvalidArn' ||
          type === 'InvalidExecutionInput'
        ) {
          throw Object.assign(err as Error, { retryable: false });
        }
        throw err;
      }
    },
  };
}
