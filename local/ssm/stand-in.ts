import http from 'node:http';
import type { Socket } from 'node:net';
import { ApiThrottle, apiOfTarget, sendThrottlingError, type ThrottleConfig } from '../aws/throttle.js';
import { listen } from '../listen.js';
import { AwsJsonError, AwsJsonRouter } from './aws-json.js';
import type { Faults } from './faults.js';
import { MessageGateway, type RelaySessionInfo } from './mgs.js';
import { registerSessionActions } from './session-actions.js';

export interface SsmStandInOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** Managed instances that exist before their agent first connects (StartSession then says TargetNotConnected). */
  knownTargets?: string[];
  /**
   * API quotas as token buckets (`ssm:StartSession`, `ssm:ResumeSession`, `ssm:TerminateSession`,
   * `ssm:*`; local/aws/throttle.ts). None by default. A throttled call gets SSM's
   * ThrottlingException (400, "Rate exceeded").
   */
  throttle?: ThrottleConfig;
  log?: (message: string) => void;
}

export interface SsmStandIn {
  /** The SSM API endpoint: give it to SSMClient({ endpoint }). */
  readonly endpoint: string;
  /** The message gateway base URL: give it to agents (--mgs). */
  readonly mgsUrl: string;
  readonly host: string;
  readonly port: number;
  /** The AWS JSON 1.1 router (AmazonSSM.*): other files register more actions on it. */
  readonly router: AwsJsonRouter;
  readonly gateway: MessageGateway;
  readonly faults: Faults;
  /** The API quotas: buckets (`configure`, `clear`) and the calls they admitted and throttled. */
  readonly throttle: ApiThrottle;
  waitForAgent(target: string, timeoutMs?: number): Promise<void>;
  sessions(): RelaySessionInfo[];
  /** Open TCP connections to the stand-in (API calls, control and data channels). */
  connectionCount(): number;
  stop(): Promise<void>;
}

/**
 * Starts the local stand-in for the SSM API (Session Manager actions, AWS JSON 1.1) and the
 * message gateway (control and data-channel websockets) on one HTTP server.
 */
export async function startSsmStandIn(options: SsmStandInOptions = {}): Promise<SsmStandIn> {
  const host = options.host ?? '127.0.0.1';
  const router = new AwsJsonRouter('AmazonSSM');
  const gateway = new MessageGateway({
    ...(options.knownTargets === undefined ? {} : { knownTargets: options.knownTargets }),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  registerSessionActions(router, gateway);
  const throttle = new ApiThrottle(options.throttle);
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (gateway.handleHttp(req, res)) return;
    if (req.method === 'POST' && (req.url === '/' || router.matches(req))) {
      const api = throttle.enabled ? apiOfTarget(req.headers['x-amz-target']) : undefined;
      if (api !== undefined && !throttle.admit(api.service, api.action)) {
        req.resume();
        sendThrottlingError(res, api.service);
        return;
      }
      void router.handle(req, res);
      return;
    }
    const error = new AwsJsonError(
      'UnknownOperationException',
      `nothing is served at ${req.method} ${req.url}`,
      404,
    );
    res.writeHead(error.statusCode, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify({ __type: error.type, message: error.message }));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const port = await listen(server, options.port ?? 0, host);
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${authority}`,
    mgsUrl: `ws://${authority}`,
    host,
    port,
    router,
    gateway,
    faults: gateway.faults,
    throttle,
    waitForAgent: (target, timeoutMs) => gateway.waitForAgent(target, timeoutMs),
    sessions: () => gateway.listSessions(),
    connectionCount: () => sockets.size,
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        gateway.close();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopping;
    },
  };
}
