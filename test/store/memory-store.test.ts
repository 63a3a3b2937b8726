// MemoryStore against the shared store contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storeContract } from './contract.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';

storeContract('MemoryStore', async () => {
  let store = new MemoryStore();
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new MemoryStore(); // not durable: a new process would start with nothing
      return store;
    },
    cleanup: async () => {
      await store.close();
    },
  };
});

// A payload is held once: the memory store keeps the Buffer it was given (immutable throughout the
// broker), so with persistence=memory a retained or queued payload is not held a second time beside
// the broker's own copy (only the broker's counts against maxRetainedBytes / maxQueuedBytes).
test('MemoryStore keeps the payload Buffers it is given, not copies of them', async () => {
  const store = new MemoryStore();
  await store.open();
  const payload = Buffer.alloc(64 * 1024, 0x72);
  const correlationData = Buffer.from('corr');
  const message = { id: 'r', topic: 'r/1', payload, qos: 1 as const, retain: true, createdAt: 1, properties: { correlationData } };
  await store.apply([
    { op: 'retained.put', message },
    { op: 'session.put', session: { clientId: 'c', protocolVersion: 5, expiryInterval: 60 } },
    { op: 'message.put', message: { ...message, id: 'm', retain: false } },
    { op: 'queue.put', clientId: 'c', entry: { seq: 1, messageId: 'm', qos: 1, retain: false, state: 'queued' } },
  ]);
  const snap = await store.open();
  assert.equal(snap.retained[0].payload, payload, 'the retained payload is the same Buffer');
  assert.equal(snap.retained[0].properties?.correlationData, correlationData);
  assert.equal(snap.messages.get('m')!.payload, payload, 'the message body is the same Buffer');
  assert.notEqual(snap.retained[0], message, 'the record itself is the store\'s own');
  await store.close();
});
