import { z } from 'zod';
import { type ExecutionStatusChange, reapExecution } from '../lib/deploy/steps/reap.js';
import { stepHandler } from '../lib/handler.js';

const input = z.looseObject({
  detail: z.looseObject({
    executionArn: z.string(),
    stateMachineArn: z.string(),
    name: z.string(),
    status: z.string(),
    input: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

/** ReapExecution (EventBridge rule on executions that ended without succeeding): finishes what they left. */
export const handler = stepHandler('ReapExecution', input, (deps, event, signal) =>
  reapExecution(deps, event as unknown as ExecutionStatusChange, signal),
);
