import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import type { PolicyDocument } from '../iam/principals.js';
import { INVALID_TOKEN_MESSAGE, type SigV4Secret, verifySigV4 } from '../iam/sigv4.js';
import { listen } from '../listen.js';
import { type CompiledRoute, compileRoutes, selectRoute } from './routes.js';

/**
 * A stand-in for an Amazon API Gateway HTTP API (v2) as the deployer's Pulumi program creates it
 * (infra/components/api.ts): routes with authorizationType AWS_IAM or NONE, each behind a Lambda
 * proxy integration with payload format 2.0, served on one stage (`$default` or a named one).
 *
 * A request is routed first (local/apigw/routes.ts; no route: 404 {"message":"Not Found"}); on an
 * AWS_IAM route its SigV4 signature (service `execute-api`, the API's region) is verified against
 * the credentials `callers` knows (local/iam/sigv4.ts), then `authorize` decides whether the caller
 * may `execute-api:Invoke` the route's execute-api ARN; only then is the integration invoked with a
 * payload format 2.0 event, and its answer mapped to the HTTP response as API Gateway does.
 *
 * Refusals, with the sources each was checked against (status 403 and a JSON `{"message": …}` body
 * each time, plus the `x-amzn-errortype` header the re:Post article lists):
 * - no Authorization header: `{"message":"Forbidden"}`. NOT confirmed by an AWS document for HTTP
 *   APIs: the re:Post articles "How do I troubleshoot HTTP 403 errors from API Gateway?"
 *   (repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden) and "…signature mismatch
 *   errors … IAM authentication to API Gateway" (repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch)
 *   give "Missing Authentication Token" for an unsigned request, which is what REST APIs answer;
 *   HTTP APIs answer `{"message":"Forbidden"}` (observed behaviour, kept as the brief states it).
 * - an access key nobody issued: "The security token included in the request is invalid."
 *   (both re:Post articles above; x-amzn-errortype AccessDeniedException per the 403 article's table).
 * - a wrong signature: "The request signature we calculated does not match the signature you
 *   provided. Check your AWS Secret Access Key and signing method. Consult the service documentation
 *   for details." (re:Post sigv4-mismatch article; the full text as execute-api returns it in
 *   github.com/mhart/aws4/issues/33 and github.com/aws/aws-sdk-js/issues/2372). AWS then appends
 *   "The Canonical String for this request should have been …" and "The String-to-Sign should have
 *   been …"; the stand-in does not (the verifier does not expose them).
 * - an expired or future-dated signature: "Signature expired: …" / "Signature not yet current: …"
 *   (x-amzn-errortype InvalidSignatureException per the 403 article; IAM's "Troubleshoot signed
 *   requests" page for the wording); a credential scoped to another region or service:
 *   "Credential should be scoped to a valid region." / "Credential should be scoped to correct
 *   service: 'execute-api'." (same IAM page).
 * - authenticated but not permitted: "User: <caller ARN> is not authorized to perform:
 *   execute-api:Invoke on resource: <execute-api ARN> because no identity-based policy allows the
 *   execute-api:Invoke action" (the wording of the current re:Post sigv4-mismatch article; older
 *   versions of it end at "on resource: <ARN>"), and "… on resource: <ARN> with an explicit deny"
 *   when a statement denies it (403 article). x-amzn-errortype AccessDeniedException.
 * Integration failures: an invoke that throws or answers a malformed response: 500
 * {"message":"Internal Server Error"} (HTTP APIs; github.com/awslabs/aws-lambda-cpp/issues/117 and
 * github.com/denoland/deno_registry2/issues/87 — REST APIs answer 502 "Internal server error"
 * instead); one that outlasts the integration timeout (30 s by default, the HTTP API maximum; the
 * Pulumi program sets 29 s): 503 {"message":"Service Unavailable"}
 * (github.com/serverless/serverless/issues/11222, github.com/anomalyco/sst/issues/2232 — REST APIs
 * answer 504).
 */

/** The event handed to the integration: payload format 2.0 (APIGatewayProxyEventV2WithIAMAuthorizer). */
export type HttpApiEvent = APIGatewayProxyEventV2WithIAMAuthorizer;

/** An IAM policy document, as a caller's identity policies are written. */

export type { PolicyDocument };

/** A principal the local IAM issued credentials to. */
export interface HttpApiCaller {
  secretAccessKey: string;
  /** Present for temporary credentials: the request must carry it as X-Amz-Security-Token. */
  sessionToken?: string;
  /** arn:aws:iam::111122223333:user/alice or arn:aws:sts::111122223333:assumed-role/role/session. */
  arn: string;
  /** aws:userid: AIDA… for a user, AROA…:session for a role session. */
  userId: string;
  account: string;
  /** The principal's identity policies (what `authorize` evaluates). */
  policies: PolicyDocument[];
}

export interface HttpApiCallers {
  lookup(accessKeyId: string): HttpApiCaller | undefined;
}

export interface AuthorizationRequest {
  action: 'execute-api:Invoke';
  /** arn:aws:execute-api:REGION:ACCOUNT:APIID/STAGE/METHOD/RESOURCEPATH */
  resource: string;
  /** Global condition keys of the request (aws:userid, aws:PrincipalArn, aws:SourceIp, …). */
  context: Record<string, string>;
}

/** true or 'Allowed' admits; false or 'ImplicitlyDenied' refuses; 'ExplicitlyDenied' refuses "with an explicit deny". */
export type AuthorizationVerdict = boolean | 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

export interface HttpApiRoute {
  /** `POST /deployments/{id}/{action}`, `ANY /{proxy+}` or `$default`. */
  routeKey: string;
  authorizationType: 'AWS_IAM' | 'NONE';
  /**
   * The Lambda proxy integration. On a NONE route `event.requestContext.authorizer` is absent (as
   * AWS sends it), whatever the type says. `context.signal` aborts when the integration times out
   * or the stand-in closes.
   */
  invoke: (event: HttpApiEvent, context: { requestId: string; signal: AbortSignal }) => Promise<unknown>;
  /** This route's integration timeout (default: the API's). */
  timeoutMs?: number;
}

export interface HttpApiOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  region: string;
  /** The account that owns the API (requestContext.accountId, the execute-api ARN). */
  accountId: string;
  apiId: string;
  /** `$default` (served at the root) or a stage name (served under /<stage>). */
  stage: string;
  /** Default `aws`. */
  partition?: string;
  routes: HttpApiRoute[];
  callers: HttpApiCallers;
  authorize: (
    caller: HttpApiCaller & { accessKeyId: string },
    request: AuthorizationRequest,
  ) => Promise<AuthorizationVerdict> | AuthorizationVerdict;
  /** The integration timeout (default 30 000 ms, the HTTP API maximum). */
  integrationTimeoutMs?: number;
  /** The clock signatures are checked against (default: now). */
  now?: () => Date;
  log?: (message: string) => void;
}

export interface HttpApi {
  /** The stage's invoke URL: http://host:port for `$default`, http://host:port/<stage> otherwise. */
  readonly url: string;
  /** The API endpoint (no stage): http://host:port. */
  readonly endpoint: string;
  readonly host: string;
  readonly port: number;
  /** Closes every connection and the server; aborts integrations still running. */
  close(): Promise<void>;
}

export const DEFAULT_INTEGRATION_TIMEOUT_MS = 30_000;
/** HTTP APIs take payloads up to 10 MB. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

interface Refusal {
  status: number;
  message: string;
  errorType?: string;
}

const NOT_FOUND: Refusal = { status: 404, message: 'Not Found' };
const FORBIDDEN: Refusal = { status: 403, message: 'Forbidden' };
const INTERNAL_ERROR: Refusal = { status: 500, message: 'Internal Server Error' };
const SERVICE_UNAVAILABLE: Refusal = { status: 503, message: 'Service Unavailable' };
const TOO_LARGE: Refusal = { status: 413, message: 'Request Entity Too Large' };

class IntegrationTimeout extends Error {}

/** Starts the HTTP API stand-in. @throws Error on a malformed or duplicate route key. */
export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const host = options.host ?? '127.0.0.1';
  const partition = options.partition ?? 'aws';
  const stagePrefix = options.stage === '$default' ? '' : `/${options.stage}`;
  const now = options.now ?? (() => new Date());
  const routes = compileRoutes(options.routes.map((route) => ({ routeKey: route.routeKey, target: route })));
  const running = new Set<AbortController>();
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.log?.(`http-api: ${(err as Error).message}`);
      if (!res.headersSent) send(res, newRequestId(), INTERNAL_ERROR);
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    const started = Date.now();
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const rawQueryString = q < 0 ? '' : target.slice(q + 1);
    const method = (req.method ?? 'GET').toUpperCase();

    const body = await readBody(req);
    if (body === undefined) return send(res, requestId, TOO_LARGE);

    let routePath: string;
    if (stagePrefix === '') routePath = rawPath;
    else if (rawPath === stagePrefix || rawPath.startsWith(`${stagePrefix}/`)) {
      routePath = rawPath.slice(stagePrefix.length) || '/';
    } else return send(res, requestId, NOT_FOUND);

    const match = selectRoute(routes, method, routePath);
    if (!match) return send(res, requestId, NOT_FOUND);
    const route = match.route.target;

    let identity: HttpApiEvent['requestContext']['authorizer']['iam'] | undefined;
    if (route.authorizationType === 'AWS_IAM') {
      const verdict = await authenticate(req, target, body, routePath, method);
      if ('refusal' in verdict) return send(res, requestId, verdict.refusal);
      identity = verdict.identity;
    }

    const event = buildEvent({
      req,
      body,
      method,
      rawPath,
      rawQueryString,
      route: match.route,
      pathParameters: match.pathParameters,
      requestId,
      started,
      identity,
    });
    const controller = new AbortController();
    running.add(controller);
    let result: unknown;
    try {
      result = await withTimeout(
        route.invoke(event, { requestId, signal: controller.signal }),
        route.timeoutMs ?? options.integrationTimeoutMs ?? DEFAULT_INTEGRATION_TIMEOUT_MS,
        controller,
      );
    } catch (err) {
      if (err instanceof IntegrationTimeout) {
        options.log?.(`http-api: ${match.route.routeKey} timed out (${requestId})`);
        return send(res, requestId, SERVICE_UNAVAILABLE);
      }
      options.log?.(`http-api: ${match.route.routeKey} failed (${requestId}): ${(err as Error)?.message}`);
      return send(res, requestId, INTERNAL_ERROR);
    } finally {
      running.delete(controller);
    }
    const response = mapResponse(result);
    if (!response) {
      options.log?.(`http-api: ${match.route.routeKey} answered a malformed response (${requestId})`);
      return send(res, requestId, INTERNAL_ERROR);
    }
    res.writeHead(response.status, { ...response.headers, 'apigw-requestid': requestId });
    res.end(response.body);
  }

  /** SigV4 then IAM: the caller's identity for the event, or the refusal. */
  async function authenticate(
    req: IncomingMessage,
    target: string,
    body: Buffer,
    routePath: string,
    method: string,
  ): Promise<{ identity: HttpApiEvent['requestContext']['authorizer']['iam'] } | { refusal: Refusal }> {
    let caller: HttpApiCaller | undefined;
    const verified = verifySigV4(
      { method, path: target, headers: req.headers, body },
      (accessKeyId): SigV4Secret | undefined => {
        caller = options.callers.lookup(accessKeyId);
        if (!caller) return undefined;
        return caller.sessionToken === undefined
          ? caller.secretAccessKey
          : { secretAccessKey: caller.secretAccessKey, sessionToken: caller.sessionToken };
      },
      now(),
      { region: options.region, service: 'execute-api' },
    );
    if (!verified.ok) {
      switch (verified.code) {
        case 'MissingAuthenticationToken':
          return { refusal: FORBIDDEN };
        case 'UnrecognizedClient':
          return {
            refusal: { status: 403, message: INVALID_TOKEN_MESSAGE, errorType: 'AccessDeniedException' },
          };
        case 'IncompleteSignature':
          return {
            refusal: { status: 403, message: verified.message, errorType: 'IncompleteSignatureException' },
          };
        default:
          return {
            refusal: { status: 403, message: verified.message, errorType: 'InvalidSignatureException' },
          };
      }
    }
    const principal = caller as HttpApiCaller;
    // "arn:aws:execute-api:region:account-id:api-id/stage/METHOD_HTTP_VERB/Resource-path" (developer
    // guide, "Control access for invoking an API"; HTTP APIs use the same, "IAM authorization for
    // HTTP APIs is similar to that for REST APIs"). The stage is the stage's name, `$default`
    // literally for the default stage (the name payload 2.0 events carry in requestContext.stage);
    // the resource path is the request's own path without the stage, so a policy on
    // `<executionArn>/*/POST/deployments/*` (infra/components/api.ts) covers every deployment.
    const resource = `arn:${partition}:execute-api:${options.region}:${options.accountId}:${options.apiId}/${
      options.stage
    }/${method}/${routePath.replace(/^\//, '')}`;
    const context: Record<string, string> = {
      'aws:userid': principal.userId,
      'aws:PrincipalArn': principalArnOf(principal.arn),
      'aws:PrincipalAccount': principal.account,
      'aws:SourceIp': sourceIpOf(req),
      'aws:SecureTransport': 'false',
      'aws:CurrentTime': now()
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z'),
      'aws:EpochTime': String(Math.floor(now().getTime() / 1000)),
    };
    const userName = /^arn:[^:]+:iam::\d+:user\/(?:.*\/)?([^/]+)$/.exec(principal.arn)?.[1];
    if (userName) context['aws:username'] = userName;
    const userAgent = req.headers['user-agent'];
    if (userAgent) context['aws:UserAgent'] = userAgent;

    const verdict = await options.authorize(
      { ...principal, accessKeyId: verified.accessKeyId },
      { action: 'execute-api:Invoke', resource, context },
    );
    if (verdict !== true && verdict !== 'Allowed') {
      const denied = `User: ${principal.arn} is not authorized to perform: execute-api:Invoke on resource: ${resource}`;
      const message =
        verdict === 'ExplicitlyDenied'
          ? `${denied} with an explicit deny`
          : `${denied} because no identity-based policy allows the execute-api:Invoke action`;
      return { refusal: { status: 403, message, errorType: 'AccessDeniedException' } };
    }
    return {
      identity: {
        accessKey: verified.accessKeyId,
        accountId: principal.account,
        callerId: principal.userId,
        cognitoIdentity: null,
        // The aws-lambda types say string; AWS sends null for a principal outside an organization
        // (the Lambda function URL IAM example in the Lambda developer guide, urls-invocation).
        principalOrgId: null as unknown as string,
        userArn: principal.arn,
        userId: principal.userId,
      },
    };
  }

  function buildEvent(input: {
    req: IncomingMessage;
    body: Buffer;
    method: string;
    rawPath: string;
    rawQueryString: string;
    route: CompiledRoute<HttpApiRoute>;
    pathParameters: Record<string, string>;
    requestId: string;
    started: number;
    identity: HttpApiEvent['requestContext']['authorizer']['iam'] | undefined;
  }): HttpApiEvent {
    const { req, body } = input;
    const { headers, cookies } = eventHeaders(req, input.requestId);
    const sourceIp = sourceIpOf(req);
    const hostHeader = headers.host ?? '';
    const hostname = hostHeader.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    const domainName =
      hostname === '' || hostname === 'localhost' || isIP(hostname) !== 0
        ? `${options.apiId}.execute-api.${options.region}.amazonaws.com`
        : hostname;
    const query = queryParameters(input.rawQueryString);
    const binary = body.length > 0 && !isTextual(headers['content-type']);
    const event: Record<string, unknown> = {
      version: '2.0',
      routeKey: input.route.routeKey,
      rawPath: input.rawPath,
      rawQueryString: input.rawQueryString,
      ...(cookies.length > 0 ? { cookies } : {}),
      headers,
      ...(query ? { queryStringParameters: query } : {}),
      requestContext: {
        accountId: options.accountId,
        apiId: options.apiId,
        ...(input.identity ? { authorizer: { iam: input.identity } } : {}),
        domainName,
        domainPrefix: domainName.split('.')[0],
        http: {
          method: input.method,
          path: input.rawPath,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp,
          userAgent: headers['user-agent'] ?? '',
        },
        requestId: input.requestId,
        routeKey: input.route.routeKey,
        stage: options.stage,
        time: clfTime(new Date(input.started)),
        timeEpoch: input.started,
      },
      ...(Object.keys(input.pathParameters).length > 0 ? { pathParameters: input.pathParameters } : {}),
      ...(body.length > 0 ? { body: binary ? body.toString('base64') : body.toString('utf8') } : {}),
      isBase64Encoded: binary,
    };
    return event as unknown as HttpApiEvent;
  }

  const port = await listen(server, options.port ?? 0, host);
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: `${endpoint}${stagePrefix}`,
    endpoint,
    host,
    port,
    async close() {
      for (const controller of running) controller.abort(new Error('the HTTP API stand-in closed'));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

/** API Gateway's request ids look like "JKJaXmPLvHcESHA=". */
function newRequestId(): string {
  return randomBytes(11).toString('base64');
}

function send(res: ServerResponse, requestId: string, refusal: Refusal): void {
  const body = JSON.stringify({ message: refusal.message });
  res.writeHead(refusal.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'apigw-requestid': requestId,
    ...(refusal.errorType ? { 'x-amzn-errortype': refusal.errorType } : {}),
  });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) tooLarge = true;
    else chunks.push(chunk as Buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, controller: AbortController): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = new IntegrationTimeout(`integration timed out after ${timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** An assumed-role session's aws:PrincipalArn is its role's ARN; any other principal's is its own. */
function principalArnOf(arn: string): string {
  const session = /^arn:([^:]+):sts::(\d+):assumed-role\/(.+)\/[^/]+$/.exec(arn);
  return session ? `arn:${session[1]}:iam::${session[2]}:role/${session[3]}` : arn;
}

function sourceIpOf(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

/**
 * Payload 2.0 headers: names lower-cased, repeated headers joined with commas; the Cookie header
 * goes to `cookies` instead (developer guide, "Working with AWS Lambda proxy integrations for HTTP
 * APIs"). API Gateway adds the X-Forwarded-* and X-Amzn-Trace-Id headers.
 */
function eventHeaders(
  req: IncomingMessage,
  requestId: string,
): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    const value = req.rawHeaders[i + 1] as string;
    if (name === 'cookie') {
      for (const cookie of value.split(';')) if (cookie.trim() !== '') cookies.push(cookie.trim());
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const sourceIp = sourceIpOf(req);
  headers['x-forwarded-for'] =
    headers['x-forwarded-for'] === undefined ? sourceIp : `${headers['x-forwarded-for']}, ${sourceIp}`;
  headers['x-forwarded-port'] ??= String(req.socket.localPort ?? '');
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-amzn-trace-id'] ??= `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${Buffer.from(
    requestId,
    'base64',
  )
    .toString('hex')
    .padEnd(24, '0')
    .slice(0, 24)}`;
  return { headers, cookies };
}

/** Decoded query parameters, repeated names joined with commas; undefined without a query string. */
function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const params: Record<string, string> = {};
  for (const part of rawQueryString.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeQuery(eq < 0 ? part : part.slice(0, eq));
    const value = decodeQuery(eq < 0 ? '' : part.slice(eq + 1));
    params[name] = params[name] === undefined ? value : `${params[name]},${value}`;
  }
  return Object.keys(params).length > 0 ? params : undefined;
}

function decodeQuery(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/** Bodies of these content types reach the function as text; any other (or none) is base64. */
function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = (contentType.split(';')[0] as string).trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript'
  );
}

/** 12/Mar/2020:19:03:58 +0000 */
function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

interface MappedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/**
 * The function's answer as payload format 2.0 maps it (developer guide, "Lambda function response
 * for format 2.0"): an object with a statusCode is the response (headers, body, isBase64Encoded,
 * cookies → set-cookie); anything else is a 200 application/json whose body is the answer itself
 * (a string as is, any other value as JSON). Undefined when the answer is malformed (→ 500).
 */
export function mapResponse(result: unknown): MappedResponse | undefined {
  const structured =
    typeof result === 'object' && result !== null && !Array.isArray(result) && 'statusCode' in result;
  if (!structured) {
    const body = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body, 'utf8') };
  }
  const answer = result as {
    statusCode: unknown;
    headers?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
    cookies?: unknown;
  };
  const status = answer.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599)
    return undefined;
  if (answer.body !== undefined && answer.body !== null && typeof answer.body !== 'string') return undefined;
  const headers: Record<string, string | string[]> = {};
  if (answer.headers !== undefined && answer.headers !== null) {
    if (typeof answer.headers !== 'object') return undefined;
    for (const [name, value] of Object.entries(answer.headers as Record<string, unknown>)) {
      if (value === undefined || value === null) continue;
      headers[name.toLowerCase()] = String(value);
    }
  }
  if (answer.cookies !== undefined && answer.cookies !== null) {
    if (!Array.isArray(answer.cookies)) return undefined;
    const cookies = answer.cookies.map(String);
    if (cookies.length > 0) headers['set-cookie'] = cookies;
  }
  const text = (answer.body as string | undefined | null) ?? '';
  const body = answer.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  return { status, headers, body };
}
