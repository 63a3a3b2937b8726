// A MemoryStore whose apply() calls are recorded and, while `hold` is on, settle only when the
// test releases them: shows what the broker waits for before acknowledging.
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Store, StoreOp, StoreSnapshot } from '../../src/store/ports.js';

export class HeldStore implements Store {
  readonly durable = true;
  readonly inner = new MemoryStore();
  /** Every apply() call's ops, in call order. */
  readonly applied: StoreOp[][] = [];
  hold = false;
  private held: Array<() => void> = [];

  open(): Promise<StoreSnapshot> {
    return this.inner.open();
  }

  apply(ops: readonly StoreOp[]): Promise<void> {
    this.applied.push([...ops]);
    if (!this.hold) return this.inner.apply(ops);
    return new Promise<void>((resolve, reject) => {
      this.held.push(() => this.inner.apply(ops).then(resolve, reject));
    });
  }

  /** Applies held calls, in order; returns how many there were. */
  release(): number {
    const n = this.held.length;
    for (const go of this.held.splice(0)) go();
    return n;
  }

  /** Every op name applied so far, flattened. */
  opNames(): string[] {
    return this.applied.flat().map((o) => o.op);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
