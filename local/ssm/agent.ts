import { randomBytes, randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { DataChannel } from '../../functions/lib/ssm/datachannel.js';
import {
  type ClientMessage,
  decodeFlagPayload,
  decodeMessage,
  encodeFlagPayload,
  encodeMessage,
  MessageFlags,
  MessageType,
  PayloadFlag,
  PayloadType,
} from '../../functions/lib/ssm/message.js';
import { SmuxSession, type SmuxStream } from '../../functions/lib/ssm/smux.js';
import {
  agentCompareVersions,
  agentPortSession,
  VERSION_THRESHOLDS,
} from '../../functions/lib/ssm/version.js';
import { type SessionDocumentContent, substituteProperties } from './documents.js';

/**
 * A stand-in for amazon-ssm-agent's Session Manager side, port plugin only. It keeps an
 * outbound control channel to the message gateway, and for each session: opens the data
 * channel, runs the handshake (HandshakeRequest with the document's properties), picks mux or
 * basic port forwarding from its own version and the client's as the real agent does
 * (agentPortSession), dials localhost:<portNumber> (or the document's host, after the deny list)
 * per smux stream or per connection, and ends the session on the TerminateSession flag or
 * channel_closed. Acks and resends are the DataChannel the production client runs, in its agent
 * role: the real agent's resend rule (the oldest unacknowledged message, once per 100 ms tick).
 */

export interface StartAgentOptions {
  /** The message gateway, e.g. ws://127.0.0.1:4566 (http:// works too). */
  mgsUrl: string;
  /** The managed instance id this agent registers as (mi-… or i-…). */
  target: string;
  /**
   * Reported in the HandshakeRequest and the control channel (default 3.3.1142.0). It is also the
   * build the stand-in behaves as: 3.0.196.0 and older have no mux (basic port forwarding only).
   */
  agentVersion?: string;
  /** Ask the client for KMSEncryption (the real agent never does for Port; for testing refusals). */
  requestEncryption?: boolean;
  /** Never send the HandshakeRequest (an agent that hangs, for testing bounded handshakes). */
  silentHandshake?: boolean;
  /** How long the agent waits for the HandshakeResponse (handshakeTimeout, 15 s). */
  handshakeTimeoutMs?: number;
  /** Extra addresses to refuse, next to DefaultDeniedPortForwardingRemoteIPs. */
  deniedIps?: string[];
  /** Resolve only once the control channel is open (default true). */
  waitForConnection?: boolean;
  /**
   * Send Output as amazon-ssm-agent's WritePump does: at most StreamDataPayloadSize (1024) bytes
   * of what the port produced per message, then this pause before the next read (the agent sleeps
   * 1 ms: port_mux.go transferDataToMgs, port_basic.go WritePump). Default 0: no pacing (the data
   * channel cuts messages as soon as bytes arrive).
   */
  outputPacingMs?: number;
  /**
   * CreateDataChannel over a kept-alive HTTP connection, as amazon-ssm-agent's makeRestcall does
   * (session/service/service.go: an http.Client on Go's DefaultTransport, which keeps idle
   * connections). Default false: a new connection per call.
   */
  keepAliveRequests?: boolean;
  log?: (message: string) => void;
}

export interface StandInAgent {
  readonly target: string;
  /** Sessions running now. */
  activeSessions(): number;
  /** Ends every session (as on agent shutdown) and closes the control channel. */
  stop(): Promise<void>;
  /** Drops every socket at once with no goodbye, like a host that vanished. */
  kill(): void;
}

export const STAND_IN_AGENT_VERSION = '3.3.1142.0';

/** appconfig.DefaultDeniedPortForwardingRemoteIPs (agent/appconfig/constants.go). */
export const DEFAULT_DENIED_PORT_FORWARDING_REMOTE_IPS = [
  '169.254.169.254',
  'fd00:ec2::254',
  '169.254.169.253',
  'fd00:ec2::253',
  '169.254.169.123',
  'fd00:ec2::123',
  '169.254.169.250',
  '169.254.169.251',
  'fd00:ec2::240',
];

const HANDSHAKE_TIMEOUT_MS = 15_000;
/** StreamDataPayloadSize (agent/session/config/config.go): the most the agent reads per Output message. */
const STREAM_DATA_PAYLOAD_SIZE = 1024;
const SMUX_KEEPALIVE_INTERVAL_MS = 10_000;
const SMUX_KEEPALIVE_TIMEOUT_MS = 30_000;

/** Starts an agent stand-in with an outbound control channel to `mgsUrl`. */
export async function startAgent(options: StartAgentOptions): Promise<StandInAgent> {
  const agent = new Agent(options);
  await agent.start(options.waitForConnection ?? true);
  return agent;
}

class Agent implements StandInAgent {
  readonly target: string;
  readonly options: StartAgentOptions;
  readonly origin: URL;
  readonly log: (message: string) => void;
  /** The kept-alive agent of CreateDataChannel calls (keepAliveRequests), else undefined. */
  readonly restAgent: http.Agent | undefined;
  private control: WebSocket | undefined;
  private readonly sessions = new Map<string, AgentSession>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = 200;
  private firstOpen: (() => void) | undefined;

  constructor(options: StartAgentOptions) {
    this.options = options;
    this.target = options.target;
    const url = new URL(options.mgsUrl);
    if (url.protocol === 'http:') url.protocol = 'ws:';
    if (url.protocol === 'https:') url.protocol = 'wss:';
    this.origin = url;
    this.log = options.log ?? (() => {});
    this.restAgent = options.keepAliveRequests ? new http.Agent({ keepAlive: true }) : undefined;
  }

  start(wait: boolean): Promise<void> {
    const opened = new Promise<void>((resolve) => {
      this.firstOpen = resolve;
    });
    this.connect();
    return wait ? opened : Promise.resolve();
  }

  activeSessions(): number {
    return this.sessions.size;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    const sessions = [...this.sessions.values()];
    for (const session of sessions) session.cancel('The agent is shutting down.');
    await Promise.race([Promise.all(sessions.map((session) => session.done)), delay(3000)]);
    const control = this.control;
    if (control !== undefined && control.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          control.terminate();
        }, 1000);
        control.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        control.close(1000);
      });
    }
    this.restAgent?.destroy();
  }

  kill(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.control?.terminate();
    for (const session of this.sessions.values()) session.kill();
    this.sessions.clear();
    this.restAgent?.destroy();
  }

  /** @internal */
  sendControl(messageType: string, payload: unknown): void {
    const control = this.control;
    if (control === undefined || control.readyState !== WebSocket.OPEN) return;
    control.send(
      encodeMessage({
        messageType,
        sequenceNumber: 0,
        flags: MessageFlags.Ack,
        payload: Buffer.from(JSON.stringify(payload)),
      }),
    );
  }

  /** @internal */
  forget(session: AgentSession): void {
    if (this.sessions.get(session.sessionId) === session) this.sessions.delete(session.sessionId);
  }

  private connect(): void {
    if (this.stopped) return;
    const url = new URL(`/v1/control-channel/${encodeURIComponent(this.target)}?role=subscribe`, this.origin);
    const ws = new WebSocket(url, { perMessageDeflate: false });
    this.control = ws;
    ws.on('open', () => {
      this.retryDelay = 200;
      // OpenControlChannelInput (agent/session/controlchannel/controlchannel.go).
      ws.send(
        JSON.stringify({
          Cookie: null,
          MessageSchemaVersion: '1.0',
          RequestId: randomUUID(),
          TokenValue: 'stand-in-control-token',
          AgentVersion: this.options.agentVersion ?? STAND_IN_AGENT_VERSION,
          PlatformType: 'linux',
        }),
      );
      this.log(`agent ${this.target}: control channel open`);
      this.firstOpen?.();
      this.firstOpen = undefined;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.onControlMessage(data);
    });
    ws.on('error', (error) => this.log(`agent ${this.target}: control channel error: ${error.message}`));
    ws.on('close', () => {
      if (this.control !== ws || this.stopped) return;
      this.control = undefined;
      this.retryTimer = setTimeout(() => this.connect(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 5000);
    });
  }

  private onControlMessage(frame: Buffer): void {
    let message: ClientMessage;
    try {
      message = decodeMessage(frame);
    } catch {
      return;
    }
    try {
      if (message.messageType === MessageType.InteractiveShell) {
        const envelope = JSON.parse(message.payload.toString('utf8')) as {
          Content: string;
          TaskId: string;
          Topic: string;
        };
        const task = JSON.parse(envelope.Content) as AgentTaskPayload;
        this.sendControl(MessageType.AgentTaskAcknowledge, {
          SchemaVersion: 1,
          MessageId: message.messageId,
          TaskId: envelope.TaskId,
          Topic: envelope.Topic,
        });
        if (this.sessions.has(task.SessionId)) return;
        const session = new AgentSession(this, task);
        this.sessions.set(task.SessionId, session);
        void session.run();
      } else if (message.messageType === MessageType.ChannelClosed) {
        const closed = JSON.parse(message.payload.toString('utf8')) as { SessionId?: string };
        if (closed.SessionId !== undefined) this.sessions.get(closed.SessionId)?.cancel();
      }
    } catch (error) {
      this.log(`agent ${this.target}: bad control message: ${String(error)}`);
    }
  }
}

interface AgentTaskPayload {
  DocumentName: string;
  DocumentContent: SessionDocumentContent;
  SessionId: string;
  Parameters: Record<string, string>;
}

interface PortParameters {
  host: string;
  portNumber: string;
  type: string;
}

interface PortSessionImpl {
  isConnectionAvailable(): boolean;
  handle(message: ClientMessage): boolean;
  stop(): void;
}

class SessionEnd extends Error {
  override readonly name = 'SessionEnd';
}

/** One Session Manager session on the agent: sessionplugin.Execute + port plugin. */
class AgentSession {
  readonly sessionId: string;
  readonly done: Promise<void>;
  private readonly agent: Agent;
  private readonly task: AgentTaskPayload;
  private readonly properties: Record<string, string>;
  private dataChannel: DataChannel | undefined;
  private ws: WebSocket | undefined;
  private port: PortSessionImpl | undefined;
  private handshakeComplete = false;
  private clientVersion = '';
  private onHandshakeResponse: ((error?: Error) => void) | undefined;
  private cancelled = false;
  private cancelOutput = '';
  private cancelWaiter: (() => void) | undefined;
  private killed = false;
  private resolveDone!: () => void;
  private dataReady = false;
  private timers = new Set<NodeJS.Timeout>();
  private reconnecting = false;

  constructor(agent: Agent, task: AgentTaskPayload) {
    this.agent = agent;
    this.task = task;
    this.sessionId = task.SessionId;
    this.properties = substituteProperties(task.DocumentContent.properties ?? {}, task.Parameters ?? {});
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  async run(): Promise<void> {
    let status: 'Success' | 'Failed' = 'Success';
    let output = '';
    try {
      await this.openDataChannel();
      this.sendSessionState('Connected');
      await this.performHandshake();
      output = await this.executePort();
    } catch (error) {
      if (!(error instanceof SessionEnd)) {
        status = 'Failed';
        output = error instanceof Error ? error.message : String(error);
        this.agent.log(`agent ${this.agent.target}: session ${this.sessionId} failed: ${output}`);
      } else {
        output = error.message;
      }
    } finally {
      await this.finish(status, output);
    }
  }

  cancel(output = ''): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancelOutput = output;
    this.onHandshakeResponse?.(new SessionEnd(output));
    this.cancelWaiter?.();
  }

  kill(): void {
    this.killed = true;
    this.cancel();
    this.ws?.terminate();
    this.port?.stop();
    this.dataChannel?.close();
    this.clearTimers();
    this.resolveDone();
  }

  private async finish(status: 'Success' | 'Failed', output: string): Promise<void> {
    this.port?.stop();
    this.clearTimers();
    if (!this.killed) {
      // PrepareToCloseChannel: up to 2 s for the outgoing buffer to empty (no wait once the
      // service has closed the channel: nothing can be acknowledged any more).
      const ws = this.ws;
      if (ws !== undefined && ws.readyState === WebSocket.OPEN) {
        await Promise.race([
          this.dataChannel?.flush(2000),
          new Promise((resolve) => ws.once('close', resolve)),
        ]);
      }
      this.dataChannel?.close();
      // agent_task_complete on the control channel carries the session's result to the service.
      this.agent.sendControl(MessageType.AgentTaskComplete, {
        SchemaVersion: 1,
        TaskId: this.sessionId,
        Topic: 'aws.ssm.sessionManager.sessionComplete',
        FinalTaskStatus: status,
        IsRoutingFailure: false,
        AwsAccountId: '',
        InstanceId: this.agent.target,
        Output: output,
      });
      this.ws = undefined;
      ws?.close(1000);
    }
    this.agent.forget(this);
    this.resolveDone();
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  /** CreateDataChannel for a token, then the data-channel websocket and its open frame. */
  private async openDataChannel(): Promise<void> {
    this.dataChannel = new DataChannel({
      role: 'agent',
      transmit: (frame) => {
        const ws = this.ws;
        if (ws !== undefined && ws.readyState === WebSocket.OPEN) ws.send(frame);
      },
      onStreamMessage: (message) => this.onStreamMessage(message),
      onChannelClosed: () => this.cancel(),
      onFailure: (error) => this.cancel(error.message),
      // The agent role resends as ResendStreamDataMessageScheduler does and never gives up
      // (amazon-ssm-agent has no resend limit); IncomingMessageBufferCapacity is 100000.
      incomingCapacity: 100_000,
    });
    await this.connectWebSocket();
  }

  private async connectWebSocket(): Promise<void> {
    const token = await this.createDataChannelToken();
    const url = new URL(
      `/v1/data-channel/${encodeURIComponent(this.sessionId)}?role=publish_subscribe`,
      this.agent.origin,
    );
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        // OpenDataChannelInput as the agent sends it (datachannel.go Open).
        ws.send(
          JSON.stringify({
            MessageSchemaVersion: '1.0',
            RequestId: randomUUID(),
            TokenValue: token,
            ClientInstanceId: this.agent.target,
            ClientId: randomUUID(),
          }),
        );
        resolve();
      });
      ws.once('error', reject);
    });
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary && this.ws === ws) this.dataChannel?.receiveFrame(data);
    });
    ws.on('close', (code) => {
      if (this.ws !== ws || this.killed) return;
      // 1000 from the gateway means the session was terminated; anything else is a lost
      // connection, which the agent retries with a new token (datachannel.go onErrorHandler).
      if (code === 1000 || this.cancelled) this.cancel();
      else void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    for (let attempt = 0; attempt < 5 && !this.cancelled && !this.killed; attempt++) {
      await delay(100 * 2 ** attempt);
      try {
        await this.connectWebSocket();
        this.reconnecting = false;
        // Nothing is resent at once: datachannel.go Reconnect only reopens the websocket, and the
        // scheduler goes on resending the oldest unacknowledged message once per tick.
        return;
      } catch {
        // try again
      }
    }
    this.reconnecting = false;
    this.cancel('The data channel to the service was lost.');
  }

  private createDataChannelToken(): Promise<string> {
    const url = new URL(`/v1/data-channel/${encodeURIComponent(this.sessionId)}`, this.agent.origin);
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
    const body = JSON.stringify({
      MessageSchemaVersion: '1.0',
      RequestId: randomUUID(),
      ClientId: randomUUID(),
    });
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `AWS4-HMAC-SHA256 Credential=${this.agent.target}/stand-in`,
          },
          agent: this.agent.restAgent ?? false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            try {
              const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
                TokenValue?: string;
                message?: string;
              };
              if (res.statusCode === 200 && typeof parsed.TokenValue === 'string') resolve(parsed.TokenValue);
              else reject(new Error(`CreateDataChannel failed: ${res.statusCode} ${parsed.message ?? ''}`));
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  private sendSessionState(state: 'Connected' | 'Terminating'): void {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return;
    ws.send(
      encodeMessage({
        messageType: MessageType.AgentSessionState,
        sequenceNumber: 0,
        flags: MessageFlags.Ack,
        payload: Buffer.from(
          JSON.stringify({ SchemaVersion: 1, SessionState: state, SessionId: this.sessionId }),
        ),
      }),
    );
  }

  /** PerformHandshake (datachannel.go): request, wait for the response, complete. */
  private async performHandshake(): Promise<void> {
    const options = this.agent.options;
    const timeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    const started = process.hrtime.bigint();
    const response = new Promise<void>((resolve, reject) => {
      const timer = this.after(timeoutMs, () =>
        reject(
          new Error(
            'Encountered error while initiating handshake. Handshake timed out. Please ensure that you have the latest version of the session manager plugin.',
          ),
        ),
      );
      this.onHandshakeResponse = (error) => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.onHandshakeResponse = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
    });
    if (this.cancelled) throw new SessionEnd(this.cancelOutput);
    if (!options.silentHandshake) {
      const actions: unknown[] = [
        {
          ActionType: 'SessionType',
          // Go marshals the properties map with its keys sorted.
          ActionParameters: {
            SessionType: this.task.DocumentContent.sessionType,
            Properties: sortKeys(this.properties),
          },
        },
      ];
      if (options.requestEncryption) {
        actions.push({
          ActionType: 'KMSEncryption',
          ActionParameters: { KMSKeyId: 'alias/stand-in', Challenge: randomBytes(16).toString('base64') },
        });
      }
      const request = {
        AgentVersion: options.agentVersion ?? STAND_IN_AGENT_VERSION,
        RequestedClientActions: actions,
      };
      this.dataChannel?.sendStreamMessage(PayloadType.HandshakeRequest, Buffer.from(JSON.stringify(request)));
    }
    await response;
    const elapsed = process.hrtime.bigint() - started;
    this.dataChannel?.sendStreamMessage(
      PayloadType.HandshakeComplete,
      Buffer.from(`{"HandshakeTimeToComplete":${elapsed.toString()},"CustomerMessage":""}`),
    );
    this.handshakeComplete = true;
  }

  /** handleHandshakeResponse: any action not Success cancels the session. */
  private handleHandshakeResponse(payload: Buffer): void {
    let error: Error | undefined;
    try {
      const response = JSON.parse(payload.toString('utf8')) as {
        ClientVersion?: string;
        ProcessedClientActions?: Array<{ ActionType?: string; ActionStatus?: number; Error?: string }>;
      };
      for (const action of response.ProcessedClientActions ?? []) {
        if (action.ActionStatus !== 1) {
          error ??= new Error(
            `Encountered error while initiating handshake. ${action.ActionType} failed on client with status ${action.ActionStatus} error: ${action.Error ?? ''}`,
          );
        } else if (action.ActionType === 'KMSEncryption') {
          error ??= new Error(
            'Encountered error while initiating handshake. KMS is not available in the stand-in',
          );
        }
      }
      this.clientVersion = response.ClientVersion ?? '';
    } catch (cause) {
      error = new Error(`Unmarshalling of HandshakeResponse message failed, ${String(cause)}`);
    }
    this.onHandshakeResponse?.(error);
  }

  private onStreamMessage(message: ClientMessage): boolean {
    this.dataReady = true;
    switch (message.payloadType) {
      case PayloadType.HandshakeResponse:
        this.handleHandshakeResponse(message.payload);
        return true;
      case PayloadType.EncChallengeResponse:
        return true;
      default:
        // "Handshake still in progress, ignore stream data message" (acknowledged and dropped).
        if (!this.handshakeComplete) return true;
        // ErrHandlerNotReady: not acknowledged, the client resends.
        if (this.port === undefined || !this.port.isConnectionAvailable()) return false;
        return this.port.handle(message);
    }
  }

  /** port.go execute: parameters, the deny list, mux or basic, then run until cancelled or done. */
  private async executePort(): Promise<string> {
    const parameters: PortParameters = {
      host: this.properties.host ?? '',
      portNumber: this.properties.portNumber ?? '',
      type: this.properties.type ?? '',
    };
    if (parameters.portNumber === '') {
      throw new Error(`Port number is empty in session properties. ${JSON.stringify(this.properties)}`);
    }
    let addresses: string[] = [];
    if (parameters.host !== '') {
      try {
        addresses = (await lookup(parameters.host, { all: true, verbatim: true })).map(
          (entry) => entry.address,
        );
      } catch {
        // A failed lookup is not an error here; the dial fails later ("missing address").
        addresses = [];
      }
      const denied = [
        ...DEFAULT_DENIED_PORT_FORWARDING_REMOTE_IPS,
        ...(this.agent.options.deniedIps ?? []),
      ].map(normalizeIp);
      for (const address of addresses) {
        if (denied.includes(normalizeIp(address))) {
          throw new Error(`Forwarding to IP address ${parameters.host} is forbidden.`);
        }
      }
    }
    const dial = (): Promise<net.Socket> =>
      dialDestination(parameters.host, parameters.portNumber, addresses);
    const finished = new Promise<string>((resolve, reject) => {
      this.cancelWaiter = () => resolve(this.cancelOutput);
      const end = (error?: Error): void => (error === undefined ? resolve('') : reject(error));
      const agentVersion = this.agent.options.agentVersion ?? STAND_IN_AGENT_VERSION;
      const mode = agentPortSession(agentVersion, this.clientVersion, parameters.type);
      this.agent.log(
        `agent ${this.agent.target}: session ${this.sessionId} ${mode} (agent ${agentVersion}, client ${this.clientVersion})`,
      );
      if (mode === 'mux') {
        this.port = this.startMux(dial, end);
      } else {
        this.startBasic(dial, parameters.type, end).then(
          (port) => {
            this.port = port;
            this.dataChannel?.resume();
          },
          (error: Error) => reject(new Error(`Unable to connect to specified port: ${error.message}`)),
        );
      }
      if (this.cancelled) resolve(this.cancelOutput);
    });
    return await finished;
  }

  private startMux(dial: () => Promise<net.Socket>, end: (error?: Error) => void): PortSessionImpl {
    const dataChannel = this.dataChannel as DataChannel;
    const pending: SmuxStream[] = [];
    let accepting = false;
    let stopped = false;
    const connections = new Set<net.Socket>();
    const output = this.outputWriter(dataChannel);
    const smux = new SmuxSession({
      role: 'server',
      write: (bytes, callback) => output.write(bytes, callback),
      onDrain: () => dataChannel.resume(),
      onError: (error) => end(error),
      onStream: (stream) => {
        pending.push(stream);
        void acceptLoop();
      },
    });
    // handleServerConnections: streams are accepted and dialled one after another.
    const acceptLoop = async (): Promise<void> => {
      if (accepting) return;
      accepting = true;
      while (pending.length > 0 && !stopped) {
        const stream = pending.shift() as SmuxStream;
        try {
          const connection = await dial();
          if (stopped || stream.destroyed) {
            connection.destroy();
            continue;
          }
          connections.add(connection);
          connection.on('close', () => connections.delete(connection));
          handleDataTransfer(stream, connection);
        } catch (error) {
          this.agent.log(`agent ${this.agent.target}: Unable to dial connection to server: ${String(error)}`);
          dataChannel.sendStreamMessage(PayloadType.Flag, encodeFlagPayload(PayloadFlag.ConnectToPortError));
          stream.destroy();
        }
      }
      accepting = false;
    };
    // The smux server keeps its keepalive unless the client is newer than 1.2.331.0; then a
    // session that received nothing for 30 s is closed.
    if (
      !(
        agentCompareVersions(
          this.clientVersion,
          VERSION_THRESHOLDS.muxKeepAliveDisabledAfterThisClientVersion,
        ) > 0
      )
    ) {
      const ping = (): void => {
        smux.ping();
        this.after(SMUX_KEEPALIVE_INTERVAL_MS, ping);
      };
      const check = (): void => {
        if (!this.dataReady && !smux.receiveBufferFull) {
          end(new Error('smux keepalive timeout: nothing received for 30 s'));
          return;
        }
        this.dataReady = false;
        this.after(SMUX_KEEPALIVE_TIMEOUT_MS, check);
      };
      this.after(SMUX_KEEPALIVE_INTERVAL_MS, ping);
      this.dataReady = false;
      this.after(SMUX_KEEPALIVE_TIMEOUT_MS, check);
    }
    return {
      isConnectionAvailable: () => true,
      handle: (message) => {
        if (message.payloadType === PayloadType.Output) {
          if (smux.receiveBufferFull) return false;
          smux.receive(message.payload);
        } else if (message.payloadType === PayloadType.Flag) {
          if (decodeFlagPayload(message.payload) === PayloadFlag.TerminateSession) this.cancel();
        }
        return true;
      },
      stop: () => {
        stopped = true;
        smux.close();
        output.stop();
        for (const connection of connections) connection.destroy();
        for (const stream of pending) stream.destroy();
      },
    };
  }

  /** Where Output bytes go: straight into the data channel, or paced as the real agent's WritePump (outputPacingMs). */
  private outputWriter(dataChannel: DataChannel): OutputWriter {
    const pacingMs = this.agent.options.outputPacingMs ?? 0;
    const send = (bytes: Buffer, callback: (error?: Error) => void): void =>
      dataChannel.writeOutput(bytes, callback);
    if (pacingMs > 0) return new OutputPacer(send, pacingMs);
    return { write: send, stop: () => {} };
  }

  private async startBasic(
    dial: () => Promise<net.Socket>,
    portType: string,
    end: (error?: Error) => void,
  ): Promise<PortSessionImpl> {
    const dataChannel = this.dataChannel as DataChannel;
    let connection: net.Socket | undefined;
    let reconnectToPort = false;
    let dialling = false;
    let stopped = false;
    const output = this.outputWriter(dataChannel);
    const attach = (socket: net.Socket): void => {
      connection = socket;
      socket.on('data', (data: Buffer) => {
        socket.pause();
        output.write(data, () => socket.resume());
      });
      socket.on('drain', () => dataChannel.resume());
      // A read that hits EOF ends the connection (port_basic.go WritePump, handleTCPReadError).
      socket.on('end', () => socket.destroy());
      socket.on('error', () => {});
      socket.on('close', () => {
        if (connection !== socket || stopped) return;
        connection = undefined;
        if (portType === 'LocalPortForwarding') {
          // handlePortError: wait for the next data from the client, then dial again.
          reconnectToPort = true;
        } else {
          // handleSSHDPortError: the destination closed, the session is over.
          end();
        }
      });
    };
    attach(await dial());
    return {
      isConnectionAvailable: () => connection !== undefined || reconnectToPort,
      handle: (message) => {
        if (message.payloadType === PayloadType.Output) {
          if (reconnectToPort || connection === undefined) {
            if (!dialling) {
              dialling = true;
              dial().then(
                (socket) => {
                  dialling = false;
                  reconnectToPort = false;
                  attach(socket);
                  dataChannel.resume();
                },
                (error: Error) => {
                  dialling = false;
                  end(new Error(`Unable to connect to specified port: ${error.message}`));
                },
              );
            }
            return false;
          }
          if (connection.writableNeedDrain) return false;
          connection.write(message.payload);
          return true;
        }
        if (message.payloadType === PayloadType.Flag) {
          const flag = decodeFlagPayload(message.payload);
          if (flag === PayloadFlag.DisconnectToPort) {
            // The client's connection closed: close ours and redial on its next data. Marked at
            // once (port_basic.go sets reconnectToPort when its read fails right after Stop), so
            // data that follows the flag goes to a new connection, never to the closed one.
            const closing = connection;
            if (portType === 'LocalPortForwarding') {
              connection = undefined;
              reconnectToPort = true;
            }
            closing?.destroy();
          } else if (flag === PayloadFlag.TerminateSession) this.cancel();
        }
        return true;
      },
      stop: () => {
        stopped = true;
        output.stop();
        connection?.destroy();
      },
    };
  }
}

/** Takes the Output bytes of a port session; `callback` runs once they are in the data channel. */
interface OutputWriter {
  write(bytes: Buffer, callback: (error?: Error) => void): void;
  /** Drops what is still waiting (its callbacks get an error) and every timer. */
  stop(): void;
}

/**
 * The real agent's WritePump loop (port_mux.go transferDataToMgs, port_basic.go WritePump): read
 * at most StreamDataPayloadSize bytes of what the port has produced, send them as one Output
 * message, sleep, read again. Bytes written in one turn of the event loop are read together, as
 * one smux frame (header and payload, which xtaci/smux writes in one call) is on the agent's pipe.
 */
class OutputPacer implements OutputWriter {
  private readonly queue: Array<{ bytes: Buffer; callback: (error?: Error) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private nextReadAt = 0;
  private stopped = false;

  constructor(
    private readonly send: (bytes: Buffer, callback: (error?: Error) => void) => void,
    private readonly pauseMs: number,
  ) {}

  write(bytes: Buffer, callback: (error?: Error) => void): void {
    if (this.stopped) {
      callback(new Error('the port session has stopped'));
      return;
    }
    this.queue.push({ bytes, callback });
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    const waiting = this.queue.splice(0);
    for (const { callback } of waiting) callback(new Error('the port session has stopped'));
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined || this.immediate !== undefined) return;
    if (this.queue.length === 0) return;
    const wait = this.nextReadAt - performance.now();
    const read = (): void => {
      this.timer = undefined;
      this.immediate = undefined;
      this.readOnce();
    };
    // The next turn at the earliest, so that the writes of this turn are read together.
    if (wait > 0) this.timer = setTimeout(read, wait);
    else this.immediate = setImmediate(read);
  }

  private readOnce(): void {
    const parts: Buffer[] = [];
    const done: Array<(error?: Error) => void> = [];
    let size = 0;
    while (this.queue.length > 0 && size < STREAM_DATA_PAYLOAD_SIZE) {
      const head = this.queue[0] as { bytes: Buffer; callback: (error?: Error) => void };
      const take = Math.min(head.bytes.length, STREAM_DATA_PAYLOAD_SIZE - size);
      parts.push(head.bytes.subarray(0, take));
      size += take;
      if (take === head.bytes.length) {
        this.queue.shift();
        done.push(head.callback);
      } else {
        head.bytes = head.bytes.subarray(take);
      }
    }
    this.nextReadAt = performance.now() + this.pauseMs;
    this.send(Buffer.concat(parts, size), (error) => {
      for (const callback of done) callback(error);
    });
    this.schedule();
  }
}

/**
 * port_mux.go handleDataTransfer: copy both ways; when the destination reaches EOF the stream
 * is closed (FIN), when the stream reads EOF the TCP connection is closed, and either closes both.
 */
function handleDataTransfer(stream: SmuxStream, connection: net.Socket): void {
  let done = false;
  const closeBoth = (): void => {
    if (done) return;
    done = true;
    connection.destroy();
    stream.destroy();
  };
  connection.pipe(stream);
  stream.pipe(connection);
  connection.on('error', closeBoth);
  stream.on('error', closeBoth);
  connection.on('close', closeBoth);
  stream.on('close', closeBoth);
  // Destination EOF: the stream's FIN went out after the data, then everything closes.
  stream.on('finish', () => {
    if (connection.readableEnded) closeBoth();
  });
  // Stream EOF: the connection was ended after the data was written, then everything closes.
  connection.on('finish', closeBoth);
}

/** DialCall (port.go): localhost:<port> without a host, else each resolved address in turn. */
async function dialDestination(host: string, portNumber: string, addresses: string[]): Promise<net.Socket> {
  const port = Number(portNumber);
  if (host === '') return connectTcp('localhost', port);
  let firstError: unknown;
  for (const address of addresses) {
    try {
      return await connectTcp(address, port);
    } catch (error) {
      firstError ??= error;
    }
  }
  throw firstError ?? new Error('missing address');
}

function connectTcp(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(
      () => socket.destroy(new Error(`dial tcp ${host}:${port}: i/o timeout`)),
      20_000,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(new Error(`dial tcp ${host}:${port}: ${error.message}`));
    };
    socket.once('error', onError);
  });
}

/** Compares addresses as net.IP.Equal does: IPv4-mapped IPv6 equals IPv4, IPv6 in full form. */
function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1] as string;
  if (net.isIPv4(address)) return address;
  if (!net.isIPv6(address)) return address.toLowerCase();
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const missing = address.includes('::') ? 8 - headParts.length - tailParts.length : 0;
  return [...headParts, ...Array<string>(missing).fill('0'), ...tailParts]
    .map((part) => Number.parseInt(part, 16).toString(16))
    .join(':');
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
