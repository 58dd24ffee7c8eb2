/**
 * SIMULATOR — one HTTP server for many simulated endpoints, each on its own loopback port: the
 * SSM agent forwards a session to `localhost:<portNumber>`, so every simulated engine and every
 * simulated Prometheus needs a port of its own, but not a server of its own. Each port is a bare
 * net.Server that hands its connections to one shared http.Server (which never listens itself);
 * a request finds its endpoint by the port it arrived on. Memory stays one listening socket per
 * endpoint; the file descriptors are one per port plus one per open connection.
 */
import http from 'node:http';
import net from 'node:net';
import { listen } from '../listen.js';

/** What serves the requests that arrive on one port. */
export type PortHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Endpoint {
  port: number;
  handler: PortHandler;
  listener: net.Server | undefined;
  sockets: Set<net.Socket>;
}

/** Many ports on one host, one http.Server behind them. */
export class PortRouter {
  private readonly server: http.Server;
  private readonly endpoints = new Map<number, Endpoint>();

  constructor(private readonly host = '127.0.0.1') {
    this.server = http.createServer((req, res) => {
      const endpoint = this.endpoints.get(req.socket.localPort ?? -1);
      if (endpoint) {
        endpoint.handler(req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"message":"page not found"}');
    });
    // The tunnel's http.Agent keeps connections alive; idle ones close after this.
    this.server.keepAliveTimeout = 30_000;
  }

  /** Ports open now. */
  get size(): number {
    return this.endpoints.size;
  }

  /** Open connections on every port. */
  connectionCount(): number {
    let n = 0;
    for (const e of this.endpoints.values()) n += e.sockets.size;
    return n;
  }

  /**
   * Listens on `port` (0: any free port) and serves it with `handler`.
   * @returns the port
   */
  async open(port: number, handler: PortHandler): Promise<number> {
    const endpoint: Endpoint = { port, handler, listener: undefined, sockets: new Set() };
    endpoint.port = await this.listenOn(endpoint, port);
    this.endpoints.set(endpoint.port, endpoint);
    return endpoint.port;
  }

  private async listenOn(endpoint: Endpoint, port: number): Promise<number> {
    const listener = net.createServer((socket) => {
      endpoint.sockets.add(socket);
      socket.on('close', () => endpoint.sockets.delete(socket));
      this.server.emit('connection', socket);
    });
    const actual = await listen(listener, port, this.host);
    endpoint.listener = listener;
    return actual;
  }

  /** Stops listening on `port` and drops its connections (the endpoint refuses connections). */
  async suspend(port: number): Promise<void> {
    const endpoint = this.endpoints.get(port);
    const listener = endpoint?.listener;
    if (!endpoint || !listener) return;
    endpoint.listener = undefined;
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const socket of endpoint.sockets) socket.destroy();
    await closed;
  }

  /** Listens on a suspended port again. */
  async resume(port: number): Promise<void> {
    const endpoint = this.endpoints.get(port);
    if (!endpoint || endpoint.listener) return;
    await this.listenOn(endpoint, port);
  }

  /** Closes `port` for good. */
  async close(port: number): Promise<void> {
    await this.suspend(port);
    this.endpoints.delete(port);
  }

  /** Closes every port and connection. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.endpoints.keys()].map((port) => this.close(port)));
  }
}
