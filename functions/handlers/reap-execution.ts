import { z } from 'zod';
import { type ExecutionStatusChange, reapExecution } from '../lib/deploy/reap.js';
import { stepHandler } from '../lib/handler.js';

const input = z.looseObject({
  detail: z.looseObject({
    executionArn: z.string(),
    stateMachineArn: z.string(),
    name: z.string(),
    status: z.string(),
    input: z.string().nullish(),
  }),
});

/** ReapExecution (EventBridge rule on stopped / timed-out executions): rolls back what they touched. */
export const handler = stepHandler('ReapExecution', input, (deps, event, signal) =>
  reapExecution(deps, event as unknown as ExecutionStatusChange, signal),
);
