// A fixed sequence of queue batches for the SIGKILL test of packed bodies and entries (sqlite-store.test.ts):
// the child process applies them and the test replays them on MemoryStore, so both build batch i
// the same way. Two sessions: `fast` acknowledges in order one batch behind; `slow` keeps most of
// its entries, acknowledges some out of order and moves some to inflight, so packs outlive most of
// their items, tombstones are written and packs get rewritten.
import type { StoreOp } from '../../src/store/ports.js';

/** Bodies per batch; slow keeps one of them, so a pack is under a fifth live and gets rewritten. */
const W = 5;

export function queueBatch(i: number): StoreOp[] {
  if (i === 0) return ['fast', 'slow'].map((clientId): StoreOp => ({ op: 'session.put', session: { clientId, protocolVersion: 4, expiryInterval: 60 } }));
  const ops: StoreOp[] = [];
  for (let k = 0; k < W; k++) {
    const id = `m${i}.${k}`;
    const seq = i * W + k;
    ops.push({ op: 'message.put', message: { id, topic: `t/${i}`, payload: Buffer.alloc(300, i & 0xff), qos: 1, retain: false, createdAt: i } });
    ops.push({ op: 'queue.put', clientId: 'fast', entry: { seq, messageId: id, qos: 1, retain: false, state: 'queued' } });
    if (k === 0) ops.push({ op: 'queue.put', clientId: 'slow', entry: { seq, messageId: id, qos: 1, retain: false, state: 'queued' } });
    if (i > 1) ops.push({ op: 'queue.delete', clientId: 'fast', seq: seq - W });
  }
  if (i % 7 === 0 && i > 14) ops.push({ op: 'queue.delete', clientId: 'slow', seq: (i - 14) * W });
  if (i % 5 === 0 && i > 5) ops.push({ op: 'queue.put', clientId: 'slow', entry: { seq: (i - 5) * W, messageId: `m${i - 5}.0`, qos: 1, retain: false, state: 'inflight', packetId: i % 65_535 || 1 } });
  return ops;
}
