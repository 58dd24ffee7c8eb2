import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { sfnWorkflow } from './adapters/sfn.js';
import { ecrCatalog, perRegion } from './aws.js';
import type { EngineAccess, MetricsAccess } from './clusters/connect.js';
import { ConfigError } from './config/errors.js';
import { type Config, loadConfig } from './config/store.js';
import type { ImageCatalog } from './deploy/plan.js';
import type { DeploymentRecord, Workflow } from './deploy/ports.js';
import { DynamoDedupe, DynamoRecord } from './deploy/record/dynamodb.js';
import type { StepDeps } from './deploy/steps/context.js';
import { Notifier } from './notify/notifier.js';
import { awsSecretReader } from './prometheus/credentials.js';
import { awsContentReader } from './secrets/source.js';
import { EcrRegistryAuth } from './swarm/registry-auth.js';

/**
 * The handlers' logger, one per container: middy's injectLambdaContext adds the invocation's
 * Lambda context to it before anything logs (the step's child loggers and the SSM tunnels inherit it).
 */
export const logger = new Logger({ serviceName: 'swarm-deployer' });

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new ConfigError(
      `environment variable ${name} is not set (the infrastructure sets it on every function)`,
    );
  return v;
}

/*
 * One factory per port, each building its adapter (and the AWS clients under it) once per
 * container, on first use, never at import time. A handler names the factories of the ports its
 * step uses (see stepHandler); a bundle therefore carries only the SDK clients those reach, since
 * a factory no handler names is dropped with its imports. Every AWS client takes its endpoint from
 * the SDK's standard settings, so the local runtime only sets AWS_ENDPOINT_URL and the same code
 * runs against its stand-ins.
 */

interface Built {
  dynamodb: DynamoDBClient;
  ssm: SSMClient;
  ecrFor: (region: string) => ECRClient;
  ssmFor: (region: string) => SSMClient;
  secretsManagerFor: (region: string | undefined) => SecretsManagerClient;
  config: (signal?: AbortSignal) => Promise<Config>;
  catalog: ImageCatalog;
  record: DeploymentRecord;
  workflow: Workflow;
  registryAuth: EcrRegistryAuth;
  notifier: Notifier;
  engines: EngineAccess;
  metrics: MetricsAccess;
  contentReader: StepDeps['contents'];
}
const built: Partial<Built> = {};

/** The container's `key`, built by `make` on first use. */
function once<K extends keyof Built>(key: K, make: () => Built[K]): Built[K] {
  let value = built[key];
  if (value === undefined) {
    value = make();
    built[key] = value;
  }
  return value as Built[K];
}

/**
 * How the deployer's SDK clients retry. A wave over many clusters meets AWS's API quotas at once:
 * StartSession, Parameter Store reads, DynamoDB, SNS Publish, StartExecution and SendTask*
 * answer a call over quota with a throttling error (ThrottlingException, ThrottledException,
 * ProvisionedThroughputExceededException…) that the SDK retries. Its default, three attempts
 * in the "standard" retry mode (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html),
 * is too few when many containers start at once: each container has its own client, so nothing
 * spreads their calls but the back-off, which for a throttle waits a random time below 1 s, 2 s,
 * 4 s… (20 s at most). Eight attempts give a throttled call up to about a minute (half that on
 * average). Measured against the local stand-in, 40 clients starting one call each against a
 * bucket of 3 refilled 3 times a second: 3 attempts left about 29 of the 40 failed, 8 left none.
 * Other retryable errors (5xx, network) back off from 50 ms, so the extra attempts cost them
 * seconds at most. What still fails is the workflow's to retry (the steps' typed errors;
 * SessionStartError for a session the tunnel could not start within its connect timeout).
 *
 * The retry mode stays "standard", which the guide recommends. "adaptive" adds a client-side rate
 * limiter per client: it only sees the calls of its own container, so it does not spread a
 * storm over many containers, and it delays later calls of the same client, to other resources
 * too (against the stand-in it made a burst of 15 calls from one client take about 9 s instead
 * of about 3 s).
 */
export const SDK_RETRY = { maxAttempts: 8, retryMode: 'standard' } as const;

const table = () => requireEnv('DEPLOYER_TABLE');
const dynamodb = () => once('dynamodb', () => new DynamoDBClient({ ...SDK_RETRY }));
const ssm = () => once('ssm', () => new SSMClient({ ...SDK_RETRY }));
// Clients of other regions (registries, clusters) are built on first use, one per region.
const ecrFor = () => once('ecrFor', () => perRegion((region) => new ECRClient({ region, ...SDK_RETRY })));
const ssmFor = () => once('ssmFor', () => perRegion((region) => new SSMClient({ region, ...SDK_RETRY })));
// Secrets Manager: one client per region of an ARN reference, '' (a name) for the SDK's default region.
const secretsManagerFor = () =>
  once('secretsManagerFor', () => {
    const byRegion = perRegion(
      (region) => new SecretsManagerClient(region ? { region, ...SDK_RETRY } : { ...SDK_RETRY }),
    );
    return (region: string | undefined) => byRegion(region ?? '');
  });

/** The configuration in Parameter Store (clusters, policies), read under DEPLOYER_PREFIX. */
export function config(): StepDeps['config'] {
  const prefix = process.env.DEPLOYER_PREFIX ?? '/deployer';
  return once('config', () => (signal) => loadConfig(ssm(), prefix, signal));
}

/** The deployment record: the DynamoDB table DEPLOYER_TABLE. */
export function record(): StepDeps['record'] {
  return once('record', () => new DynamoRecord(dynamodb(), table()));
}

/** Executions of the workflow (start, stop, describe, task tokens): Step Functions. */
export function workflow(): StepDeps['workflow'] {
  return once('workflow', () => sfnWorkflow(new SFNClient({ ...SDK_RETRY })));
}

const ecrAuth = () => once('registryAuth', () => new EcrRegistryAuth(ecrFor(), requireEnv('AWS_REGION')));

/** Pull credentials of the ECR registries the images come from. */
export function registryAuth(): StepDeps['registryAuth'] {
  return ecrAuth();
}

/** The images a tag points to: ECR. */
export function catalog(): StepDeps['catalog'] {
  return once('catalog', () => ecrCatalog(ecrFor(), ecrAuth()));
}

/**
 * Alerts: the SNS topic TOPIC_ARN, each sent once (dedupe in the table); linking to the execution
 * in the console where the function has STATE_MACHINE_ARN.
 */
export function notifier(): StepDeps['notifier'] {
  return once(
    'notifier',
    () =>
      new Notifier(
        new SNSClient({ ...SDK_RETRY }),
        requireEnv('TOPIC_ARN'),
        new DynamoDedupe(dynamodb(), table()),
        {
          stateMachineArn: process.env.STATE_MACHINE_ARN,
        },
      ),
  );
}

/** How a step reaches a cluster's Engine API: SSM tunnels, and TLS material from Parameter Store. */
export function engines(): StepDeps['engines'] {
  return once('engines', () => ({
    ssmFor: ssmFor(),
    // Session failures, resumes and terminations of the SSM tunnels.
    logger,
    async tlsCredentials(parameter, signal) {
      const out = await ssm().send(new GetParameterCommand({ Name: parameter, WithDecryption: true }), {
        abortSignal: signal,
      });
      try {
        return JSON.parse(out.Parameter?.Value ?? '') as { ca: string; cert: string; key: string };
      } catch {
        throw new ConfigError(`parameter ${parameter}: not a JSON object with ca, cert and key`);
      }
    },
  }));
}

/** How a step reaches a cluster's Prometheus: by URL or SSM tunnel, with the secrets its auth names. */
export function metrics(): StepDeps['metrics'] {
  return once('metrics', () => ({
    ssmFor: ssmFor(),
    logger,
    // Secrets Manager clients are built on first use (only for a cluster whose Prometheus needs one).
    secrets: awsSecretReader({ ssm, secretsManager: (region) => secretsManagerFor()(region) }),
  }));
}

/**
 * The content of services' secrets and configs (policy `spec`): versions and pinned reads from
 * Parameter Store and Secrets Manager, with the container's SSM and Secrets Manager clients.
 */
export function contentReader(): StepDeps['contents'] {
  return once('contentReader', () =>
    awsContentReader({ ssm, secretsManager: (region) => secretsManagerFor()(region) }),
  );
}

/** The clock. */
export function now(): StepDeps['now'] {
  return () => new Date();
}
