import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import {
  ResumeSessionCommand,
  type SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-ssm';
import type Docker from 'dockerode';
import WebSocket from 'ws';
import { DeployerError } from '../errors.js';
import { BasicPortSession } from './basic.js';
import { DataChannel, type DataChannelStats, type SsmLogger } from './datachannel.js';
import {
  EncryptionNotSupportedError,
  SessionRefusedError,
  SessionStartError,
  TunnelClosedError,
  TunnelConnectError,
  TunnelHandshakeError,
} from './errors.js';
import {
  type ChannelClosedContent,
  type ClientMessage,
  decodeFlagPayload,
  encodeFlagPayload,
  PayloadFlag,
  PayloadType,
} from './message.js';
import { SmuxSession } from './smux.js';
import { pluginPortSession, pluginVersionGreaterThan, VERSION_THRESHOLDS } from './version.js';

/**
 * The ClientVersion this client claims in its HandshakeResponse. The agent runs mux port
 * forwarding for versions >= 1.1.70 and turns its smux keepalive off only above 1.2.331.0
 * (amazon-ssm-agent agent/session/plugins/port/port.go, port_mux.go), so any release above
 * 1.2.331.0 gives a multiplexed session that needs no keepalive from us.
 */
export const CLIENT_VERSION = '1.2.694.0';
export const PORT_FORWARDING_DOCUMENT = 'AWS-StartPortForwardingSession';
export const REMOTE_HOST_PORT_FORWARDING_DOCUMENT = 'AWS-StartPortForwardingSessionToRemoteHost';

export interface OpenTunnelOptions {
  ssm: SSMClient;
  /** The managed instance (i-… or mi-…). */
  target: string;
  /** A Port session document; AWS-StartPortForwardingSession by default. */
  documentName?: string;
  /** The destination port on the target (the engine API: 2375, or 2376 with TLS). */
  portNumber: number;
  /** A host the agent dials instead of localhost (the …ToRemoteHost document's `host`). */
  host?: string;
  /** Extra document parameters, merged over portNumber and host. */
  parameters?: Record<string, string[]>;
  reason?: string;
  /** Aborting it fails an opening tunnel and closes an open one. */
  signal?: AbortSignal;
  /** The most time from StartSession to HandshakeComplete (default 20 s). */
  connectTimeoutMs?: number;
  /** Fail the tunnel when a message stays unacknowledged this long (default 30 s; resends run every 0.2–1 s). */
  ackTimeoutMs?: number;
  /**
   * While streams are open and the tunnel is idle, send a smux NOP this often (default 10 s): its
   * acknowledgement proves the agent is there, so a vanished agent is noticed within keepaliveMs + ackTimeoutMs.
   */
  keepaliveMs?: number;
  /** ResumeSession attempts after the websocket is lost (default 5, like the plugin). */
  maxReconnects?: number;
  /** Options for the http.Agent (keepAlive is on by default). */
  agentOptions?: http.AgentOptions;
  clientVersion?: string;
  logger?: SsmLogger;
}

/** What the handshake told us about the agent and the session. */
export interface TunnelSessionInfo {
  sessionId: string;
  target: string;
  agentVersion: string;
  /**
   * How the session carries connections, as the plugin decides it from the agent's version:
   * `mux` (smux streams, agents newer than 3.0.196.0) or `basic` (one connection at a time).
   * Empty until the handshake.
   */
  portSession: 'mux' | 'basic' | '';
  /** The document properties the agent reported (portNumber, type, host, …). */
  properties: Record<string, unknown>;
}

/**
 * An open Session Manager port-forwarding tunnel: smux multiplexing, or basic port forwarding
 * (one connection at a time) with an agent too old to multiplex.
 */
export interface Tunnel {
  readonly sessionId: string;
  readonly target: string;
  readonly info: TunnelSessionInfo;
  /**
   * Hands out a new connection (smux stream) per socket: give it to dockerode or node:http. Over a
   * basic session it keeps at most one socket (maxSockets 1) and gives an idle one up when
   * another connection waits.
   */
  readonly agent: http.Agent;
  /**
   * A new connection to the destination port. Errors arrive on it (PortConnectError,
   * TunnelClosedError). Over a basic session it waits until the previous connection has closed.
   */
  connect(): Duplex;
  /** An https.Agent whose connections run TLS over tunnel streams (the engine's mutual TLS on 2376). */
  createTlsAgent(options?: https.AgentOptions): https.Agent;
  /** Sends TerminateSession (flag and API), closes the websocket and every stream. */
  close(): Promise<void>;
  /** Settles when the tunnel is over: with the error that ended it, or undefined after close(). */
  readonly closed: Promise<DeployerError | undefined>;
  readonly isOpen: boolean;
  stats(): DataChannelStats & { streams: number; reconnects: number };
}

/**
 * Starts a Session Manager port-forwarding session and speaks the data-channel protocol over
 * its websocket: handshake, acknowledgements and resends, then smux v1 so that one session
 * carries many TCP connections.
 * @throws SessionStartError, TunnelConnectError, TunnelHandshakeError, EncryptionNotSupportedError, TunnelClosedError
 */
export async function openTunnel(options: OpenTunnelOptions): Promise<Tunnel> {
  const tunnel = new SessionTunnel(options);
  await tunnel.open();
  return tunnel;
}

/**
 * Options for `new Docker(…)` that send every Engine API call through the tunnel: plain HTTP, or
 * mutual TLS when `tls` is given (the engine on 127.0.0.1:2376). docker-modem hands `agent` to
 * http(s).request, although @types/dockerode does not declare it.
 */
export function dockerOptions(
  tunnel: Tunnel,
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; port?: number },
): Docker.DockerOptions {
  const port = tls?.port ?? (tls === undefined ? 2375 : 2376);
  if (tls === undefined) {
    return { protocol: 'http', host: '127.0.0.1', port, agent: tunnel.agent } as Docker.DockerOptions;
  }
  const { port: _port, ...material } = tls;
  return {
    protocol: 'https',
    host: '127.0.0.1',
    port,
    ...material,
    agent: tunnel.createTlsAgent(),
  } as Docker.DockerOptions;
}

type Stage = 'start' | 'connect' | 'handshake';

class SessionTunnel implements Tunnel {
  readonly target: string;
  readonly agent: http.Agent;
  readonly closed: Promise<DeployerError | undefined>;

  private readonly options: OpenTunnelOptions;
  private readonly logger: SsmLogger | undefined;
  private readonly clientId = randomUUID();
  private readonly clientVersion: string;
  private readonly dataChannel: DataChannel;
  private readonly tlsAgents = new Set<https.Agent>();
  private smux: SmuxSession | undefined;
  private basic: BasicPortSession | undefined;
  private ws: WebSocket | undefined;
  private sessionIdValue = '';
  private streamUrl = '';
  /** Short-lived credential for the websocket: never logged, never in an error. */
  private token = '';
  private infoValue: TunnelSessionInfo | undefined;
  private state: 'opening' | 'open' | 'closing' | 'closed' = 'opening';
  private handshakeComplete = false;
  private reconnecting = false;
  private reconnects = 0;
  private failure: DeployerError | undefined;
  /** Set when this client refused the handshake: the agent's reaction must not hide the reason. */
  private refusal: DeployerError | undefined;
  private settleHandshake: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private resolveClosed!: (error: DeployerError | undefined) => void;
  private closing: Promise<void> | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastSendAt = Date.now();
  private sendKeepalive = false;
  private readonly abortListener = (): void => this.onAbort();

  constructor(options: OpenTunnelOptions) {
    this.options = options;
    this.target = options.target;
    this.logger = options.logger;
    this.clientVersion = options.clientVersion ?? CLIENT_VERSION;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.dataChannel = new DataChannel({
      role: 'client',
      transmit: (frame) => this.transmit(frame),
      onStreamMessage: (message) => this.onStreamMessage(message),
      onChannelClosed: (content) => this.onChannelClosed(content),
      onFailure: (error) => this.fail(error),
      ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    const open = (): Duplex => this.connect();
    this.agent = new (class TunnelHttpAgent extends http.Agent {
      override createConnection(): Duplex {
        return open();
      }
    })({ keepAlive: true, ...options.agentOptions });
  }

  get sessionId(): string {
    return this.sessionIdValue;
  }

  get info(): TunnelSessionInfo {
    return (
      this.infoValue ?? {
        sessionId: this.sessionIdValue,
        target: this.target,
        agentVersion: '',
        portSession: '',
        properties: {},
      }
    );
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  connect(): Duplex {
    if (this.basic !== undefined && this.state === 'open') return this.basic.openStream();
    if (this.smux === undefined || this.state !== 'open') {
      const session = new SmuxSession({ role: 'client', write: (_bytes, callback) => callback() });
      session.close(this.failure ?? new TunnelClosedError('the tunnel is not open'));
      return session.openStream();
    }
    return this.smux.openStream();
  }

  createTlsAgent(options?: https.AgentOptions): https.Agent {
    const open = (): Duplex => this.connect();
    const agent = new (class TunnelHttpsAgent extends https.Agent {
      override createConnection(connectOptions: https.RequestOptions): Duplex {
        // tls wraps any Duplex given as `socket`; the request options carry ca/cert/key.
        return tls.connect({ ...(connectOptions as tls.ConnectionOptions), socket: open() });
      }
    })({ keepAlive: true, ...options });
    if (this.basic !== undefined) agent.maxSockets = 1;
    this.tlsAgents.add(agent);
    return agent;
  }

  stats(): DataChannelStats & { streams: number; reconnects: number } {
    const streams = this.smux?.streamCount ?? this.basic?.streamCount ?? 0;
    return { ...this.dataChannel.stats, streams, reconnects: this.reconnects };
  }

  /** @internal */
  async open(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 20_000;
    const controller = new AbortController();
    const userSignal = this.options.signal;
    let stage: Stage = 'start';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('connect timeout'));
    }, timeoutMs);
    const onUserAbort = (): void => controller.abort(userSignal?.reason);
    if (userSignal?.aborted) controller.abort(userSignal.reason);
    userSignal?.addEventListener('abort', onUserAbort, { once: true });
    try {
      await this.startSession(controller.signal);
      stage = 'connect';
      await this.connectWebSocket(controller.signal);
      stage = 'handshake';
      await this.waitForHandshake(controller.signal);
      this.state = 'open';
      this.startKeepalive();
      userSignal?.addEventListener('abort', this.abortListener, { once: true });
      this.logger?.info('ssm tunnel open', {
        sessionId: this.sessionIdValue,
        target: this.target,
        agentVersion: this.info.agentVersion,
      });
    } catch (error) {
      const mapped = this.failure ?? this.mapOpenError(error, stage, timedOut, timeoutMs);
      await this.teardown(mapped, false);
      throw mapped;
    } finally {
      clearTimeout(timer);
      userSignal?.removeEventListener('abort', onUserAbort);
    }
  }

  async close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = this.teardown(undefined, true);
    return this.closing;
  }

  private mapOpenError(error: unknown, stage: Stage, timedOut: boolean, timeoutMs: number): DeployerError {
    if (error instanceof DeployerError) return error;
    const where = `${this.target}${this.sessionIdValue === '' ? '' : ` (session ${this.sessionIdValue})`}`;
    if (timedOut) {
      switch (stage) {
        case 'start':
          return new SessionStartError(`StartSession for ${where} did not answer within ${timeoutMs} ms`, {
            target: this.target,
            retryable: true,
            cause: error,
          });
        case 'connect':
          return new TunnelConnectError(
            `the data-channel websocket for ${where} did not open within ${timeoutMs} ms`,
            {
              cause: error,
            },
          );
        case 'handshake':
          return new TunnelHandshakeError(
            `the agent on ${where} did not complete the handshake within ${timeoutMs} ms`,
            { retryable: true, cause: error },
          );
      }
    }
    if (this.options.signal?.aborted) {
      return new TunnelConnectError(`opening the tunnel to ${where} was aborted`, { cause: error });
    }
    return new TunnelConnectError(`opening the tunnel to ${where} failed: ${describe(error)}`, {
      cause: error,
    });
  }

  private async startSession(signal: AbortSignal): Promise<void> {
    const documentName = this.options.documentName ?? PORT_FORWARDING_DOCUMENT;
    const parameters: Record<string, string[]> = { portNumber: [String(this.options.portNumber)] };
    if (this.options.host !== undefined) parameters.host = [this.options.host];
    Object.assign(parameters, this.options.parameters);
    let output: {
      SessionId?: string | undefined;
      TokenValue?: string | undefined;
      StreamUrl?: string | undefined;
    };
    try {
      output = await this.options.ssm.send(
        new StartSessionCommand({
          Target: this.target,
          DocumentName: documentName,
          Parameters: parameters,
          ...(this.options.reason === undefined ? {} : { Reason: this.options.reason }),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (signal.aborted) throw error;
      throw sessionStartError(`StartSession for ${this.target} failed`, this.target, error);
    }
    if (output.SessionId === undefined || output.TokenValue === undefined || output.StreamUrl === undefined) {
      throw new SessionStartError(
        `StartSession for ${this.target} returned no SessionId, TokenValue or StreamUrl`,
        {
          target: this.target,
          retryable: true,
        },
      );
    }
    this.sessionIdValue = output.SessionId;
    this.token = output.TokenValue;
    this.streamUrl = output.StreamUrl;
    this.logger?.debug('ssm session started', {
      sessionId: this.sessionIdValue,
      target: this.target,
      documentName,
    });
  }

  /** Opens the StreamUrl websocket and sends the open frame (service.OpenDataChannelInput). */
  private connectWebSocket(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      // The plugin dials with gorilla's DefaultDialer: no headers, no subprotocol, no compression.
      const ws = new WebSocket(this.streamUrl, { perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
      this.ws = ws;
      let settled = false;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      ws.on('open', () => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        ws.send(
          JSON.stringify({
            MessageSchemaVersion: '1.0',
            RequestId: randomUUID(),
            TokenValue: this.token,
            ClientId: this.clientId,
            ClientVersion: this.clientVersion,
          }),
        );
        resolve();
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (this.ws !== ws) return;
        if (isBinary) this.dataChannel.receiveFrame(data);
        else this.logger?.debug('ignoring a text frame on the data channel');
      });
      ws.on('error', (error) => {
        this.logger?.debug('data-channel websocket error', {
          sessionId: this.sessionIdValue,
          error: error.message,
        });
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        reject(
          new TunnelConnectError(
            `could not open the data-channel websocket for ${this.target} (session ${this.sessionIdValue}): ${error.message}`,
            { cause: error },
          ),
        );
      });
      ws.on('close', (code, reason) => {
        if (!settled) {
          settled = true;
          signal.removeEventListener('abort', onAbort);
          reject(new TunnelConnectError(`the data-channel websocket closed while opening (code ${code})`));
        }
        this.onWebSocketClose(ws, code, reason.toString('utf8'));
      });
    });
  }

  private waitForHandshake(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.handshakeComplete) {
        resolve();
        return;
      }
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.settleHandshake = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
    });
  }

  private transmit(frame: Buffer): void {
    const ws = this.ws;
    if (ws !== undefined && ws.readyState === WebSocket.OPEN) {
      this.lastSendAt = Date.now();
      ws.send(frame);
    }
  }

  private onStreamMessage(message: ClientMessage): boolean {
    switch (message.payloadType) {
      case PayloadType.HandshakeRequest:
        this.onHandshakeRequest(message.payload);
        return true;
      case PayloadType.HandshakeComplete:
        this.onHandshakeComplete(message.payload);
        return true;
      case PayloadType.EncChallengeRequest:
        this.fail(
          new EncryptionNotSupportedError(
            'the agent sent an encryption challenge; KMS encryption is refused',
          ),
        );
        return true;
      case PayloadType.Output:
        if (this.basic !== undefined) return this.basic.receive(message.payload);
        // Before the session handler exists the plugin drops output without acknowledging it.
        if (this.smux === undefined) return false;
        if (this.smux.receiveBufferFull) return false;
        this.smux.receive(message.payload);
        return true;
      case PayloadType.Flag: {
        const flag = decodeFlagPayload(message.payload);
        if (flag === PayloadFlag.ConnectToPortError) {
          this.logger?.warn('the agent could not connect to the destination port', {
            sessionId: this.sessionIdValue,
          });
          this.smux?.portConnectError();
        }
        return true;
      }
      default:
        this.logger?.debug('ignoring a stream message', { payloadType: message.payloadType });
        return true;
    }
  }

  private onHandshakeRequest(payload: Buffer): void {
    if (this.infoValue !== undefined) return;
    let request: HandshakeRequestPayload;
    try {
      request = JSON.parse(payload.toString('utf8')) as HandshakeRequestPayload;
    } catch (error) {
      this.fail(
        new TunnelHandshakeError('the HandshakeRequest is not JSON', { retryable: true, cause: error }),
      );
      return;
    }
    const agentVersion = typeof request.AgentVersion === 'string' ? request.AgentVersion : '';
    const processed: ProcessedClientAction[] = [];
    let refusal: DeployerError | undefined;
    let properties: Record<string, unknown> = {};
    let portSession: 'mux' | 'basic' | '' = '';
    for (const action of Array.isArray(request.RequestedClientActions)
      ? request.RequestedClientActions
      : []) {
      const parameters = (action.ActionParameters ?? {}) as Record<string, unknown>;
      switch (action.ActionType) {
        case 'SessionType': {
          const sessionType = parameters.SessionType;
          properties = (parameters.Properties ?? {}) as Record<string, unknown>;
          const chosen = choosePortSession(sessionType, properties, agentVersion);
          if (typeof chosen === 'string') {
            portSession = chosen;
            processed.push({ ActionType: 'SessionType', ActionStatus: 1, ActionResult: null, Error: '' });
          } else {
            const problem = chosen.problem;
            processed.push({
              ActionType: 'SessionType',
              ActionStatus: 3,
              ActionResult: null,
              Error: problem,
            });
            refusal ??= new TunnelHandshakeError(`cannot use session ${this.sessionIdValue}: ${problem}`, {
              retryable: false,
            });
          }
          break;
        }
        case 'KMSEncryption':
          // Never enabled for Port sessions by the agent today (sessionplugin.go isEncryptionEnabled).
          processed.push({
            ActionType: 'KMSEncryption',
            ActionStatus: 2,
            ActionResult: null,
            Error: 'KMS encryption is not supported by this client',
          });
          refusal = new EncryptionNotSupportedError(
            `the agent on ${this.target} requested KMS encryption for session ${this.sessionIdValue}, which this client refuses`,
          );
          break;
        default:
          processed.push({
            ActionType: String(action.ActionType),
            ActionStatus: 3,
            ActionResult: null,
            Error: `unsupported action ${String(action.ActionType)}`,
          });
      }
    }
    this.infoValue = {
      sessionId: this.sessionIdValue,
      target: this.target,
      agentVersion,
      portSession,
      properties,
    };
    const response = { ClientVersion: this.clientVersion, ProcessedClientActions: processed, Errors: null };
    this.dataChannel.sendStreamMessage(PayloadType.HandshakeResponse, Buffer.from(JSON.stringify(response)));
    if (refusal !== undefined) {
      const error = refusal;
      this.refusal = error;
      // Let the agent see the refusal (it cancels the session), then fail.
      void this.dataChannel.flush(1000).then(() => this.fail(error));
      return;
    }
    if (portSession === 'basic') {
      this.logger?.info('the agent does not multiplex: basic port forwarding, one connection at a time', {
        sessionId: this.sessionIdValue,
        agentVersion,
      });
      this.basic = new BasicPortSession({
        write: (bytes, callback) => this.dataChannel.writeOutput(bytes, callback),
        onDrain: () => this.dataChannel.resume(),
        // BasicPortForwarding.ReadStream: DisconnectToPort when the local connection ends; sent
        // after that connection's last bytes, and the next one starts once it is acknowledged.
        disconnect: async () => {
          await this.dataChannel.outputQueued();
          if (this.state !== 'open' && this.state !== 'opening') return;
          this.dataChannel.sendStreamMessage(
            PayloadType.Flag,
            encodeFlagPayload(PayloadFlag.DisconnectToPort),
          );
          await this.dataChannel.flush(2000);
        },
      });
      // One connection at a time: requests queue in the agent and reuse its one kept-alive socket.
      this.agent.maxSockets = 1;
      return;
    }
    this.sendKeepalive = !pluginVersionGreaterThan(
      agentVersion,
      VERSION_THRESHOLDS.smuxKeepAliveDisabledAfterThisAgentVersion,
    );
    this.smux = new SmuxSession({
      role: 'client',
      write: (bytes, callback) => this.dataChannel.writeOutput(bytes, callback),
      onDrain: () => this.dataChannel.resume(),
      onError: (error) => this.fail(error),
    });
  }

  private onHandshakeComplete(payload: Buffer): void {
    if (this.handshakeComplete) return;
    if (this.smux === undefined && this.basic === undefined) {
      this.fail(
        new TunnelHandshakeError('HandshakeComplete arrived before a HandshakeRequest', { retryable: true }),
      );
      return;
    }
    try {
      const complete = JSON.parse(payload.toString('utf8')) as { CustomerMessage?: string };
      if (complete.CustomerMessage) this.logger?.info('agent message', { message: complete.CustomerMessage });
    } catch {
      // The payload is informational only.
    }
    this.handshakeComplete = true;
    this.settleHandshake?.resolve();
  }

  private onChannelClosed(content: ChannelClosedContent | undefined): void {
    const output = content?.Output ?? '';
    this.fail(
      new TunnelClosedError(
        `the service closed session ${this.sessionIdValue} to ${this.target}${output === '' ? '' : `: ${output}`}`,
        { reason: output },
      ),
    );
  }

  private onWebSocketClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws || this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'opening') {
      if (this.ws === ws) {
        this.fail(
          new TunnelConnectError(
            `the service closed the data-channel websocket of session ${this.sessionIdValue} before the handshake completed (code ${code}${reason === '' ? '' : `, ${reason}`})`,
          ),
        );
      }
      return;
    }
    if (!this.reconnecting) void this.reconnect(code);
  }

  /** The plugin's OnError: ResumeSession for a new token, reopen the same StreamUrl, keep sequences. */
  private async reconnect(code: number): Promise<void> {
    const attempts = this.options.maxReconnects ?? 5;
    this.reconnecting = true;
    let delay = 100 + Math.floor(Math.random() * 100);
    let lastError: unknown = new Error(`websocket closed with code ${code}`);
    for (let attempt = 0; attempt < attempts && this.state === 'open'; attempt++) {
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
      if (this.state !== 'open') return;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('resume timeout')), 10_000);
      try {
        const output = await this.options.ssm.send(
          new ResumeSessionCommand({ SessionId: this.sessionIdValue }),
          {
            abortSignal: controller.signal,
          },
        );
        if (output.TokenValue === undefined || output.TokenValue === '') {
          this.fail(new TunnelClosedError(`session ${this.sessionIdValue} timed out and cannot be resumed`));
          return;
        }
        this.token = output.TokenValue;
        if (output.StreamUrl !== undefined && output.StreamUrl !== '') this.streamUrl = output.StreamUrl;
        if (this.state !== 'open') return;
        await this.connectWebSocket(controller.signal);
        this.reconnects++;
        this.reconnecting = false;
        this.logger?.info('ssm tunnel resumed', { sessionId: this.sessionIdValue, attempt: attempt + 1 });
        this.dataChannel.retransmitAll();
        return;
      } catch (error) {
        lastError = error;
        this.logger?.warn('resuming the ssm session failed', {
          sessionId: this.sessionIdValue,
          attempt: attempt + 1,
          error: describe(error),
        });
      } finally {
        clearTimeout(timer);
      }
    }
    this.reconnecting = false;
    this.fail(
      new TunnelClosedError(
        `lost the data-channel websocket of session ${this.sessionIdValue} and could not resume it`,
        { cause: lastError },
      ),
    );
  }

  private startKeepalive(): void {
    // Basic port forwarding has nothing to probe with (no smux NOP; the plugin sends nothing).
    if (this.basic !== undefined) return;
    const interval = this.options.keepaliveMs ?? 10_000;
    // Agents up to 3.1.1511.0 may run smux keepalive on their side and close a session that
    // received nothing for 30 s: the plugin then keeps its own 10 s NOPs, and so do we.
    const period = this.sendKeepalive ? Math.min(interval, 10_000) : interval;
    this.keepaliveTimer = setInterval(() => {
      const smux = this.smux;
      if (smux === undefined || this.state !== 'open' || this.reconnecting) return;
      const idle = Date.now() - this.lastSendAt >= period;
      if (this.sendKeepalive || (idle && smux.streamCount > 0 && this.dataChannel.unacknowledged === 0)) {
        // A NOP is sequenced data: its acknowledgement proves the agent is still there.
        smux.ping();
      }
    }, period);
    this.keepaliveTimer.unref();
  }

  private onAbort(): void {
    this.fail(
      new TunnelClosedError(`the tunnel to ${this.target} was aborted`, {
        cause: this.options.signal?.reason,
      }),
    );
  }

  private fail(reported: DeployerError): void {
    if (this.state === 'closing' || this.state === 'closed' || this.failure !== undefined) return;
    const error = this.refusal ?? reported;
    this.failure = error;
    this.logger?.warn('ssm tunnel failed', {
      sessionId: this.sessionIdValue,
      target: this.target,
      error: error.message,
    });
    if (this.state === 'opening') {
      // open() catches the rejection and tears down.
      this.settleHandshake?.reject(error);
      const ws = this.ws;
      if (this.settleHandshake === undefined && ws !== undefined) ws.terminate();
      return;
    }
    this.closing ??= this.teardown(error, false);
  }

  private async teardown(error: DeployerError | undefined, graceful: boolean): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.options.signal?.removeEventListener('abort', this.abortListener);
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    this.smux?.close(error ?? new TunnelClosedError(`the tunnel to ${this.target} was closed`));
    this.basic?.close(error ?? new TunnelClosedError(`the tunnel to ${this.target} was closed`));
    this.agent.destroy();
    for (const agent of this.tlsAgents) agent.destroy();
    const ws = this.ws;
    // mux mode always sends the TerminateSession flag on a user stop (muxportforwarding.go); basic
    // mode only to agents newer than 2.3.722.0 (basicportforwarding.go handleControlSignals,
    // DoesAgentSupportTerminateSessionFlag). The TerminateSession API follows in both.
    const terminateFlag =
      this.smux !== undefined ||
      pluginVersionGreaterThan(
        this.info.agentVersion,
        VERSION_THRESHOLDS.terminateSessionFlagSupportedAfterThisAgentVersion,
      );
    if (graceful && this.handshakeComplete && terminateFlag && ws?.readyState === WebSocket.OPEN) {
      this.dataChannel.sendStreamMessage(PayloadType.Flag, encodeFlagPayload(PayloadFlag.TerminateSession));
      await this.dataChannel.flush(1000);
    }
    this.dataChannel.close(error);
    await Promise.all([this.terminateSession(), closeWebSocket(ws)]);
    this.state = 'closed';
    if (error === undefined) this.logger?.info('ssm tunnel closed', { sessionId: this.sessionIdValue });
    this.resolveClosed(error);
  }

  /** TerminateSession so that the session does not linger until the idle timeout. Bounded, best effort. */
  private async terminateSession(): Promise<void> {
    if (this.sessionIdValue === '') return;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('TerminateSession timeout')), 5000);
    try {
      await this.options.ssm.send(new TerminateSessionCommand({ SessionId: this.sessionIdValue }), {
        abortSignal: controller.signal,
      });
    } catch (error) {
      this.logger?.warn('TerminateSession failed', {
        sessionId: this.sessionIdValue,
        error: describe(error),
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

interface HandshakeRequestPayload {
  AgentVersion?: unknown;
  RequestedClientActions?: Array<{ ActionType?: unknown; ActionParameters?: unknown }>;
}

interface ProcessedClientAction {
  ActionType: string;
  ActionStatus: 1 | 2 | 3;
  ActionResult: null;
  Error: string;
}

/**
 * How this client serves the session, as the plugin decides (portsession.go Initialize, see
 * pluginPortSession): LocalPortForwarding is mux when the agent is newer than 3.0.196.0 and basic
 * otherwise; any other document type would be StandardStreamForwarding (stdin/stdout, as for
 * AWS-StartSSHSession), which this client refuses, as it refuses anything not a Port session.
 */
function choosePortSession(
  sessionType: unknown,
  properties: Record<string, unknown>,
  agentVersion: string,
): 'mux' | 'basic' | { problem: string } {
  if (sessionType !== 'Port') return { problem: `session type ${String(sessionType)} is not a Port session` };
  const mode = pluginPortSession(agentVersion, typeof properties.type === 'string' ? properties.type : '');
  if (mode === 'stream') {
    return {
      problem:
        'the document is not of type LocalPortForwarding: the plugin would forward stdin/stdout (standard stream forwarding), which this client does not implement',
    };
  }
  return mode;
}

const RETRYABLE_AWS_ERRORS = new Set([
  'TargetNotConnected',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
]);

/** StartSession's failure: SessionStartError when worth retrying, SessionRefusedError when not. */
function sessionStartError(
  message: string,
  target: string,
  error: unknown,
): SessionStartError | SessionRefusedError {
  const name = error instanceof Error ? error.name : undefined;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  const retryable =
    (name !== undefined && RETRYABLE_AWS_ERRORS.has(name)) ||
    status === undefined ||
    status >= 500 ||
    status === 429;
  const options = { target, cause: error, ...(name === undefined ? {} : { awsErrorName: name }) };
  const text = `${message}: ${name ?? 'Error'}: ${describe(error)}`;
  return retryable
    ? new SessionStartError(text, { ...options, retryable: true })
    : new SessionRefusedError(text, options);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Closes a websocket politely, and forcibly if the peer does not answer within a second. */
function closeWebSocket(ws: WebSocket | undefined): Promise<void> {
  if (ws === undefined || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), 1000);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(1000);
  });
}
