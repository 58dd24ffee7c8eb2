import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { PortConnectError, TunnelProtocolError } from '../../../functions/lib/ssm/errors.js';
import {
  encodeSmuxFrame,
  encodeSmuxHeader,
  SMUX_MAX_FRAME_SIZE,
  SmuxCommand,
  SmuxFrameParser,
  SmuxSession,
  type SmuxStream,
} from '../../../functions/lib/ssm/smux.js';

/** A client and a server session joined back to back, delivering asynchronously like a socket. */
function pair(): { client: SmuxSession; server: SmuxSession; accepted: SmuxStream[]; wire: Buffer[] } {
  const accepted: SmuxStream[] = [];
  const wire: Buffer[] = [];
  let server: SmuxSession | undefined;
  const client = new SmuxSession({
    role: 'client',
    write: (bytes, callback) => {
      wire.push(Buffer.from(bytes));
      setImmediate(() => server?.receive(Buffer.from(bytes)));
      callback();
    },
  });
  server = new SmuxSession({
    role: 'server',
    write: (bytes, callback) => {
      setImmediate(() => client.receive(Buffer.from(bytes)));
      callback();
    },
    onStream: (stream) => accepted.push(stream),
  });
  return { client, server, accepted, wire };
}

async function readAll(stream: SmuxStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(stream, 'end');
  return Buffer.concat(chunks);
}

describe('smux v1 frames', () => {
  it('encodes 8-byte little-endian headers for SYN, FIN, PSH and NOP', () => {
    expect(encodeSmuxHeader(SmuxCommand.SYN, 3).toString('hex')).toBe('0100000003000000');
    expect(encodeSmuxHeader(SmuxCommand.FIN, 3).toString('hex')).toBe('0101000003000000');
    expect(encodeSmuxFrame(SmuxCommand.PSH, 5, Buffer.from('hi')).toString('hex')).toBe(
      '0102020005000000' + '6869',
    );
    expect(encodeSmuxHeader(SmuxCommand.NOP, 0).toString('hex')).toBe('0103000000000000');
    expect(encodeSmuxHeader(SmuxCommand.PSH, 0x01020304, 300).toString('hex')).toBe('01022c0104030201');
  });

  it('parses frames split at every possible byte boundary', () => {
    const stream = Buffer.concat([
      encodeSmuxFrame(SmuxCommand.SYN, 3),
      encodeSmuxFrame(SmuxCommand.PSH, 3, Buffer.from('hello world')),
      encodeSmuxFrame(SmuxCommand.NOP, 0),
      encodeSmuxFrame(SmuxCommand.FIN, 3),
    ]);
    const parser = new SmuxFrameParser();

    const frames = [...stream].flatMap((byte) => parser.push(Buffer.from([byte])));

    expect(frames.map((frame) => [frame.command, frame.streamId, frame.data.toString()])).toEqual([
      [SmuxCommand.SYN, 3, ''],
      [SmuxCommand.PSH, 3, 'hello world'],
      [SmuxCommand.NOP, 0, ''],
      [SmuxCommand.FIN, 3, ''],
    ]);
  });
});

describe('SmuxSession', () => {
  it('opens odd stream ids from 3 and sends SYN first', () => {
    const { client, wire } = pair();

    const ids = [client.openStream().id, client.openStream().id, client.openStream().id];

    expect(ids).toEqual([3, 5, 7]);
    expect(wire[0]?.toString('hex')).toBe('0100000003000000');
    client.close();
  });

  it('carries data both ways and ends both sides on FIN', async () => {
    // Prepare
    const { client, server, accepted } = pair();
    const stream = client.openStream();
    const reply = readAll(stream);
    const closed = once(stream, 'close');

    // Act
    stream.write('ping');
    await vi.waitFor(() => expect(accepted).toHaveLength(1));
    const remote = accepted[0] as SmuxStream;
    remote.on('data', (chunk: Buffer) => {
      if (chunk.toString() === 'ping') remote.end('pong');
    });

    // Assess
    expect((await reply).toString()).toBe('pong');
    await closed;
    await vi.waitFor(() => expect(server.streamCount).toBe(0));
    expect(client.streamCount).toBe(0);
  });

  it('splits large writes into frames of at most 32768 bytes', async () => {
    const { client, accepted, wire } = pair();
    const stream = client.openStream();
    const data = Buffer.alloc(100_000, 7);

    stream.end(data);
    await vi.waitFor(() => expect(accepted).toHaveLength(1));
    const received = await readAll(accepted[0] as SmuxStream);

    expect(received.equals(data)).toBe(true);
    const frames = new SmuxFrameParser().push(Buffer.concat(wire));
    const lengths = frames
      .filter((frame) => frame.command === SmuxCommand.PSH)
      .map((frame) => frame.data.length);
    expect(lengths).toEqual([
      SMUX_MAX_FRAME_SIZE,
      SMUX_MAX_FRAME_SIZE,
      SMUX_MAX_FRAME_SIZE,
      100_000 - 3 * SMUX_MAX_FRAME_SIZE,
    ]);
  });

  it('fails the stream that was being opened when the agent reports ConnectToPortError', async () => {
    // Prepare: stream 3 got data (its dial worked), stream 5 did not.
    const session = new SmuxSession({ role: 'client', write: (_bytes, callback) => callback() });
    const working = session.openStream();
    const failing = session.openStream();
    const failed = once(failing, 'error');
    session.receive(encodeSmuxFrame(SmuxCommand.PSH, working.id, Buffer.from('HTTP/1.1 200 OK\r\n')));

    // Act: the flag, then the agent closes the failed stream.
    session.portConnectError();
    session.receive(encodeSmuxFrame(SmuxCommand.FIN, failing.id));

    // Assess
    const [error] = await failed;
    expect(error).toBeInstanceOf(PortConnectError);
    expect((error as PortConnectError).name).toBe('PortConnectError');
    expect(working.destroyed).toBe(false);
    session.receive(encodeSmuxFrame(SmuxCommand.FIN, working.id));
    expect((await readAll(working)).toString()).toContain('200 OK');
  });

  it('breaks the session on a frame of another version or an unknown command', async () => {
    for (const frame of [
      Buffer.from('0200000003000000', 'hex'),
      encodeSmuxHeader(4 /* UPD exists only in version 2 */, 3),
    ]) {
      const onError = vi.fn();
      const session = new SmuxSession({ role: 'client', write: (_bytes, callback) => callback(), onError });
      const stream = session.openStream();
      const failed = once(stream, 'error');

      session.receive(frame);

      const [error] = await failed;
      expect(error).toBeInstanceOf(TunnelProtocolError);
      expect(onError).toHaveBeenCalledOnce();
      expect(session.isClosed).toBe(true);
    }
  });

  it('drops data for unknown streams and ignores a SYN sent to a client', () => {
    const session = new SmuxSession({ role: 'client', write: (_bytes, callback) => callback() });

    session.receive(encodeSmuxFrame(SmuxCommand.SYN, 2));
    session.receive(encodeSmuxFrame(SmuxCommand.PSH, 9, Buffer.from('stray')));

    expect(session.streamCount).toBe(0);
    expect(session.isClosed).toBe(false);
  });

  it('reports a full receive buffer until the consumer reads, then asks for more', async () => {
    // Prepare
    const onDrain = vi.fn();
    const session = new SmuxSession({
      role: 'client',
      write: (_bytes, callback) => callback(),
      onDrain,
      maxReceiveBuffer: 64 * 1024,
    });
    const stream = session.openStream();
    stream.pause();

    // Act
    for (let i = 0; i < 3; i++)
      session.receive(encodeSmuxFrame(SmuxCommand.PSH, stream.id, Buffer.alloc(30_000)));

    // Assess
    expect(session.receiveBufferFull).toBe(true);
    onDrain.mockClear();
    stream.read();
    expect(session.receiveBufferFull).toBe(false);
    await vi.waitFor(() => expect(onDrain).toHaveBeenCalled());
    session.close();
  });

  it('destroys every stream when the session closes, and new streams fail at once', async () => {
    const session = new SmuxSession({ role: 'client', write: (_bytes, callback) => callback() });
    const stream = session.openStream();
    const failed = once(stream, 'error');

    session.close(new TunnelProtocolError('gone'));

    await expect(failed).resolves.toEqual([expect.any(TunnelProtocolError)]);
    const late = session.openStream();
    await expect(once(late, 'error')).resolves.toEqual([expect.any(TunnelProtocolError)]);
  });
});
