import type { Server } from 'node:net';

/**
 * Starts `server` listening on `host`:`port` (0: any free port) and resolves with the port it got.
 * @throws the server's error (EADDRINUSE, EACCES…) when it cannot listen
 */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}
