// StoreBatcher: group commit, ordering, bounds and error propagation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreBatcher } from '../../src/store/batcher.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Store, StoreOp, StoreSnapshot } from '../../src/store/ports.js';

const op = (n: number): StoreOp => ({ op: 'retained.delete', topic: `t${n}` });
const topics = (ops: readonly StoreOp[]): string[] => ops.map((o) => (o as { topic: string }).topic);

/** A store whose apply() calls are recorded and settle only when the test says so. */
class FakeStore implements Store {
  readonly durable = true;
  readonly batches: StoreOp[][] = [];
  private settle: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  active = 0;
  maxActive = 0;
  auto = false;
  failWith: Error | undefined;
  async open(): Promise<StoreSnapshot> {
    return { sessions: [], messages: new Map(), retained: [] };
  }
  apply(ops: readonly StoreOp[]): Promise<void> {
    this.batches.push([...ops]);
    if (this.failWith) return Promise.reject(this.failWith);
    if (this.auto) return Promise.resolve();
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    return new Promise((resolve, reject) =>
      this.settle.push({
        resolve: () => {
          this.active--;
          resolve();
        },
        reject: (e) => {
          this.active--;
          reject(e);
        },
      }),
    );
  }
  async close(): Promise<void> {}
  resolveNext(): void {
    this.settle.shift()?.resolve();
  }
  rejectNext(e: Error): void {
    this.settle.shift()?.reject(e);
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
/** Tracks when a promise settles, without letting a rejection go unhandled. */
function track(p: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  p.then(
    () => (t.state = 'resolved'),
    (e) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

describe('StoreBatcher', () => {
  it('applies the writes of one event-loop turn as one batch, in call order, and resolves after it is durable', async () => {
    const store = new FakeStore();
    const b = new StoreBatcher(store);
    const a = track(b.write([op(1), op(2)]));
    const c = track(b.write([op(3)]));
    await Promise.resolve(); // a later microtask of the same turn still joins the batch
    const d = track(b.write([op(4)]));
    assert.equal(store.batches.length, 0, 'nothing applied synchronously');
    assert.equal(b.pendingOps, 4);
    await turn();
    assert.deepEqual(store.batches.map(topics), [['t1', 't2', 't3', 't4']]);
    await turn();
    assert.deepEqual([a.state, c.state, d.state], ['pending', 'pending', 'pending'], 'no promise resolves before apply does');
    store.resolveNext();
    await turn();
    assert.deepEqual([a.state, c.state, d.state], ['resolved', 'resolved', 'resolved']);
    assert.equal(b.pendingOps, 0);
  });

  it('never overlaps applies: writes made during one go into the next batch, in order', async () => {
    const store = new FakeStore();
    const b = new StoreBatcher(store);
    const first = track(b.write([op(1)]));
    await turn();
    const second = track(b.write([op(2)]));
    await turn();
    const third = track(b.write([op(3)]));
    await turn();
    assert.equal(store.batches.length, 1, 'the second batch waits for the first');
    store.resolveNext();
    await turn();
    assert.equal(first.state, 'resolved');
    await turn(); // the batcher yields a turn between batches
    assert.deepEqual(store.batches.map(topics), [['t1'], ['t2', 't3']]);
    assert.equal(second.state, 'pending');
    store.resolveNext();
    await turn();
    assert.deepEqual([second.state, third.state], ['resolved', 'resolved']);
    assert.equal(store.maxActive, 1);
  });

  it('rejects every write of a failed batch with its error, and goes on with the next batch', async () => {
    const store = new FakeStore();
    const b = new StoreBatcher(store);
    const x = track(b.write([op(1)]));
    const y = track(b.write([op(2)]));
    await turn();
    const z = track(b.write([op(3)]));
    const boom = new Error('disk on fire');
    store.rejectNext(boom);
    await turn();
    assert.deepEqual([x.state, y.state], ['rejected', 'rejected']);
    assert.equal(x.error, boom);
    assert.equal(y.error, boom);
    await turn(); // the batcher yields a turn between batches
    store.resolveNext();
    await turn();
    assert.equal(z.state, 'resolved');
  });

  it('reports a store that throws synchronously as a rejection', async () => {
    const store = new FakeStore();
    const b = new StoreBatcher(store);
    store.apply = () => {
      throw new Error('sync failure');
    };
    await assert.rejects(b.write([op(1)]), /sync failure/);
  });

  it('bounds a batch by maxBatchOps, splitting only between writes', async () => {
    const store = new FakeStore();
    store.auto = true;
    const b = new StoreBatcher(store, { maxBatchOps: 3 });
    const all = [b.write([op(1), op(2)]), b.write([op(3)]), b.write([op(4)]), b.write([op(5), op(6), op(7), op(8)]), b.write([op(9)])];
    await Promise.all(all);
    assert.deepEqual(store.batches.map(topics), [['t1', 't2', 't3'], ['t4'], ['t5', 't6', 't7', 't8'], ['t9']]);
  });

  it('writes background work in small batches, in order, without shrinking the group commit of other writes', async () => {
    const store = new FakeStore();
    store.auto = true;
    const b = new StoreBatcher(store, { maxBatchOps: 4, maxBackgroundOps: 2 });
    const bg = (n: number): Promise<void> => b.write([op(n)], { background: true });
    const all = [bg(1), bg(2), bg(3), b.write([op(4), op(5)]), b.write([op(6)]), bg(7), b.write([op(8)]), b.write([op(9)])];
    await Promise.all(all);
    // t3 would make the batch 3 ops (over 2 for background); t4-t6 fill a batch up to 4; t7
    // cannot join a batch that already holds 4 (nor 2); t8 and t9 join t7's, up to 4.
    assert.deepEqual(store.batches.map(topics), [['t1', 't2'], ['t3', 't4', 't5', 't6'], ['t7', 't8', 't9']]);
  });

  it('cuts a long background write into batch-sized pieces', async () => {
    const store = new FakeStore();
    store.auto = true;
    const b = new StoreBatcher(store, { maxBackgroundOps: 2 });
    await b.write([op(1), op(2), op(3), op(4), op(5)], { background: true });
    assert.deepEqual(store.batches.map(topics), [['t1', 't2'], ['t3', 't4'], ['t5']]);
  });

  it('yields to the event loop between batches, even when the store resolves at once', async () => {
    const store = new FakeStore();
    store.auto = true;
    const b = new StoreBatcher(store, { maxBatchOps: 1 });
    const all = Array.from({ length: 5 }, (_, i) => b.write([op(i)]));
    // Queued after the drain's own setImmediate: without a yield, every batch would be applied
    // in one chain of microtasks before this runs.
    let seen = -1;
    setImmediate(() => (seen = store.batches.length));
    await Promise.all(all);
    assert.equal(store.batches.length, 5);
    assert.ok(seen >= 1 && seen < 5, `I/O ran between batches (saw ${seen} of 5 applied)`);
  });

  it('lets writes that only retire queue entries wait for company: the next batch, maxLazyOps of them, or lazyMs', async () => {
    const store = new FakeStore();
    store.auto = true;
    const b = new StoreBatcher(store, { maxLazyOps: 3, lazyMs: 10_000 });
    const del = (seq: number): StoreOp => ({ op: 'queue.delete', clientId: 'c', seq });
    const first = track(b.write([del(1)]));
    await turn();
    await turn();
    assert.equal(store.batches.length, 0, 'a lone delete does not start a batch');
    track(b.write([op(1)]));
    await turn();
    assert.deepEqual(store.batches, [[del(1), op(1)]], 'it joins the next batch, in order');
    await turn();
    assert.equal(first.state, 'resolved');
    b.write([del(2)]);
    b.write([del(3)]);
    await turn();
    assert.equal(store.batches.length, 1);
    b.write([del(4)]);
    await turn();
    assert.deepEqual(store.batches[1], [del(2), del(3), del(4)], 'maxLazyOps of them go together');

    const soon = new StoreBatcher(store, { lazyMs: 20 });
    const late = track(soon.write([del(5)]));
    await turn();
    assert.equal(store.batches.length, 2);
    const deadline = Date.now() + 10_000;
    while (late.state === 'pending' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(late.state, 'resolved', 'applied once it waited lazyMs');
    assert.deepEqual(store.batches[2], [del(5)]);
    // flush() does not wait for company.
    const flushed = track(b.write([del(6)]));
    await b.flush();
    assert.equal(flushed.state, 'resolved');
  });

  it('flush applies what is queued and resolves once earlier writes settled', async () => {
    const store = new FakeStore();
    store.auto = true;
    const b = new StoreBatcher(store);
    await b.flush(); // nothing pending: resolves at once
    assert.equal(store.batches.length, 0);
    const w = track(b.write([op(1)]));
    await b.flush();
    assert.equal(w.state, 'resolved');
    assert.deepEqual(store.batches.map(topics), [['t1']]);
  });

  it('flush rejects when a write it waited for failed', async () => {
    const store = new FakeStore();
    const b = new StoreBatcher(store);
    const w = track(b.write([op(1)]));
    const f = b.flush();
    store.rejectNext(new Error('batch failed'));
    await assert.rejects(f, /batch failed/);
    assert.equal(w.state, 'rejected');
  });

  it('groups many writers into one MemoryStore transaction; one invalid op fails them all', async () => {
    const store = new MemoryStore();
    await store.open();
    let applies = 0;
    const apply = store.apply.bind(store);
    store.apply = (ops) => {
      applies++;
      return apply(ops);
    };
    const b = new StoreBatcher(store);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) writes.push(b.write([{ op: 'session.put', session: { clientId: `c${i}`, protocolVersion: 4, expiryInterval: 10 } }]));
    await Promise.all(writes);
    assert.equal(applies, 1);
    assert.equal((await store.open()).sessions.length, 100);
    const good = b.write([{ op: 'session.delete', clientId: 'c0' }]);
    const bad = b.write([{ op: 'inbound.put', clientId: 'nobody', packetId: 1 }]);
    await assert.rejects(good, /invalid store op/);
    await assert.rejects(bad, /invalid store op/);
    assert.equal((await store.open()).sessions.length, 100, 'the whole batch was rolled back');
  });
});
