export {
  type AslDefinition,
  BLOCKING_RULES,
  collectStates,
  DefinitionError,
  isDistributedMap,
  type LintRule,
  type LintViolation,
  lintDefinition,
  parseDefinition,
  substituteDefinition,
  type ValidationResult,
  validateDefinition,
} from './definition.js';
export {
  DISTRIBUTED_MAP_MAX_CONCURRENCY,
  EXCEED_TOLERATED_FAILURE_THRESHOLD,
  type ExecutionDescription,
  type ExecutionStats,
  type ExecutionStatus,
  type ExecutionStatusChangeEvent,
  type HistoryEvent,
  type InvocationContext,
  type MapRunCounts,
  type MapRunDescription,
  type MapRunListItem,
  type MapRunStatus,
  type StateMachineRegistration,
  TASK_TOKEN_PLACEHOLDER,
  type TaskHandler,
  WorkflowEngine,
  type WorkflowEngineOptions,
} from './engine.js';
export { historyLimitCause, MAX_HISTORY_EVENTS } from './history.js';
export { type LocalLambdaContext, lambdaContext, lambdaHandler } from './lambda-context.js';
export { type SfnBackend, SfnBackendError } from './sfn-backend.js';
