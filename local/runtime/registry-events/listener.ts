import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../../listen.js';
import { type EcrImageActionEvent, toEcrImageActionEvents } from './translate.js';

export interface RegistryEventListenerOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  path?: string;
  /** Gets each ECR-shaped event, in envelope order, after the registry has had its answer. */
  onEvent: (event: EcrImageActionEvent) => unknown;
  region?: string;
  accountId?: string;
  /** When the registry's endpoint config sets an Authorization header, the value to require. */
  authorization?: string;
  /** An onEvent failure or a rejected request; the registry is not told (it would only re-send). */
  onError?: (error: unknown) => void;
}

export interface RegistryEventListener {
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

/**
 * The endpoint the distribution registry posts its notification envelopes to. It answers 200 as
 * soon as an envelope is read and parsed (the registry re-sends, and holds back every later event,
 * until an endpoint answers 2xx), then hands each translated ECR "ECR Image Action" event to
 * `onEvent`. 400 for a body that is not JSON, 404/405 for another path or method, 413 above 1 MiB.
 */
export async function startRegistryEventListener(
  options: RegistryEventListenerOptions,
): Promise<RegistryEventListener> {
  const path = options.path ?? '/registry-events';
  const report = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // the reporter's own failure has nowhere to go
    }
  };
  let queue = Promise.resolve();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://registry-events');
    if (url.pathname !== path) return answer(res, 404, 'not found');
    if (req.method !== 'POST') return answer(res, 405, 'method not allowed', { allow: 'POST' });
    if (options.authorization !== undefined && req.headers.authorization !== options.authorization) {
      return answer(res, 401, 'unauthorized');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) return answer(res, 413, 'envelope too large', { connection: 'close' });
      chunks.push(chunk);
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      report(err);
      return answer(res, 400, 'not a JSON envelope');
    }
    answer(res, 200, '');
    const events = toEcrImageActionEvents(envelope, { region: options.region, accountId: options.accountId });
    queue = queue.then(async () => {
      for (const event of events) {
        try {
          await options.onEvent(event);
        } catch (err) {
          report(err);
        }
      }
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      report(err);
      if (!res.headersSent) answer(res, 500, 'internal error');
    });
  });
  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}${path}`,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await queue;
    },
  };
}

function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
