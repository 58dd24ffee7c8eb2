import { createHash, createHmac, type Hmac, type Hash as NodeHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Hash, SourceData } from '@smithy/types';
import { PrometheusAuthError } from './errors.js';

/** Static credentials, or a provider called before each signature (it may cache and refresh). */
export type CredentialsInput = AwsCredentialIdentity | (() => Promise<AwsCredentialIdentity>);

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** SHA-256 and HMAC-SHA-256 on node:crypto, in the shape @smithy/signature-v4 expects (like @smithy/hash-node). */
export class NodeSha256 implements Hash {
  private readonly hash: NodeHash | Hmac;

  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }

  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

/**
 * Reads the Lambda runtime's credentials from the environment at signing time (never at import).
 * @throws PrometheusAuthError when AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set.
 */
export async function credentialsFromEnv(): Promise<AwsCredentialIdentity> {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new PrometheusAuthError(
      'SigV4 signing needs credentials: pass them to the client or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  const sessionToken = process.env.AWS_SESSION_TOKEN;
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

/** What is signed: exactly the request the client then sends. */
export interface SignableRequest {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** The path without query string, as sent (already percent-encoded where needed). */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

export interface SigV4Options {
  region: string;
  /** Signing name; `aps` for Amazon Managed Service for Prometheus. */
  service?: string;
  credentials?: CredentialsInput;
}

/**
 * Signs a GET request with AWS Signature Version 4 and returns the headers to add (`authorization`,
 * `x-amz-date` and, with temporary credentials, `x-amz-security-token`).
 * @throws PrometheusAuthError when the credentials cannot be resolved.
 */
export async function signSigV4(
  request: SignableRequest,
  options: SigV4Options,
  signingDate: Date = new Date(),
): Promise<Record<string, string>> {
  const provider = options.credentials ?? credentialsFromEnv;
  let credentials: AwsCredentialIdentity;
  try {
    credentials = typeof provider === 'function' ? await provider() : provider;
  } catch (error) {
    if (error instanceof PrometheusAuthError) throw error;
    // The provider's own error may describe the source (profile, IMDS) but never carries a secret.
    throw new PrometheusAuthError('could not resolve SigV4 credentials', { cause: error });
  }
  const signer = new SignatureV4({
    service: options.service ?? 'aps',
    region: options.region,
    credentials,
    sha256: NodeSha256,
    // A GET has an empty body; AMP does not need x-amz-content-sha256 (the empty-payload hash is signed).
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: 'GET',
      protocol: request.protocol,
      hostname: request.hostname,
      ...(request.port === undefined ? {} : { port: request.port }),
      path: request.path,
      query: request.query,
      headers: { ...request.headers },
    },
    { signingDate },
  );
  const added: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) {
    if (request.headers[name] === undefined && typeof value === 'string') added[name] = value;
  }
  return added;
}
