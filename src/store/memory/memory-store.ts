// A store that keeps its state in maps: for brokers that run without persistence and for tests.
// Not durable (state ends with the process), but otherwise behaves exactly like the durable stores,
// which the shared contract suite checks: the model it keeps its state in (../model.ts) gives it the
// same validation, atomic batches and message reference counting. It keeps copies of records, so the
// broker mutating an object it passed in (or one it got back from open()) never changes what is
// stored; payload Buffers are immutable and shared (../clone.ts), so each is held once.
import type { StoreOp, Store, StoreSnapshot } from '../ports.js';
import { StoreError } from '../errors.js';
import { StoreModel } from '../model.js';

export class MemoryStore implements Store {
  readonly durable = false;
  private opened = false;
  private readonly model = new StoreModel();

  /** Opens (or re-reads, when already open) and returns a copy of the current state. */
  async open(): Promise<StoreSnapshot> {
    this.opened = true;
    return this.model.snapshot();
  }

  async apply(ops: readonly StoreOp[]): Promise<void> {
    if (!this.opened) throw new StoreError('memory store: apply() before open() or after close()');
    // Validate the whole batch first, so applying it cannot fail half-way: that is what makes it atomic.
    this.model.check(ops);
    this.model.apply(ops);
  }

  async close(): Promise<void> {
    this.opened = false;
  }
}
