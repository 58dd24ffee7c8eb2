/** The local SSM stand-in: SSM API (AWS JSON 1.1), message gateway relay, and agent. */
export { type StandInAgent, type StartAgentOptions, startAgent } from './agent.js';
export {
  type AwsJsonContext,
  AwsJsonError,
  type AwsJsonHandler,
  AwsJsonRouter,
  requireString,
} from './aws-json.js';
export { BUILTIN_DOCUMENTS, type SessionDocument } from './documents.js';
export { type FaultConfig, type FaultStats, Faults } from './faults.js';
export { MessageGateway, type RelaySessionInfo } from './mgs.js';
export { registerSessionActions } from './session-actions.js';
export { type SsmStandIn, type SsmStandInOptions, startSsmStandIn } from './stand-in.js';
