/** The AWS-like latency model for the local stand-ins: profiles, the delaying TCP proxy, the SSM set-up behind it. */
export {
  type AgentModel,
  type LatencyProfile,
  type LinkModel,
  newConnectionMs,
  PROFILES,
  type ProfileName,
  profile,
  SOURCES,
  type Source,
  type SourceKey,
} from './model.js';
export {
  type DelayProxy,
  type DelayProxyOptions,
  type DelayProxyPending,
  type DelayProxyStats,
  type LinkDelay,
  linkDelay,
  startDelayProxy,
} from './proxy.js';
export {
  type ModelledSsm,
  type ModelledSsmClient,
  type ModelledSsmOptions,
  startModelledSsm,
} from './ssm.js';
