// Persistence and write batching: the broker's one path to the store. A flow (a publish, a
// retained copy, a window refill) gathers its store ops in a WriteBatch and commits them together;
// the entries it wrote may be sent once the batch is durable. Writes nothing waits for go behind.
import type { Logger } from 'pino';
import { writtenDown, type Outgoing } from '../session/outgoing.js';
import type { Session } from '../session/session.js';
import type { Store, StoreOp, StoreSnapshot } from '../store/ports.js';
import { StoreBatcher } from '../store/batcher.js';
import { SETTLED } from '../protocol/maybe-promise.js';

/** Store ops gathered along one flow, and the entries that wait for them. */
export class WriteBatch {
  readonly ops: StoreOp[] = [];
  readonly entries: Outgoing[] = [];
  /** Entries first stored by this batch (the others were durable before and only change state). */
  readonly fresh: Outgoing[] = [];
  readonly sessions = new Set<Session>();
}

/**
 * The commits of one synchronous run (a client's read, say), written as one (StoreWrites.commit).
 * The route of a message adds its ops to `batch` directly (StoreWrites.joining), and its publisher
 * learns that they are durable through `written`: one promise per joined write, not per message.
 */
export class JoinedCommit {
  readonly batch = new WriteBatch();
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (err: unknown) => void;
  /** It carries writes nobody waits for (persistLater): a failure is logged for them. */
  unwatched = false;
  /** `done` resolving to a value (how many sessions a message was routed to), by value. */
  private values?: Map<number, Promise<number>>;

  constructor(log: Pick<Logger, 'error'>) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Always handled: a joined write may have no waiter but its persistLater ops.
    this.done.catch((err: unknown) => {
      if (this.unwatched) log.error({ err }, 'store write failed');
    });
  }

  /** Resolves with `value` once the joined write is durable; rejects if it failed. */
  written(value: number): Promise<number> {
    const values = (this.values ??= new Map());
    let p = values.get(value);
    if (p === undefined) values.set(value, (p = this.done.then(() => value)));
    return p;
  }
}

export class StoreWrites {
  private readonly batcher: StoreBatcher;
  /** Commits joined since the last write reached the batcher; handed over at the next microtask. */
  private joined?: JoinedCommit;

  /** Whether queues are written at all: not to a store that keeps nothing (persistence=memory). */
  readonly queuesToStore: boolean;

  constructor(
    private readonly store: Store,
    private readonly log: Pick<Logger, 'error'>,
  ) {
    this.batcher = new StoreBatcher(store);
    this.queuesToStore = store.keepsNothing !== true;
  }


  /** Opens the store and reads back everything it holds. */
  open(): Promise<StoreSnapshot> {
    return this.store.open();
  }

  /**
   * Writes whose completion gates an acknowledgement. They join the commit of the current
   * synchronous run, after what it holds so far: a write never hands that commit over in the middle
   * of a run, so whoever is adding to it (a message's route, whose deliveries may close a session
   * or call a hook that writes) keeps adding to a commit that is still to be written.
   */
  persist(ops: StoreOp[]): Promise<void> {
    const j = this.joining();
    for (const op of ops) j.batch.ops.push(op);
    return j.done;
  }

  /**
   * Writes that nothing waits for (nothing is acknowledged on them); failures are logged. They join
   * the commits of the current synchronous run (see commit): the PUBACKs of a subscriber's read
   * retire their entries in one write, not one write (and promise) each.
   */
  persistLater(ops: StoreOp[]): void {
    for (const op of ops) this.persistOneLater(op);
  }

  /** persistLater of one op (a subscriber's PUBACK): no array made for it. */
  persistOneLater(op: StoreOp): void {
    const j = this.joining();
    j.unwatched = true;
    j.batch.ops.push(op);
  }

  /**
   * As persistLater, for cleanup (expiry, sweeps) that may go in small batches, behind other writes.
   * While a run's commit is open they join it instead (as persistLater): handing it over early would
   * cut it under whoever is adding to it, and writing behind it would put these ops after writes
   * the run makes later.
   */
  persistInBackground(ops: StoreOp[]): void {
    if (this.joined !== undefined) return this.persistLater(ops);
    this.batcher.write(ops, { background: true }).catch((err) => this.log.error({ err }, 'store write failed'));
  }

  /**
   * Writes a batch; once durable, its entries may be sent. The commits of one synchronous run (the
   * PUBLISHes of a client's read) join one write, one promise and one callback for all of them:
   * they would share the batcher's batch anyway (and its fate, should it fail). The joined write
   * reaches the batcher at the next microtask; every other write of the run joins it (persist,
   * persistInBackground), so order is kept.
   */
  commit(batch: WriteBatch): Promise<void> {
    const into = this.joining().batch;
    for (const op of batch.ops) into.ops.push(op);
    for (const o of batch.entries) into.entries.push(o);
    for (const o of batch.fresh) into.fresh.push(o);
    for (const s of batch.sessions) into.sessions.add(s);
    return (this.joined as JoinedCommit).done;
  }

  /**
   * The joined commit of the current synchronous run, to add ops and entries to directly (the route
   * of a message: no batch of its own to copy). Whatever is added before the run ends is written
   * together, and nothing hands it over before then (every write of the run joins it).
   */
  joining(): JoinedCommit {
    let j = this.joined;
    if (j === undefined) {
      j = this.joined = new JoinedCommit(this.log);
      void SETTLED.then(() => this.handOver());
    }
    return j;
  }

  /** Hands the joined commits to the batcher. */
  private handOver(): void {
    const j = this.joined;
    if (j === undefined) return;
    this.joined = undefined;
    if (j.batch.ops.length === 0) {
      // Joined, then nothing was added (a route whose deliveries were all refused): no write.
      for (const s of j.batch.sessions) s.sendUnsent();
      return j.resolve();
    }
    this.write(j.batch).then(j.resolve, j.reject);
  }

  private write(batch: WriteBatch): Promise<void> {
    return this.batcher.write(batch.ops).then(
      () => {
        for (const o of batch.entries) writtenDown(o);
        for (const s of batch.sessions) s.sendUnsent();
      },
      (err: unknown) => {
        // The write failed, so nothing it covered was acknowledged. New entries go (the publisher
        // sends again); entries stored before keep their stored state and may go out, so no
        // session is left waiting forever behind an entry that will never be written.
        const fresh = new Set(batch.fresh);
        for (const s of batch.sessions) s.removeEntries(fresh);
        for (const o of batch.entries) if (!fresh.has(o)) writtenDown(o);
        for (const s of batch.sessions) s.sendUnsent();
        throw err;
      },
    );
  }

  /** Commits a batch for one session that nobody waits on; a failure is logged with its client id. */
  commitLater(batch: WriteBatch, clientId: string): void {
    this.commit(batch).catch((err) => this.log.error({ err, clientId }, 'store write failed'));
  }

  /** Waits for every write under way, then closes the store. */
  async close(): Promise<void> {
    this.handOver();
    await this.batcher.flush();
    await this.store.close();
  }
}
