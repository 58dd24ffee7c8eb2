import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { openTunnel } from '../../../functions/lib/ssm/index.js';
import { type LatencyProfile, PROFILES } from '../../../local/latency/model.js';
import { type DelayProxy, type LinkDelay, startDelayProxy } from '../../../local/latency/proxy.js';
import { type ModelledSsm, startModelledSsm } from '../../../local/latency/ssm.js';

/**
 * The delaying proxy of the latency model (local/latency/proxy.ts): it adds at least the
 * configured delays (lower bounds only: the machine is shared, so no upper bound is asserted),
 * keeps bytes in order and intact, carries half-closes, and leaves no socket or timer behind; and
 * a Session Manager tunnel works end to end through the modelled paths (local/latency/ssm.ts).
 */

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A TCP server answering every byte back; `ends` counts the FINs it received, `received` the bytes. */
async function echoServer(): Promise<{
  port: number;
  ends: () => number;
  received: () => number;
  close: () => Promise<void>;
}> {
  let ends = 0;
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.on('end', () => {
      ends++;
      socket.end();
    });
    socket.pipe(socket, { end: false });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  cleanups.push(close);
  return { port, ends: () => ends, received: () => received, close };
}

async function proxyTo(port: number, delay: LinkDelay): Promise<DelayProxy> {
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port }, ...delay });
  cleanups.push(() => proxy.close());
  return proxy;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // Not half-open: a FIN from the proxy closes the client's socket too.
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
    cleanups.push(async () => {
      socket.destroy();
    });
  });
}

/** Resolves once `socket` has received `bytes` bytes, with them. */
function receive(socket: net.Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= bytes) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Milliseconds `fn` takes. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

describe('delay proxy', () => {
  it('delays each direction by the one-way delay, and a new connection by its handshakes and set-up', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, { oneWayMs: 20, handshakeRoundTrips: 2, setupMs: 15 });
    // First byte, from the connect: 2 round trips (80 ms) and 15 ms of set-up before it moves,
    // then 20 ms there and 20 back.
    const started = performance.now();
    const socket = await connect(proxy.port);
    socket.write('a');
    await receive(socket, 1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 40 + 15 + 40);
    // Later bytes on the same connection: one round trip.
    for (let i = 0; i < 3; i++) {
      const rtt = await timed(async () => {
        socket.write('b');
        await receive(socket, 1);
      });
      expect(rtt).toBeGreaterThanOrEqual(40);
    }
  });

  it("adds the server's answer time once per turnaround", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, { oneWayMs: 5, responseDelayMs: 30 });
    const socket = await connect(proxy.port);
    const rtt = await timed(async () => {
      socket.write('request');
      await receive(socket, 7);
    });
    expect(rtt).toBeGreaterThanOrEqual(5 + 30 + 5);
  });

  it('serialises each direction at the configured rate', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, { oneWayMs: 0, bytesPerSecond: 1024 * 1024 });
    const socket = await connect(proxy.port);
    const payload = randomBytes(256 * 1024);
    // 256 KiB at 1 MiB/s: 250 ms up; the way back overlaps with it.
    const elapsed = await timed(async () => {
      socket.write(payload);
      await receive(socket, payload.length);
    });
    expect(elapsed).toBeGreaterThanOrEqual(250);
  });

  it('keeps 16 MiB in order and intact both ways, and carries the half-close after the data', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, { oneWayMs: 2, handshakeRoundTrips: 1 });
    const socket = await connect(proxy.port);
    const payload = randomBytes(16 * 1024 * 1024);
    const back = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('end', () => resolve(Buffer.concat(chunks)));
      socket.once('error', reject);
    });
    // Written in uneven pieces, so that chunk boundaries differ at every hop.
    for (let offset = 0, n = 1; offset < payload.length; n = (n * 7919) % 65_521) {
      const size = Math.min(1 + (n % 50_000), payload.length - offset);
      if (!socket.write(payload.subarray(offset, offset + size))) {
        await new Promise((resolve) => socket.once('drain', resolve));
      }
      offset += size;
    }
    socket.end();
    const received = await back;
    expect(received.length).toBe(payload.length);
    expect(createHash('sha256').update(received).digest('hex')).toBe(
      createHash('sha256').update(payload).digest('hex'),
    );
    expect(echo.ends()).toBe(1);
    expect(proxy.stats().bytesUp).toBe(payload.length);
    expect(proxy.stats().bytesDown).toBe(payload.length);
  }, 60_000);

  it('delivers a FIN no earlier than the one-way delay, and forgets closed connections', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, { oneWayMs: 25 });
    const socket = await connect(proxy.port);
    const ended = await timed(async () => {
      const end = new Promise((resolve) => socket.once('end', resolve));
      socket.end();
      await end;
    });
    // Our FIN reaches the server 25 ms later, its FIN comes back 25 ms after that.
    expect(ended).toBeGreaterThanOrEqual(50);
    expect(echo.ends()).toBe(1);
    await new Promise((resolve) => socket.once('close', resolve));
    await waitFor(() => proxy.connectionCount() === 0);
  });

  it('passes a refused connection on as a closed one, after the delay', async () => {
    const echo = await echoServer();
    await echo.close();
    const proxy = await proxyTo(echo.port, { oneWayMs: 10 });
    const socket = await connect(proxy.port);
    const closed = await timed(() => new Promise((resolve) => socket.once('close', resolve)));
    expect(closed).toBeGreaterThanOrEqual(10);
    await waitFor(() => proxy.connectionCount() === 0);
  });

  it('closes cleanly: connections in flight are dropped, their timers cleared, and the port closed', async () => {
    const echo = await echoServer();
    // Deliveries due in a minute: a timer the close forgot would still be counted as pending.
    const proxy = await startDelayProxy({
      target: { host: '127.0.0.1', port: echo.port },
      oneWayMs: 60_000,
    });
    const sockets = await Promise.all([connect(proxy.port), connect(proxy.port), connect(proxy.port)]);
    for (const socket of sockets) socket.write(randomBytes(64 * 1024));
    // Every connection holds its bytes behind an armed timer; nothing has reached the server.
    await waitFor(() => proxy.pending().bytes === 3 * 64 * 1024);
    expect(proxy.pending().timers).toBe(3);
    expect(echo.received()).toBe(0);
    const closed = sockets.map((socket) => new Promise((resolve) => socket.once('close', resolve)));
    await proxy.close();
    await Promise.all(closed);
    expect(proxy.connectionCount()).toBe(0);
    expect(proxy.pending()).toEqual({ items: 0, bytes: 0, timers: 0 });
    // The listening socket is gone: a new connection is refused. (Process-wide handle counts are
    // not compared: other tests' sockets and timers close on their own schedule.)
    const refused = await new Promise<string>((resolve) => {
      const s = net.createConnection({ host: '127.0.0.1', port: proxy.port });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    await echo.close();
    // Closing again is harmless.
    await proxy.close();
  });
});

describe('a tunnel through the modelled paths', () => {
  const TARGET = 'mi-0a1b2c3d4e5f60a01';
  let model: ModelledSsm | undefined;

  afterEach(async () => {
    await model?.stop();
    model = undefined;
  });

  /** A small delay on every path, each new connection paying a handshake. */
  const small = (base: LatencyProfile): LatencyProfile => {
    const link = {
      rttMs: 10,
      handshakeRoundTrips: 1,
      setupMs: 2,
      responseDelayMs: 3,
      sources: [],
      assumptions: [],
    };
    return {
      ...base,
      lambdaToApi: link,
      lambdaToMessages: { ...link, responseDelayMs: 0 },
      agentToMessages: { ...link, responseDelayMs: 0 },
    };
  };

  it.each([
    { session: 'mux', agentVersion: undefined, delayed: true },
    { session: 'basic', agentVersion: '3.0.100.0', delayed: true },
    { session: 'mux, loopback (agent defaults)', agentVersion: undefined, delayed: false },
  ])(
    'opens, serves one request through the agent and closes: $session',
    async ({ agentVersion, delayed }) => {
      const body = randomBytes(20 * 1024).toString('hex'); // 40 KiB
      const server = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
      const port = (server.address() as net.AddressInfo).port;

      model = await startModelledSsm({
        profile: delayed ? small(PROFILES['aws-ec2']) : PROFILES.loopback,
        standIn: { knownTargets: [TARGET] },
      });
      await model.startAgent(TARGET, agentVersion === undefined ? {} : { agentVersion });
      const client = model.client();
      const opened = performance.now();
      const tunnel = await openTunnel({ ssm: client.ssm, target: TARGET, portNumber: port });
      expect(tunnel.info.portSession).toBe(agentVersion === undefined ? 'mux' : 'basic');
      // StartSession over (a), the websocket over (b), the agent's channels over (c): at least a few
      // one-way delays of 5 ms each, and a new connection's handshake on every path.
      if (delayed) expect(performance.now() - opened).toBeGreaterThanOrEqual(20);
      const answer = await new Promise<{ status: number; text: string; ms: number }>((resolve, reject) => {
        const started = performance.now();
        http
          .get({ host: '127.0.0.1', port, path: '/', agent: tunnel.agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - started }),
            );
          })
          .on('error', reject);
      });
      expect(answer.status).toBe(200);
      expect(answer.text).toBe(body);
      // Two paths each way (5 + 5 ms), and the agent sends 40 KiB as 1 KiB messages 1 ms apart.
      if (delayed) expect(answer.ms).toBeGreaterThanOrEqual(20 + 39);
      await tunnel.close();
      expect(client.count('StartSession')).toBe(1);
      expect(client.count('TerminateSession')).toBe(1);
      // Each path carried its own traffic.
      expect(model.proxies.api.stats().connections).toBeGreaterThanOrEqual(1);
      expect(model.proxies.messages.stats().connections).toBe(1);
      expect(model.proxies.agent.stats().connections).toBeGreaterThanOrEqual(3);
    },
  );
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
