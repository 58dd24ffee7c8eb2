import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string | undefined;
  url: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

export interface Loopback {
  server: http.Server;
  url: string;
  port: number;
  received: Received[];
  close(): Promise<void>;
}

/** A Prometheus stand-in on 127.0.0.1, answering with `handler`. */
export async function startLoopback(
  handler: (request: http.IncomingMessage, response: http.ServerResponse) => void,
): Promise<Loopback> {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://loopback');
    received.push({
      method: request.method,
      url: request.url ?? '',
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
    });
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers with a JSON body. */
export function json(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

export function success(data: unknown): unknown {
  return { status: 'success', data };
}
