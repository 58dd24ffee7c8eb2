import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { encodeMessage, MessageType } from '../../functions/lib/ssm/message.js';
import type { SessionDocumentContent } from './documents.js';
import { FaultLink, Faults } from './faults.js';

/**
 * The stand-in for the Message Gateway Service (ssmmessages). As on AWS:
 * - each agent keeps an OUTBOUND control channel, `/v1/control-channel/<target>?role=subscribe`;
 *   a session start arrives there as an `interactive_shell` message (document and parameters),
 *   a TerminateSession as `channel_closed`;
 * - for a session, the agent asks for a data-channel token (POST /v1/data-channel/<sessionId>,
 *   CreateDataChannel) and opens `/v1/data-channel/<sessionId>?role=publish_subscribe`;
 * - the client opens the same path with the StartSession TokenValue in its open frame;
 * - binary frames are relayed between the two, through the fault injector;
 * - the session ends with `channel_closed` to the client when the agent reports the end of its
 *   task (agent_task_complete), on TerminateSession, or when the agent is lost.
 */

export interface RelaySessionInfo {
  sessionId: string;
  target: string;
  documentName: string;
  state: 'active' | 'terminated';
  clientConnected: boolean;
  agentConnected: boolean;
  output: string | undefined;
}

interface AgentConnection {
  target: string;
  ws: WebSocket;
  agentVersion: string;
}

interface RelaySession {
  sessionId: string;
  target: string;
  documentName: string;
  document: SessionDocumentContent;
  parameters: Record<string, string>;
  clientToken: string;
  agentTokens: Set<string>;
  clientId: string | undefined;
  client: WebSocket | undefined;
  agent: WebSocket | undefined;
  toClient: FaultLink;
  toAgent: FaultLink;
  clientQueue: Buffer[];
  agentQueue: Buffer[];
  state: 'active' | 'terminated';
  output: string | undefined;
  agentLossTimer: NodeJS.Timeout | undefined;
}

/** Frames kept for a side that is not connected (yet, or while it reconnects). */
const QUEUE_LIMIT = 8192;
/** How long a new websocket may take to send its open frame. */
const OPEN_FRAME_TIMEOUT_MS = 10_000;

export class MessageGateway {
  readonly faults = new Faults();
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 * 1024 * 1024,
  });
  private readonly agents = new Map<string, AgentConnection>();
  private readonly knownTargets = new Set<string>();
  private readonly sessions = new Map<string, RelaySession>();
  private readonly agentWaiters = new Map<string, Array<() => void>>();
  private readonly log: (message: string) => void;

  constructor(options?: { knownTargets?: Iterable<string>; log?: (message: string) => void }) {
    for (const target of options?.knownTargets ?? []) this.knownTargets.add(target);
    this.log = options?.log ?? (() => {});
  }

  /** Marks a target as a registered managed instance even before its agent first connects. */
  addKnownTarget(target: string): void {
    this.knownTargets.add(target);
  }

  isKnownTarget(target: string): boolean {
    return this.knownTargets.has(target);
  }

  isAgentConnected(target: string): boolean {
    return this.agents.has(target);
  }

  /** Resolves once an agent for `target` holds a control channel. */
  waitForAgent(target: string, timeoutMs = 10_000): Promise<void> {
    if (this.agents.has(target)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiters = this.agentWaiters.get(target) ?? [];
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const list = this.agentWaiters.get(target) ?? [];
        this.agentWaiters.set(
          target,
          list.filter((waiter) => waiter !== done),
        );
        reject(new Error(`no agent for ${target} connected within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(done);
      this.agentWaiters.set(target, waiters);
    });
  }

  sessionInfo(sessionId: string): RelaySessionInfo | undefined {
    const session = this.sessions.get(sessionId);
    return session === undefined ? undefined : info(session);
  }

  listSessions(): RelaySessionInfo[] {
    return [...this.sessions.values()].map(info);
  }

  /** Creates a session and tells the target's agent about it on its control channel. */
  startSession(input: {
    target: string;
    documentName: string;
    document: SessionDocumentContent;
    parameters: Record<string, string>;
    streamHost: string;
    principal: string;
  }): { SessionId: string; TokenValue: string; StreamUrl: string } {
    const agent = this.agents.get(input.target);
    if (agent === undefined) throw new Error(`agent for ${input.target} is not connected`);
    const sessionId = `${input.principal}-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const session: RelaySession = {
      sessionId,
      target: input.target,
      documentName: input.documentName,
      document: input.document,
      parameters: input.parameters,
      clientToken: randomBytes(96).toString('base64'),
      agentTokens: new Set(),
      clientId: undefined,
      client: undefined,
      agent: undefined,
      clientQueue: [],
      agentQueue: [],
      toClient: undefined as unknown as FaultLink,
      toAgent: undefined as unknown as FaultLink,
      state: 'active',
      output: undefined,
      agentLossTimer: undefined,
    };
    session.toClient = new FaultLink(this.faults, 'toClient', (frame) => deliver(session, 'client', frame));
    session.toAgent = new FaultLink(this.faults, 'toAgent', (frame) => deliver(session, 'agent', frame));
    this.sessions.set(sessionId, session);
    // AgentTaskPayload inside MGSPayload.Content (agent/session/contracts/agentmessage.go).
    const task = {
      DocumentName: input.documentName,
      DocumentContent: input.document,
      SessionId: sessionId,
      Parameters: Object.fromEntries(Object.entries(input.parameters).map(([key, value]) => [key, value])),
      RunAsUser: '',
      SessionOwner: `arn:aws:sts::000000000000:assumed-role/${input.principal}`,
    };
    const payload = {
      Content: JSON.stringify(task),
      TaskId: sessionId,
      Topic: 'aws.ssm.sessionManager.startSession',
      SchemaVersion: 1,
    };
    sendControl(agent.ws, MessageType.InteractiveShell, payload);
    this.log(`session ${sessionId} started on ${input.target} (${input.documentName})`);
    return {
      SessionId: sessionId,
      TokenValue: session.clientToken,
      StreamUrl: `ws://${input.streamHost}/v1/data-channel/${sessionId}?role=publish_subscribe`,
    };
  }

  /** A new client token for an active session, or undefined when it is gone. */
  resumeSession(
    sessionId: string,
    streamHost: string,
  ): { SessionId: string; TokenValue: string; StreamUrl: string } | undefined {
    const session = this.sessions.get(sessionId);
    if (session === undefined || session.state !== 'active') return undefined;
    session.clientToken = randomBytes(96).toString('base64');
    return {
      SessionId: sessionId,
      TokenValue: session.clientToken,
      StreamUrl: `ws://${streamHost}/v1/data-channel/${sessionId}?role=publish_subscribe`,
    };
  }

  /** Ends a session: channel_closed to the client, channel_closed to the agent's control channel. */
  terminateSession(sessionId: string, output = ''): boolean {
    const session = this.sessions.get(sessionId);
    if (session === undefined || session.state === 'terminated') return false;
    session.state = 'terminated';
    session.output = output;
    if (session.agentLossTimer !== undefined) clearTimeout(session.agentLossTimer);
    session.agentLossTimer = undefined;
    session.toClient.close();
    session.toAgent.close();
    session.clientQueue = [];
    session.agentQueue = [];
    const closed = {
      MessageId: randomUUID(),
      CreatedDate: new Date().toISOString(),
      DestinationId: session.clientId ?? '',
      SessionId: sessionId,
      MessageType: MessageType.ChannelClosed,
      SchemaVersion: 1,
      Output: output,
    };
    const client = session.client;
    if (client !== undefined && client.readyState === client.OPEN) {
      client.send(
        encodeMessage({
          messageType: MessageType.ChannelClosed,
          sequenceNumber: 0,
          flags: 0,
          payload: Buffer.from(JSON.stringify(closed)),
        }),
      );
      client.close(1000, 'session terminated');
    }
    const agent = this.agents.get(session.target);
    if (agent !== undefined)
      sendControl(agent.ws, MessageType.ChannelClosed, { ...closed, DestinationId: session.target });
    session.agent?.close(1000, 'session terminated');
    this.log(`session ${sessionId} terminated${output === '' ? '' : `: ${output}`}`);
    return true;
  }

  /** Closes the client's websocket of a session without ending the session (a network fault). */
  dropClientSocket(sessionId?: string): number {
    return this.dropSockets(sessionId, 'client');
  }

  /** Closes the agent's data-channel websocket of a session (as when the agent host goes away). */
  dropAgentSocket(sessionId?: string): number {
    return this.dropSockets(sessionId, 'agent');
  }

  /** Serves CreateDataChannel for agents: POST /v1/data-channel/<sessionId>. Returns false if not ours. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const match = /^\/v1\/data-channel\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'POST' || match === null) return false;
    req.resume();
    req.on('end', () => {
      const session = this.sessions.get(decodeURIComponent(match[1] as string));
      if (typeof req.headers.authorization !== 'string') {
        json(res, 401, { message: 'missing Authorization' });
        return;
      }
      if (session === undefined || session.state !== 'active') {
        json(res, 400, { message: 'session not found or terminated' });
        return;
      }
      const token = randomBytes(96).toString('base64');
      session.agentTokens.add(token);
      json(res, 200, { MessageSchemaVersion: '1.0', RequestId: randomUUID(), TokenValue: token });
    });
    return true;
  }

  /** Takes websocket upgrades for the control and data channels. Returns false if not ours. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const control = /^\/v1\/control-channel\/([^/]+)$/.exec(url.pathname);
    const data = /^\/v1\/data-channel\/([^/]+)$/.exec(url.pathname);
    if (control === null && data === null) return false;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (control !== null) this.acceptControl(ws, decodeURIComponent(control[1] as string));
      else if (data !== null) this.acceptData(ws, decodeURIComponent(data[1] as string));
    });
    return true;
  }

  close(): void {
    for (const session of this.sessions.values()) {
      if (session.agentLossTimer !== undefined) clearTimeout(session.agentLossTimer);
      session.toClient.close();
      session.toAgent.close();
      session.client?.terminate();
      session.agent?.terminate();
    }
    for (const agent of this.agents.values()) agent.ws.terminate();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private dropSockets(sessionId: string | undefined, side: 'client' | 'agent'): number {
    let dropped = 0;
    for (const session of this.sessions.values()) {
      if (sessionId !== undefined && session.sessionId !== sessionId) continue;
      const ws = side === 'client' ? session.client : session.agent;
      if (ws !== undefined) {
        ws.terminate();
        dropped++;
      }
    }
    return dropped;
  }

  private acceptControl(ws: WebSocket, target: string): void {
    const timer = setTimeout(() => ws.terminate(), OPEN_FRAME_TIMEOUT_MS);
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      const open = parseOpenFrame(data, isBinary);
      // OpenControlChannelInput: the token is not checked (there is no IAM here).
      if (open === undefined) {
        ws.close(1008, 'expected the open frame');
        return;
      }
      const previous = this.agents.get(target);
      if (previous !== undefined && previous.ws !== ws) previous.ws.terminate();
      const connection: AgentConnection = {
        target,
        ws,
        agentVersion: typeof open.AgentVersion === 'string' ? open.AgentVersion : '',
      };
      this.agents.set(target, connection);
      this.knownTargets.add(target);
      this.log(`agent ${target} connected (${connection.agentVersion})`);
      const waiters = this.agentWaiters.get(target) ?? [];
      this.agentWaiters.delete(target);
      for (const waiter of waiters) waiter();
      ws.on('message', (frame: Buffer, binary: boolean) => {
        if (binary) this.onControlMessage(target, frame);
      });
    });
    ws.on('close', () => {
      clearTimeout(timer);
      if (this.agents.get(target)?.ws === ws) {
        this.agents.delete(target);
        this.log(`agent ${target} disconnected`);
      }
    });
    ws.on('error', () => {});
  }

  private onControlMessage(target: string, frame: Buffer): void {
    const type = messageTypeOf(frame);
    if (type !== MessageType.AgentTaskComplete) return;
    try {
      const payload = JSON.parse(frame.subarray(frame.readUInt32BE(0) + 4).toString('utf8')) as {
        TaskId?: string;
        Output?: string;
        FinalTaskStatus?: string;
      };
      const session = payload.TaskId === undefined ? undefined : this.sessions.get(payload.TaskId);
      if (session !== undefined && session.target === target)
        this.terminateSession(session.sessionId, payload.Output ?? '');
    } catch {
      // A malformed report is ignored, as the service would.
    }
  }

  private acceptData(ws: WebSocket, sessionId: string): void {
    const timer = setTimeout(() => ws.terminate(), OPEN_FRAME_TIMEOUT_MS);
    ws.on('error', () => {});
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      const open = parseOpenFrame(data, isBinary);
      const session = this.sessions.get(sessionId);
      const token = typeof open?.TokenValue === 'string' ? open.TokenValue : undefined;
      if (open === undefined || session === undefined || session.state !== 'active' || token === undefined) {
        ws.close(
          1008,
          session?.state === 'terminated' ? 'session terminated' : 'invalid open frame or session',
        );
        return;
      }
      if (session.agentTokens.has(token)) this.attachAgent(session, ws);
      else if (token === session.clientToken) this.attachClient(session, ws, open);
      else ws.close(1008, 'invalid token');
    });
  }

  private attachClient(session: RelaySession, ws: WebSocket, open: Record<string, unknown>): void {
    session.client?.terminate();
    session.client = ws;
    if (typeof open.ClientId === 'string') session.clientId = open.ClientId;
    ws.on('message', (frame: Buffer, isBinary: boolean) => {
      if (isBinary && session.state === 'active') session.toAgent.send(frame);
    });
    ws.on('close', () => {
      // The session stays: the client may come back with a ResumeSession token.
      if (session.client === ws) session.client = undefined;
    });
    const queued = session.clientQueue;
    session.clientQueue = [];
    for (const frame of queued) ws.send(frame);
  }

  private attachAgent(session: RelaySession, ws: WebSocket): void {
    session.agent?.terminate();
    session.agent = ws;
    if (session.agentLossTimer !== undefined) clearTimeout(session.agentLossTimer);
    session.agentLossTimer = undefined;
    ws.on('message', (frame: Buffer, isBinary: boolean) => {
      if (!isBinary || session.state !== 'active') return;
      // The session state report is for the service, not the client.
      if (messageTypeOf(frame) === MessageType.AgentSessionState) return;
      session.toClient.send(frame);
    });
    ws.on('close', () => {
      if (session.agent !== ws) return;
      session.agent = undefined;
      if (session.state !== 'active') return;
      // Give agent_task_complete (control channel) a moment to arrive with the real reason.
      session.agentLossTimer = setTimeout(() => {
        session.agentLossTimer = undefined;
        if (session.state !== 'active' || session.agent !== undefined) return;
        if (this.faults.agentLoss === 'channel_closed') {
          this.terminateSession(session.sessionId, `The agent on ${session.target} disconnected.`);
        }
      }, 1000);
    });
    const queued = session.agentQueue;
    session.agentQueue = [];
    for (const frame of queued) ws.send(frame);
  }
}

function deliver(session: RelaySession, side: 'client' | 'agent', frame: Buffer): void {
  if (session.state !== 'active') return;
  const ws = side === 'client' ? session.client : session.agent;
  if (ws !== undefined && ws.readyState === ws.OPEN) {
    ws.send(frame);
    return;
  }
  const queue = side === 'client' ? session.clientQueue : session.agentQueue;
  if (queue.length < QUEUE_LIMIT) queue.push(frame);
}

function info(session: RelaySession): RelaySessionInfo {
  return {
    sessionId: session.sessionId,
    target: session.target,
    documentName: session.documentName,
    state: session.state,
    clientConnected: session.client !== undefined,
    agentConnected: session.agent !== undefined,
    output: session.output,
  };
}

function parseOpenFrame(data: Buffer, isBinary: boolean): Record<string, unknown> | undefined {
  if (isBinary) return undefined;
  try {
    const parsed = JSON.parse(data.toString('utf8')) as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function messageTypeOf(frame: Buffer): string {
  if (frame.length < 36) return '';
  return frame.toString('ascii', 4, 36).replace(/\0+$/, '').trim();
}

function sendControl(ws: WebSocket, messageType: string, payload: unknown): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(
    encodeMessage({
      messageType,
      sequenceNumber: 0,
      flags: 0,
      payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
