import { TunnelClosedError } from './errors.js';
import { TunnelSocket } from './socket.js';

/**
 * Basic (non-multiplexed) port forwarding, for agents that do not multiplex (3.0.196.0 and older):
 * the session's Output payloads are the bytes of ONE TCP connection on the agent's side. This is
 * what aws/session-manager-plugin does in src/sessionmanagerplugin/session/portsession/
 * basicportforwarding.go (BasicPortForwarding), chosen in portsession.go Initialize when the
 * document type is LocalPortForwarding and DoesAgentSupportTCPMultiplexing is false:
 * - one local connection at a time: the plugin accepts the next one from its listener only after
 *   the current one ended, so here `openStream()` queues a connection until the previous one
 *   closed;
 * - when the local connection ends (read EOF or error) the plugin sends the DisconnectToPort
 *   flag, and the agent (aws/amazon-ssm-agent agent/session/plugins/port/port_basic.go
 *   HandleStreamMessage) closes its TCP connection and dials again on the next Output
 *   (reconnectToPort); there is no half-close: ending the write side ends the connection;
 * - the destination closing its side is never reported to the client (port_basic.go
 *   handlePortError only waits for new data to redial): the connection stays open here, and the
 *   next bytes written reach a new destination connection;
 * - no keepalive, no ConnectToPortError (a failed dial ends the agent's session instead).
 *
 * Deliberate differences from the plugin, to keep one connection's bytes out of the next:
 * the next connection starts only once the agent acknowledged DisconnectToPort (or 2 s passed),
 * and Output that arrives while no connection may receive it (none attached, or a later
 * connection that has not written yet, for which the agent has not even dialled) is
 * acknowledged and dropped, where the plugin writes it to whichever connection it holds.
 * Output that arrives before the first connection is not acknowledged (the agent resends it),
 * as the plugin does while IsStreamNotSet, so a destination that speaks first loses nothing.
 * An http.Agent that keeps an idle connection in its pool gives it up as soon as another
 * connection waits (its unref(), called by keepSocketAlive, marks the connection idle).
 */

/** Unread bytes one connection may hold before the data channel stops delivering (as smux's 4 MiB). */
export const BASIC_MAX_RECEIVE_BUFFER = 4 * 1024 * 1024;

export interface BasicPortSessionOptions {
  /** Writes connection bytes as Output (the data channel's writeOutput). */
  write: (bytes: Buffer, callback: (error?: Error) => void) => void;
  /**
   * The current connection ended: send DisconnectToPort after its bytes, and settle once the agent
   * acknowledged it (or after a bound). The next connection starts after that.
   */
  disconnect: () => Promise<unknown>;
  /** A connection read or went away: a held data-channel message may be delivered now. */
  onDrain?: () => void;
}

export class BasicPortSession {
  private readonly options: BasicPortSessionOptions;
  private active: BasicConnection | undefined;
  private readonly waiting: BasicConnection[] = [];
  private switching = false;
  private attached = 0;
  private closed = false;
  private closedWith: Error | undefined;

  constructor(options: BasicPortSessionOptions) {
    this.options = options;
  }

  /** The connection now carried plus those waiting for their turn. */
  get streamCount(): number {
    return (this.active === undefined ? 0 : 1) + this.waiting.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A new connection; it carries bytes once every earlier connection has ended. */
  openStream(): BasicConnection {
    const connection = new BasicConnection(this);
    if (this.closed) {
      const error = this.closedWith ?? new TunnelClosedError('the tunnel is closed');
      process.nextTick(() => connection.destroy(error));
      return connection;
    }
    this.waiting.push(connection);
    if (this.active?.idle) this.active.destroy();
    this.next();
    return connection;
  }

  /**
   * Output from the agent. Returns false when it must not be acknowledged yet: before the first
   * connection exists, or while the current one holds BASIC_MAX_RECEIVE_BUFFER unread bytes.
   */
  receive(data: Buffer): boolean {
    if (this.closed) return true;
    const connection = this.active;
    if (connection === undefined || !connection.mayReceive) return this.attached > 0 || this.switching;
    if (connection.readableLength >= BASIC_MAX_RECEIVE_BUFFER) return false;
    connection.remoteData(data);
    return true;
  }

  /** Ends the session: every connection is destroyed (with `error` when the tunnel failed). */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = error ?? new TunnelClosedError('the tunnel is closed');
    const connections = [...(this.active === undefined ? [] : [this.active]), ...this.waiting];
    this.active = undefined;
    this.waiting.length = 0;
    for (const connection of connections) connection.destroy(error);
  }

  /** @internal */
  write(bytes: Buffer, callback: (error?: Error) => void): void {
    if (this.closed) callback(this.closedWith);
    else this.options.write(bytes, callback);
  }

  /** @internal The connection went idle in an http.Agent pool: give way if another one waits. */
  idled(connection: BasicConnection): void {
    if (connection === this.active && this.waiting.length > 0) connection.destroy();
  }

  /** @internal */
  drained(): void {
    this.options.onDrain?.();
  }

  /** @internal The connection ended (destroyed, or its write side finished). */
  detach(connection: BasicConnection): void {
    if (connection !== this.active) {
      const index = this.waiting.indexOf(connection);
      if (index >= 0) this.waiting.splice(index, 1);
      return;
    }
    this.active = undefined;
    if (this.closed) return;
    this.switching = true;
    const settled = (): void => {
      this.switching = false;
      this.next();
    };
    this.options.disconnect().then(settled, settled);
    // A message held for this connection's full buffer is dropped now.
    this.options.onDrain?.();
  }

  private next(): void {
    if (this.closed || this.switching || this.active !== undefined) return;
    const connection = this.waiting.shift();
    if (connection === undefined) return;
    this.active = connection;
    this.attached++;
    connection.attach(this.attached === 1);
    // Output held while no connection could take it can be delivered now.
    this.options.onDrain?.();
  }
}

/** One forwarded TCP connection of a basic session, usable where node:http or tls expect a socket. */
export class BasicConnection extends TunnelSocket {
  /** In an http.Agent pool, not in use. */
  idle = false;
  private readonly session: BasicPortSession;
  private attached = false;
  private first = false;
  private detached = false;
  private queued: { chunk: Buffer; callback: (error?: Error | null) => void } | undefined;

  /** @internal Use BasicPortSession.openStream. */
  constructor(session: BasicPortSession) {
    super({ allowHalfOpen: false });
    this.session = session;
  }

  /**
   * Whether Output is for this connection: the first one takes what the connection the agent
   * dialled at session start sends; a later one only after it wrote (the agent dials on that).
   */
  get mayReceive(): boolean {
    return this.attached && (this.first || this.bytesSent > 0);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.attached) {
      // Not our turn yet: Writable keeps further writes behind this one.
      this.queued = { chunk, callback };
      return;
    }
    this.bytesSent += chunk.length;
    this.touch();
    this.session.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // No half-close in basic mode: the plugin treats EOF from its local connection as the end.
    this.release();
    callback();
    this.push(null);
  }

  override _read(): void {
    this.session.drained();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearIdleTimer();
    const queued = this.queued;
    this.queued = undefined;
    queued?.callback(error ?? new TunnelClosedError('the connection was closed'));
    this.release();
    callback(error);
  }

  override ref(): this {
    this.idle = false;
    return this;
  }

  override unref(): this {
    this.idle = true;
    this.session.idled(this);
    return this;
  }

  /** @internal */
  attach(first: boolean): void {
    this.attached = true;
    this.first = first;
    const queued = this.queued;
    this.queued = undefined;
    if (queued !== undefined) this._write(queued.chunk, 'binary', queued.callback);
  }

  /** @internal */
  remoteData(data: Buffer): void {
    this.bytesReceived += data.length;
    this.touch();
    this.push(data);
  }

  private release(): void {
    if (this.detached) return;
    this.detached = true;
    this.session.detach(this);
  }
}
