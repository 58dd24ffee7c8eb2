/** The local stand-in for the AWS APIs the deployer calls: SSM, SNS, Step Functions, ECR and DynamoDB on one server. */
export { DYNAMODB_TARGET_PREFIX, DynamoDbStandIn, type TimeToLiveDescription } from './dynamodb.js';
export { ECR_TARGET_PREFIX, EcrStandIn } from './ecr.js';
export { QueryError, QueryRouter } from './query.js';
export { type Manifest, RegistryClient, RegistryError, type RegistryOptions } from './registry-client.js';
export {
  type AwsStandIn,
  type AwsStandInIam,
  type AwsStandInIamOptions,
  type AwsStandInOptions,
  startAwsStandIn,
} from './server.js';
export { registerSfnActions, SFN_TARGET_PREFIX, type SfnBackend, SfnBackendError } from './sfn.js';
export {
  type PublishedMessage,
  type PublishListener,
  type SnsAttributeValue,
  SnsStandIn,
  type SnsTopic,
} from './sns.js';
export {
  ParameterStore,
  type ParameterTier,
  type ParameterType,
  type PutParameterInput,
  registerParameterActions,
  type StoredParameter,
} from './ssm-parameters.js';
export {
  ApiThrottle,
  apiOfTarget,
  sendThrottlingError,
  type ThrottleConfig,
  type ThrottleCount,
  type ThrottledApi,
  TokenBucket,
  type TokenBucketOptions,
} from './throttle.js';
