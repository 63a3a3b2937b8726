// Keyed one-shot timers for session expiry and will delay. Delays may exceed setTimeout's
// 24.8-day limit (session expiry can be 0xFFFFFFFE seconds), so long waits are re-armed in steps.
//
// Firing is sliced: a timer that falls due only queues its key, and the queued ones run at most
// `maxPerSlice` per event-loop turn (setImmediate between slices). Thousands of sessions
// that expire at the same moment (all recovered at start-up, or all dropped by one network
// outage) would otherwise all run in one timers phase, with every socket waiting behind them.

const MAX_STEP_MS = 2 ** 31 - 1;

export class KeyedTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Due, waiting for their slice; in the order they fell due. */
  private readonly due = new Map<string, () => void>();
  private slice: NodeJS.Immediate | undefined;

  constructor(private readonly maxPerSlice = 250) {}

  /** Keys armed or due but not yet fired. */
  get size(): number {
    return this.timers.size + this.due.size;
  }

  set(key: string, delayMs: number, fire: () => void): void {
    this.clear(key);
    const due = Date.now() + Math.max(0, delayMs);
    const arm = (): void => {
      const left = due - Date.now();
      const t = setTimeout(
        () => {
          if (left > MAX_STEP_MS) return arm();
          this.timers.delete(key);
          this.due.set(key, fire);
          this.schedule();
        },
        Math.min(Math.max(0, left), MAX_STEP_MS),
      );
      t.unref();
      this.timers.set(key, t);
    };
    arm();
  }

  /** Cancels the key's timer, or its firing if it is due and waiting for its slice. */
  clear(key: string): boolean {
    if (this.due.delete(key)) return true;
    const t = this.timers.get(key);
    if (!t) return false;
    clearTimeout(t);
    this.timers.delete(key);
    return true;
  }

  has(key: string): boolean {
    return this.timers.has(key) || this.due.has(key);
  }

  clearAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.due.clear();
    if (this.slice) clearImmediate(this.slice);
    this.slice = undefined;
  }

  private schedule(): void {
    if (this.slice) return;
    // Unref'd like the timers: due work never keeps a stopping process alive.
    this.slice = setImmediate(() => this.runSlice()).unref();
  }

  private runSlice(): void {
    this.slice = undefined;
    // One iterator for the slice: Map iterators stay valid across deletes, and a fire() may
    // clear other keys (they are then skipped) but never adds due ones (only timers do).
    const entries = this.due.entries();
    try {
      for (let n = 0; n < this.maxPerSlice; n++) {
        const next = entries.next();
        if (next.done) break;
        const [key, fire] = next.value;
        this.due.delete(key);
        fire();
      }
    } finally {
      // Even after a throw (an uncaught exception for the process to handle), the rest still run.
      if (this.due.size > 0) this.schedule();
    }
  }
}
