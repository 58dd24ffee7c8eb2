/**
 * A client of an HTTP API with IAM authorization: the request is signed with SigV4 (service
 * execute-api) as awscurl or the AWS SDK sign it, when credentials are given. Used by the local
 * twin's CLI and tests.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { NodeSha256 } from '../../functions/lib/prometheus/sigv4.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Call {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  credentials?: Credentials;
  service?: string;
  region?: string;
  signingDate?: Date;
  /** Sent instead of `body` (after signing `body`). */
  sentBody?: string;
}

/** Sends a request, signed with SigV4 as awscurl signs it when credentials are given. */
export async function signedFetch(
  url: string,
  c: Call = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const target = new URL(url);
  const method = c.method ?? 'POST';
  const headers: Record<string, string> = { ...c.headers };
  if (c.credentials) {
    const credentials: AwsCredentialIdentity = {
      accessKeyId: c.credentials.accessKeyId,
      secretAccessKey: c.credentials.secretAccessKey,
      ...(c.credentials.sessionToken ? { sessionToken: c.credentials.sessionToken } : {}),
    };
    const signer = new SignatureV4({
      service: c.service ?? 'execute-api',
      region: c.region ?? 'us-east-1',
      credentials,
      sha256: NodeSha256,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      {
        method,
        protocol: target.protocol,
        hostname: target.hostname,
        port: Number(target.port),
        path: target.pathname,
        query: queryOf(target.searchParams),
        headers: { host: target.host, ...headers },
        ...(c.body === undefined ? {} : { body: c.body }),
      },
      { signingDate: c.signingDate ?? new Date() },
    );
    for (const [name, value] of Object.entries(signed.headers)) {
      if (name !== 'host' && typeof value === 'string') headers[name] = value;
    }
  }
  const body = c.sentBody ?? c.body;
  const res = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : new Uint8Array(body) }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Repeated names as arrays, as the signer takes them (Object.fromEntries would keep the last). */
function queryOf(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name);
    query[name] = values.length === 1 ? (values[0] as string) : values;
  }
  return query;
}
