import http, { type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type IamDecisionRecord, IamGate, type IamRefusal } from '../iam/gate.js';
import type { PolicyDocument, Principal, ResolvedPrincipal } from '../iam/principals.js';
import { accessKeyIdOf } from '../iam/sigv4.js';
import { listen } from '../listen.js';
import { AwsJsonError, AwsJsonRouter, type PreparedRequest } from '../ssm/aws-json.js';
import type { Faults } from '../ssm/faults.js';
import { MessageGateway, type RelaySessionInfo } from '../ssm/mgs.js';
import { registerSessionActions } from '../ssm/session-actions.js';
import { DynamoDbStandIn } from './dynamodb.js';
import { ECR_TARGET_PREFIX, EcrStandIn } from './ecr.js';
import { QueryError } from './query.js';
import type { RegistryOptions } from './registry-client.js';
import { registerSfnActions, SFN_TARGET_PREFIX, type SfnBackend } from './sfn.js';
import { SnsStandIn } from './sns.js';
import { ParameterStore, parseReference, registerParameterActions, underPath } from './ssm-parameters.js';
import {
  ApiThrottle,
  apiOfTarget,
  RATE_EXCEEDED,
  sendThrottlingError,
  type ThrottleConfig,
} from './throttle.js';

/**
 * One HTTP server standing in for every AWS API the deployer calls, so that the production code
 * runs unchanged with AWS_ENDPOINT_URL pointing at it:
 * - X-Amz-Target `AmazonSSM.*` (AWS JSON 1.1): Session Manager (local/ssm) and Parameter Store;
 * - X-Amz-Target `AWSStepFunctions.*` (AWS JSON 1.0): executions and task callbacks, delegated to
 *   an SfnBackend;
 * - X-Amz-Target `AmazonEC2ContainerRegistry_V20150921.*` (AWS JSON 1.1): images and
 *   authorization tokens from the local registry;
 * - X-Amz-Target `DynamoDB_20120810.*` (AWS JSON 1.0): DynamoDB, forwarded to dynalite in memory
 *   (local/aws/dynamodb.ts), with the TTL actions answered here;
 * - form-encoded POSTs (the Query protocol): SNS;
 * - /v1/control-channel and /v1/data-channel (websockets, and CreateDataChannel): the message
 *   gateway the SSM agents and the tunnel client talk to.
 *
 * With `iam`, every API request (not the message gateway's) must be signed (SigV4) by one of the
 * principals given, and is authorized against that principal's identity-based policies before the
 * service sees it (local/iam): the service's own authentication and AccessDenied errors otherwise.
 *
 * With `throttle`, the APIs given are held to AWS-style quotas (token buckets, local/aws/throttle.ts):
 * a call that finds its bucket empty gets the service's throttling error, after IAM and before the
 * service.
 */

export interface AwsStandInIamOptions {
  /** The callers: access keys, identities and identity-based policies. */
  principals: Principal[];
}

/** The IAM side of a stand-in started with `iam`. */
export interface AwsStandInIam {
  /** Every authorization decision, oldest first (the last 10 000). */
  readonly decisions: readonly IamDecisionRecord[];
  /** Requests refused for their signature (unsigned, unknown key, bad signature, expired). */
  readonly refusals: readonly IamRefusal[];
  /** Replaces a principal's identity-based policies; effective from its next call. */
  setPolicies(accessKeyId: string, policies: PolicyDocument[]): void;
  /** Adds (or replaces) a principal. */
  addPrincipal(principal: Principal): void;
  principal(accessKeyId: string): ResolvedPrincipal | undefined;
}

export interface AwsStandInOptions {
  /** Address to listen on (default 127.0.0.1; the fleet's 10.x.0.1 in the local runtime). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** The region in ARNs (default us-east-1). */
  region?: string;
  /** The account in ARNs and registry ids (default 000000000000). */
  accountId?: string;
  /** Managed instances that exist before their agent first connects. */
  knownTargets?: string[];
  /** The Step Functions backend; can also be attached later with `setSfnBackend`. */
  sfn?: SfnBackend;
  /** The distribution registry behind ECR; without it the ECR actions are not served. */
  registry?: RegistryOptions;
  /**
   * IAM enforcement: SigV4 verification and authorization of every API call. Without it any
   * credentials will do (only unsigned calls are refused), as before.
   */
  iam?: AwsStandInIamOptions;
  /**
   * The tags of managed instances, by target (i-… or mi-…): StartSession's condition keys
   * ssm:resourceTag/<key> and aws:ResourceTag/<key> under `iam`.
   */
  instanceTags?: Record<string, Record<string, string>>;
  /**
   * API quotas as token buckets, by API (`ssm:StartSession`, `sns:Publish`, `dynamodb:*`…; see
   * local/aws/throttle.ts). None by default: every call is served. Also settable later through
   * `throttle.configure`.
   */
  throttle?: ThrottleConfig;
  log?: (message: string) => void;
}

export interface AwsStandIn {
  /** The endpoint for every SDK client (AWS_ENDPOINT_URL). */
  readonly endpoint: string;
  /** The message gateway base URL for agents (--mgs). */
  readonly mgsUrl: string;
  readonly host: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  /** The AmazonSSM router (Session Manager and Parameter Store), as on the SSM stand-in. */
  readonly router: AwsJsonRouter;
  readonly routers: { readonly ssm: AwsJsonRouter; readonly sfn: AwsJsonRouter; readonly ecr: AwsJsonRouter };
  readonly gateway: MessageGateway;
  readonly faults: Faults;
  readonly parameters: ParameterStore;
  readonly sns: SnsStandIn;
  /** Undefined when started without a registry. */
  readonly ecr: EcrStandIn | undefined;
  /** DynamoDB (dynalite in memory behind this endpoint). */
  readonly dynamodb: DynamoDbStandIn;
  /** IAM enforcement; undefined when started without `iam`. */
  readonly iam: AwsStandInIam | undefined;
  /** The API quotas: buckets (`configure`, `clear`) and the calls they admitted and throttled. */
  readonly throttle: ApiThrottle;
  /** How many connections the requests signed with `accessKeyId` came over. */
  connectionsOf(accessKeyId: string): number;
  /** Sets (replaces) a managed instance's tags. */
  setInstanceTags(target: string, tags: Record<string, string>): void;
  /** Attaches (or detaches) the Step Functions backend. */
  setSfnBackend(backend: SfnBackend | undefined): void;
  waitForAgent(target: string, timeoutMs?: number): Promise<void>;
  sessions(): RelaySessionInfo[];
  /** Open TCP connections to the stand-in. */
  connectionCount(): number;
  /** Closes every connection and the server; leaves no handle open. */
  stop(): Promise<void>;
}

/** Starts the AWS stand-in on one HTTP server. */
export async function startAwsStandIn(options: AwsStandInOptions = {}): Promise<AwsStandIn> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const log = options.log ?? (() => {});

  const gateway = new MessageGateway({
    ...(options.knownTargets === undefined ? {} : { knownTargets: options.knownTargets }),
    log,
  });
  const ssm = new AwsJsonRouter('AmazonSSM');
  /** Who started each session (aws:userid) and where: the tags IAM checks on Resume/TerminateSession. */
  const sessionOwners = new Map<string, { ownerUserId: string; target: string }>();
  registerSessionActions(ssm, gateway, undefined, {
    onSessionStarted: ({ sessionId, target, caller }) => {
      if (caller !== undefined) sessionOwners.set(sessionId, { ownerUserId: caller.userId, target });
    },
  });
  const parameters = new ParameterStore({ region, accountId });
  registerParameterActions(ssm, parameters);
  const instanceTags = new Map(
    Object.entries(options.instanceTags ?? {}).map(([target, tags]) => [target, { ...tags }]),
  );
  const iam =
    options.iam === undefined
      ? undefined
      : new IamGate({
          principals: options.iam.principals,
          accountId,
          log,
          environment: {
            instanceTags: (target) => instanceTags.get(target),
            session: (sessionId) => sessionOwners.get(sessionId),
            parameterName: (reference) => {
              try {
                return parseReference(parameters, reference).name;
              } catch {
                return undefined;
              }
            },
            parameter: (name) => {
              const stored = parameters.get(name);
              return stored === undefined
                ? undefined
                : { type: stored.type, ...(stored.keyId === undefined ? {} : { keyId: stored.keyId }) };
            },
            parametersUnder: (path, recursive) =>
              underPath(parameters, path, recursive).map((stored) => ({
                name: stored.name,
                type: stored.type,
                ...(stored.keyId === undefined ? {} : { keyId: stored.keyId }),
              })),
          },
        });

  let sfnBackend = options.sfn;
  const sfn = new AwsJsonRouter(SFN_TARGET_PREFIX);
  registerSfnActions(sfn, () => sfnBackend);

  const ecrRouter = new AwsJsonRouter(ECR_TARGET_PREFIX);
  const ecr = options.registry === undefined ? undefined : new EcrStandIn(options.registry, accountId);
  ecr?.register(ecrRouter);

  const sns = new SnsStandIn({ region, accountId, log });
  const throttle = new ApiThrottle(options.throttle);
  // SNS answers a throttled call with its ThrottledException: <Code>Throttled</Code>, HTTP 429
  // (the SDK model's awsQueryError trait; "the rate at which requests have been submitted for
  // this action exceeds the limit for your AWS account"), message "Rate exceeded" as SNS's
  // throttled callers report it (https://repost.aws/knowledge-center/sns-throttling-exception-errors).
  sns.router.guard = (action) =>
    throttle.admit('sns', action) ? undefined : new QueryError('Throttled', RATE_EXCEEDED, 429);
  let dynamodb: DynamoDbStandIn;
  try {
    dynamodb = await DynamoDbStandIn.start();
  } catch (error) {
    gateway.close();
    ecr?.close();
    throw error;
  }
  const jsonRouters: Array<{ router: AwsJsonRouter; json10: boolean }> = [
    { router: ssm, json10: false },
    { router: sfn, json10: true },
    ...(ecr === undefined ? [] : [{ router: ecrRouter, json10: false }]),
  ];

  const sockets = new Set<Socket>();
  /** Hands a request to its service; `prepared` when IAM has read the body and verified the caller. */
  const route = (req: http.IncomingMessage, res: ServerResponse, prepared: PreparedRequest = {}): void => {
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string') {
      const api = throttle.enabled ? apiOfTarget(target) : undefined;
      if (api !== undefined && !throttle.admit(api.service, api.action)) {
        req.resume();
        sendThrottlingError(res, api.service);
        return;
      }
      if (dynamodb.matches(req)) {
        void dynamodb.handle(req, res, prepared.body);
        return;
      }
      const match = jsonRouters.find(({ router }) => router.matches(req));
      if (match !== undefined) {
        void match.router.handle(req, match.json10 ? asJson10(res) : res, prepared);
        return;
      }
      const service = target.split('.')[0] ?? target;
      const reason =
        service === ECR_TARGET_PREFIX
          ? 'ECR is not served: the stand-in was started without a registry'
          : `no service with the target prefix ${service} is served here`;
      sendJsonError(res, new AwsJsonError('UnknownOperationException', `${reason} (${target})`));
      req.resume();
      return;
    }
    const contentType = req.headers['content-type'] ?? '';
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (
      (req.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) ||
      (req.method === 'GET' && url.searchParams.has('Action'))
    ) {
      void sns.router.handle(req, res, prepared.body);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/_stand-in/health') {
      const body = JSON.stringify({
        services: {
          ssm: ssm.actions,
          sns: sns.router.actions,
          states: sfnBackend === undefined ? [] : sfn.actions,
          ecr: ecr === undefined ? [] : ecrRouter.actions,
          dynamodb: dynamodb.actions,
        },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    req.resume();
    sendJsonError(
      res,
      new AwsJsonError('UnknownOperationException', `nothing is served at ${req.method} ${req.url}`, 404),
    );
  };
  // The connections each access key's requests came over: a caller that keeps its SDK clients
  // (a warm Lambda) reuses its keep-alive connections; one that rebuilds them opens new ones.
  const connections = new Map<string, WeakSet<Socket>>();
  const connectionCounts = new Map<string, number>();
  const countConnection = (req: http.IncomingMessage) => {
    const key = accessKeyIdOf(req.headers.authorization);
    if (key === undefined) return;
    let seen = connections.get(key);
    if (!seen) {
      seen = new WeakSet();
      connections.set(key, seen);
    }
    if (seen.has(req.socket)) return;
    seen.add(req.socket);
    connectionCounts.set(key, (connectionCounts.get(key) ?? 0) + 1);
  };
  const server = http.createServer((req, res) => {
    if (gateway.handleHttp(req, res)) return;
    countConnection(req);
    if (iam === undefined || !iam.guards(req)) {
      route(req, res);
      return;
    }
    iam.admit(req, res).then(
      (admitted) => {
        if (admitted !== undefined) route(req, res, admitted);
      },
      (error: unknown) => {
        log(`iam: the request could not be checked: ${String(error)}`);
        if (res.headersSent) res.destroy();
        else
          sendJsonError(res, new AwsJsonError('InternalFailure', 'the request could not be authorized', 500));
      },
    );
  });
  // AWS's endpoints keep idle connections open far longer than Node's 5 s default; clients that
  // are reused between calls seconds apart (a warm Lambda's) keep their connections, as on AWS.
  server.keepAliveTimeout = 65_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
  });
  try {
    await listen(server, options.port ?? 0, host);
  } catch (error) {
    gateway.close();
    ecr?.close();
    await dynamodb.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  log(`aws stand-in listening on http://${authority}`);
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${authority}`,
    mgsUrl: `ws://${authority}`,
    host,
    port,
    region,
    accountId,
    router: ssm,
    routers: { ssm, sfn, ecr: ecrRouter },
    gateway,
    faults: gateway.faults,
    parameters,
    sns,
    ecr,
    dynamodb,
    iam:
      iam === undefined
        ? undefined
        : {
            decisions: iam.decisions,
            refusals: iam.refusals,
            setPolicies: (accessKeyId, policies) => iam.setPolicies(accessKeyId, policies),
            addPrincipal: (principal) => iam.addPrincipal(principal),
            principal: (accessKeyId) => iam.principals.get(accessKeyId),
          },
    throttle,
    connectionsOf: (accessKeyId) => connectionCounts.get(accessKeyId) ?? 0,
    setInstanceTags: (target, tags) => {
      instanceTags.set(target, { ...tags });
    },
    setSfnBackend: (backend) => {
      sfnBackend = backend;
    },
    waitForAgent: (target, timeoutMs) => gateway.waitForAgent(target, timeoutMs),
    sessions: () => gateway.listSessions(),
    connectionCount: () => sockets.size,
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        gateway.close();
        ecr?.close();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }).then(() => dynamodb.close());
      return stopping;
    },
  };
}

/**
 * AwsJsonRouter answers in application/x-amz-json-1.1; Step Functions speaks AWS JSON 1.0, whose
 * bodies and error shapes are the same, so only the content type is rewritten on the way out.
 */
function asJson10(res: ServerResponse): ServerResponse {
  const writeHead = res.writeHead.bind(res) as (
    status: number,
    headers?: OutgoingHttpHeaders,
  ) => ServerResponse;
  res.writeHead = ((status: number, headers?: OutgoingHttpHeaders) =>
    writeHead(status, { ...headers, 'content-type': 'application/x-amz-json-1.0' })) as typeof res.writeHead;
  return res;
}

function sendJsonError(res: ServerResponse, error: AwsJsonError): void {
  const body = JSON.stringify({ __type: error.type, message: error.message });
  res.writeHead(error.statusCode, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
