// persistence=memory: the broker's memory is where sessions and queues live, and the store keeps
// nothing beside it (VolatileStore). The store on its own here; a persistent session's queue
// through a real broker in test/durability/memory-queues.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VolatileStore } from '../../src/store/memory/volatile-store.js';
import { openStore } from '../../src/server/server.js';
import { loadConfig } from '../../src/config/load.js';
import type { StoreOp } from '../../src/store/ports.js';

const ops: StoreOp[] = [
  { op: 'session.put', session: { clientId: 'c', protocolVersion: 5, expiryInterval: 60 } },
  { op: 'message.put', message: { id: 'm', topic: 't', payload: Buffer.alloc(1000), qos: 1, retain: false, createdAt: 1 } },
  { op: 'queue.put', clientId: 'c', entry: { seq: 1, messageId: 'm', qos: 1, retain: false, state: 'queued' } },
  { op: 'retained.put', message: { id: 'r', topic: 'r', payload: Buffer.from('x'), qos: 0, retain: true, createdAt: 1 } },
];

test('persistence=memory opens a store that keeps nothing: the broker’s memory is the only copy', async () => {
  const store = openStore(loadConfig({ env: {}, flags: { persistence: 'memory' } }));
  assert.ok(store instanceof VolatileStore);
  assert.equal(store.durable, false);
  await assert.rejects(store.apply(ops), /apply\(\) before open\(\)/);
  assert.deepEqual(await store.open(), { sessions: [], messages: new Map(), retained: [] });
  await store.apply(ops);
  assert.deepEqual(await store.open(), { sessions: [], messages: new Map(), retained: [] }, 'nothing is held, so nothing is read back');
  await store.close();
  await assert.rejects(store.apply(ops), /after close\(\)/);
});
