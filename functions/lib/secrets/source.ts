import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DescribeParametersCommand,
  type DescribeParametersCommandOutput,
  GetParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { ContentSource } from '../config/service-spec.js';
import type { PinnedSource } from '../deploy/plan.js';
import { arnRegion, classify, describeSecretRef, lazySecretClients } from '../prometheus/credentials.js';
import { SecretFormatError, SecretNotFoundError, SecretUnavailableError } from '../prometheus/errors.js';

/**
 * The port through which the deployment reads the content of a service's secrets and configs: the
 * plan pins each source to its current version, the steps that write the Docker object read that
 * version. Implementations never log the content and never put it in an error: errors name the
 * reference (and version) only.
 */
export interface ContentReader {
  /**
   * The current version of a source, from its metadata: never its content, encrypted or not.
   * @throws SecretNotFoundError, SecretAccessDeniedError, SecretUnavailableError (retryable)
   */
  versionOf(ref: ContentSource, signal?: AbortSignal): Promise<string>;
  /**
   * The content at a pinned version (bytes).
   * @throws SecretNotFoundError, SecretAccessDeniedError, SecretUnavailableError (retryable), SecretFormatError
   */
  read(ref: PinnedSource, signal?: AbortSignal): Promise<Buffer>;
}

export interface AwsContentReaderOptions {
  /** The client for parameters (the deployer's own region), or a factory called on first use. */
  ssm: SSMClient | (() => SSMClient);
  /**
   * Builds a Secrets Manager client, called on first use and once per region (the region of an
   * ARN reference, undefined for a name: the SDK's default region).
   */
  secretsManager: (region: string | undefined) => SecretsManagerClient;
}

/** The staging label Secrets Manager puts on a secret's current version. */
const CURRENT = 'AWSCURRENT';

/**
 * How many DescribeParameters pages versionOf follows before giving up (retryably). SSM answers a
 * filtered DescribeParameters on a best-effort basis: a page may hold no item and still carry a
 * NextToken, so an empty page alone does not mean "no such parameter".
 */
const MAX_DESCRIBE_PAGES = 20;

/**
 * A {@link ContentReader} over SSM and Secrets Manager. Parameters (String or SecureString): the
 * version is the `Version` of DescribeParameters filtered on the exact name (metadata only: the
 * plan never sees a value, so its role needs ssm:DescribeParameters, not ssm:GetParameter), the
 * content GetParameter of `name:version` (SSM's version selector) with decryption. Secrets: the
 * version is DescribeSecret's VersionId staged AWSCURRENT, the content GetSecretValue of that
 * VersionId (SecretString as UTF-8, or SecretBinary). Clients are built on first use; nothing is
 * cached.
 */
export function awsContentReader(options: AwsContentReaderOptions): ContentReader {
  const { ssmClient, smClient } = lazySecretClients(options);

  /**
   * The current version of a parameter from DescribeParameters (Name Equals), following NextToken
   * over empty pages. SSM's Name filter treats a leading "/" as optional, so only the item of
   * exactly this name counts.
   */
  async function parameterVersion(name: string, reference: string, signal?: AbortSignal): Promise<string> {
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_DESCRIBE_PAGES; page++) {
      let out: DescribeParametersCommandOutput;
      try {
        out = await ssmClient().send(
          new DescribeParametersCommand({
            ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [name] }],
            MaxResults: 50,
            ...(nextToken === undefined ? {} : { NextToken: nextToken }),
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw classify(error, reference, signal);
      }
      const found = out.Parameters?.find((parameter) => parameter.Name === name);
      if (found) {
        if (found.Version === undefined)
          throw new SecretNotFoundError(`${reference} answered without a version`, { reference });
        return String(found.Version);
      }
      nextToken = out.NextToken || undefined;
      if (nextToken === undefined)
        throw new SecretNotFoundError(`${reference} does not exist`, { reference });
    }
    throw new SecretUnavailableError(
      `${reference}: DescribeParameters still had more pages after ${MAX_DESCRIBE_PAGES} calls`,
      { reference },
    );
  }

  async function getParameterDecrypted(name: string, reference: string, signal?: AbortSignal) {
    try {
      return await ssmClient().send(new GetParameterCommand({ Name: name, WithDecryption: true }), {
        abortSignal: signal,
      });
    } catch (error) {
      throw classify(error, reference, signal);
    }
  }

  return {
    async versionOf(ref, signal) {
      const reference = describeSecretRef(ref);
      if ('parameter' in ref) return parameterVersion(ref.parameter, reference, signal);
      let out: DescribeSecretCommandOutput;
      try {
        out = await smClient(arnRegion(ref.secretsManager)).send(
          new DescribeSecretCommand({ SecretId: ref.secretsManager }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw classify(error, reference, signal);
      }
      // DescribeSecret still answers for a secret scheduled for deletion; GetSecretValue would not.
      if (out.DeletedDate !== undefined)
        throw new SecretNotFoundError(`${reference} is scheduled for deletion`, { reference });
      const current = Object.entries(out.VersionIdsToStages ?? {}).find(([, stages]) =>
        stages?.includes(CURRENT),
      );
      if (!current)
        throw new SecretNotFoundError(`${reference} has no version staged ${CURRENT} (no value yet)`, {
          reference,
        });
      return current[0];
    },

    async read(ref, signal) {
      const reference = `${describeSecretRef(ref)} at version ${ref.version}`;
      if ('parameter' in ref) {
        if (!/^[1-9]\d*$/.test(ref.version))
          throw new SecretNotFoundError(`${reference}: a parameter version is a positive integer`, {
            reference,
          });
        const out = await getParameterDecrypted(`${ref.parameter}:${ref.version}`, reference, signal);
        const parameter = out.Parameter;
        if (parameter?.Version !== undefined && String(parameter.Version) !== ref.version)
          throw new SecretNotFoundError(`${reference}: SSM answered version ${parameter.Version}`, {
            reference,
          });
        if (parameter?.Value === undefined)
          throw new SecretFormatError(`${reference} has no value`, { reference });
        return Buffer.from(parameter.Value, 'utf8');
      }
      let out: GetSecretValueCommandOutput;
      try {
        out = await smClient(arnRegion(ref.secretsManager)).send(
          new GetSecretValueCommand({ SecretId: ref.secretsManager, VersionId: ref.version }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw classify(error, reference, signal);
      }
      if (out.SecretString !== undefined) return Buffer.from(out.SecretString, 'utf8');
      if (out.SecretBinary !== undefined) return Buffer.from(out.SecretBinary);
      throw new SecretFormatError(`${reference} has no value`, { reference });
    },
  };
}
