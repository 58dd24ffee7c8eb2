import type { DeployerError } from '../errors.js';
import { TunnelClosedError } from './errors.js';
import {
  type ChannelClosedContent,
  type ClientMessage,
  decodeAckPayload,
  decodeMessage,
  encodeAck,
  encodeMessage,
  MessageFlags,
  MessageType,
  PayloadType,
  validateMessage,
} from './message.js';

/** The minimal logger the SSM code writes to (Powertools Logger fits it). */
export interface SsmLogger {
  debug(message: string, ...extra: unknown[]): void;
  info(message: string, ...extra: unknown[]): void;
  warn(message: string, ...extra: unknown[]): void;
  error(message: string, ...extra: unknown[]): void;
}

/**
 * Constants with the same value in both upstream peers (aws/session-manager-plugin
 * src/config/config.go, aws/amazon-ssm-agent agent/session/config/config.go; same names).
 */
export const DATA_CHANNEL_DEFAULTS = {
  /** StreamDataPayloadSize: both peers read local data in 1024-byte chunks. */
  chunkSize: 1024,
  /** ResendSleepInterval: the resend scheduler looks at its buffer every 100 ms. */
  tickMs: 100,
  /** DefaultRoundTripTime, DefaultRoundTripTimeVariation, DefaultTransmissionTimeout. */
  initialRttMs: 100,
  initialRttVarMs: 0,
  initialRtoMs: 200,
  /** RTTConstant (1/8) and RTTVConstant (1/4): the smoothing gains of RTT and RTTVAR. */
  rttGain: 1 / 8,
  rttVarGain: 1 / 4,
  /** ClockGranularity (the least margin over RTT) and MaxTransmissionTimeout (the cap); no floor. */
  clockGranularityMs: 10,
  maxRtoMs: 1000,
  /** The plugin's IncomingMessageBufferCapacity (the agent's is 100000). */
  incomingCapacity: 10_000,
} as const;

/** Constants of the plugin only (aws/session-manager-plugin src/config/config.go). */
export const PLUGIN_RESEND = {
  /**
   * ResendMaxAttempt ("5 minutes / ResendSleepInterval"): after 3000 resends of one message the
   * plugin terminates the session (streaming.go ResendStreamDataMessageScheduler signals
   * isStreamMessageResendTimeout; session.go handleStreamMessageResendTimeout calls TerminateSession).
   */
  resendMaxAttempt: 3000,
  /** OutgoingMessageBufferCapacity: beyond it the plugin forgets its oldest unacknowledged message. */
  outgoingCapacity: 10_000,
} as const;

/**
 * Which side this is: the client sends input_stream_data and reads output_stream_data, the agent
 * the other way round. The role also decides how the side resends (the RTO is computed the same
 * way for both, see `updateRto`):
 * - `agent`, exactly amazon-ssm-agent agent/session/datachannel/datachannel.go
 *   ResendStreamDataMessageScheduler: every ResendSleepInterval, unless paused, the FRONT of
 *   OutgoingMessageBuffer (the oldest unacknowledged message) is resent when
 *   time.Since(LastSentTime) > RetransmissionTimeout, and its LastSentTime is stored back; never
 *   any other message, no fast retransmit, no attempt limit (it resends until the session ends);
 * - `client`, this project's client (deliberately not the plugin's rule, see docs/ssm-tunnel.md):
 *   the same tick, RTO and RTT estimate, but a tick resends up to `resendBudget` timed-out
 *   messages oldest first, a message that three later ones overtook is resent at once (fast
 *   retransmit, once per message), and the channel fails when the oldest unacknowledged message
 *   is `ackTimeoutMs` old (the plugin: ResendMaxAttempt resends, about 5 minutes).
 */
export type DataChannelRole = 'client' | 'agent';

export interface DataChannelOptions {
  role: DataChannelRole;
  /** Puts one binary frame on the websocket. Frames sent while it is down are resent later. */
  transmit: (frame: Buffer) => void;
  /**
   * Receives stream-data messages in sequence order. Return false when the consumer is not
   * ready: the message is then held, not acknowledged, until `resume()` (backpressure).
   */
  onStreamMessage: (message: ClientMessage) => boolean;
  /** The service said the channel is closed (channel_closed). */
  onChannelClosed?: (content: ChannelClosedContent | undefined) => void;
  /** The channel failed on its own (no acknowledgement for `ackTimeoutMs`). */
  onFailure?: (error: DeployerError) => void;
  /** Most Output messages in flight (unacknowledged) at once; control messages are not counted. */
  windowMessages?: number;
  /** Output chunk size; at most 1024 (the tested path of both upstream peers). */
  chunkSize?: number;
  /**
   * Fail when the oldest unacknowledged message is older than this (client default 60 s; the
   * agent role never gives up, as amazon-ssm-agent has no resend limit).
   */
  ackTimeoutMs?: number;
  /**
   * client only: most timed-out messages one tick resends (default 64). The agent role follows
   * the real agent's rule (see DataChannelRole): the oldest message only, once per tick.
   */
  resendBudget?: number;
  incomingCapacity?: number;
  /** writeOutput callbacks wait while more than this many bytes are queued and not yet in flight. */
  pendingHighWaterBytes?: number;
  logger?: SsmLogger;
  now?: () => number;
}

interface OutgoingEntry {
  sequenceNumber: number;
  frame: Buffer;
  firstSent: number;
  lastSent: number;
  fastRetransmitted: boolean;
  output: boolean;
}

/** Counters for tests and benchmarks. */
export interface DataChannelStats {
  sent: number;
  resent: number;
  fastResent: number;
  received: number;
  duplicates: number;
  outOfOrder: number;
  acksSent: number;
  acksReceived: number;
  invalid: number;
  held: number;
}

/**
 * One side of a Session Manager data channel: a single outgoing sequence, an outgoing buffer
 * until acknowledged, adaptive retransmission, an out-of-order receive buffer, acknowledgements
 * (duplicates re-acknowledged, in-order data only once delivered) and chunked Output writes.
 * Both the tunnel client and the local agent stand-in run this same class; the role picks the
 * message types and the resend policy (DataChannelRole).
 */
export class DataChannel {
  readonly stats: DataChannelStats = {
    sent: 0,
    resent: 0,
    fastResent: 0,
    received: 0,
    duplicates: 0,
    outOfOrder: 0,
    acksSent: 0,
    acksReceived: 0,
    invalid: 0,
    held: 0,
  };

  private readonly role: DataChannelRole;
  private readonly sendType: string;
  private readonly receiveType: string;
  private readonly transmit: (frame: Buffer) => void;
  private readonly onStreamMessage: (message: ClientMessage) => boolean;
  private readonly onChannelClosed: ((content: ChannelClosedContent | undefined) => void) | undefined;
  private readonly onFailure: ((error: DeployerError) => void) | undefined;
  private readonly windowMessages: number;
  private readonly chunkSize: number;
  private readonly ackTimeoutMs: number;
  private readonly resendBudget: number;
  private readonly incomingCapacity: number;
  private readonly pendingHighWater: number;
  private readonly logger: SsmLogger | undefined;
  private readonly now: () => number;

  private nextSequence = 0;
  private expectedSequence = 0;
  private readonly outgoing = new Map<number, OutgoingEntry>();
  private outputInFlight = 0;
  private readonly incoming = new Map<number, ClientMessage>();
  private held: { message: ClientMessage; acked: boolean } | undefined;
  private highestAcked = -1;
  private fastCursor = -1;

  private rttMs: number = DATA_CHANNEL_DEFAULTS.initialRttMs;
  private rttVarMs: number = DATA_CHANNEL_DEFAULTS.initialRttVarMs;
  private rtoMs: number = DATA_CHANNEL_DEFAULTS.initialRtoMs;

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writeWaiters: Array<(error?: Error) => void> = [];
  private pumpScheduled = false;
  private paused = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private flushWaiters: Array<() => void> = [];
  private queuedWaiters: Array<() => void> = [];

  constructor(options: DataChannelOptions) {
    this.role = options.role;
    this.sendType = options.role === 'client' ? MessageType.InputStreamData : MessageType.OutputStreamData;
    this.receiveType = options.role === 'client' ? MessageType.OutputStreamData : MessageType.InputStreamData;
    this.transmit = options.transmit;
    this.onStreamMessage = options.onStreamMessage;
    this.onChannelClosed = options.onChannelClosed;
    this.onFailure = options.onFailure;
    this.windowMessages = options.windowMessages ?? 2048;
    this.chunkSize = Math.min(
      options.chunkSize ?? DATA_CHANNEL_DEFAULTS.chunkSize,
      DATA_CHANNEL_DEFAULTS.chunkSize,
    );
    this.ackTimeoutMs =
      options.ackTimeoutMs ?? (options.role === 'agent' ? Number.POSITIVE_INFINITY : 60_000);
    this.resendBudget = options.role === 'agent' ? 1 : Math.max(1, options.resendBudget ?? 64);
    this.incomingCapacity = options.incomingCapacity ?? DATA_CHANNEL_DEFAULTS.incomingCapacity;
    this.pendingHighWater = options.pendingHighWaterBytes ?? 256 * 1024;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.tick(), DATA_CHANNEL_DEFAULTS.tickMs);
    // The websocket holds the process open while the channel is in use; the scheduler must not.
    this.timer.unref();
  }

  /** The current retransmission timeout in milliseconds. */
  get retransmissionTimeoutMs(): number {
    return this.rtoMs;
  }

  /** Messages sent and not yet acknowledged. */
  get unacknowledged(): number {
    return this.outgoing.size;
  }

  /** The next sequence number this side will use (how many stream messages it has sent). */
  get sequenceNumber(): number {
    return this.nextSequence;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends one sequenced stream-data message now (handshake payloads, flags). It is buffered and
   * resent until acknowledged; it does not wait for the Output window.
   */
  sendStreamMessage(payloadType: number, payload: Buffer): void {
    if (this.closed) return;
    this.enqueueMessage(payloadType, payload, false);
  }

  /**
   * Queues bytes for Output messages of at most `chunkSize` bytes. Small writes in the same turn
   * of the event loop share a message. `callback` runs once the queue is below its high-water mark.
   */
  writeOutput(data: Buffer, callback: (error?: Error) => void): void {
    if (this.closed) {
      callback(new TunnelClosedError('the data channel is closed'));
      return;
    }
    if (data.length > 0) {
      this.pending.push(data);
      this.pendingBytes += data.length;
      this.schedulePump();
    }
    if (this.pendingBytes <= this.pendingHighWater) callback();
    else this.writeWaiters.push(callback);
  }

  /** Feeds one binary websocket frame received from the peer. */
  receiveFrame(frame: Buffer): void {
    if (this.closed) return;
    let message: ClientMessage;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      this.stats.invalid++;
      this.logger?.warn('dropping an undecodable data-channel frame', { error: String(error) });
      return;
    }
    // The plugin checks the digest; the agent does not. Checking it on both sides costs little
    // and turns corruption into a resend instead of bad bytes.
    const problem = validateMessage(message);
    if (problem !== undefined) {
      this.stats.invalid++;
      this.logger?.warn('dropping an invalid data-channel message', {
        problem,
        messageType: message.messageType,
        sequenceNumber: message.sequenceNumber,
      });
      return;
    }
    switch (message.messageType) {
      case this.receiveType:
        if (this.role === 'agent') this.paused = false;
        this.handleStreamData(message);
        return;
      case MessageType.Acknowledge:
        if (this.role === 'agent') this.paused = false;
        this.handleAck(message);
        return;
      case MessageType.ChannelClosed:
        this.handleChannelClosed(message);
        return;
      case MessageType.PausePublication:
        // The agent stops sending and resending while paused; the plugin ignores both types.
        if (this.role === 'agent') this.paused = true;
        return;
      case MessageType.StartPublication:
        if (this.role === 'agent') this.paused = false;
        return;
      default:
        this.logger?.debug('ignoring a data-channel message of unknown type', {
          messageType: message.messageType,
        });
    }
  }

  /** The consumer can take data again: deliver the held message and what follows it. */
  resume(): void {
    if (this.closed || this.held === undefined) return;
    const { message, acked } = this.held;
    this.held = undefined;
    this.deliverInOrder(message, acked);
  }

  /**
   * The client after ResumeSession: resend every unacknowledged message at once, oldest first.
   * Neither upstream peer does this (their Reconnect only reopens the websocket; the scheduler
   * then resends one message per tick); the agent stand-in therefore does not call it.
   */
  retransmitAll(): void {
    const now = this.now();
    for (const entry of this.outgoing.values()) {
      entry.lastSent = now;
      this.stats.resent++;
      this.transmit(entry.frame);
    }
  }

  /**
   * Resolves once every byte given to writeOutput is in a sequenced message (sent, or waiting for
   * the window), so that a message sent next with sendStreamMessage comes after those bytes.
   */
  outputQueued(): Promise<void> {
    if (this.pendingBytes === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.queuedWaiters.push(resolve));
  }

  /** Resolves true once everything sent has been acknowledged, or false after `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.outgoing.size === 0 && this.pendingBytes === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.flushWaiters = this.flushWaiters.filter((waiter) => waiter !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(this.outgoing.size === 0 && this.pendingBytes === 0);
      };
      this.flushWaiters.push(done);
    });
  }

  /** Stops the scheduler and fails queued writes. Idempotent. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const waiters = this.writeWaiters;
    this.writeWaiters = [];
    const failure = error ?? new TunnelClosedError('the data channel is closed');
    for (const waiter of waiters) waiter(failure);
    this.pending = [];
    this.pendingBytes = 0;
    this.outgoing.clear();
    this.incoming.clear();
    this.held = undefined;
    const flushers = this.flushWaiters;
    this.flushWaiters = [];
    for (const flusher of flushers) flusher();
    this.releaseQueuedWaiters();
  }

  private releaseQueuedWaiters(): void {
    const waiters = this.queuedWaiters;
    this.queuedWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private enqueueMessage(payloadType: number, payload: Buffer, output: boolean): void {
    const sequenceNumber = this.nextSequence++;
    // The agent marks its first message with SYN (flags 1); the plugin always sends 0.
    const flags = this.role === 'agent' && sequenceNumber === 0 ? MessageFlags.Syn : 0;
    const frame = encodeMessage({ messageType: this.sendType, sequenceNumber, flags, payloadType, payload });
    const now = this.now();
    this.outgoing.set(sequenceNumber, {
      sequenceNumber,
      frame,
      firstSent: now,
      lastSent: now,
      fastRetransmitted: false,
      output,
    });
    if (output) this.outputInFlight++;
    this.stats.sent++;
    if (!this.paused) this.transmit(frame);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.closed && this.pendingBytes > 0 && this.outputInFlight < this.windowMessages) {
      const size = Math.min(this.chunkSize, this.pendingBytes);
      let chunk: Buffer;
      const head = this.pending[0] as Buffer;
      if (head.length >= size) {
        chunk = head.subarray(0, size);
        if (head.length === size) this.pending.shift();
        else this.pending[0] = head.subarray(size);
      } else {
        const parts: Buffer[] = [];
        let remaining = size;
        while (remaining > 0) {
          const next = this.pending[0] as Buffer;
          if (next.length <= remaining) {
            parts.push(next);
            this.pending.shift();
            remaining -= next.length;
          } else {
            parts.push(next.subarray(0, remaining));
            this.pending[0] = next.subarray(remaining);
            remaining = 0;
          }
        }
        chunk = Buffer.concat(parts, size);
      }
      this.pendingBytes -= size;
      this.enqueueMessage(PayloadType.Output, chunk, true);
    }
    if (this.pendingBytes <= this.pendingHighWater && this.writeWaiters.length > 0) {
      const waiters = this.writeWaiters;
      this.writeWaiters = [];
      for (const waiter of waiters) waiter();
    }
    if (this.pendingBytes === 0 && this.queuedWaiters.length > 0) this.releaseQueuedWaiters();
  }

  private sendAck(message: ClientMessage): void {
    this.stats.acksSent++;
    this.transmit(
      encodeAck({
        messageType: message.messageType,
        messageId: message.messageId,
        sequenceNumber: message.sequenceNumber,
      }),
    );
  }

  private handleStreamData(message: ClientMessage): void {
    this.stats.received++;
    const sequence = message.sequenceNumber;
    if (sequence === this.expectedSequence) {
      // Already holding this one for a busy consumer: the resend carries nothing new.
      if (this.held !== undefined) return;
      this.deliverInOrder(message, false);
    } else if (sequence > this.expectedSequence) {
      this.stats.outOfOrder++;
      if (this.incoming.has(sequence)) {
        this.stats.duplicates++;
        this.sendAck(message);
      } else if (this.incoming.size < this.incomingCapacity) {
        this.sendAck(message);
        this.incoming.set(sequence, message);
      }
    } else {
      // Already delivered: the agent acknowledges again (the plugin does not), which stops a
      // peer whose acknowledgement was lost from resending forever.
      this.stats.duplicates++;
      this.sendAck(message);
    }
  }

  private deliverInOrder(first: ClientMessage, firstAcked: boolean): void {
    let message: ClientMessage | undefined = first;
    let acked = firstAcked;
    while (message !== undefined && !this.closed) {
      if (!this.process(message, acked)) {
        this.stats.held++;
        this.held = { message, acked };
        return;
      }
      this.expectedSequence++;
      message = this.incoming.get(this.expectedSequence);
      if (message !== undefined) this.incoming.delete(this.expectedSequence);
      acked = true;
    }
  }

  private process(message: ClientMessage, acked: boolean): boolean {
    // The plugin acknowledges handshake payloads before processing them (streaming.go
    // HandleOutputMessage); other payloads only once the session handler took them.
    const ackFirst =
      this.role === 'client' &&
      (message.payloadType === PayloadType.HandshakeRequest ||
        message.payloadType === PayloadType.HandshakeComplete ||
        message.payloadType === PayloadType.EncChallengeRequest);
    if (ackFirst && !acked) {
      this.sendAck(message);
      acked = true;
    }
    if (!this.onStreamMessage(message)) return false;
    if (!acked) this.sendAck(message);
    return true;
  }

  private handleAck(message: ClientMessage): void {
    let sequence: number;
    try {
      sequence = decodeAckPayload(message.payload).AcknowledgedMessageSequenceNumber;
    } catch (error) {
      this.stats.invalid++;
      this.logger?.warn('dropping an invalid acknowledgement', { error: String(error) });
      return;
    }
    this.stats.acksReceived++;
    const entry = this.outgoing.get(sequence);
    if (entry === undefined) return;
    this.updateRto(this.now() - entry.lastSent);
    this.outgoing.delete(sequence);
    if (entry.output) this.outputInFlight--;
    if (sequence > this.highestAcked) this.highestAcked = sequence;
    if (this.role === 'client') this.fastRetransmit();
    if (this.pendingBytes > 0) this.pump();
    if (this.outgoing.size === 0 && this.flushWaiters.length > 0) {
      const flushers = this.flushWaiters;
      this.flushWaiters = [];
      for (const flusher of flushers) flusher();
    }
  }

  /**
   * calculateRetransmissionTimeout, the same in both peers (aws/session-manager-plugin
   * src/datachannel/streaming.go, aws/amazon-ssm-agent agent/session/datachannel/datachannel.go),
   * in float milliseconds where Go uses float64 nanoseconds:
   *   RTTVAR = (1 − RTTVConstant)·RTTVAR + RTTVConstant·|RTT − sample|   (with the old RTT)
   *   RTT    = (1 − RTTConstant)·RTT + RTTConstant·sample
   *   RTO    = min(RTT + max(ClockGranularity, 4·RTTVAR), MaxTransmissionTimeout)
   * The sample is the time since the message was last sent. Resent messages are sampled too (no
   * Karn rule upstream). The agent stores LastSentTime back when it resends; the plugin does not
   * (its scheduler updates a copy of the list element), so the plugin measures from the first send
   * and, once a message is older than the RTO, resends it at every tick. We follow the agent.
   */
  private updateRto(sampleMs: number): void {
    const { rttGain, rttVarGain, clockGranularityMs, maxRtoMs } = DATA_CHANNEL_DEFAULTS;
    this.rttVarMs = (1 - rttVarGain) * this.rttVarMs + rttVarGain * Math.abs(this.rttMs - sampleMs);
    this.rttMs = (1 - rttGain) * this.rttMs + rttGain * sampleMs;
    this.rtoMs = Math.min(this.rttMs + Math.max(clockGranularityMs, 4 * this.rttVarMs), maxRtoMs);
  }

  /** Resends, once each, messages that three later messages overtook (they were most likely lost). */
  private fastRetransmit(): void {
    const limit = this.highestAcked - 3;
    if (limit <= this.fastCursor) return;
    const now = this.now();
    for (let sequence = this.fastCursor + 1; sequence <= limit; sequence++) {
      const entry = this.outgoing.get(sequence);
      if (entry !== undefined && !entry.fastRetransmitted) {
        entry.fastRetransmitted = true;
        entry.lastSent = now;
        this.stats.resent++;
        this.stats.fastResent++;
        if (!this.paused) this.transmit(entry.frame);
      }
    }
    this.fastCursor = limit;
  }

  /** One run of the resend scheduler (every ResendSleepInterval); see DataChannelRole. */
  private tick(): void {
    if (this.closed || this.paused || this.outgoing.size === 0) return;
    const now = this.now();
    let budget = this.resendBudget;
    for (const entry of this.outgoing.values()) {
      if (now - entry.firstSent > this.ackTimeoutMs) {
        this.fail(
          new TunnelClosedError(
            `the peer acknowledged nothing for ${this.ackTimeoutMs} ms (message ${entry.sequenceNumber})`,
          ),
        );
        return;
      }
      if (now - entry.lastSent > this.rtoMs) {
        entry.lastSent = now;
        this.stats.resent++;
        this.transmit(entry.frame);
        if (--budget === 0) return;
      } else if (this.role === 'agent') {
        // The agent looks at the front of its buffer only (OutgoingMessageBuffer.Messages.Front()).
        return;
      }
    }
  }

  private handleChannelClosed(message: ClientMessage): void {
    let content: ChannelClosedContent | undefined;
    try {
      content = JSON.parse(message.payload.toString('utf8')) as ChannelClosedContent;
    } catch {
      content = undefined;
    }
    this.onChannelClosed?.(content);
  }

  private fail(error: DeployerError): void {
    this.logger?.warn('data channel failed', { error: error.message });
    this.onFailure?.(error);
    this.close(error);
  }
}
