/**
 * Fault injection for the stand-in's relay: a share of the binary data-channel frames it relays
 * is dropped, duplicated, reordered or delayed, decided by a seeded generator so a test run is
 * repeatable. Websockets can also be closed on demand (see MessageGateway).
 */

export type FaultDirection = 'toAgent' | 'toClient';

export interface FaultConfig {
  /** Share of frames dropped, 0..1. */
  drop?: number;
  /** Share of frames sent twice. */
  duplicate?: number;
  /** Share of frames held back and sent after the next frame of the same link. */
  reorder?: number;
  /** Share of frames delayed by `delayMs`. */
  delay?: number;
  delayMs?: number;
  /** Seed of the generator (default 1). */
  seed?: number;
  /** Which way the faults apply (default both). */
  direction?: FaultDirection | 'both';
}

export interface FaultStats {
  relayed: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
}

/** mulberry32: small, fast and good enough to pick which frames to disturb. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One direction of one session: frames go out through `deliver` after the faults. */
export class FaultLink {
  private held: Buffer | undefined;
  private heldTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly faults: Faults,
    readonly direction: FaultDirection,
    private readonly deliver: (frame: Buffer) => void,
  ) {}

  send(frame: Buffer): void {
    if (this.closed) return;
    this.faults.onFrame?.(this.direction, frame);
    const stats = this.faults.stats;
    stats.relayed++;
    if (this.faults.dropIf?.(this.direction, frame)) {
      stats.dropped++;
      return;
    }
    const config = this.faults.activeFor(this.direction);
    if (config === undefined) {
      this.emit(frame);
      return;
    }
    const random = this.faults.random;
    if (config.drop !== undefined && random() < config.drop) {
      stats.dropped++;
      return;
    }
    const duplicate = config.duplicate !== undefined && random() < config.duplicate;
    if (duplicate) stats.duplicated++;
    if (config.delay !== undefined && random() < config.delay) {
      stats.delayed++;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.closed) this.deliver(frame);
      }, config.delayMs ?? 50);
      this.timers.add(timer);
      if (duplicate) this.emit(frame);
      return;
    }
    if (config.reorder !== undefined && this.held === undefined && random() < config.reorder) {
      stats.reordered++;
      this.held = frame;
      // Released behind the next frame, or after a short while if none comes.
      this.heldTimer = setTimeout(() => this.releaseHeld(), 20);
      if (duplicate) this.deliver(frame);
      return;
    }
    this.emit(frame);
    if (duplicate) this.deliver(frame);
  }

  close(): void {
    this.closed = true;
    if (this.heldTimer !== undefined) clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    this.held = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private emit(frame: Buffer): void {
    this.deliver(frame);
    this.releaseHeld();
  }

  private releaseHeld(): void {
    if (this.heldTimer !== undefined) clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    const held = this.held;
    this.held = undefined;
    if (held !== undefined && !this.closed) this.deliver(held);
  }
}

/** The fault settings shared by every link of a stand-in. */
export class Faults {
  readonly stats: FaultStats = { relayed: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0 };
  /**
   * What the relay does when an agent's data channel drops without the agent reporting the
   * session's end: `channel_closed` tells the client after a second; `silent` tells it nothing
   * (the client must notice by itself, as when the real service waits for the agent to return).
   */
  agentLoss: 'channel_closed' | 'silent' = 'channel_closed';
  /** Sees every binary frame the relay passes on, before faults (for tests and debugging). */
  onFrame: ((direction: FaultDirection, frame: Buffer) => void) | undefined;
  /** Drops exactly the frames it returns true for (after onFrame, before the random faults). */
  dropIf: ((direction: FaultDirection, frame: Buffer) => boolean) | undefined;
  private config: FaultConfig | undefined;
  random: () => number = mulberry32(1);

  /** Sets (replaces) the faults; the generator restarts from the seed and the counters from 0. */
  set(config: FaultConfig): void {
    this.config = config;
    this.random = mulberry32(config.seed ?? 1);
    this.resetStats();
  }

  /** Ends the random faults and dropIf (onFrame stays). */
  clear(): void {
    this.config = undefined;
    this.dropIf = undefined;
  }

  resetStats(): void {
    Object.assign(this.stats, { relayed: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0 });
  }

  /** @internal */
  activeFor(direction: FaultDirection): FaultConfig | undefined {
    const config = this.config;
    if (config === undefined) return undefined;
    const applies =
      config.direction === undefined || config.direction === 'both' || config.direction === direction;
    return applies ? config : undefined;
  }
}
