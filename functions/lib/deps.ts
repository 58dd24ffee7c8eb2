import { Logger } from '@aws-lambda-powertools/logger';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ecrCatalog, executionStatus, parameterDeduper } from './aws.js';
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/store.js';
import type { StepDeps } from './deploy/steps.js';
import { DeploymentStore } from './deploy/store.js';
import { Notifier } from './notify/notifier.js';
import { EcrRegistryAuth } from './swarm/registry-auth.js';

export interface Deps extends StepDeps {
  logger: Logger;
  sfn: SFNClient;
  prefix: string;
}

let deps: Deps | undefined;

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
  const ssm = new SSMClient({});
  const ecr = new ECRClient({});
  const sfn = new SFNClient({});
  const sns = new SNSClient({});
  const logger = new Logger({ serviceName: 'swarm-deployer' });
  const registryAuth = new EcrRegistryAuth(ecr);
  deps = {
    prefix,
    logger,
    sfn,
    config: (signal) => loadConfig(ssm, prefix, signal),
    catalog: ecrCatalog(ecr, registryAuth),
    store: new DeploymentStore(ssm, prefix),
    registryAuth,
    notifier: new Notifier(sns, topicArn, parameterDeduper(ssm, prefix)),
    connect: {
      ssm,
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
    executionStatus: (arn, signal) => executionStatus(sfn, arn, signal),
    now: () => new Date(),
  };
  return deps;
}

/** For tests: forget the built dependencies (after changing the environment). */
export function resetDeps(): void {
  deps = undefined;
}
