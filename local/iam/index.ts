/** IAM for the local stand-ins: SigV4 verification, principals, and authorization with a policy simulator. */
export {
  authorizationRequests,
  type IamService,
  type MappingEnvironment,
  parameterArn,
  type StoredParameterInfo,
} from './actions.js';
export {
  type AuthorizationRequest,
  Authorizer,
  accessDeniedMessage,
  authorize,
  type Decision,
  type EvaluationResult,
  globalContext,
  type RequestEnvironment,
} from './authorize.js';
export {
  type Admitted,
  type IamDecisionRecord,
  IamGate,
  type IamGateOptions,
  type IamRefusal,
} from './gate.js';
export {
  type PolicyDocument,
  type Principal,
  PrincipalRegistry,
  type ResolvedPrincipal,
  resolvePrincipal,
  rolePrincipal,
} from './principals.js';
export {
  accessKeyIdOf,
  INVALID_TOKEN_MESSAGE,
  MISSING_TOKEN_MESSAGE,
  SIGNATURE_MISMATCH_MESSAGE,
  type SigV4Expectations,
  type SigV4FailureCode,
  type SigV4Request,
  type SigV4Result,
  type SigV4Secret,
  verifySigV4,
} from './sigv4.js';
