// Group commit. Every store write the broker awaits (before PUBACK, PUBREC, SUBACK...) goes through
// here: writes made during one event-loop turn are applied as one `store.apply` batch (scheduled
// with setImmediate, so all I/O callbacks of the turn have had their say), one transaction and one
// WAL commit for many clients, and each writer's promise settles when its batch is durable.
//
// - Order: ops reach the store in the order write() was called, across callers, and batches are
//   applied one at a time (a slow async store never has two applies overlapping).
// - Atomicity: one write()'s ops always land in the same batch.
// - Bounds: a batch takes at most `maxBatchOps` ops (more only if a single write is larger); writes
//   arriving while a batch is being applied wait for the next one, and nothing is retained once its
//   batch settles. `pendingOps` lets the caller apply back-pressure. Between batches the drain
//   yields to the event loop (setImmediate), so a long backlog never stalls I/O.
// - Background writes (cleanup nobody waits on: expired sessions) join a batch only while it holds
//   fewer than `maxBackgroundOps` ops. A SQLite batch runs synchronously on the event loop, so a
//   backlog of them is written in short transactions (a long background write is cut into pieces:
//   nothing needs it atomic); writes that gate an acknowledgement still get the full `maxBatchOps`
//   group commit. Order across both kinds is kept.
// - Retiring queue entries waits for company. A write of nothing but `queue.delete` ops (an entry
//   acknowledged, expired or dropped) gates nothing the broker sends, so it does not start a batch
//   of its own: it joins the next batch another write starts, or goes once `maxLazyOps` such ops
//   are waiting or the oldest has waited `lazyMs`. A drain, whose PUBACKs trickle in a few per
//   turn, so commits once per few hundred deliveries, not once per turn. If the process dies
//   before, the entry is simply still there: QoS 1 is sent again (at least once), a QoS 2 entry
//   in state `released` has its PUBREL sent again (no second delivery).
// - Errors: if a batch fails, every write in it rejects with that error; later batches still run.
//
// Ops are read when their batch is applied (a later turn), so callers must not mutate op objects
// after passing them in.
import type { Store, StoreOp } from './ports.js';

interface PendingWrite {
  ops: readonly StoreOp[];
  background: boolean;
  lazy: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface StoreBatcherOptions {
  /** Largest number of ops put into one apply() call, split only between writes. Default 5000. */
  maxBatchOps?: number;
  /** A background write joins a batch only below this many ops. Default 250. */
  maxBackgroundOps?: number;
  /** Queue deletes waiting for company are applied once this many ops are queued. Default 250. */
  maxLazyOps?: number;
  /** ...or once the oldest of them has waited this long (milliseconds). Default 5. */
  lazyMs?: number;
}

export interface WriteOptions {
  /** Cleanup nobody waits on: written in small batches (see above). */
  background?: boolean;
}

const yieldToIO = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Only retires queue entries (see above); an empty write (flush's marker) is never lazy. */
const retiresOnly = (ops: readonly StoreOp[]): boolean => {
  if (ops.length === 0) return false;
  for (const op of ops) if (op.op !== 'queue.delete') return false;
  return true;
};

export class StoreBatcher {
  private readonly maxBatchOps: number;
  private readonly maxBackgroundOps: number;
  private readonly maxLazyOps: number;
  private readonly lazyMs: number;
  private queue: PendingWrite[] = [];
  private queuedOps = 0;
  /** Queued writes that are not lazy: any of them makes the next batch go at once. */
  private eagerWrites = 0;
  /** Queued lazy writes, and when the oldest of them was queued. */
  private lazyWrites = 0;
  private lazySince = 0;
  private lazyTimer: NodeJS.Timeout | undefined;
  private timer: NodeJS.Immediate | undefined;
  private draining = false;
  /** Counts failed batches, so flush() can tell whether one it waited for failed. */
  private failures = 0;
  private lastError: unknown;

  constructor(
    private readonly store: Store,
    options: StoreBatcherOptions = {},
  ) {
    this.maxBatchOps = Math.max(1, options.maxBatchOps ?? 5000);
    this.maxBackgroundOps = Math.max(1, Math.min(this.maxBatchOps, options.maxBackgroundOps ?? 250));
    this.maxLazyOps = Math.max(1, options.maxLazyOps ?? 250);
    this.lazyMs = Math.max(0, options.lazyMs ?? 5);
  }

  /** Ops waiting to be applied (not counting a batch being applied now). */
  get pendingOps(): number {
    return this.queuedOps;
  }

  /** Queues ops for the next batch; resolves once they are durable, rejects if their batch failed. */
  write(ops: readonly StoreOp[], options?: WriteOptions): Promise<void> {
    const background = options?.background === true;
    if (background && ops.length > this.maxBackgroundOps) {
      const parts: Promise<void>[] = [];
      for (let i = 0; i < ops.length; i += this.maxBackgroundOps) parts.push(this.write(ops.slice(i, i + this.maxBackgroundOps), options));
      return Promise.all(parts).then(() => undefined);
    }
    const lazy = retiresOnly(ops);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, background, lazy, resolve, reject });
      this.queuedOps += ops.length;
      if (!lazy) this.eagerWrites++;
      else if (this.lazyWrites++ === 0) this.lazySince = Date.now();
      this.schedule();
    });
  }

  /**
   * Applies what is queued now rather than next turn, and resolves once every write made before
   * this call has settled; rejects (with the batch's error) if any of those writes failed.
   */
  async flush(): Promise<void> {
    if (this.queue.length === 0 && !this.draining) return;
    const failuresBefore = this.failures;
    const marker = this.write([]);
    if (this.timer !== undefined && !this.draining) {
      clearImmediate(this.timer);
      this.timer = undefined;
      void this.drain();
    }
    try {
      await marker;
    } catch {
      // Reported below with the first-hand error.
    }
    if (this.failures !== failuresBefore) throw this.lastError;
  }

  /** Whether what is queued should be applied now rather than wait for company. */
  private due(): boolean {
    return this.eagerWrites > 0 || this.queuedOps >= this.maxLazyOps || Date.now() - this.lazySince >= this.lazyMs;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.draining) return;
    if (!this.due()) {
      // Only lazy writes: wake up when the oldest has waited long enough (unless company comes first).
      this.lazyTimer ??= setTimeout(() => {
        this.lazyTimer = undefined;
        this.schedule();
      }, this.lazyMs);
      return;
    }
    if (this.lazyTimer !== undefined) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = undefined;
    }
    this.timer = setImmediate(() => {
      this.timer = undefined;
      void this.drain();
    });
  }

  /** Applies batches one after another until nothing is queued. Never rejects. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0 && this.due()) {
        const batch = this.takeBatch();
        const ops: StoreOp[] = [];
        for (const w of batch) for (const op of w.ops) ops.push(op);
        try {
          if (ops.length > 0) await this.store.apply(ops);
          for (const w of batch) w.resolve();
        } catch (err) {
          this.failures++;
          this.lastError = err;
          for (const w of batch) w.reject(err);
        }
        // A store whose apply resolves at once (SQLite runs synchronously) would otherwise chain
        // every batch in microtasks: a backlog of them (thousands of sessions expiring together)
        // would hold the event loop until done. Yield to I/O between batches.
        if (this.queue.length > 0) await yieldToIO();
      }
    } finally {
      this.draining = false;
    }
    // Lazy writes left behind wait for their time (or for company).
    if (this.queue.length > 0) this.schedule();
  }

  private takeBatch(): PendingWrite[] {
    let n = 0;
    let count = 0;
    while (n < this.queue.length) {
      const w = this.queue[n];
      const size = w.ops.length;
      if (n > 0 && count + size > (w.background ? this.maxBackgroundOps : this.maxBatchOps)) break;
      count += size;
      n++;
    }
    this.queuedOps -= count;
    const batch = this.queue.splice(0, n);
    for (const w of batch) {
      if (!w.lazy) this.eagerWrites--;
      else this.lazyWrites--;
    }
    // Lazy writes still queued keep the time of the oldest taken: they wait no longer than it would have.
    return batch;
  }
}
