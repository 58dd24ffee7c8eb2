import { isMainThread } from 'node:worker_threads';
import type { SsmLogger } from './datachannel.js';
import { TunnelClosedError, TunnelConnectError } from './errors.js';
import { type OpenTunnelOptions, openTunnel, PORT_FORWARDING_DOCUMENT, type Tunnel } from './tunnel.js';

/**
 * Session Manager tunnels kept open across the invocations of one warm Lambda container: one
 * tunnel per (SSM client, region, target, document, port and parameters), reused while it is alive,
 * instead of a StartSession, a websocket, the agent's handshake and a TerminateSession per use.
 *
 * - Before a tunnel idle in the pool is reused it must be open (`isOpen`) and prove that the agent
 *   is there: a connection is opened and closed through it, and the agent's acknowledgement of that
 *   data-channel message must arrive within `probeTimeoutMs`. A websocket lost meanwhile is resumed
 *   by the tunnel itself (ResumeSession, the same session); the probe waits for that. A tunnel
 *   whose session is gone (closed, channel_closed, resume failed, no acknowledgement) is closed and
 *   replaced by a new session, unseen by the caller.
 * - A tunnel unused for `idleMs` is terminated (default 5 minutes, under Session Manager's default
 *   idle session timeout of 20 minutes). Lambda freezes a container between invocations and no
 *   timer runs while it is frozen, so every acquire also compares the last use with `idleMs` and
 *   replaces a tunnel past it instead of trusting it.
 * - The caller's signal does not own the tunnel: the tunnel is opened without it. A caller aborted
 *   while it waits for the open (or for the probe) gets its error at once, and an open that nobody
 *   waits for any more is cancelled (its session terminated). A caller aborted while it holds a
 *   tunnel closes that tunnel: the invocation was cut mid-conversation and Lambda may freeze or
 *   end the container next, so its session is terminated now rather than left to the idle timeout.
 * - Concurrent acquires of one key share one open, then one tunnel (smux carries many streams; a
 *   basic session queues connections).
 */

/**
 * Default idle window: well under Session Manager's default idle session timeout of 20 minutes
 * (AWS Systems Manager User Guide, "Specify an idle session timeout value",
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/session-preferences-timeout.html).
 */
export const DEFAULT_IDLE_MS = 5 * 60_000;
/** Default bound on the liveness probe of a pooled tunnel (covers a ResumeSession after a lost websocket). */
export const DEFAULT_PROBE_TIMEOUT_MS = 3000;
/**
 * `Symbol.for` key of the function a bundle puts on globalThis to end its pooled sessions: the
 * local twin's execution environments (worker threads, which receive no signal) call it before
 * the twin discards them.
 */
export const SHUTDOWN_HOOK_KEY = 'swarm-deployer.shutdown';

/** What a pooled tunnel is opened with: openTunnel's options without a signal, and the client's region. */
export interface PooledTunnelOptions extends Omit<OpenTunnelOptions, 'signal'> {
  /** The region of `ssm` (part of the key: one tunnel per region, target, document and port). */
  region: string;
}

export interface TunnelPoolOptions {
  /** Terminate a tunnel unused for this long (default DEFAULT_IDLE_MS). */
  idleMs?: number;
  /** How long a pooled tunnel has to prove its agent is there before reuse (default DEFAULT_PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number;
  /** The clock of the idle window (tests move it); durations of opens use the real clock. */
  now?: () => number;
}

/** One use of a pooled tunnel, from acquire to release. */
export interface TunnelLease {
  readonly tunnel: Tunnel;
  /** This acquire got a session the pool opened for it (StartSession to handshake), not a reused one. */
  readonly opened: boolean;
  /** When `opened`: ms from StartSession to the open tunnel. */
  readonly openMs: number;
  /**
   * Gives the tunnel back to the pool; it stays open for the next use. If the lease's signal was
   * aborted while it was held, the tunnel has been closed and this waits for the close. Idempotent.
   */
  release(): Promise<void>;
}

/** Counters of a pool, for tests and benchmarks. */
export interface TunnelPoolStats {
  /** Sessions the pool opened (StartSession through the handshake). */
  opened: number;
  /** Acquires served without a StartSession of their own: a pooled tunnel, or an open already under way. */
  reused: number;
  /** Websocket losses of pooled tunnels recovered with ResumeSession (the same session). */
  resumed: number;
  /** Pooled sessions found gone (closed, terminated, or not answering the probe) and replaced. */
  reopened: number;
  /** Pooled sessions terminated after `idleMs` unused. */
  expired: number;
  /** Sessions closed (or opens cancelled) because the caller using them was aborted. */
  aborted: number;
  /** Tunnels in the pool now, open or opening. */
  size: number;
}

interface Entry {
  readonly key: string;
  readonly target: string;
  readonly portNumber: number;
  readonly logger: SsmLogger | undefined;
  readonly controller: AbortController;
  readonly opening: Promise<Tunnel>;
  tunnel: Tunnel | undefined;
  openMs: number;
  /** Whether a lease has reported this entry's open (the first lease after the open does). */
  openReported: boolean;
  /** Acquires waiting on this entry's open or probe. */
  waiting: number;
  leases: Set<object>;
  lastUsed: number;
  idleTimer: NodeJS.Timeout | undefined;
  probing: Promise<boolean> | undefined;
  seenReconnects: number;
  retired: boolean;
  closing: Promise<void> | undefined;
}

/** Settles an acquire's wait when its signal aborts first. */
const ABORTED = Symbol('aborted');

/**
 * A pool of Session Manager tunnels (see the module comment). The container's own pool is
 * `tunnelPool()`; separate instances serve tests and benchmarks.
 */
export class TunnelPool {
  private readonly entries = new Map<string, Entry>();
  private readonly closings = new Set<Promise<void>>();
  private readonly idleMs: number;
  private readonly probeTimeoutMs: number;
  private readonly now: () => number;
  private readonly counters = { opened: 0, reused: 0, resumed: 0, reopened: 0, expired: 0, aborted: 0 };

  constructor(options: TunnelPoolOptions = {}) {
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
  }

  stats(): TunnelPoolStats {
    return { ...this.counters, size: this.entries.size };
  }

  /**
   * A tunnel for `options`: the pooled one when it is alive and within its idle window, else a new
   * session. `signal` bounds the wait (an aborted caller gets TunnelConnectError at once) and, while
   * the lease is held, owns the tunnel's end: aborting it closes the tunnel (TerminateSession).
   * @throws the open's errors (SessionStartError, TunnelConnectError, …), TunnelConnectError when
   * aborted, TunnelClosedError when the pool is closed during the open
   */
  async acquire(options: PooledTunnelOptions, signal?: AbortSignal): Promise<TunnelLease> {
    if (signal?.aborted) throw abortedError(options.target, signal.reason);
    const key = keyOf(options);
    const logger = options.logger;
    for (;;) {
      const entry = this.entries.get(key);
      if (entry === undefined) return this.leaseWhenOpen(this.open(key, options), signal);
      const tunnel = entry.tunnel;
      if (tunnel === undefined) return this.leaseWhenOpen(entry, signal);
      if (!tunnel.isOpen) {
        this.replace(entry, 'the session is closed', logger);
        continue;
      }
      // In use right now (by this invocation's other calls): alive by that very use.
      if (entry.leases.size > 0) return this.lease(entry, signal);
      const idleFor = this.now() - entry.lastUsed;
      if (idleFor >= this.idleMs) {
        this.expire(entry, idleFor, logger);
        continue;
      }
      this.clearIdleTimer(entry);
      entry.waiting++;
      let alive: boolean | typeof ABORTED;
      try {
        alive = await untilAborted(this.probe(entry), signal);
      } finally {
        entry.waiting--;
      }
      if (alive === ABORTED) {
        if (!entry.retired && entry.leases.size === 0 && entry.waiting === 0) this.scheduleIdle(entry);
        throw abortedError(options.target, signal?.reason);
      }
      if (entry.retired || this.entries.get(key) !== entry) continue;
      if (!alive) {
        this.replace(entry, `the agent acknowledged nothing within ${this.probeTimeoutMs} ms`, logger);
        continue;
      }
      logger?.debug('ssm tunnel reused', {
        sessionId: tunnel.sessionId,
        target: entry.target,
        portNumber: entry.portNumber,
        idleMs: idleFor,
      });
      return this.lease(entry, signal);
    }
  }

  /** Settles once every close the pool has started so far (aborts, replacements, expiries) has ended. */
  async settled(): Promise<void> {
    while (this.closings.size > 0) await Promise.all([...this.closings]);
  }

  /** Terminates every tunnel of the pool (open, opening or in use) and waits for the closes. */
  async closeAll(): Promise<void> {
    const entries = [...this.entries.values()];
    for (const entry of entries) {
      entry.logger?.info('ssm tunnel terminated at shutdown', {
        sessionId: entry.tunnel?.sessionId ?? '',
        target: entry.target,
        portNumber: entry.portNumber,
      });
      void this.retire(entry);
    }
    await this.settled();
  }

  private open(key: string, options: PooledTunnelOptions): Entry {
    const { region: _region, ...rest } = options;
    const controller = new AbortController();
    const started = Date.now();
    const entry: Entry = {
      key,
      target: options.target,
      portNumber: options.portNumber,
      logger: options.logger,
      controller,
      // The pool's own signal: it cancels the open only (see retire); callers' signals never reach it.
      opening: openTunnel({ ...rest, signal: controller.signal }).then(
        (tunnel) => {
          entry.tunnel = tunnel;
          entry.openMs = Date.now() - started;
          entry.lastUsed = this.now();
          this.counters.opened++;
          return tunnel;
        },
        (error: unknown) => {
          if (this.entries.get(key) === entry) this.entries.delete(key);
          throw error;
        },
      ),
      tunnel: undefined,
      openMs: 0,
      openReported: false,
      waiting: 0,
      leases: new Set(),
      lastUsed: this.now(),
      idleTimer: undefined,
      probing: undefined,
      seenReconnects: 0,
      retired: false,
      closing: undefined,
    };
    // An open whose callers all gave up has no one awaiting it.
    entry.opening.catch(() => {});
    this.entries.set(key, entry);
    return entry;
  }

  /** Waits for the entry's open; a caller aborted meanwhile leaves at once, and the last one cancels it. */
  private async leaseWhenOpen(entry: Entry, signal: AbortSignal | undefined): Promise<TunnelLease> {
    entry.waiting++;
    let outcome: Tunnel | typeof ABORTED;
    try {
      outcome = await untilAborted(entry.opening, signal);
    } finally {
      entry.waiting--;
    }
    if (outcome === ABORTED) {
      if (entry.tunnel === undefined && entry.waiting === 0 && entry.leases.size === 0 && !entry.retired) {
        this.counters.aborted++;
        entry.logger?.info('ssm tunnel open cancelled: its caller was aborted', {
          target: entry.target,
          portNumber: entry.portNumber,
        });
        void this.retire(entry);
      } else if (
        entry.tunnel !== undefined &&
        !entry.retired &&
        entry.leases.size === 0 &&
        entry.waiting === 0
      ) {
        this.scheduleIdle(entry);
      }
      throw abortedError(entry.target, signal?.reason);
    }
    if (entry.retired) {
      throw new TunnelClosedError(`the tunnel to ${entry.target} was closed while it opened`);
    }
    return this.lease(entry, signal);
  }

  private lease(entry: Entry, signal: AbortSignal | undefined): TunnelLease {
    const tunnel = entry.tunnel as Tunnel;
    this.clearIdleTimer(entry);
    const opened = !entry.openReported;
    entry.openReported = true;
    if (!opened) this.counters.reused++;
    const token = {};
    entry.leases.add(token);
    entry.lastUsed = this.now();
    const onAbort = (): void => {
      if (entry.retired) return;
      this.counters.aborted++;
      entry.logger?.info('ssm tunnel closed: the invocation using it was aborted', {
        sessionId: tunnel.sessionId,
        target: entry.target,
        portNumber: entry.portNumber,
      });
      void this.retire(entry);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    let released = false;
    return {
      tunnel,
      opened,
      openMs: opened ? entry.openMs : 0,
      release: async () => {
        if (released) return;
        released = true;
        signal?.removeEventListener('abort', onAbort);
        entry.leases.delete(token);
        if (entry.retired) {
          await entry.closing;
          return;
        }
        entry.lastUsed = this.now();
        this.tallyResumes(entry);
        if (entry.leases.size === 0 && entry.waiting === 0) this.scheduleIdle(entry);
      },
    };
  }

  /**
   * Proves the agent is there: a connection opened and closed at once is one sequenced Output
   * message (a smux SYN and FIN; in a basic session, DisconnectToPort), which the agent acknowledges.
   * A websocket lost meanwhile is resumed by the tunnel, which then resends the message. Shared by
   * concurrent acquires.
   */
  private probe(entry: Entry): Promise<boolean> {
    entry.probing ??= this.runProbe(entry).finally(() => {
      entry.probing = undefined;
      this.tallyResumes(entry);
    });
    return entry.probing;
  }

  private runProbe(entry: Entry): Promise<boolean> {
    const tunnel = entry.tunnel as Tunnel;
    const before = tunnel.stats().acksReceived;
    const stream = tunnel.connect();
    stream.on('error', () => {});
    stream.destroy();
    const deadline = Date.now() + this.probeTimeoutMs;
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (tunnel.isOpen && tunnel.stats().acksReceived === before && Date.now() < deadline) return;
        clearInterval(timer);
        resolve(tunnel.isOpen && tunnel.stats().acksReceived > before);
      }, 10);
    });
  }

  private replace(entry: Entry, reason: string, logger: SsmLogger | undefined): void {
    this.counters.reopened++;
    (logger ?? entry.logger)?.info('ssm tunnel gone: opening a new session', {
      sessionId: entry.tunnel?.sessionId ?? '',
      target: entry.target,
      portNumber: entry.portNumber,
      reason,
    });
    void this.retire(entry);
  }

  private expire(entry: Entry, idleFor: number, logger: SsmLogger | undefined): void {
    this.counters.expired++;
    (logger ?? entry.logger)?.info('ssm tunnel idle past its window: terminated', {
      sessionId: entry.tunnel?.sessionId ?? '',
      target: entry.target,
      portNumber: entry.portNumber,
      idleMs: idleFor,
      windowMs: this.idleMs,
    });
    void this.retire(entry);
  }

  /** Takes the entry out of the pool and ends its session (or cancels its open). */
  private retire(entry: Entry): Promise<void> {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    this.clearIdleTimer(entry);
    if (entry.closing !== undefined) return entry.closing;
    entry.retired = true;
    const tunnel = entry.tunnel;
    let work: Promise<unknown>;
    if (tunnel !== undefined) {
      this.tallyResumes(entry);
      work = tunnel.close();
    } else {
      // openTunnel tears down (TerminateSession) what it started; an open that won the race is closed.
      entry.controller.abort(
        new TunnelClosedError(`the tunnel to ${entry.target} was given up while it opened`),
      );
      work = entry.opening.then((opened) => opened.close());
    }
    const closing: Promise<void> = work
      .then(
        () => {},
        () => {},
      )
      .finally(() => this.closings.delete(closing));
    this.closings.add(closing);
    entry.closing = closing;
    return closing;
  }

  private scheduleIdle(entry: Entry): void {
    this.clearIdleTimer(entry);
    // setTimeout takes at most 2^31 - 1 ms; a longer window is checked again when that fires.
    const wait = Math.min(Math.max(0, this.idleMs - (this.now() - entry.lastUsed)), 2 ** 31 - 1);
    entry.idleTimer = setTimeout(() => this.onIdleTimer(entry), wait);
    // A pooled tunnel never keeps a process alive by itself.
    entry.idleTimer.unref();
  }

  private onIdleTimer(entry: Entry): void {
    entry.idleTimer = undefined;
    if (entry.retired || entry.leases.size > 0 || entry.waiting > 0) return;
    if (entry.tunnel !== undefined && !entry.tunnel.isOpen) {
      void this.retire(entry);
      return;
    }
    const idleFor = this.now() - entry.lastUsed;
    if (idleFor >= this.idleMs) this.expire(entry, idleFor, undefined);
    else this.scheduleIdle(entry);
  }

  private clearIdleTimer(entry: Entry): void {
    if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
  }

  private tallyResumes(entry: Entry): void {
    const reconnects = entry.tunnel?.stats().reconnects ?? 0;
    if (reconnects > entry.seenReconnects) {
      this.counters.resumed += reconnects - entry.seenReconnects;
      entry.seenReconnects = reconnects;
    }
  }
}

let containerPool: TunnelPool | undefined;

/**
 * The container's pool (module state: it lives as long as the Lambda execution environment), built
 * on first use with the default idle window. Building it registers the shutdown hooks: SIGTERM
 * (which Lambda sends the runtime before it shuts an environment down, when an extension is
 * registered; AWS Lambda Developer Guide, "Understanding the Lambda execution environment
 * lifecycle", Shutdown phase, https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html)
 * and the global the local twin calls.
 */
export function tunnelPool(): TunnelPool {
  if (containerPool === undefined) {
    containerPool = new TunnelPool();
    registerShutdown();
  }
  return containerPool;
}

/** Terminates every tunnel of the container's pool (at shutdown). */
export async function closeAllTunnels(): Promise<void> {
  await containerPool?.closeAll();
}

function registerShutdown(): void {
  const scope = globalThis as unknown as Record<symbol, unknown>;
  const key = Symbol.for(SHUTDOWN_HOOK_KEY);
  const previous = scope[key];
  scope[key] = async (): Promise<void> => {
    await Promise.all([typeof previous === 'function' ? previous() : undefined, closeAllTunnels()]);
  };
  // Worker threads receive no signal (the local twin calls the global instead).
  if (isMainThread) process.once('SIGTERM', onSigterm);
}

function onSigterm(): void {
  void closeAllTunnels().finally(() => {
    // A SIGTERM listener replaces Node's default action (exit): restore it unless others listen.
    if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
  });
}

/** The key of a tunnel: the same SSM client (so the same account and credentials), region and session parameters. */
function keyOf(options: PooledTunnelOptions): string {
  const parameters = Object.entries(options.parameters ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return JSON.stringify([
    clientId(options.ssm),
    options.region,
    options.target,
    options.documentName ?? PORT_FORWARDING_DOCUMENT,
    options.portNumber,
    options.host ?? '',
    parameters,
    options.clientVersion ?? '',
  ]);
}

const clientIds = new WeakMap<object, number>();
let nextClientId = 1;

function clientId(client: object): number {
  let id = clientIds.get(client);
  if (id === undefined) {
    id = nextClientId++;
    clientIds.set(client, id);
  }
  return id;
}

function abortedError(target: string, reason: unknown): TunnelConnectError {
  return new TunnelConnectError(`reaching the tunnel to ${target} was aborted`, { cause: reason });
}

/** `promise`'s outcome, or ABORTED as soon as `signal` aborts (the promise runs on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
