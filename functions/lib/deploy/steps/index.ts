/** The deployment workflow's use cases, one module each; the handlers call these. */
export { abortDeployment } from './abort.js';
export { analyzeStep, canaryReadyStep } from './analyze.js';
export {
  type ChangeResult,
  deployCanaryStep,
  progressStep,
  promoteStep,
  removeCanaryStep,
} from './change.js';
export { completeStep } from './complete.js';
export type { Invocation, StepDeps } from './context.js';
export { acquireLockStep, type LockOutcome, takeOverLockStep } from './lock.js';
export { planStep } from './plan.js';
export { type ClusterInput, preflightStep } from './preflight.js';
export { type ExecutionStatusChange, reapExecution, rollbackExecutionName } from './reap.js';
export { concludeRollbackStep, listTouchedStep, rollbackStep } from './rollback.js';
export { bakeWaveStep, requestApprovalStep } from './waiting.js';
export { causeMessage, judgeWaveStep } from './wave.js';
