import {
  type ECRClient,
  GetAuthorizationTokenCommand,
  type GetAuthorizationTokenCommandOutput,
} from '@aws-sdk/client-ecr';
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

/**
 * ECR credentials from GetAuthorizationToken, for the registry that answers them (its
 * proxyEndpoint: <account>.dkr.ecr.<region>.amazonaws.com on AWS, the local registry locally),
 * cached until five minutes before they expire (tokens last 12 hours). Images of any other
 * registry get no credentials.
 * @throws RegistryAuthError
 */
export class EcrRegistryAuth implements RegistryAuthProvider {
  private cache?: { header: string; host: string; until: number };

  constructor(
    private readonly ecr: ECRClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** The registry host of the account's images, as image references name it. */
  async registryHost(signal?: AbortSignal): Promise<string> {
    return (await this.token(signal)).host;
  }

  async headerFor(image: string, signal?: AbortSignal): Promise<string | undefined> {
    const host = registryOf(image);
    if (!host) return undefined;
    const token = await this.token(signal);
    return token.host === host ? token.header : undefined;
  }

  private async token(signal?: AbortSignal): Promise<{ header: string; host: string }> {
    if (this.cache && this.cache.until > this.now()) return this.cache;
    let out: GetAuthorizationTokenCommandOutput;
    try {
      out = await this.ecr.send(new GetAuthorizationTokenCommand({}), { abortSignal: signal });
    } catch (err) {
      const e = err as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode ?? 0;
      throw new RegistryAuthError(
        `ECR GetAuthorizationToken failed: ${e.name ?? 'error'}`,
        status >= 500 || status === 429 || !!e.$retryable,
        {
          cause: err,
        },
      );
    }
    const data = out.authorizationData?.[0];
    const decoded = data?.authorizationToken
      ? Buffer.from(data.authorizationToken, 'base64').toString('utf8')
      : '';
    const sep = decoded.indexOf(':');
    let host = '';
    try {
      host = new URL(data?.proxyEndpoint ?? '').host;
    } catch {
      // reported below
    }
    if (sep <= 0 || !host)
      throw new RegistryAuthError('ECR GetAuthorizationToken returned no usable token or endpoint', false);
    const header = encodeRegistryAuth(decoded.slice(0, sep), decoded.slice(sep + 1), host);
    const expires = data?.expiresAt?.getTime() ?? this.now() + 60 * 60 * 1000;
    this.cache = { header, host, until: expires - 5 * 60 * 1000 };
    return this.cache;
  }
}
