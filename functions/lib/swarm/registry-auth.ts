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

/** An ECR registry: the account that owns it and its region. */
export interface EcrRegistry {
  account: string;
  region: string;
}

/** <account>.dkr.ecr.<region>.amazonaws.com (also the FIPS and China partition forms). */
const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** The ECR registry a registry host names ("111122223333.dkr.ecr.eu-west-1.amazonaws.com"), or undefined. */
export function ecrRegistryOf(host: string): EcrRegistry | undefined {
  const m = ECR_HOST.exec(host);
  return m ? { account: m[1] as string, region: m[2] as string } : undefined;
}

interface Token {
  header: string;
  host: string;
  until: number;
}

/**
 * ECR credentials from GetAuthorizationToken, per registry: for an image on
 * `<account>.dkr.ecr.<region>.amazonaws.com`, the token of that account (registryIds) from an ECR
 * client of that region; for any other host (the local runtime's registry, which its ECR stand-in
 * answers for) a token already fetched for that host, else the token of the function's own
 * registry (GetAuthorizationToken without registryIds in `homeRegion`), when its proxyEndpoint is
 * that host. Tokens are cached per registry until five minutes before they expire (they last 12
 * hours); ECR clients are built on first use, one per region. Images of any other registry get no
 * credentials.
 */
export class EcrRegistryAuth implements RegistryAuthProvider {
  private readonly tokens = new Map<string, Token>();
  private readonly clients = new Map<string, ECRClient>();

  /**
   * @param ecrFor builds the ECR client of a region (called once per region)
   * @param homeRegion the function's own region: whose registry answers images of a non-ECR host
   */
  constructor(
    private readonly ecrFor: (region: string) => ECRClient,
    private readonly homeRegion: string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The host of a registry's images, as image references name it (the token's proxyEndpoint).
   * @throws RegistryAuthError
   */
  async registryHost(registry: EcrRegistry, signal?: AbortSignal): Promise<string> {
    return (await this.token(registry, signal)).host;
  }

  /** @throws RegistryAuthError */
  async headerFor(image: string, signal?: AbortSignal): Promise<string | undefined> {
    const host = registryOf(image);
    if (!host) return undefined;
    const ecr = ecrRegistryOf(host);
    if (ecr) {
      const token = await this.token(ecr, signal);
      return token.host === host ? token.header : undefined;
    }
    const known = [...this.tokens.values()].find((t) => t.host === host && t.until > this.now());
    if (known) return known.header;
    const home = await this.token(undefined, signal);
    return home.host === host ? home.header : undefined;
  }

  /** The ECR client of a region, built on first use. */
  private client(region: string): ECRClient {
    let client = this.clients.get(region);
    if (!client) {
      client = this.ecrFor(region);
      this.clients.set(region, client);
    }
    return client;
  }

  /** The token of `registry`, or of the home region's default registry when undefined. */
  private async token(registry: EcrRegistry | undefined, signal?: AbortSignal): Promise<Token> {
    const key = registry ? `${registry.account}@${registry.region}` : '';
    const cached = this.tokens.get(key);
    if (cached && cached.until > this.now()) return cached;
    const where = registry ? ` for ${registry.account} in ${registry.region}` : '';
    let out: GetAuthorizationTokenCommandOutput;
    try {
      out = await this.client(registry?.region ?? this.homeRegion).send(
        new GetAuthorizationTokenCommand(registry ? { registryIds: [registry.account] } : {}),
        { abortSignal: signal },
      );
    } catch (err) {
      const e = err as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode ?? 0;
      throw new RegistryAuthError(
        `ECR GetAuthorizationToken${where} failed: ${e.name ?? 'error'}`,
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
      throw new RegistryAuthError(
        `ECR GetAuthorizationToken${where} returned no usable token or endpoint`,
        false,
      );
    const header = encodeRegistryAuth(decoded.slice(0, sep), decoded.slice(sep + 1), host);
    const expires = data?.expiresAt?.getTime() ?? this.now() + 60 * 60 * 1000;
    const token = { header, host, until: expires - 5 * 60 * 1000 };
    this.tokens.set(key, token);
    return token;
  }
}
