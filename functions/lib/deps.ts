import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { sfnWorkflow } from './adapters/sfn.js';
import { ecrCatalog, perRegion } from './aws.js';
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/store.js';
import { DynamoDedupe, DynamoRecord } from './deploy/record/dynamodb.js';
import type { StepDeps } from './deploy/steps/context.js';
import { Notifier } from './notify/notifier.js';
import { awsSecretReader } from './prometheus/credentials.js';
import { EcrRegistryAuth } from './swarm/registry-auth.js';

export interface Deps extends StepDeps {
  logger: Logger;
}

let deps: Deps | undefined;

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

/**
 * Builds the handlers' dependencies once per container, lazily (never at import time). Every AWS
 * client takes its endpoint from the SDK's standard settings, so the local runtime only sets
 * AWS_ENDPOINT_URL and the same code runs against its stand-ins.
 */
export function getDeps(): Deps {
  if (deps) return deps;
  const prefix = process.env.DEPLOYER_PREFIX ?? '/deployer';
  const topicArn = requireEnv('TOPIC_ARN');
  const table = requireEnv('DEPLOYER_TABLE');
  const dynamodb = new DynamoDBClient({});
  const ssm = new SSMClient({});
  // Clients of other regions (registries, clusters) are built on first use, one per region.
  const ecrFor = perRegion((region) => new ECRClient({ region }));
  const ssmFor = perRegion((region) => new SSMClient({ region }));
  const sfn = new SFNClient({});
  const sns = new SNSClient({});
  const registryAuth = new EcrRegistryAuth(ecrFor, requireEnv('AWS_REGION'));
  deps = {
    logger,
    config: (signal) => loadConfig(ssm, prefix, signal),
    catalog: ecrCatalog(ecrFor, registryAuth),
    record: new DynamoRecord(dynamodb, table),
    workflow: sfnWorkflow(sfn),
    registryAuth,
    notifier: new Notifier(sns, topicArn, new DynamoDedupe(dynamodb, table)),
    connect: {
      ssmFor,
      // Session failures, resumes and terminations of the SSM tunnels.
      logger,
      // Secrets Manager clients are built on first use (only for a cluster whose Prometheus needs one).
      secrets: awsSecretReader({
        ssm,
        secretsManager: (region) => new SecretsManagerClient(region ? { region } : {}),
      }),
      async tlsCredentials(parameter, signal) {
        const out = await ssm.send(new GetParameterCommand({ Name: parameter, WithDecryption: true }), {
          abortSignal: signal,
        });
        try {
          return JSON.parse(out.Parameter?.Value ?? '') as { ca: string; cert: string; key: string };
        } catch {
          throw new ConfigError(`parameter ${parameter}: not a JSON object with ca, cert and key`);
        }
      },
    },
    now: () => new Date(),
  };
  return deps;
}

/** For tests: forget the built dependencies (after changing the environment). */
export function resetDeps(): void {
  deps = undefined;
}
