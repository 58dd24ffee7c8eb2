import { type ExecutionStatusChange, reapExecution } from '../lib/deploy/steps/reap.js';
import { notifier, record, workflow } from '../lib/deps.js';
import { stepHandler } from '../lib/handler.js';
import * as z from '../lib/zod.js';

const input = z.looseObject({
  detail: z.looseObject({
    executionArn: z.string(),
    stateMachineArn: z.string(),
    name: z.string(),
    status: z.string(),
    input: z.nullish(z.string()),
    error: z.nullish(z.string()),
    cause: z.nullish(z.string()),
  }),
});

/** ReapExecution (EventBridge rule on executions that ended without succeeding): finishes what they left. */
export const handler = stepHandler(
  'ReapExecution',
  input,
  { notifier, record, workflow },
  (deps, event, signal) => reapExecution(deps, event as unknown as ExecutionStatusChange, signal),
);
