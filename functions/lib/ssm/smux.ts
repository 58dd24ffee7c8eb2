import type { DeployerError } from '../errors.js';
import { PortConnectError, TunnelClosedError, TunnelProtocolError } from './errors.js';
import { TunnelSocket } from './socket.js';

/**
 * smux protocol version 1 (xtaci/smux v1.5.16 as vendored by session-manager-plugin and
 * amazon-ssm-agent, DefaultConfig). Frame header, 8 bytes, LITTLE-endian:
 *   [0] version = 1 | [1] cmd | [2..3] uint16 data length | [4..7] uint32 stream id | data
 * Version 1 has no window updates: a session carries at most MaxReceiveBuffer unread bytes.
 */
export const SMUX_VERSION = 1;
export const SMUX_HEADER_SIZE = 8;
export const SMUX_MAX_FRAME_SIZE = 32_768;
export const SMUX_MAX_RECEIVE_BUFFER = 4 * 1024 * 1024;

export const SmuxCommand = { SYN: 0, FIN: 1, PSH: 2, NOP: 3 } as const;

/** The 8-byte header of a frame with `length` data bytes. */
export function encodeSmuxHeader(command: number, streamId: number, length = 0): Buffer {
  const header = Buffer.allocUnsafe(SMUX_HEADER_SIZE);
  header.writeUInt8(SMUX_VERSION, 0);
  header.writeUInt8(command, 1);
  header.writeUInt16LE(length, 2);
  header.writeUInt32LE(streamId, 4);
  return header;
}

/** One whole frame (header and data). */
export function encodeSmuxFrame(command: number, streamId: number, data?: Buffer): Buffer {
  const header = encodeSmuxHeader(command, streamId, data?.length ?? 0);
  return data === undefined || data.length === 0 ? header : Buffer.concat([header, data]);
}

export interface SmuxFrame {
  version: number;
  command: number;
  streamId: number;
  data: Buffer;
}

/** A queue of received byte chunks that frames are cut from without re-copying every chunk. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Removes and returns the first `size` bytes (size <= length). */
  take(size: number): Buffer {
    this.length -= size;
    const head = this.chunks[0] as Buffer;
    if (head.length === size) {
      this.chunks.shift();
      return head;
    }
    if (head.length > size) {
      this.chunks[0] = head.subarray(size);
      return head.subarray(0, size);
    }
    const out = Buffer.allocUnsafe(size);
    let offset = 0;
    while (offset < size) {
      const next = this.chunks[0] as Buffer;
      const wanted = size - offset;
      if (next.length <= wanted) {
        next.copy(out, offset);
        offset += next.length;
        this.chunks.shift();
      } else {
        next.copy(out, offset, 0, wanted);
        this.chunks[0] = next.subarray(wanted);
        offset += wanted;
      }
    }
    return out;
  }

  /** Copies the first `size` bytes without removing them. */
  peek(size: number): Buffer {
    const head = this.chunks[0] as Buffer;
    if (head.length >= size) return head.subarray(0, size);
    const out = Buffer.allocUnsafe(size);
    let offset = 0;
    for (const chunk of this.chunks) {
      const n = Math.min(chunk.length, size - offset);
      chunk.copy(out, offset, 0, n);
      offset += n;
      if (offset === size) break;
    }
    return out;
  }
}

/** Cuts a byte stream into smux frames. */
export class SmuxFrameParser {
  private readonly queue = new ByteQueue();
  private header: Buffer | undefined;

  /** Appends bytes and returns every frame now complete. */
  push(bytes: Buffer): SmuxFrame[] {
    this.queue.push(bytes);
    const frames: SmuxFrame[] = [];
    for (;;) {
      if (this.header === undefined) {
        if (this.queue.length < SMUX_HEADER_SIZE) break;
        this.header = this.queue.take(SMUX_HEADER_SIZE);
      }
      const header = this.header;
      const command = header.readUInt8(1);
      // Only PSH carries data in version 1 (recvLoop reads a body for PSH and UPD only).
      const length = command === SmuxCommand.PSH ? header.readUInt16LE(2) : 0;
      if (this.queue.length < length) break;
      this.header = undefined;
      frames.push({
        version: header.readUInt8(0),
        command,
        streamId: header.readUInt32LE(4),
        data: length > 0 ? this.queue.take(length) : Buffer.alloc(0),
      });
    }
    return frames;
  }
}

export interface SmuxSessionOptions {
  /** client opens odd stream ids from 3; server accepts streams. */
  role: 'client' | 'server';
  /** Writes bytes of the smux byte stream (the data channel's Output). */
  write: (bytes: Buffer, callback: (error?: Error) => void) => void;
  /** server: a stream was opened by the peer. */
  onStream?: (stream: SmuxStream) => void;
  /** Unread bytes were taken by a consumer: a held data-channel message may be delivered now. */
  onDrain?: () => void;
  /** The session broke on a protocol error. */
  onError?: (error: DeployerError) => void;
  maxFrameSize?: number;
  maxReceiveBuffer?: number;
}

/**
 * A smux v1 session over a byte stream. Streams are Node Duplex objects with the few net.Socket
 * methods node:http and tls call, so an http.Agent can hand them out as sockets.
 */
export class SmuxSession {
  private readonly options: SmuxSessionOptions;
  private readonly parser = new SmuxFrameParser();
  private readonly streams = new Map<number, SmuxStream>();
  private nextStreamId: number;
  private closedWith: Error | undefined;
  private closed = false;
  /** Times at which ConnectToPortError flags arrived and were not yet matched to a stream. */
  private portErrors: number[] = [];
  readonly maxFrameSize: number;
  readonly maxReceiveBuffer: number;

  constructor(options: SmuxSessionOptions) {
    this.options = options;
    // nextStreamID starts at 1 for a client and is increased by 2 before each use.
    this.nextStreamId = options.role === 'client' ? 1 : 0;
    this.maxFrameSize = Math.min(options.maxFrameSize ?? SMUX_MAX_FRAME_SIZE, 65_535);
    this.maxReceiveBuffer = options.maxReceiveBuffer ?? SMUX_MAX_RECEIVE_BUFFER;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True while the streams hold at least MaxReceiveBuffer unread bytes (the token bucket is empty). */
  get receiveBufferFull(): boolean {
    let buffered = 0;
    for (const stream of this.streams.values()) buffered += stream.readableLength;
    return buffered >= this.maxReceiveBuffer;
  }

  /** Opens a stream: sends SYN and returns the Duplex at once (writes queue behind the SYN). */
  openStream(): SmuxStream {
    if (this.closed) {
      const stream = new SmuxStream(this, 0);
      const error = this.closedWith ?? new TunnelClosedError('the tunnel is closed');
      process.nextTick(() => stream.destroy(error));
      return stream;
    }
    this.nextStreamId += 2;
    const id = this.nextStreamId;
    const stream = new SmuxStream(this, id);
    this.streams.set(id, stream);
    this.writeFrame(SmuxCommand.SYN, id);
    return stream;
  }

  /** Feeds bytes of the peer's smux byte stream. */
  receive(bytes: Buffer): void {
    if (this.closed) return;
    for (const frame of this.parser.push(bytes)) {
      if (frame.version !== SMUX_VERSION) {
        this.fail(
          new TunnelProtocolError(`smux frame of version ${frame.version}, expected ${SMUX_VERSION}`),
        );
        return;
      }
      switch (frame.command) {
        case SmuxCommand.NOP:
          break;
        case SmuxCommand.SYN:
          if (this.options.role === 'server' && !this.streams.has(frame.streamId)) {
            const stream = new SmuxStream(this, frame.streamId);
            this.streams.set(frame.streamId, stream);
            this.options.onStream?.(stream);
          }
          break;
        case SmuxCommand.FIN: {
          const stream = this.streams.get(frame.streamId);
          if (stream !== undefined) this.remoteFin(stream);
          break;
        }
        case SmuxCommand.PSH: {
          const stream = this.streams.get(frame.streamId);
          // Data for a stream that is gone is dropped, as recvLoop does.
          if (stream !== undefined && frame.data.length > 0) stream.remoteData(frame.data);
          break;
        }
        default:
          this.fail(new TunnelProtocolError(`smux command ${frame.command} is not part of version 1`));
          return;
      }
    }
  }

  /** Sends a NOP frame (the keepalive of smux). */
  ping(): void {
    if (!this.closed) this.writeFrame(SmuxCommand.NOP, 0);
  }

  /**
   * The agent sent ConnectToPortError: it could not dial the destination for the stream it was
   * accepting, and closes that stream next (port_mux.go handleServerConnections). The flag names
   * no stream, so the next FIN of a stream that never received data is the failed one.
   */
  portConnectError(): void {
    const now = Date.now();
    this.portErrors = this.portErrors.filter((at) => now - at < 30_000);
    this.portErrors.push(now);
  }

  /**
   * Ends the session: every stream is destroyed, with `error` when the session failed; after a
   * deliberate close (no error) streams just close, and new ones fail with TunnelClosedError.
   */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = error ?? new TunnelClosedError('the tunnel is closed');
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const stream of streams) stream.destroy(error);
  }

  /** @internal */
  writeFrame(command: number, streamId: number, callback?: (error?: Error) => void): void {
    this.options.write(encodeSmuxHeader(command, streamId), callback ?? noop);
  }

  /** @internal Writes data as PSH frames of at most maxFrameSize bytes. */
  writeData(streamId: number, data: Buffer, callback: (error?: Error) => void): void {
    if (this.closed) {
      callback(this.closedWith);
      return;
    }
    let offset = 0;
    while (offset < data.length) {
      const size = Math.min(this.maxFrameSize, data.length - offset);
      const last = offset + size >= data.length;
      this.options.write(encodeSmuxHeader(SmuxCommand.PSH, streamId, size), noop);
      this.options.write(data.subarray(offset, offset + size), last ? callback : noop);
      offset += size;
    }
    if (data.length === 0) callback();
  }

  /** @internal */
  forget(stream: SmuxStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
  }

  /** @internal */
  drained(): void {
    this.options.onDrain?.();
  }

  private remoteFin(stream: SmuxStream): void {
    if (stream.bytesReceived === 0 && this.portErrors.length > 0) {
      this.portErrors.shift();
      stream.destroy(
        new PortConnectError(
          'the agent could not connect to the destination port (ConnectToPortError); is the engine listening?',
        ),
      );
      return;
    }
    stream.remoteEnd();
  }

  private fail(error: DeployerError): void {
    this.options.onError?.(error);
    this.close(error);
  }
}

function noop(): void {}

/** One smux stream as a Duplex, usable where node:http or tls expect a net.Socket. */
export class SmuxStream extends TunnelSocket {
  readonly id: number;
  private readonly session: SmuxSession;
  private finSent = false;
  private finReceived = false;

  /** @internal Use SmuxSession.openStream. */
  constructor(session: SmuxSession, id: number) {
    // A FIN from the peer ends both directions (smux v1 has no half-close; the agent closes
    // the TCP connection as soon as its stream reads EOF).
    super({ allowHalfOpen: false });
    this.session = session;
    this.id = id;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesSent += chunk.length;
    this.touch();
    this.session.writeData(this.id, chunk, callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    const data = Buffer.concat(chunks.map((entry) => entry.chunk));
    this._write(data, 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sendFin();
    if (this.finReceived) this.session.forget(this);
    callback();
  }

  override _read(): void {
    this.session.drained();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.sendFin();
    this.session.forget(this);
    this.clearIdleTimer();
    callback(error);
    // The consumer will not read any more: what it left unread no longer holds the session.
    this.session.drained();
  }

  /** @internal */
  remoteData(data: Buffer): void {
    this.bytesReceived += data.length;
    this.touch();
    this.push(data);
  }

  /** @internal */
  remoteEnd(): void {
    this.finReceived = true;
    if (this.finSent) this.session.forget(this);
    this.push(null);
  }

  private sendFin(): void {
    if (this.finSent || this.id === 0 || this.session.isClosed) return;
    this.finSent = true;
    this.session.writeFrame(SmuxCommand.FIN, this.id);
  }
}
