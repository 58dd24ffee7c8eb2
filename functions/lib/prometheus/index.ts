export {
  createPrometheusClient,
  type InstantQueryOptions,
  type PrometheusAuth,
  PrometheusClient,
  type PrometheusClientOptions,
  type QueryFn,
} from './client.js';
export {
  type AwsSecretReaderOptions,
  awsSecretReader,
  describeSecretRef,
  prometheusAuth,
  type SecretReader,
} from './credentials.js';
export * from './errors.js';
export { parseQueryData, parseSampleValue, type QueryResult, type Sample } from './result.js';
export { type CredentialsInput, credentialsFromEnv, type SigV4Options, signSigV4 } from './sigv4.js';
