import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SSMClient } from '@aws-sdk/client-ssm';

/** Loopback servers and helpers for the tunnel tests (no network beyond 127.0.0.1). */

export interface CountingServer<T extends net.Server> {
  server: T;
  port: number;
  /** Connections open right now. */
  connections(): number;
  /** The most connections open at once. */
  peak(): number;
  close(): Promise<void>;
}

export async function listen<T extends net.Server>(server: T): Promise<CountingServer<T>> {
  const sockets = new Set<net.Socket>();
  let peak = 0;
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    peak = Math.max(peak, sockets.size);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    connections: () => sockets.size,
    peak: () => peak,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A fake Engine API: /_ping, /version, /echo/<x>, and /hang (never answers). */
export function engineServer(): http.Server {
  return http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/_ping') {
      res.writeHead(200, { 'content-type': 'text/plain', 'api-version': '1.41' });
      res.end('OK');
    } else if (url.endsWith('/version')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ApiVersion: '1.41', Version: '20.10.24', Os: 'linux' }));
    } else if (url.startsWith('/echo/')) {
      // A little delay keeps the requests overlapping.
      setTimeout(() => res.end(`echo ${url.slice(6)}`), 20);
    } else if (url === '/hang') {
      // Never answers: the request stays in flight.
    } else {
      res.writeHead(404);
      res.end();
    }
  });
}

/**
 * A byte server: reads exactly `size` bytes, answers with their SHA-256 (64 hex characters),
 * then sends `blob` and closes.
 */
export function hashServer(size: number, blob: Buffer): net.Server {
  return net.createServer((socket) => {
    const hash = createHash('sha256');
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      if (received === size) {
        socket.write(hash.digest('hex'));
        socket.end(blob);
      }
    });
    socket.on('error', () => {});
  });
}

/**
 * Writes `data` into the stream and reads until its end: the first 64 bytes as text (the hash
 * server's answer), then the SHA-256 and length of the rest, hashed as it arrives.
 */
export async function exchange(
  stream: Duplex,
  data: Buffer,
): Promise<{ head: string; restSha256: string; restLength: number }> {
  const rest = createHash('sha256');
  let head = '';
  let restLength = 0;
  stream.on('data', (chunk: Buffer) => {
    let body = chunk;
    if (head.length < 64) {
      const take = Math.min(64 - head.length, body.length);
      head += body.subarray(0, take).toString('latin1');
      body = body.subarray(take);
    }
    rest.update(body);
    restLength += body.length;
  });
  const ended = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  stream.write(data);
  await ended;
  return { head, restSha256: rest.digest('hex'), restLength };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function ssmClient(endpoint: string): SSMClient {
  return new SSMClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIATUNNELTEST', secretAccessKey: 'not-checked' },
    maxAttempts: 1,
  });
}

/** GET through an agent; resolves with status and body, rejects with the request's error. */
export function get(
  agent: http.Agent,
  path: string,
  options: { secure?: boolean; port?: number } = {},
): Promise<{ status: number; body: string }> {
  const request = options.secure ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: options.port ?? 2375, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Rejects with the error and how long it took, or fails if the promise resolves. */
export async function timedRejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}
