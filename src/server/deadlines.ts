// One timing wheel for the deadlines of every connection of a server (the CONNECT timeout, then the
// keepalive watchdog), instead of a timer per socket: an idle connection then holds a slot number
// and one entry in a bucket, not a Timeout, its closure and the closure's context. Deadlines are
// rounded up to the next tick, so one fires up to a tick late, never early. One shared interval
// sweeps the buckets that fell due; it runs only while some deadline is set. The clock and the
// interval are injectable, so the wheel is tested without real time.

/**
 * What the wheel keeps per entry: the slot it is filed under, counted from the wheel's start (0:
 * none). Counted from the start it stays a small integer that V8 keeps in the field itself; a slot
 * counted from the epoch (about 7·10⁹) would be a boxed number of its own on every connection.
 */
export interface WheelEntry {
  wheelSlot: number;
}

export interface DeadlineClock {
  now(): number;
  /** Calls `fn` every `ms` until the returned stop is called. */
  every(ms: number, fn: () => void): () => void;
}

export const realClock: DeadlineClock = {
  now: Date.now,
  every(ms, fn) {
    const t = setInterval(fn, ms);
    // Deadlines never keep the process alive.
    t.unref();
    return () => clearInterval(t);
  },
};

export class DeadlineWheel<T extends WheelEntry> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly tickMs: number;
  private readonly clock: DeadlineClock;
  private readonly due: (entry: T) => void;
  private count = 0;
  /** Every slot up to this one has been swept. */
  private swept: number;
  /** The slot before the wheel's first: entries hold their slot minus this. */
  private readonly origin: number;
  private stop?: () => void;

  /** `due` runs for each entry whose deadline passed; it may set a new deadline for it, and must not throw. */
  constructor(due: (entry: T) => void, opts: { tickMs?: number; clock?: DeadlineClock } = {}) {
    this.due = due;
    this.tickMs = opts.tickMs ?? 250;
    this.clock = opts.clock ?? realClock;
    this.swept = Math.floor(this.clock.now() / this.tickMs);
    this.origin = this.swept - 1;
  }

  /** Entries with a deadline set. */
  get size(): number {
    return this.count;
  }

  /** Sets (or moves) the entry's deadline to `at` (ms on the clock). */
  set(entry: T, at: number): void {
    this.delete(entry);
    if (!this.stop) {
      // Standing still since the last sweep: nothing is filed before now.
      this.swept = Math.max(this.swept, Math.floor(this.clock.now() / this.tickMs));
      this.stop = this.clock.every(this.tickMs, () => this.sweep());
    }
    // Rounded up, and never into a slot already swept: a deadline fires late, never early.
    const slot = Math.max(Math.ceil(at / this.tickMs), this.swept + 1);
    let bucket = this.buckets.get(slot);
    if (!bucket) this.buckets.set(slot, (bucket = new Set()));
    bucket.add(entry);
    // `| 0` makes it an int32 (so a small integer to V8; 2³¹ slots of 250 ms are 17 years).
    entry.wheelSlot = (slot - this.origin) | 0;
    this.count++;
  }

  delete(entry: T): void {
    if (entry.wheelSlot === 0) return;
    const slot = entry.wheelSlot + this.origin;
    entry.wheelSlot = 0;
    const bucket = this.buckets.get(slot);
    if (!bucket?.delete(entry)) return;
    if (bucket.size === 0) this.buckets.delete(slot);
    this.count--;
  }

  /** Runs the entries whose slot is due by now (the interval calls it; tests may too). */
  sweep(): void {
    const last = Math.floor(this.clock.now() / this.tickMs);
    // After a long stall (a blocked event loop, a suspended machine) walk the filed slots, not every slot between.
    const walkAll = last - this.swept > this.buckets.size;
    const slots = walkAll ? [...this.buckets.keys()].filter((s) => s <= last).sort((a, b) => a - b) : undefined;
    const from = this.swept + 1;
    this.swept = last;
    if (slots) for (const slot of slots) this.fire(slot);
    else for (let slot = from; slot <= last; slot++) this.fire(slot);
    // Nothing left to wait for: the interval stops until the next deadline is set.
    if (this.count === 0) this.halt();
  }

  /** Stops the interval and forgets every deadline. */
  clear(): void {
    for (const bucket of this.buckets.values()) for (const e of bucket) e.wheelSlot = 0;
    this.buckets.clear();
    this.count = 0;
    this.halt();
  }

  private fire(slot: number): void {
    const bucket = this.buckets.get(slot);
    if (!bucket) return;
    this.buckets.delete(slot);
    this.count -= bucket.size;
    for (const e of bucket) e.wheelSlot = 0;
    for (const e of bucket) this.due(e);
  }

  private halt(): void {
    this.stop?.();
    this.stop = undefined;
  }
}
