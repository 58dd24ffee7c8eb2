import { Duplex, type DuplexOptions } from 'node:stream';

/**
 * A tunnel connection as a Duplex with the few net.Socket members node:http, the http.Agent and
 * tls use, so that an Agent can hand it out as a socket (smux streams and basic connections).
 */
export abstract class TunnelSocket extends Duplex {
  bytesReceived = 0;
  bytesSent = 0;
  readonly connecting = false;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 0;
  readonly remoteFamily = 'IPv4';
  readonly localAddress = '127.0.0.1';
  readonly localPort = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(options?: DuplexOptions) {
    super(options);
  }

  /** Restarts the idle timer of setTimeout (call on every byte in or out). */
  protected touch(): void {
    this.idleTimer?.refresh();
  }

  protected clearIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  setTimeout(timeoutMs: number, callback?: () => void): this {
    this.clearIdleTimer();
    if (callback !== undefined) {
      if (timeoutMs === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    if (timeoutMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), timeoutMs);
      this.idleTimer.unref();
    }
    return this;
  }

  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /** http.Agent reuseSocket calls ref() when it takes a kept-alive socket out of its pool. */
  ref(): this {
    return this;
  }

  /** http.Agent keepSocketAlive calls unref() when it puts a socket into its pool. */
  unref(): this {
    return this;
  }

  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }
}
