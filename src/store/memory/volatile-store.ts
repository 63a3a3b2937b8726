// The store of `persistence=memory`: it keeps nothing. With persistence=memory the broker's own
// state (sessions, queues, retained messages, all in memory) is everything there is, and a restart
// starts empty, so nothing is ever read back from a store: a copy kept here would only cost a store
// write per queued message (as much CPU as SQLite's rows, measured in docs/benchmarks.md) and hold a
// second set of records for every queued message and session that no memory budget counts.
// MemoryStore (memory-store.ts) is the reference model the durable stores are tested against.
import type { StoreOp, Store, StoreSnapshot } from '../ports.js';
import { StoreError } from '../errors.js';

export class VolatileStore implements Store {
  readonly durable = false;
  readonly keepsNothing = true;
  private opened = false;

  /** Nothing survives a restart: the broker starts with no sessions and no retained messages. */
  async open(): Promise<StoreSnapshot> {
    this.opened = true;
    return { sessions: [], messages: new Map(), retained: [] };
  }

  /** Done at once: what the ops describe is already in the broker's memory, which is where it lives. */
  async apply(_ops: readonly StoreOp[]): Promise<void> {
    if (!this.opened) throw new StoreError('memory store: apply() before open() or after close()');
  }

  async close(): Promise<void> {
    this.opened = false;
  }
}
