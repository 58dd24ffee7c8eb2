import { describe, expect, it, vi } from 'vitest';
import { BASIC_MAX_RECEIVE_BUFFER, BasicPortSession } from '../../../functions/lib/ssm/basic.js';
import { TunnelClosedError } from '../../../functions/lib/ssm/errors.js';

/** A basic session whose DisconnectToPort acknowledgements the test releases by hand. */
function session(): {
  basic: BasicPortSession;
  written: string[];
  disconnects: Array<() => void>;
  onDrain: ReturnType<typeof vi.fn>;
} {
  const written: string[] = [];
  const disconnects: Array<() => void> = [];
  const onDrain = vi.fn();
  const basic = new BasicPortSession({
    write: (bytes, callback) => {
      written.push(bytes.toString());
      callback();
    },
    disconnect: () =>
      new Promise<void>((resolve) => {
        disconnects.push(resolve);
      }),
    onDrain,
  });
  return { basic, written, disconnects, onDrain };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BasicPortSession (basicportforwarding.go against port_basic.go)', () => {
  it('carries one connection at a time; the next starts once DisconnectToPort is acknowledged', async () => {
    // Prepare
    const { basic, written, disconnects } = session();
    const first = basic.openStream();
    const second = basic.openStream();

    // Act
    first.write('a');
    second.write('b');
    await tick();

    // Assess
    expect(written).toEqual(['a']);
    expect(basic.streamCount).toBe(2);
    first.destroy();
    await tick();
    expect(disconnects).toHaveLength(1);
    expect(written).toEqual(['a']);
    disconnects[0]?.();
    await tick();
    expect(written).toEqual(['a', 'b']);
    expect(basic.streamCount).toBe(1);
  });

  it('holds Output before the first connection, and drops what arrives for a closed connection', async () => {
    // Prepare
    const { basic, disconnects, onDrain } = session();

    // Act + Assess: nothing attached yet: not acknowledged (the agent resends it), and the held
    // message is offered again as soon as the first connection exists.
    expect(basic.receive(Buffer.from('banner'))).toBe(false);
    const first = basic.openStream();
    expect(onDrain).toHaveBeenCalledOnce();
    const got: string[] = [];
    first.on('data', (chunk: Buffer) => got.push(chunk.toString()));
    expect(basic.receive(Buffer.from('banner'))).toBe(true);
    await tick();
    expect(got).toEqual(['banner']);
    first.destroy();
    // Late bytes of the first connection: acknowledged and dropped.
    expect(basic.receive(Buffer.from('late'))).toBe(true);
    const second = basic.openStream();
    const secondGot: string[] = [];
    second.on('data', (chunk: Buffer) => secondGot.push(chunk.toString()));
    disconnects[0]?.();
    await tick();
    // Attached but silent: the agent has not dialled for it yet, so this is still the old one's.
    expect(basic.receive(Buffer.from('later'))).toBe(true);
    second.write('request');
    await tick();
    expect(basic.receive(Buffer.from('answer'))).toBe(true);
    await tick();
    expect(secondGot).toEqual(['answer']);
  });

  it('ends a connection whose write side ends (no half-close), with DisconnectToPort', async () => {
    const { basic, disconnects } = session();
    const first = basic.openStream();
    first.resume();
    const closed = new Promise((resolve) => first.once('close', resolve));

    first.end('bye');
    await closed;

    expect(disconnects).toHaveLength(1);
    expect(basic.streamCount).toBe(0);
  });

  it('gives up an idle kept-alive connection as soon as another one waits', async () => {
    const { basic } = session();
    const pooled = basic.openStream();
    // http.Agent keepSocketAlive calls unref() when it pools the socket, reuseSocket ref().
    pooled.unref().ref().unref();

    basic.openStream();
    await tick();

    expect(pooled.destroyed).toBe(true);
  });

  it('stops taking Output while the connection holds BASIC_MAX_RECEIVE_BUFFER unread bytes', async () => {
    const { basic, onDrain } = session();
    const first = basic.openStream();
    first.pause();

    expect(basic.receive(Buffer.alloc(BASIC_MAX_RECEIVE_BUFFER))).toBe(true);
    expect(basic.receive(Buffer.from('more'))).toBe(false);
    first.read();
    await tick();

    expect(onDrain).toHaveBeenCalled();
    expect(basic.receive(Buffer.from('more'))).toBe(true);
  });

  it('close() destroys the connection and those waiting, and later ones fail', async () => {
    const { basic } = session();
    const first = basic.openStream();
    const waiting = basic.openStream();
    const errors: unknown[] = [];
    for (const stream of [first, waiting]) stream.on('error', (error) => errors.push(error));

    basic.close(new TunnelClosedError('gone'));
    const later = basic.openStream();
    const laterError = await new Promise((resolve) => later.once('error', resolve));

    expect(first.destroyed && waiting.destroyed).toBe(true);
    await tick();
    expect(errors).toHaveLength(2);
    expect(laterError).toBeInstanceOf(TunnelClosedError);
  });
});
