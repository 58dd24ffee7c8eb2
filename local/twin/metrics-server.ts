/**
 * The twin's metrics endpoint: GET /metrics answers the deployer's own metrics (the EMF records its
 * functions wrote, aggregated by local/twin/emf.ts) in the Prometheus text format, for the fleet's
 * Prometheus to scrape, as CloudWatch extracts them from the functions' logs on AWS.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { listen } from '../listen.js';
import { EmfAggregator } from './emf.js';

export const METRICS_PATH = '/metrics';
/** The Prometheus text format's content type. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsServerOptions {
  /** 0 (default): any free port. */
  port?: number;
  /** Default 127.0.0.1; the address the clusters' Prometheus reach the host at, for the fleet. */
  host?: string;
  /** The records to serve (default: a new, empty aggregator). */
  aggregator?: EmfAggregator;
}

export interface MetricsServer {
  /** http://host:port/metrics */
  readonly url: string;
  readonly port: number;
  /** Hand it every line a function writes: `aggregator.ingestLine(line)`. */
  readonly aggregator: EmfAggregator;
  close(): Promise<void>;
}

/**
 * Serves `aggregator` at GET /metrics on host:port.
 * @throws the server's error (EADDRINUSE, EADDRNOTAVAIL…) when it cannot listen
 */
export async function startMetricsServer(options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const aggregator = options.aggregator ?? new EmfAggregator();
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (path !== METRICS_PATH) {
      res
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`no ${path}: use ${METRICS_PATH}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
      return;
    }
    const body = aggregator.exposition();
    res.writeHead(200, {
      'content-type': EXPOSITION_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server, options.port ?? 0, host);
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}${METRICS_PATH}`,
    port,
    aggregator,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
