import { type ECRClient, GetAuthorizationTokenCommand, type GetAuthorizationTokenCommandOutput } from '@aws-sdk/client-ecr';
import { DeployerError } from '../errors.js';

/** Registry credentials could not be obtained (ECR refused, or answered without a token). */
export class RegistryAuthError extends DeployerError {
  override readonly name = 'RegistryAuthError';
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.retryable = retryable;
  }
}

/**
 * The port through which operations get the X-Registry-Auth value for an image's registry: ECR's
 * GetAuthorizationToken on AWS, the local registry's credentials locally. The value is a secret:
 * it is passed to the Engine API as a header and never logged or put in an error or a payload.
 */
export interface RegistryAuthProvider {
  /** The header value for the registry of `image`, or undefined when this provider has none for it. */
  headerFor(image: string, signal?: AbortSignal): Promise<string | undefined>;
}

/** The registry host of an image reference ("10.0.0.2:5000/demo@sha256:…" → "10.0.0.2:5000"). */
export function registryOf(image: string): string | undefined {
  const first = image.split('/')[0] ?? '';
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : undefined;
}

/** X-Registry-Auth: the JSON auth config, base64url WITH padding (the engine rejects unpadded input). */
export function encodeRegistryAuth(username: string, password: string, serveraddress: string): string {
  const json = JSON.stringify({ username, password, serveraddress });
  return Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Fixed credentials per registry host (the local fleet's registry, or a private registry). */
export class StaticRegistryAuth implements RegistryAuthProvider {
  constructor(
    private readonly registries: Readonly<Record<string, { username: string; password: string }>>,
  ) {}

  async headerFor(image: string): Promise<string | undefined> {
    const host = registryOf(image);
    const creds = host ? this.registries[host] : undefined;
    return creds && host ? encodeRegistryAuth(creds.username, creds.password, host) : undefined;
  }
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

/**
 * ECR credentials from GetAuthorizationToken, cached until five minutes before they expire (tokens
 * last 12 hours). Only images in an ECR registry get credentials.
 * @throws RegistryAuthError
 */
export class EcrRegistryAuth implements RegistryAuthProvider {
  private cache?: { header: string; host: string; until: number };

  constructor(
    private readonly ecr: ECRClient,
    private readonly now: () => number = Date.now,
  ) {}

  async headerFor(image: string, signal?: AbortSignal): Promise<string | undefined> {
    const host = registryOf(image);
    if (!host || !ECR_HOST.test(host)) return undefined;
    if (this.cache && this.cache.host === host && this.cache.until > this.now()) return this.cache.header;
    let out: GetAuthorizationTokenCommandOutput;
    try {
      out = await this.ecr.send(new GetAuthorizationTokenCommand({}), { abortSignal: signal });
    } catch (err) {
      const e = err as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode ?? 0;
      throw new RegistryAuthError(
        `ECR GetAuthorizationToken for ${host} failed: ${e.name ?? 'error'}`,
        status >= 500 || status === 429 || !!e.$retryable,
        {
          cause: err,
        },
      );
    }
    const data = (out as { authorizationData?: Array<{ authorizationToken?: string; expiresAt?: Date }> })
      .authorizationData?.[0];
    const decoded = data?.authorizationToken
      ? Buffer.from(data.authorizationToken, 'base64').toString('utf8')
      : '';
    const sep = decoded.indexOf(':');
    if (sep <= 0)
      throw new RegistryAuthError(`ECR GetAuthorizationToken for ${host} returned no usable token`, false);
    const header = encodeRegistryAuth(decoded.slice(0, sep), decoded.slice(sep + 1), host);
    const expires = data?.expiresAt?.getTime() ?? this.now() + 60 * 60 * 1000;
    this.cache = { header, host, until: expires - 5 * 60 * 1000 };
    return header;
  }
}
