import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { listen } from '../listen.js';
import type { LinkModel } from './model.js';

/**
 * A userspace TCP proxy that adds network delay (this kernel has no netem qdisc): every chunk
 * read from one side reaches the other side a one-way delay later, in order, in both directions.
 * A new connection first pays its handshakes (round trips and a set-up time) before any byte
 * moves; a request/response server's answer time can be added at each turnaround; an optional
 * rate serialises each direction. Half-closes (FIN) travel with the same delay, after the data.
 *
 * Delays are kept to a fraction of a millisecond: a wait of more than 2 ms sleeps in a timer until
 * about 1 ms before it is due, the rest is polled with setImmediate (setTimeout alone rounds every
 * wait up to at least 1 ms). Delivery is never early.
 */

/** The delays of one proxied path. */
export interface LinkDelay {
  /** Added to every chunk in each direction (ms). */
  oneWayMs: number;
  /** Round trips a new connection pays before its first byte moves (TCP, TLS). Default 0. */
  handshakeRoundTrips?: number;
  /** Time a new connection pays once beside the round trips (DNS, TLS computation), ms. Default 0. */
  setupMs?: number;
  /** Added to the first server-to-client chunk after client bytes: the server's answer time (ms). Default 0. */
  responseDelayMs?: number;
  /** Rate of each direction in bytes per second (each chunk takes size / rate to send). Default: unlimited. */
  bytesPerSecond?: number;
}

export interface DelayProxyOptions extends LinkDelay {
  /** Where connections go. */
  target: { host: string; port: number };
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
}

/** Counters of a proxy. */
export interface DelayProxyStats {
  /** Connections accepted since the start. */
  connections: number;
  /** Bytes delivered to the target and back to clients. */
  bytesUp: number;
  bytesDown: number;
}

/** What a proxy holds in flight. */
export interface DelayProxyPending {
  /** Chunks (and FINs) not yet delivered. */
  items: number;
  bytes: number;
  /** Timers and immediates armed to deliver them. */
  timers: number;
}

export interface DelayProxy {
  readonly host: string;
  readonly port: number;
  /** host:port, for URLs. */
  readonly authority: string;
  /** Connections open now. */
  connectionCount(): number;
  stats(): DelayProxyStats;
  /** What is in flight now: chunks and bytes not yet delivered, and the timers waiting to deliver them. */
  pending(): DelayProxyPending;
  /** Stops listening, drops every connection and every pending delivery; resolves once the listener is closed. */
  close(): Promise<void>;
}

/** The proxy delays of a model link: half the round trip each way, its handshakes, set-up and answer time. */
export function linkDelay(link: LinkModel): LinkDelay {
  return {
    oneWayMs: link.rttMs / 2,
    handshakeRoundTrips: link.handshakeRoundTrips,
    setupMs: link.setupMs,
    responseDelayMs: link.responseDelayMs,
  };
}

/** Bytes queued in one direction above which the sending side is paused (and resumed below half). */
const HIGH_WATER_BYTES = 1024 * 1024;

/** Starts a delaying proxy in front of `options.target`. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const host = options.host ?? '127.0.0.1';
  const link = normalise(options);
  const connections = new Set<ProxiedConnection>();
  const counters: DelayProxyStats = { connections: 0, bytesUp: 0, bytesDown: 0 };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    counters.connections++;
    const connection = new ProxiedConnection(client, options.target, link, counters, () =>
      connections.delete(connection),
    );
    connections.add(connection);
  });
  const port = await listen(server, options.port ?? 0, host);
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    authority: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    connectionCount: () => connections.size,
    stats: () => ({ ...counters }),
    pending() {
      const total: DelayProxyPending = { items: 0, bytes: 0, timers: 0 };
      for (const connection of connections) connection.addPending(total);
      return total;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const connection of [...connections]) connection.destroy();
      });
      return closing;
    },
  };
}

interface Link {
  oneWayMs: number;
  readyAfterMs: number;
  responseDelayMs: number;
  msPerByte: number;
}

function normalise(delay: LinkDelay): Link {
  const nonNegative = (value: number | undefined, what: string): number => {
    const n = value ?? 0;
    if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be a finite number ≥ 0, not ${value}`);
    return n;
  };
  const oneWayMs = nonNegative(delay.oneWayMs, 'oneWayMs');
  const rate = delay.bytesPerSecond;
  if (rate !== undefined && (!Number.isFinite(rate) || rate <= 0)) {
    throw new Error(`bytesPerSecond must be a positive number, not ${rate}`);
  }
  return {
    oneWayMs,
    readyAfterMs:
      nonNegative(delay.handshakeRoundTrips, 'handshakeRoundTrips') * 2 * oneWayMs +
      nonNegative(delay.setupMs, 'setupMs'),
    responseDelayMs: nonNegative(delay.responseDelayMs, 'responseDelayMs'),
    msPerByte: rate === undefined ? 0 : 1000 / rate,
  };
}

/** One accepted connection and its connection to the target, with a delay line each way. */
class ProxiedConnection {
  private readonly up: DelayLine;
  private readonly down: DelayLine;
  private readonly upstream: net.Socket;
  private open = 2;
  private destroyed = false;

  constructor(
    private readonly client: net.Socket,
    target: { host: string; port: number },
    link: Link,
    counters: DelayProxyStats,
    private readonly onGone: () => void,
  ) {
    const readyAt = performance.now() + link.readyAfterMs;
    this.upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    this.up = new DelayLine(client, this.upstream, link, readyAt, (bytes) => {
      counters.bytesUp += bytes;
    });
    this.down = new DelayLine(this.upstream, client, link, readyAt, (bytes) => {
      counters.bytesDown += bytes;
    });
    // Request bytes going up make the next answer chunk pay the server's answer time.
    this.up.onQueued = () => this.down.expectAnswer();
    for (const socket of [client, this.upstream]) {
      socket.on('error', () => {});
      socket.once('close', () => {
        this.open--;
        if (this.open === 0) this.finish();
      });
    }
  }

  /** Adds what both directions hold in flight to `total`. */
  addPending(total: DelayProxyPending): void {
    this.up.addPending(total);
    this.down.addPending(total);
  }

  /** Drops both sockets and everything still in flight. */
  destroy(): void {
    if (this.destroyed) return;
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.up.clear();
    this.down.clear();
    this.client.destroy();
    this.upstream.destroy();
    this.onGone();
  }
}

type Item = { at: number; chunk: Buffer } | { at: number; end: 'end' | 'destroy' };

/**
 * One direction: chunks read from `source` are written to `destination` at their due time, in
 * order. The source's end (FIN) or abrupt close travels the same way, after the data.
 */
class DelayLine {
  /** Called whenever bytes are queued (the connection uses it to mark a request). */
  onQueued: (() => void) | undefined;
  private readonly items: Item[] = [];
  private head = 0;
  private queuedBytes = 0;
  private lastAt = 0;
  private sendFreeAt = 0;
  private answerPending = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private blocked = false;
  private paused = false;
  private ended = false;
  private cleared = false;

  constructor(
    private readonly source: net.Socket,
    private readonly destination: net.Socket,
    private readonly link: Link,
    private readonly readyAt: number,
    private readonly delivered: (bytes: number) => void,
  ) {
    source.on('data', (chunk: Buffer) => this.push(chunk));
    source.on('end', () => {
      this.ended = true;
      this.enqueue({ at: this.dueAt(0), end: 'end' });
    });
    source.once('close', () => {
      if (!this.ended) this.enqueue({ at: this.dueAt(0), end: 'destroy' });
    });
    destination.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
  }

  /** The next chunk of this direction is an answer: it pays the server's answer time. */
  expectAnswer(): void {
    this.answerPending = true;
  }

  /** Adds what this direction holds in flight to `total`. */
  addPending(total: DelayProxyPending): void {
    total.items += this.items.length - this.head;
    total.bytes += this.queuedBytes;
    total.timers += (this.timer === undefined ? 0 : 1) + (this.immediate === undefined ? 0 : 1);
  }

  /** Forgets everything pending and stops every timer. */
  clear(): void {
    this.cleared = true;
    this.items.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private push(chunk: Buffer): void {
    let at = this.dueAt(chunk.length);
    if (this.answerPending) {
      this.answerPending = false;
      at += this.link.responseDelayMs;
      this.lastAt = Math.max(this.lastAt, at);
    }
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > HIGH_WATER_BYTES && !this.paused) {
      this.paused = true;
      this.source.pause();
    }
    this.enqueue({ at, chunk });
    this.onQueued?.();
  }

  /** When a chunk of `size` bytes read now is due on the other side (never before the previous one). */
  private dueAt(size: number): number {
    const now = performance.now();
    const start = Math.max(now, this.readyAt, this.sendFreeAt);
    this.sendFreeAt = start + size * this.link.msPerByte;
    const at = Math.max(this.sendFreeAt + this.link.oneWayMs, this.lastAt);
    this.lastAt = at;
    return at;
  }

  private enqueue(item: Item): void {
    if (this.cleared) return;
    this.items.push(item);
    this.pump();
  }

  private pump(): void {
    if (this.cleared) return;
    const now = performance.now();
    while (this.head < this.items.length && !this.blocked) {
      const item = this.items[this.head] as Item;
      if (item.at > now) break;
      this.head++;
      this.deliver(item);
      if (this.cleared) return;
    }
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.schedule();
  }

  private deliver(item: Item): void {
    const destination = this.destination;
    if ('chunk' in item) {
      this.queuedBytes -= item.chunk.length;
      if (this.paused && this.queuedBytes < HIGH_WATER_BYTES / 2) {
        this.paused = false;
        this.source.resume();
      }
      if (destination.destroyed) return;
      this.delivered(item.chunk.length);
      if (!destination.write(item.chunk)) this.blocked = true;
    } else if (item.end === 'end') {
      if (!destination.destroyed) destination.end();
    } else {
      destination.destroy();
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.immediate !== undefined || this.blocked) return;
    const next = this.items[this.head];
    if (next === undefined) return;
    const wait = next.at - performance.now();
    const wake = (): void => {
      this.timer = undefined;
      this.immediate = undefined;
      this.pump();
    };
    if (wait > 2) this.timer = setTimeout(wake, wait - 1);
    else this.immediate = setImmediate(wake);
  }
}
