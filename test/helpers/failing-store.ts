// A MemoryStore that refuses the batches a test picks, standing in for a disk that fills up or a
// database that goes away while the broker runs.
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Store, StoreOp, StoreSnapshot } from '../../src/store/ports.js';

export class FailingStore implements Store {
  readonly durable = false;
  private readonly inner = new MemoryStore();
  /** A batch for which this returns true is refused (the store batches ops of one event-loop turn). */
  failWhen: (ops: readonly StoreOp[]) => boolean = () => false;
  /** How many batches were refused. */
  failures = 0;

  open(): Promise<StoreSnapshot> {
    return this.inner.open();
  }

  apply(ops: readonly StoreOp[]): Promise<void> {
    if (!this.failWhen(ops)) return this.inner.apply(ops);
    this.failures++;
    return Promise.reject(new Error('test store: write refused'));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The client id an op belongs to, if any. */
export function opClientId(op: StoreOp): string | undefined {
  if (op.op === 'session.put') return op.session.clientId;
  return 'clientId' in op ? op.clientId : undefined;
}

/** A failWhen that refuses every batch with an op of `kind` (any kind when omitted) for `clientId`. */
export const refuseFor =
  (clientId: string, kind?: StoreOp['op']) =>
  (ops: readonly StoreOp[]): boolean =>
    ops.some((op) => opClientId(op) === clientId && (kind === undefined || op.op === kind));
