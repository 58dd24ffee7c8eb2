import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verification of AWS Signature Version 4 (Authorization header form) on an incoming request, as
 * the AWS front ends do it: parse `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`,
 * look the access key up, recompute the canonical request over the signed headers and the body,
 * derive the signing key from the secret and the credential scope, and compare the signatures in
 * constant time. The canonical form is the one the SDK's signer (@smithy/signature-v4) builds for
 * every service but S3: the path normalized and URI-encoded once more, the query sorted and
 * re-encoded, header values trimmed with inner whitespace collapsed, the payload hashed.
 *
 * Checks, in AWS's order: a signature is present (MissingAuthenticationToken), well formed
 * (IncompleteSignature), by a known access key (UnrecognizedClient), within five minutes of now
 * (RequestExpired), scoped to the request's date and, when expected ones are given, to the
 * region and service (SignatureDoesNotMatch), and then the signature itself.
 */

export interface SigV4Request {
  method: string;
  /** The request target as sent: path and query, still percent-encoded (IncomingMessage.url). */
  path: string;
  /** Header names in any case (Node gives them lower-cased). */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A secret, or a secret with the session token that must accompany it (temporary credentials). */
export type SigV4Secret = string | { secretAccessKey: string; sessionToken?: string };

export type SigV4FailureCode =
  | 'MissingAuthenticationToken'
  | 'UnrecognizedClient'
  | 'SignatureDoesNotMatch'
  | 'RequestExpired'
  | 'IncompleteSignature';

export type SigV4Result =
  | { ok: true; accessKeyId: string; service: string; region: string }
  | { ok: false; code: SigV4FailureCode; message: string; accessKeyId?: string };

export interface SigV4Expectations {
  /** The region(s) the credential scope must name. */
  region?: string | string[];
  /** The signing name(s) the credential scope must name (ssm, dynamodb, sns, states, ecr, execute-api…). */
  service?: string | string[];
  /** Allowed clock skew in ms (default 5 minutes, as AWS). */
  maxSkewMs?: number;
}

export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
export const INVALID_TOKEN_MESSAGE = 'The security token included in the request is invalid.';
export const MISSING_TOKEN_MESSAGE = 'Missing Authentication Token';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const FIVE_MINUTES = 5 * 60 * 1000;

/** Verifies the SigV4 signature of a request; never throws. */
export function verifySigV4(
  req: SigV4Request,
  lookupSecret: (accessKeyId: string) => SigV4Secret | undefined,
  now: Date = new Date(),
  expected: SigV4Expectations = {},
): SigV4Result {
  const authorization = header(req.headers, 'authorization');
  if (authorization === undefined || authorization.trim() === '') {
    return { ok: false, code: 'MissingAuthenticationToken', message: MISSING_TOKEN_MESSAGE };
  }
  const parsed = parseAuthorization(authorization);
  if ('error' in parsed) return { ok: false, code: 'IncompleteSignature', message: parsed.error };
  const { accessKeyId, scopeDate, region, service, signedHeaders, signature } = parsed;

  const found = lookupSecret(accessKeyId);
  if (found === undefined) return { ok: false, code: 'UnrecognizedClient', message: INVALID_TOKEN_MESSAGE };
  const secret = typeof found === 'string' ? { secretAccessKey: found } : found;
  if (secret.sessionToken !== undefined) {
    const token = header(req.headers, 'x-amz-security-token');
    if (token === undefined || !safeEqual(token, secret.sessionToken)) {
      return { ok: false, code: 'UnrecognizedClient', message: INVALID_TOKEN_MESSAGE, accessKeyId };
    }
  }

  if (!signedHeaders.includes('host')) {
    return {
      ok: false,
      code: 'IncompleteSignature',
      message: `'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`,
      accessKeyId,
    };
  }
  const amzDate = header(req.headers, 'x-amz-date');
  const dateHeader = amzDate === undefined ? 'date' : 'x-amz-date';
  const requestDate = amzDate ?? header(req.headers, 'date');
  const time = requestDate === undefined ? undefined : parseDate(requestDate);
  if (requestDate === undefined || time === undefined) {
    return {
      ok: false,
      code: 'IncompleteSignature',
      message: `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${authorization}`,
      accessKeyId,
    };
  }
  if (!signedHeaders.includes(dateHeader)) {
    return {
      ok: false,
      code: 'IncompleteSignature',
      message: `'${dateHeader === 'date' ? 'Date' : 'X-Amz-Date'}' must be a 'SignedHeader' in the AWS Authorization.`,
      accessKeyId,
    };
  }
  const skew = expected.maxSkewMs ?? FIVE_MINUTES;
  const iso = isoBasic(time);
  if (time.getTime() < now.getTime() - skew) {
    return {
      ok: false,
      code: 'RequestExpired',
      message: `Signature expired: ${iso} is now earlier than ${isoBasic(new Date(now.getTime() - skew))} (${isoBasic(now)} - ${skew / 60000} min.)`,
      accessKeyId,
    };
  }
  if (time.getTime() > now.getTime() + skew) {
    return {
      ok: false,
      code: 'RequestExpired',
      message: `Signature not yet current: ${iso} is still later than ${isoBasic(new Date(now.getTime() + skew))} (${isoBasic(now)} + ${skew / 60000} min.)`,
      accessKeyId,
    };
  }
  if (scopeDate !== iso.slice(0, 8)) {
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${iso.slice(0, 8)}', from '${iso}'.`,
      accessKeyId,
    };
  }
  const regions = list(expected.region);
  if (regions !== undefined && !regions.includes(region)) {
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: `Credential should be scoped to a valid region, not '${region}'. `,
      accessKeyId,
    };
  }
  const services = list(expected.service);
  if (services !== undefined && !services.includes(service)) {
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: `Credential should be scoped to correct service: '${services[0]}'. `,
      accessKeyId,
    };
  }

  const { pathname, query } = splitTarget(req.path);
  const canonicalHeaders: string[] = [];
  for (const name of signedHeaders) {
    const value = header(req.headers, name);
    if (value === undefined) {
      return { ok: false, code: 'SignatureDoesNotMatch', message: SIGNATURE_MISMATCH_MESSAGE, accessKeyId };
    }
    canonicalHeaders.push(`${name}:${value.trim().replace(/\s+/g, ' ')}\n`);
  }
  const payloadHash = sha256Hex(req.body);
  const scope = `${scopeDate}/${region}/${service}/aws4_request`;
  const key = signingKey(secret.secretAccessKey, scopeDate, region, service);
  const canonicalQuery = canonicalQueryString(query);
  const candidates = new Set([canonicalPath(pathname), pathname === '' ? '/' : pathname]);
  for (const path of candidates) {
    const canonicalRequest = [
      req.method.toUpperCase(),
      path,
      canonicalQuery,
      canonicalHeaders.join(''),
      signedHeaders.join(';'),
      payloadHash,
    ].join('\n');
    const stringToSign = [ALGORITHM, amzDate ?? iso, scope, sha256Hex(canonicalRequest)].join('\n');
    const computed = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
    if (safeEqual(computed, signature)) return { ok: true, accessKeyId, service, region };
  }
  return { ok: false, code: 'SignatureDoesNotMatch', message: SIGNATURE_MISMATCH_MESSAGE, accessKeyId };
}

/** The access key id named by an Authorization header, without verifying anything. */
export function accessKeyIdOf(authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : /Credential=([^/,\s]+)/.exec(authorization)?.[1];
}

interface ParsedAuthorization {
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(authorization: string): ParsedAuthorization | { error: string } {
  const trimmed = authorization.trim();
  const space = trimmed.indexOf(' ');
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return { error: `Unsupported AWS 'algorithm': '${algorithm}'. Authorization=${authorization}` };
  }
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((name) => !fields.get(name));
  if (missing.length > 0) {
    return {
      error: `${missing.map((name) => `Authorization header requires '${name}' parameter.`).join(' ')} Authorization=${authorization}`,
    };
  }
  const credential = (fields.get('Credential') as string).split('/');
  if (credential.length !== 5 || credential[4] !== 'aws4_request' || credential.some((part) => part === '')) {
    return {
      error: `Credential should be scoped to a valid region, service and terminated by 'aws4_request'. Authorization=${authorization}`,
    };
  }
  const [accessKeyId, scopeDate, region, service] = credential as [string, string, string, string];
  if (!/^\d{8}$/.test(scopeDate)) {
    return { error: `Credential should be scoped to a valid date. Authorization=${authorization}` };
  }
  const signedHeaders = (fields.get('SignedHeaders') as string)
    .split(';')
    .map((name) => name.trim().toLowerCase());
  const signature = (fields.get('Signature') as string).toLowerCase();
  return { accessKeyId, scopeDate, region, service, signedHeaders, signature };
}

function header(headers: SigV4Request['headers'], name: string): string | undefined {
  let value = headers[name];
  if (value === undefined) {
    const wanted = name.toLowerCase();
    for (const [key, candidate] of Object.entries(headers)) {
      if (key.toLowerCase() === wanted) {
        value = candidate;
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map((item) => item.trim()).join(',') : value;
}

/** `20240101T000000Z` (the SigV4 date form) or an HTTP date. */
function parseDate(value: string): Date | undefined {
  const basic = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value.trim());
  const n = (i: number): number => Number(basic?.[i]);
  const time = basic ? Date.UTC(n(1), n(2) - 1, n(3), n(4), n(5), n(6)) : Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time);
}

function isoBasic(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

function list(value: string | string[] | undefined): string[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? value : [value];
}

function splitTarget(target: string): { pathname: string; query: string } {
  const hash = target.indexOf('#');
  const withoutHash = hash < 0 ? target : target.slice(0, hash);
  const q = withoutHash.indexOf('?');
  return q < 0
    ? { pathname: withoutHash, query: '' }
    : { pathname: withoutHash.slice(0, q), query: withoutHash.slice(q + 1) };
}

/** RFC 3986 encoding as the SDK's escapeUri. */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The path normalized (empty, `.` and `..` segments) and encoded once more, as the SDK signs it. */
function canonicalPath(pathname: string): string {
  const path = pathname === '' ? '/' : pathname;
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${
    segments.length > 0 && path.endsWith('/') ? '/' : ''
  }`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

function canonicalQueryString(query: string): string {
  if (query === '') return '';
  const pairs: Array<[string, string]> = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = escapeUri(safeDecode(eq < 0 ? part : part.slice(0, eq)));
    if (key.toLowerCase() === 'x-amz-signature') continue;
    const value = escapeUri(safeDecode(eq < 0 ? '' : part.slice(eq + 1)));
    pairs.push([key, value]);
  }
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([key, value]) => `${key}=${value}`).join('&');
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    // Still spend the time of a comparison, then fail.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}
