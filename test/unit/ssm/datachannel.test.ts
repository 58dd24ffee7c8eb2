import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DATA_CHANNEL_DEFAULTS,
  DataChannel,
  type DataChannelOptions,
  PLUGIN_RESEND,
} from '../../../functions/lib/ssm/datachannel.js';
import { TunnelClosedError } from '../../../functions/lib/ssm/errors.js';
import {
  type ClientMessage,
  decodeAckPayload,
  decodeMessage,
  encodeMessage,
  MessageType,
  PayloadType,
} from '../../../functions/lib/ssm/message.js';

const channels: DataChannel[] = [];
afterEach(() => {
  for (const channel of channels.splice(0)) channel.close();
});

function channel(options: Partial<DataChannelOptions> & Pick<DataChannelOptions, 'role'>): {
  dc: DataChannel;
  sent: Buffer[];
  delivered: ClientMessage[];
} {
  const sent: Buffer[] = [];
  const delivered: ClientMessage[] = [];
  const dc = new DataChannel({
    transmit: (frame) => sent.push(frame),
    onStreamMessage: (message) => {
      delivered.push(message);
      return true;
    },
    ...options,
  });
  channels.push(dc);
  return { dc, sent, delivered };
}

/** Two channels joined; `drop` decides per frame (direction, decoded message, attempt) whether it is lost. */
function joined(
  drop: (to: 'agent' | 'client', message: ClientMessage) => boolean = () => false,
  options: Partial<DataChannelOptions> = {},
): { client: DataChannel; agent: DataChannel; atAgent: ClientMessage[]; atClient: ClientMessage[] } {
  const atAgent: ClientMessage[] = [];
  const atClient: ClientMessage[] = [];
  let agent: DataChannel | undefined;
  const client = new DataChannel({
    role: 'client',
    transmit: (frame) => {
      if (!drop('agent', decodeMessage(frame))) setImmediate(() => agent?.receiveFrame(frame));
    },
    onStreamMessage: (message) => {
      atClient.push(message);
      return true;
    },
    ...options,
  });
  agent = new DataChannel({
    role: 'agent',
    transmit: (frame) => {
      if (!drop('client', decodeMessage(frame))) setImmediate(() => client.receiveFrame(frame));
    },
    onStreamMessage: (message) => {
      atAgent.push(message);
      return true;
    },
    ...options,
  });
  channels.push(client, agent);
  return { client, agent, atAgent, atClient };
}

const outputOf = (messages: ClientMessage[]): Buffer =>
  Buffer.concat(messages.filter((m) => m.payloadType === PayloadType.Output).map((m) => m.payload));

function streamFrame(
  sequenceNumber: number,
  payload: string,
  payloadType: number = PayloadType.Output,
): Buffer {
  return encodeMessage({
    messageType: MessageType.OutputStreamData,
    sequenceNumber,
    payloadType,
    payload: Buffer.from(payload),
  });
}

const ackedSequences = (frames: Buffer[]): number[] =>
  frames
    .map((frame) => decodeMessage(frame))
    .filter((message) => message.messageType === MessageType.Acknowledge)
    .map((message) => decodeAckPayload(message.payload).AcknowledgedMessageSequenceNumber);

describe('DataChannel sending', () => {
  it('numbers every stream message from 0 with one counter and marks only the agent’s first with SYN', () => {
    const client = channel({ role: 'client' });
    const agent = channel({ role: 'agent' });

    client.dc.sendStreamMessage(PayloadType.HandshakeResponse, Buffer.from('{}'));
    client.dc.sendStreamMessage(PayloadType.Flag, Buffer.from([0, 0, 0, 2]));
    agent.dc.sendStreamMessage(PayloadType.HandshakeRequest, Buffer.from('{}'));
    agent.dc.sendStreamMessage(PayloadType.HandshakeComplete, Buffer.from('{}'));

    const clientMessages = client.sent.map((frame) => decodeMessage(frame));
    const agentMessages = agent.sent.map((frame) => decodeMessage(frame));
    expect(clientMessages.map((m) => [m.messageType, m.sequenceNumber, m.flags])).toEqual([
      ['input_stream_data', 0, 0],
      ['input_stream_data', 1, 0],
    ]);
    expect(agentMessages.map((m) => [m.messageType, m.sequenceNumber, m.flags])).toEqual([
      ['output_stream_data', 0, 1],
      ['output_stream_data', 1, 0],
    ]);
  });

  it('cuts Output into messages of at most 1024 bytes and coalesces small writes', async () => {
    const { dc, sent } = channel({ role: 'client' });
    const callback = vi.fn();

    dc.writeOutput(Buffer.alloc(2500, 1), callback);
    dc.writeOutput(Buffer.from('ab'), callback);
    dc.writeOutput(Buffer.from('cd'), callback);
    await new Promise((resolve) => setImmediate(resolve));

    const sizes = sent.map((frame) => decodeMessage(frame).payload.length);
    expect(sizes).toEqual([1024, 1024, 456]);
    expect(callback).toHaveBeenCalledTimes(3);
    expect(dc.unacknowledged).toBe(3);
  });

  it('keeps at most windowMessages Output messages in flight and holds the writer above the high-water mark', async () => {
    const { dc, sent } = channel({ role: 'client', windowMessages: 4, pendingHighWaterBytes: 2048 });
    const callback = vi.fn();

    dc.writeOutput(Buffer.alloc(10 * 1024), callback);
    await new Promise((resolve) => setImmediate(resolve));

    expect(sent).toHaveLength(4);
    expect(callback).not.toHaveBeenCalled();
    // Acknowledging frees the window; the queue drains below the mark and the writer continues.
    for (const frame of sent.splice(0)) {
      const message = decodeMessage(frame);
      dc.receiveFrame(
        encodeMessage({
          messageType: MessageType.Acknowledge,
          sequenceNumber: 0,
          flags: 3,
          payload: Buffer.from(`{"AcknowledgedMessageSequenceNumber":${message.sequenceNumber}}`),
        }),
      );
    }
    expect(callback).toHaveBeenCalledOnce();
  });
});

describe('DataChannel receiving', () => {
  it('acknowledges handshake payloads before processing them (client), other data after delivery', () => {
    const order: string[] = [];
    const sent: Buffer[] = [];
    const dc = new DataChannel({
      role: 'client',
      transmit: (frame) => {
        sent.push(frame);
        order.push(`sent ${decodeMessage(frame).messageType}`);
      },
      onStreamMessage: (message) => {
        order.push(`processed ${message.payloadType}`);
        return true;
      },
    });
    channels.push(dc);

    dc.receiveFrame(streamFrame(0, '{}', PayloadType.HandshakeRequest));
    dc.receiveFrame(streamFrame(1, 'data'));

    expect(order).toEqual(['sent acknowledge', 'processed 5', 'processed 1', 'sent acknowledge']);
    expect(ackedSequences(sent)).toEqual([0, 1]);
  });

  it('buffers and acknowledges out-of-order messages at once, then delivers in order', () => {
    const { dc, sent, delivered } = channel({ role: 'client' });

    dc.receiveFrame(streamFrame(2, 'c'));
    dc.receiveFrame(streamFrame(1, 'b'));
    expect(delivered).toHaveLength(0);
    dc.receiveFrame(streamFrame(0, 'a'));

    expect(delivered.map((m) => m.payload.toString())).toEqual(['a', 'b', 'c']);
    expect(ackedSequences(sent)).toEqual([2, 1, 0]);
  });

  it('acknowledges duplicates again without delivering them twice', () => {
    const { dc, sent, delivered } = channel({ role: 'client' });

    dc.receiveFrame(streamFrame(0, 'a'));
    dc.receiveFrame(streamFrame(0, 'a'));
    dc.receiveFrame(streamFrame(2, 'c'));
    dc.receiveFrame(streamFrame(2, 'c'));

    expect(delivered).toHaveLength(1);
    expect(ackedSequences(sent)).toEqual([0, 0, 2, 2]);
    expect(dc.stats.duplicates).toBe(2);
  });

  it('does not acknowledge data its consumer refused until resume() delivers it (backpressure)', () => {
    // Prepare
    let ready = false;
    const sent: Buffer[] = [];
    const delivered: string[] = [];
    const dc = new DataChannel({
      role: 'client',
      transmit: (frame) => sent.push(frame),
      onStreamMessage: (message) => {
        if (!ready) return false;
        delivered.push(message.payload.toString());
        return true;
      },
    });
    channels.push(dc);

    // Act
    dc.receiveFrame(streamFrame(0, 'a'));
    dc.receiveFrame(streamFrame(0, 'a'));
    dc.receiveFrame(streamFrame(1, 'b'));

    // Assess: nothing delivered, only the out-of-order message acknowledged.
    expect(delivered).toEqual([]);
    expect(ackedSequences(sent)).toEqual([1]);
    ready = true;
    dc.resume();
    expect(delivered).toEqual(['a', 'b']);
    expect(ackedSequences(sent)).toEqual([1, 0]);
  });

  it('drops frames with a wrong digest without acknowledging them', () => {
    const { dc, sent, delivered } = channel({ role: 'client' });
    const frame = streamFrame(0, 'abc');
    frame[frame.length - 1] = 0x7a;

    dc.receiveFrame(frame);
    dc.receiveFrame(Buffer.from('garbage'));

    expect(delivered).toHaveLength(0);
    expect(sent).toHaveLength(0);
    expect(dc.stats.invalid).toBe(2);
  });

  it('reports channel_closed with its Output', () => {
    const onChannelClosed = vi.fn();
    const { dc } = channel({ role: 'client', onChannelClosed });

    dc.receiveFrame(
      encodeMessage({
        messageType: MessageType.ChannelClosed,
        sequenceNumber: 0,
        payload: Buffer.from(
          '{"SessionId":"s-1","Output":"Session terminated","MessageType":"channel_closed"}',
        ),
      }),
    );

    expect(onChannelClosed).toHaveBeenCalledWith(expect.objectContaining({ Output: 'Session terminated' }));
  });
});

describe('DataChannel retransmission', () => {
  it('computes the RTO as RTT + max(10 ms, 4 RTTVAR), capped at 1 s', () => {
    let now = 1_000;
    const { dc, sent } = channel({ role: 'client', now: () => now });
    const ack = (sequence: number): void =>
      dc.receiveFrame(
        encodeMessage({
          messageType: MessageType.Acknowledge,
          sequenceNumber: 0,
          flags: 3,
          payload: Buffer.from(`{"AcknowledgedMessageSequenceNumber":${sequence}}`),
        }),
      );
    expect(dc.retransmissionTimeoutMs).toBe(200);

    dc.sendStreamMessage(PayloadType.Output, Buffer.from('a'));
    now += 20;
    ack(0);
    // RTTVAR = ¼·|100 − 20| = 20; RTT = ⅞·100 + ⅛·20 = 90; RTO = 90 + 80.
    expect(dc.retransmissionTimeoutMs).toBeCloseTo(170, 6);

    dc.sendStreamMessage(PayloadType.Output, Buffer.from('b'));
    now += 5_000;
    ack(1);
    expect(dc.retransmissionTimeoutMs).toBe(1000);
    expect(sent).toHaveLength(2);
  });

  it('resends a lost message after the RTO and delivers everything', async () => {
    let dropped = false;
    const { client, atAgent } = joined((to, message) => {
      if (
        to === 'agent' &&
        message.sequenceNumber === 0 &&
        message.messageType !== 'acknowledge' &&
        !dropped
      ) {
        dropped = true;
        return true;
      }
      return false;
    });

    client.writeOutput(Buffer.from('hello'), () => {});

    await vi.waitFor(() => expect(outputOf(atAgent).toString()).toBe('hello'), { timeout: 2000 });
    expect(client.stats.resent).toBeGreaterThanOrEqual(1);
    await vi.waitFor(() => expect(client.unacknowledged).toBe(0));
  });

  it('fast-retransmits a message three later ones overtook, before its RTO', async () => {
    // Prepare: the first transmission of message 0 is lost.
    let dropped = false;
    const { client, atAgent } = joined((to, message) => {
      if (
        to === 'agent' &&
        message.payloadType === PayloadType.Output &&
        message.sequenceNumber === 0 &&
        !dropped
      ) {
        dropped = true;
        return true;
      }
      return false;
    });
    const started = Date.now();

    // Act
    client.writeOutput(Buffer.alloc(8 * 1024, 3), () => {});

    // Assess: recovered from the acknowledgements of 1..3, not by the 200 ms timer.
    await vi.waitFor(() => expect(outputOf(atAgent).length).toBe(8 * 1024), { timeout: 2000 });
    expect(Date.now() - started).toBeLessThan(150);
    expect(client.stats.fastResent).toBe(1);
  });

  it('the agent role resends only its oldest unacknowledged message, once per tick, never fast', async () => {
    // Prepare: the first transmission of the agent's messages 2, 3 and 4 is lost.
    const lost = new Set([2, 3, 4]);
    const resends: Array<{ sequence: number; at: number }> = [];
    const transmitted = new Set<number>();
    const { agent, atClient } = joined((to, message) => {
      if (to !== 'client' || message.messageType === MessageType.Acknowledge) return false;
      if (transmitted.has(message.sequenceNumber))
        resends.push({ sequence: message.sequenceNumber, at: Date.now() });
      transmitted.add(message.sequenceNumber);
      return lost.delete(message.sequenceNumber);
    });

    // Act
    agent.writeOutput(Buffer.alloc(8 * 1024, 7), () => {});

    // Assess: 5, 6 and 7 overtook 2 and would trigger the client's fast retransmit; the agent
    // instead resends 2, then 3, then 4, one per ResendSleepInterval.
    await vi.waitFor(() => expect(outputOf(atClient).length).toBe(8 * 1024), { timeout: 3000 });
    expect(resends.map((resend) => resend.sequence)).toEqual([2, 3, 4]);
    const gaps = resends.slice(1).map((resend, i) => resend.at - (resends[i] as { at: number }).at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(90);
    expect(agent.stats.fastResent).toBe(0);
    expect(agent.stats.resent).toBe(3);
  });

  it('fails with TunnelClosedError when nothing is acknowledged for ackTimeoutMs', async () => {
    const onFailure = vi.fn();
    const { dc } = channel({ role: 'client', ackTimeoutMs: 250, onFailure });

    dc.sendStreamMessage(PayloadType.Output, Buffer.from('x'));

    await vi.waitFor(() => expect(onFailure).toHaveBeenCalledOnce(), { timeout: 2000 });
    expect(onFailure.mock.calls[0]?.[0]).toBeInstanceOf(TunnelClosedError);
    expect(dc.isClosed).toBe(true);
  });

  it('stops sending and resending while the agent is paused by pause_publication', () => {
    const { dc, sent } = channel({ role: 'agent' });
    const control = (type: string): Buffer =>
      encodeMessage({ messageType: type, sequenceNumber: 0, payload: Buffer.alloc(0) });

    dc.receiveFrame(control(MessageType.PausePublication));
    dc.sendStreamMessage(PayloadType.Output, Buffer.from('x'));
    expect(sent).toHaveLength(0);
    dc.receiveFrame(control(MessageType.StartPublication));
    dc.retransmitAll();

    expect(sent).toHaveLength(1);
  });
});

/**
 * The resend rules pinned to upstream: aws/session-manager-plugin src/config/config.go and
 * src/datachannel/streaming.go, aws/amazon-ssm-agent agent/session/config/config.go and
 * agent/session/datachannel/datachannel.go.
 */
describe('resend policy against upstream', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const ackFrame = (sequence: number): Buffer =>
    encodeMessage({
      messageType: MessageType.Acknowledge,
      sequenceNumber: 0,
      flags: 3,
      payload: Buffer.from(`{"AcknowledgedMessageSequenceNumber":${sequence}}`),
    });
  const sequencesOf = (frames: Buffer[]): number[] =>
    frames.map((frame) => decodeMessage(frame).sequenceNumber);

  it('uses the constants of config.go in both repositories', () => {
    expect(DATA_CHANNEL_DEFAULTS).toEqual({
      chunkSize: 1024, // StreamDataPayloadSize
      tickMs: 100, // ResendSleepInterval = 100 * time.Millisecond
      initialRttMs: 100, // DefaultRoundTripTime = 100 * time.Millisecond
      initialRttVarMs: 0, // DefaultRoundTripTimeVariation = 0
      initialRtoMs: 200, // DefaultTransmissionTimeout = 200 * time.Millisecond
      rttGain: 1 / 8, // RTTConstant = 1.0 / 8.0
      rttVarGain: 1 / 4, // RTTVConstant = 1.0 / 4.0
      clockGranularityMs: 10, // ClockGranularity = 10 * time.Millisecond
      maxRtoMs: 1000, // MaxTransmissionTimeout = 1 * time.Second
      incomingCapacity: 10_000, // plugin IncomingMessageBufferCapacity
    });
    // plugin ResendMaxAttempt = 3000 // 5 minutes / ResendSleepInterval
    expect(PLUGIN_RESEND.resendMaxAttempt).toBe(3000);
    expect(PLUGIN_RESEND.resendMaxAttempt * DATA_CHANNEL_DEFAULTS.tickMs).toBe(5 * 60 * 1000);
    // plugin OutgoingMessageBufferCapacity = 10000
    expect(PLUGIN_RESEND.outgoingCapacity).toBe(10_000);
  });

  it('computes RTTVAR, RTT and the RTO as calculateRetransmissionTimeout does, for any samples', () => {
    // calculateRetransmissionTimeout, transcribed from streaming.go / datachannel.go (float64 ns there).
    const upstream = (samples: number[]): number[] => {
      let rtt = 100; // DefaultRoundTripTime
      let rttVar = 0; // DefaultRoundTripTimeVariation
      return samples.map((sample) => {
        rttVar = (1 - 1 / 4) * rttVar + (1 / 4) * Math.abs(rtt - sample); // RTTVConstant
        rtt = (1 - 1 / 8) * rtt + (1 / 8) * sample; // RTTConstant
        return Math.min(rtt + Math.max(10, 4 * rttVar), 1000); // ClockGranularity, MaxTransmissionTimeout
      });
    };
    const samples = [20, 3, 3, 250, ...Array<number>(40).fill(1), 4000, 7, 7, 7];
    let now = 0;
    const { dc } = channel({ role: 'client', now: () => now });

    const rtos = samples.map((sample, i) => {
      dc.sendStreamMessage(PayloadType.Output, Buffer.from('x'));
      now += sample;
      dc.receiveFrame(ackFrame(i));
      return dc.retransmissionTimeoutMs;
    });

    const expected = upstream(samples);
    rtos.forEach((rto, i) => {
      expect(rto).toBeCloseTo(expected[i] as number, 9);
    });
    // No floor but ClockGranularity over RTT: on a fast link the RTO falls far below 200 ms.
    expect(Math.min(...rtos)).toBeLessThan(50);
    expect(Math.max(...rtos)).toBe(1000);
  });

  it('agent: each tick resends only the front of the buffer once it is older than the RTO, and never gives up', () => {
    // Prepare
    vi.useFakeTimers();
    const onFailure = vi.fn();
    const { dc, sent } = channel({ role: 'agent', onFailure });
    for (const text of ['a', 'b', 'c']) dc.sendStreamMessage(PayloadType.Output, Buffer.from(text));
    sent.splice(0);

    // Act + Assess: time.Since(LastSentTime) > RetransmissionTimeout (200 ms), strictly.
    vi.advanceTimersByTime(200);
    expect(sequencesOf(sent)).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(sequencesOf(sent)).toEqual([0]);
    // LastSentTime is stored back: the next resend of 0 is another RTO later, not at the next tick.
    vi.advanceTimersByTime(200);
    expect(sequencesOf(sent)).toEqual([0]);
    vi.advanceTimersByTime(100);
    expect(sequencesOf(sent)).toEqual([0, 0]);
    // 1 and 2 are as old, but only the front is looked at; an hour without acknowledgement is fine.
    vi.advanceTimersByTime(60 * 60 * 1000);
    expect(new Set(sequencesOf(sent))).toEqual(new Set([0]));
    expect(onFailure).not.toHaveBeenCalled();
    expect(dc.isClosed).toBe(false);
    // Once 0 is acknowledged, 1 is the front and goes at the next tick.
    sent.splice(0);
    dc.receiveFrame(ackFrame(0));
    vi.advanceTimersByTime(100);
    expect(sequencesOf(sent)).toEqual([1]);
    expect(dc.stats.fastResent).toBe(0);
  });

  it('client: each tick resends up to resendBudget timed-out messages, and fails after ackTimeoutMs', () => {
    // Prepare
    vi.useFakeTimers();
    const onFailure = vi.fn();
    const { dc, sent } = channel({ role: 'client', resendBudget: 2, ackTimeoutMs: 1000, onFailure });
    for (const text of ['a', 'b', 'c']) dc.sendStreamMessage(PayloadType.Output, Buffer.from(text));
    sent.splice(0);

    // Act + Assess: same tick and RTO as upstream, more than the front per tick.
    vi.advanceTimersByTime(300);
    expect(sequencesOf(sent)).toEqual([0, 1]);
    vi.advanceTimersByTime(100);
    expect(sequencesOf(sent)).toEqual([0, 1, 2]);
    // Where the plugin resends ResendMaxAttempt times (about 5 minutes), the client gives up
    // after ackTimeoutMs (openTunnel: 30 s by default).
    vi.advanceTimersByTime(700);
    expect(onFailure).toHaveBeenCalledOnce();
    expect(onFailure.mock.calls[0]?.[0]).toBeInstanceOf(TunnelClosedError);
  });

  it('outputQueued resolves once written bytes are in sequenced messages, so a flag sent next follows them', async () => {
    const { dc, sent } = channel({ role: 'client' });

    dc.writeOutput(Buffer.alloc(3000, 1), () => {});
    await dc.outputQueued();
    dc.sendStreamMessage(PayloadType.Flag, Buffer.from([0, 0, 0, 1]));

    const messages = sent.map((frame) => decodeMessage(frame));
    expect(messages.map((message) => [message.sequenceNumber, message.payloadType])).toEqual([
      [0, PayloadType.Output],
      [1, PayloadType.Output],
      [2, PayloadType.Output],
      [3, PayloadType.Flag],
    ]);
  });
});
