import {
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, type GetParameterCommandOutput, type SSMClient } from '@aws-sdk/client-ssm';
import type { PrometheusAuthConfig, SecretRef } from '../config/schema.js';
import type { PrometheusAuth } from './client.js';
import {
  PrometheusConfigError,
  SecretAccessDeniedError,
  SecretFormatError,
  SecretNotFoundError,
  SecretUnavailableError,
} from './errors.js';

/**
 * The port through which the analysis reads a secret's value. Implementations never log the value
 * and never put it in an error: errors name the reference only.
 */
export interface SecretReader {
  /**
   * The secret's current value (a string).
   * @throws SecretUnavailableError (retryable), SecretNotFoundError, SecretAccessDeniedError, SecretFormatError
   */
  read(ref: SecretRef, signal?: AbortSignal): Promise<string>;
}

/** A reference as text for messages: `parameter /a/b` or `Secrets Manager secret name-or-arn`. */
export function describeSecretRef(ref: SecretRef): string {
  return 'parameter' in ref ? `parameter ${ref.parameter}` : `Secrets Manager secret ${ref.secretsManager}`;
}

export interface AwsSecretReaderOptions {
  /** The client for SecureString parameters (the deployer's own region), or a factory called on first use. */
  ssm: SSMClient | (() => SSMClient);
  /**
   * Builds a Secrets Manager client, called on first use and once per region (the region of an
   * ARN reference, undefined for a name: the SDK's default region).
   */
  secretsManager: (region: string | undefined) => SecretsManagerClient;
  /** How long a value read is reused within this container, default 60 s; 0 reads every time. */
  cacheMs?: number;
  now?: () => number;
}

const NOT_FOUND = new Set([
  'ParameterNotFound',
  'ParameterVersionNotFound',
  'ResourceNotFoundException',
  'InvalidRequestException', // Secrets Manager: scheduled for deletion
  'InvalidParameterException',
  'ValidationException',
]);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'DecryptionFailure',
  'InvalidKeyId',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
]);

/** The region of a Secrets Manager ARN (`arn:aws:secretsmanager:<region>:…`), undefined for a name. */
export function arnRegion(id: string): string | undefined {
  const m = /^arn:[^:]+:secretsmanager:([a-z0-9-]+):/.exec(id);
  return m?.[1];
}

/**
 * Turns an SDK failure into a typed secret error naming the reference (the SDK's message is not kept):
 * SecretUnavailableError (aborted, throttled, 5xx, network), SecretNotFoundError, SecretAccessDeniedError.
 */
export function classify(
  error: unknown,
  reference: string,
  signal: AbortSignal | undefined,
): SecretUnavailableError | SecretNotFoundError | SecretAccessDeniedError {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const awsErrorName = typeof e?.name === 'string' ? e.name : undefined;
  const status = e?.$metadata?.httpStatusCode;
  const options = { reference, awsErrorName, cause: error };
  const what = `reading ${reference} failed: ${awsErrorName ?? 'unknown error'}`;
  if (signal?.aborted || awsErrorName === 'AbortError')
    return new SecretUnavailableError(`reading ${reference} was aborted`, options);
  if (awsErrorName && NOT_FOUND.has(awsErrorName)) return new SecretNotFoundError(what, options);
  if ((awsErrorName && DENIED.has(awsErrorName)) || status === 401 || status === 403)
    return new SecretAccessDeniedError(what, options);
  if (status !== undefined && status >= 400 && status < 500 && status !== 429 && status !== 408) {
    const transient = /Throttl|TooManyRequests|RequestLimitExceeded|ExpiredToken|Timeout/i;
    if (!awsErrorName || !transient.test(awsErrorName)) return new SecretNotFoundError(what, options);
  }
  return new SecretUnavailableError(what, options);
}

/**
 * The clients a secret reader uses, each built on first use: the SSM client (or its factory's), and
 * one Secrets Manager client per region (undefined: the SDK's default region).
 */
export function lazySecretClients(options: Pick<AwsSecretReaderOptions, 'ssm' | 'secretsManager'>): {
  ssmClient: () => SSMClient;
  smClient: (region: string | undefined) => SecretsManagerClient;
} {
  let ssm: SSMClient | undefined;
  const sm = new Map<string, SecretsManagerClient>();
  return {
    ssmClient() {
      ssm ??= typeof options.ssm === 'function' ? options.ssm() : options.ssm;
      return ssm;
    },
    smClient(region) {
      const key = region ?? '';
      let client = sm.get(key);
      if (!client) {
        client = options.secretsManager(region);
        sm.set(key, client);
      }
      return client;
    },
  };
}

/**
 * A {@link SecretReader} over SSM GetParameter (WithDecryption; only SecureString parameters) and
 * Secrets Manager GetSecretValue (SecretString, or SecretBinary as UTF-8). Clients are built on
 * first use; values are reused for `cacheMs`.
 */
export function awsSecretReader(options: AwsSecretReaderOptions): SecretReader {
  const cacheMs = options.cacheMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { value: string; until: number }>();
  const { ssmClient, smClient } = lazySecretClients(options);

  async function fetchValue(ref: SecretRef, signal?: AbortSignal): Promise<string> {
    const reference = describeSecretRef(ref);
    if ('parameter' in ref) {
      let out: GetParameterCommandOutput;
      try {
        out = await ssmClient().send(new GetParameterCommand({ Name: ref.parameter, WithDecryption: true }), {
          abortSignal: signal,
        });
      } catch (error) {
        throw classify(error, reference, signal);
      }
      if (out.Parameter?.Type !== 'SecureString')
        throw new SecretFormatError(
          `${reference} is a ${out.Parameter?.Type ?? 'parameter without a type'}, not a SecureString: store secrets encrypted`,
          { reference },
        );
      if (out.Parameter.Value === undefined)
        throw new SecretFormatError(`${reference} has no value`, { reference });
      return out.Parameter.Value;
    }
    let out: GetSecretValueCommandOutput;
    try {
      out = await smClient(arnRegion(ref.secretsManager)).send(
        new GetSecretValueCommand({ SecretId: ref.secretsManager }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw classify(error, reference, signal);
    }
    if (out.SecretString !== undefined) return out.SecretString;
    if (out.SecretBinary !== undefined) return Buffer.from(out.SecretBinary).toString('utf8');
    throw new SecretFormatError(`${reference} has no value`, { reference });
  }

  return {
    async read(ref, signal) {
      const key = JSON.stringify(ref);
      const hit = cache.get(key);
      if (hit && hit.until > now()) return hit.value;
      const value = await fetchValue(ref, signal);
      if (cacheMs > 0) cache.set(key, { value, until: now() + cacheMs });
      return value;
    },
  };
}

/** The region of an Amazon Managed Service for Prometheus endpoint (`aps-workspaces.<region>.amazonaws.com`). */
function apsRegion(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return /^aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Turns a cluster's `prometheus.auth` into the client's {@link PrometheusAuth}, reading the secret
 * it references. SigV4 uses the Lambda's own credentials (read at signing time); its region is
 * `sigv4.region`, else the region of an aps-workspaces URL, else `defaults.region`.
 * @throws SecretUnavailableError, SecretNotFoundError, SecretAccessDeniedError, SecretFormatError
 * @throws PrometheusConfigError when SigV4 has no region
 */
export async function prometheusAuth(
  auth: PrometheusAuthConfig | undefined,
  reader: SecretReader | undefined,
  signal?: AbortSignal,
  defaults: { url?: string; region?: string } = {},
): Promise<PrometheusAuth | undefined> {
  if (auth === undefined) return undefined;
  if ('sigv4' in auth) {
    const region = auth.sigv4.region ?? apsRegion(defaults.url) ?? defaults.region;
    if (!region) throw new PrometheusConfigError('prometheus.auth.sigv4 needs a region');
    return { type: 'sigv4', region, service: auth.sigv4.service };
  }
  const ref = 'basic' in auth ? auth.basic.secret : auth.bearer.secret;
  const reference = describeSecretRef(ref);
  if (!reader)
    throw new PrometheusConfigError(`no secret reader is configured to read ${reference} for Prometheus`);
  const value = await reader.read(ref, signal);
  if ('bearer' in auth) {
    const token = value.trim();
    if (!token) throw new SecretFormatError(`${reference} holds an empty bearer token`, { reference });
    return { type: 'bearer', token };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined; // the parser's message quotes the value: never kept
  }
  const { username, password } = (parsed ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== 'string' || typeof password !== 'string' || username.includes(':'))
    throw new SecretFormatError(
      `${reference} must hold JSON {"username": "…", "password": "…"} (strings, no ":" in the username)`,
      { reference },
    );
  return { type: 'basic', username, password };
}
