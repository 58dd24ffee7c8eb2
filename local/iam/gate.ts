import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { QueryError, sendQueryError as sendQueryFailure } from '../aws/query.js';
import { SNS_XMLNS } from '../aws/sns.js';
import { readBody, type VerifiedCaller } from '../ssm/aws-json.js';
import { authorizationRequests, type IamService, type MappingEnvironment } from './actions.js';
import {
  type AuthorizationRequest,
  Authorizer,
  accessDeniedMessage,
  type EvaluationResult,
} from './authorize.js';
import {
  type PolicyDocument,
  type Principal,
  PrincipalRegistry,
  type ResolvedPrincipal,
} from './principals.js';
import { type SigV4FailureCode, verifySigV4 } from './sigv4.js';

/**
 * IAM in front of the AWS stand-in's services: every request must carry a valid SigV4 signature
 * by a known principal (else the service's own authentication error), and every operation is
 * authorized against the principal's identity-based policies (local/iam/actions.ts says what
 * each operation asks) before the service sees it; a denial is the service's AccessDenied error.
 *
 * Wire formats, as the SDK v3 parses them:
 * - AWS JSON 1.0/1.1 (SSM, Step Functions, ECR): HTTP 400, `{"__type": "<Code>", "message": …}`,
 *   codes AccessDeniedException, UnrecognizedClientException, InvalidSignatureException (also for
 *   an expired signature), IncompleteSignatureException, MissingAuthenticationTokenException;
 * - DynamoDB: the same with the namespaces DynamoDB puts in `__type`:
 *   `com.amazonaws.dynamodb.v20120810#AccessDeniedException` and
 *   `com.amazon.coral.service#UnrecognizedClientException` (…#InvalidSignatureException, …);
 * - SNS (Query): `<ErrorResponse><Error><Type>Sender</Type><Code>…` with HTTP 403 for
 *   AuthorizationError, InvalidClientTokenId, SignatureDoesNotMatch and MissingAuthenticationToken,
 *   400 for IncompleteSignature; the SDK names them AuthorizationErrorException, … .
 */

export interface IamDecisionRecord {
  principalArn: string;
  accessKeyId: string;
  action: string;
  resource: string;
  allowed: boolean;
  result: EvaluationResult;
  at: Date;
}

export interface IamRefusal {
  code: SigV4FailureCode;
  accessKeyId: string | undefined;
  service: IamService | undefined;
  message: string;
  at: Date;
}

export interface IamGateOptions {
  principals: Principal[];
  /** The stand-in's account: the owner of the resources it holds. */
  accountId: string;
  partition?: string;
  /** Lookups into the stand-in's services for resource ARNs and condition keys. */
  environment: Omit<MappingEnvironment, 'region' | 'account' | 'partition'>;
  log?: (message: string) => void;
  /** The clock for signature expiry and aws:CurrentTime (tests). */
  now?: () => Date;
}

interface JsonService {
  service: IamService;
  signingName: string;
  json10: boolean;
  /** DynamoDB's error namespaces. */
  dynamodb: boolean;
}

const JSON_SERVICES: Record<string, JsonService> = {
  DynamoDB_20120810: { service: 'dynamodb', signingName: 'dynamodb', json10: true, dynamodb: true },
  AmazonSSM: { service: 'ssm', signingName: 'ssm', json10: false, dynamodb: false },
  AWSStepFunctions: { service: 'states', signingName: 'states', json10: true, dynamodb: false },
  AmazonEC2ContainerRegistry_V20150921: {
    service: 'ecr',
    signingName: 'ecr',
    json10: false,
    dynamodb: false,
  },
};

const MAX_BODY = 16 * 1024 * 1024;
/** How many decisions and refusals are kept for inspection. */
const RECORD_LIMIT = 10_000;

/** What the gate let through: the body it read and the verified caller. */
export interface Admitted {
  body: Buffer;
  caller: VerifiedCaller;
}

type Classified =
  | { protocol: 'json'; operation: string; spec: JsonService | undefined }
  | { protocol: 'query' };

export class IamGate {
  readonly principals: PrincipalRegistry;
  /** Every authorization decision, oldest first (the last 10 000). */
  readonly decisions: IamDecisionRecord[] = [];
  /** Every request refused for its signature (the last 10 000). */
  readonly refusals: IamRefusal[] = [];
  private readonly authorizer: Authorizer;
  private readonly options: IamGateOptions;
  private readonly now: () => Date;

  constructor(options: IamGateOptions) {
    this.options = options;
    this.principals = new PrincipalRegistry(options.principals);
    this.authorizer = new Authorizer(options.log === undefined ? {} : { log: options.log });
    this.now = options.now ?? (() => new Date());
  }

  /** Replaces a principal's identity-based policies; the next call is decided on the new ones. */
  setPolicies(accessKeyId: string, policies: PolicyDocument[]): void {
    this.principals.setPolicies(accessKeyId, policies);
  }

  addPrincipal(principal: Principal): void {
    this.principals.add(principal);
  }

  /** True for requests the gate guards: AWS JSON (X-Amz-Target) and Query protocol calls. */
  guards(req: IncomingMessage): boolean {
    return classify(req) !== undefined;
  }

  /**
   * Authenticates and authorizes one request. Answers it (and returns undefined) when refused;
   * otherwise returns the body read and the caller, for the service to go on with.
   */
  async admit(req: IncomingMessage, res: ServerResponse): Promise<Admitted | undefined> {
    const classified = classify(req);
    const requestId = randomUUID();
    let body: Buffer;
    try {
      body = await readBody(req, {
        maxBytes: MAX_BODY,
        tooLarge: () => new Error('the request body is too large'),
        destroy: false,
      });
    } catch {
      if (!res.headersSent) {
        res.writeHead(413, { connection: 'close' });
        res.end();
      }
      req.destroy();
      return undefined;
    }
    const now = this.now();
    const spec = classified?.protocol === 'json' ? classified.spec : undefined;
    const signingName = classified?.protocol === 'query' ? 'sns' : spec?.signingName;
    const service: IamService | undefined = classified?.protocol === 'query' ? 'sns' : spec?.service;
    const verified = verifySigV4(
      { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body },
      this.principals.lookupSecret,
      now,
      signingName === undefined ? {} : { service: signingName },
    );
    if (!verified.ok) {
      this.record(this.refusals, {
        code: verified.code,
        accessKeyId: verified.accessKeyId,
        service,
        message: verified.message,
        at: now,
      });
      this.options.log?.(`iam: refused ${req.method} ${req.url}: ${verified.code} ${verified.message}`);
      if (classified?.protocol === 'query')
        sendQueryAuthError(res, requestId, verified.code, verified.message);
      else sendJsonAuthError(res, requestId, spec, verified.code, verified.message);
      return undefined;
    }
    const principal = this.principals.get(verified.accessKeyId) as ResolvedPrincipal;
    const caller: VerifiedCaller = {
      accessKeyId: principal.accessKeyId,
      arn: principal.arn,
      userId: principal.userId,
      name: principal.name,
    };
    if (classified === undefined || service === undefined) return { body, caller };

    let operation: string | undefined;
    let input: Record<string, unknown> | URLSearchParams | undefined;
    if (classified.protocol === 'json') {
      operation = classified.operation;
      input = parseJson(body);
    } else {
      const params =
        req.method === 'GET'
          ? new URL(req.url ?? '/', 'http://stand-in').searchParams
          : new URLSearchParams(body.toString('utf8'));
      operation = params.get('Action') ?? undefined;
      input = params;
    }
    // Nothing to authorize yet: the service answers the malformed request itself.
    if (operation === undefined || operation === '' || input === undefined) return { body, caller };

    const environment: MappingEnvironment = {
      ...this.options.environment,
      region: verified.region,
      account: this.options.accountId,
      ...(this.options.partition === undefined ? {} : { partition: this.options.partition }),
    };
    let requests: AuthorizationRequest[];
    try {
      requests = authorizationRequests(service, operation, input, environment);
    } catch (error) {
      this.options.log?.(`iam: no authorization mapping for ${service}:${operation}: ${String(error)}`);
      requests = [{ action: `${service}:${operation}`, resource: '*' }];
    }
    for (const request of requests) {
      const decision = await this.authorizer.authorize(principal, request, {
        now,
        region: verified.region,
        ...(req.socket.remoteAddress === undefined ? {} : { sourceIp: req.socket.remoteAddress }),
      });
      this.record(this.decisions, {
        principalArn: principal.arn,
        accessKeyId: principal.accessKeyId,
        action: request.action,
        resource: request.resource,
        allowed: decision.allowed,
        result: decision.result,
        at: now,
      });
      if (decision.allowed) continue;
      this.options.log?.(`iam: denied ${principal.arn} ${request.action} on ${request.resource}`);
      const result = decision.result === 'ExplicitlyDenied' ? 'ExplicitlyDenied' : 'ImplicitlyDenied';
      if (classified.protocol === 'query') {
        // SNS spells its actions SNS:Publish in its messages.
        const shown = request.action.replace(/^sns:/, 'SNS:');
        sendQueryError(
          res,
          requestId,
          403,
          'AuthorizationError',
          accessDeniedMessage(principal.arn, request.action, request.resource, result, {
            actionAsShown: shown,
          }),
        );
      } else {
        sendJsonError(
          res,
          requestId,
          spec,
          spec?.dynamodb ? 'com.amazonaws.dynamodb.v20120810#AccessDeniedException' : 'AccessDeniedException',
          accessDeniedMessage(principal.arn, request.action, request.resource, result),
        );
      }
      return undefined;
    }
    return { body, caller };
  }

  private record<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > RECORD_LIMIT) list.splice(0, list.length - RECORD_LIMIT);
  }
}

function classify(req: IncomingMessage): Classified | undefined {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') {
    const dot = target.indexOf('.');
    const prefix = dot < 0 ? target : target.slice(0, dot);
    return { protocol: 'json', operation: dot < 0 ? '' : target.slice(dot + 1), spec: JSON_SERVICES[prefix] };
  }
  const contentType = req.headers['content-type'] ?? '';
  if (req.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded'))
    return { protocol: 'query' };
  if (req.method === 'GET' && new URL(req.url ?? '/', 'http://stand-in').searchParams.has('Action')) {
    return { protocol: 'query' };
  }
  return undefined;
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON protocols' codes for a signature failure (DynamoDB prefixes them with com.amazon.coral.service#). */
const JSON_AUTH_CODES: Record<SigV4FailureCode, string> = {
  MissingAuthenticationToken: 'MissingAuthenticationTokenException',
  UnrecognizedClient: 'UnrecognizedClientException',
  SignatureDoesNotMatch: 'InvalidSignatureException',
  RequestExpired: 'InvalidSignatureException',
  IncompleteSignature: 'IncompleteSignatureException',
};

function sendJsonAuthError(
  res: ServerResponse,
  requestId: string,
  spec: JsonService | undefined,
  code: SigV4FailureCode,
  message: string,
): void {
  const type = JSON_AUTH_CODES[code];
  sendJsonError(
    res,
    requestId,
    spec,
    spec?.dynamodb ? `com.amazon.coral.service#${type}` : type,
    spec?.dynamodb && code === 'MissingAuthenticationToken'
      ? 'Request is missing Authentication Token'
      : message,
  );
}

function sendJsonError(
  res: ServerResponse,
  requestId: string,
  spec: JsonService | undefined,
  type: string,
  message: string,
): void {
  const text = JSON.stringify({ __type: type, message });
  res.writeHead(400, {
    'content-type': spec?.json10 ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
  });
  res.end(text);
}

/** Query protocol codes and statuses for a signature failure (AWS's Common Errors). */
const QUERY_AUTH_CODES: Record<SigV4FailureCode, { code: string; status: number }> = {
  MissingAuthenticationToken: { code: 'MissingAuthenticationToken', status: 403 },
  UnrecognizedClient: { code: 'InvalidClientTokenId', status: 403 },
  SignatureDoesNotMatch: { code: 'SignatureDoesNotMatch', status: 403 },
  RequestExpired: { code: 'SignatureDoesNotMatch', status: 403 },
  IncompleteSignature: { code: 'IncompleteSignature', status: 400 },
};

function sendQueryAuthError(
  res: ServerResponse,
  requestId: string,
  code: SigV4FailureCode,
  message: string,
): void {
  const { code: wire, status } = QUERY_AUTH_CODES[code];
  sendQueryError(
    res,
    requestId,
    status,
    wire,
    code === 'MissingAuthenticationToken' ? 'Request is missing Authentication Token' : message,
  );
}

function sendQueryError(
  res: ServerResponse,
  requestId: string,
  status: number,
  code: string,
  message: string,
): void {
  sendQueryFailure(res, SNS_XMLNS, requestId, new QueryError(code, message, status));
}
