// Queue and retained limits, with the behaviour the configuration promises: dropOldest keeps the
// newest messages, refuseNewest keeps the oldest, maxQueuedBytes bounds the bytes, and each way
// of losing a message is counted under its own drop reason. On SQLite the dropped entry is gone
// from the store too, so a restart does not bring it back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox, sleep, connectWithInbox } from '../helpers/mqttjs.js';
import { dataDir } from './helpers.js';
import { join } from 'node:path';

/** A persistent QoS 1 subscriber to `q/#` that goes offline. */
async function offlineSubscriber(t: TestServer, clientId: string): Promise<void> {
  const s = await connectClient(t.url(), { clientId, clean: false });
  await s.subscribeAsync('q/#', { qos: 1 });
  await endClient(s);
}

async function publishAll(t: TestServer, payloads: string[]): Promise<void> {
  const p = await connectClient(t.url(), { clientId: 'q-pub' });
  await Promise.all(payloads.map((x) => p.publishAsync('q/m', x, { qos: 1 })));
  await endClient(p);
}

/** Reconnects the subscriber and returns the payloads it receives (waits for `count`, then a little more). */
async function resume(t: TestServer, clientId: string, count: number): Promise<string[]> {
  const { client: s, inbox } = await connectWithInbox(t.url(), { clientId, clean: false });
  await inbox.waitFor(count);
  await sleep(150);
  await endClient(s);
  return inbox.messages.map((m) => m.payload.toString());
}

const five = ['0', '1', '2', '3', '4'];

describe('durability: queue limits', () => {
  const policies = [
    { policy: 'dropOldest', what: 'drops its oldest message for the new one', reason: 'queueFull', other: 'queueRefused', kept: ['2', '3', '4'] },
    { policy: 'refuseNewest', what: 'keeps what it has and refuses the new message', reason: 'queueRefused', other: 'queueFull', kept: ['0', '1', '2'] },
  ] as const;
  for (const { policy, what, reason, other, kept } of policies) {
    it(`${policy}: a full queue ${what}, counted as ${reason}`, async () => {
      const t = await startTestServer({ maxQueuedMessages: '3', queueOverflowPolicy: policy, sysIntervalSec: '0' });
      try {
        await offlineSubscriber(t, policy);
        await publishAll(t, five);
        assert.deepEqual(await resume(t, policy, 3), kept);
        assert.equal(t.server.broker.stats.drops[reason], 2);
        assert.equal(t.server.broker.stats.drops[other], 0);
      } finally {
        await t.close();
      }
    });
  }

  it('maxQueuedBytes bounds the queue by size; a message larger than the whole limit is refused even under dropOldest', async () => {
    // Each message counts topic + payload: 3 + 30 = 33 bytes; three fit in 100.
    const t = await startTestServer({ maxQueuedBytes: '100', sysIntervalSec: '0' });
    try {
      await offlineSubscriber(t, 'bytes');
      await publishAll(t, five.map((x) => x.repeat(30)));
      await publishAll(t, ['x'.repeat(200)]);
      assert.deepEqual(await resume(t, 'bytes', 3), ['2', '3', '4'].map((x) => x.repeat(30)));
      assert.equal(t.server.broker.stats.drops.queueFull, 2, 'two oldest dropped for newer ones');
      assert.equal(t.server.broker.stats.drops.queueRefused, 1, 'the oversized one refused');
    } finally {
      await t.close();
    }
  });

  it('on SQLite a dropped entry leaves the store with its body: after a restart it is not redelivered', async () => {
    const dir = dataDir();
    const config = { persistence: 'sqlite', dataDir: dir, maxQueuedMessages: '3', sysIntervalSec: '0' };
    let t = await startTestServer(config);
    try {
      await offlineSubscriber(t, 'drop-sqlite');
      await publishAll(t, five);
    } finally {
      await t.close();
    }
    const store = new SqliteStore({ path: join(dir, 'starling.db') });
    const snapshot = await store.open();
    await store.close();
    const session = snapshot.sessions.find((s) => s.session.clientId === 'drop-sqlite');
    assert.equal(session?.queue.length, 3, 'three entries stored');
    assert.deepEqual([...snapshot.messages.values()].map((m) => m.payload.toString()).sort(), ['2', '3', '4'], 'the dropped bodies are gone');
    t = await startTestServer(config);
    try {
      assert.deepEqual(await resume(t, 'drop-sqlite', 3), ['2', '3', '4']);
    } finally {
      await t.close();
    }
  });

  it('maxRetainedMessages: retaining on a new topic beyond the limit is refused and counted as retainedLimit; existing topics still update', async () => {
    const t = await startTestServer({ maxRetainedMessages: '2', sysIntervalSec: '0' });
    try {
      const p = await connectClient(t.url(), { clientId: 'ret-pub' });
      for (const topic of ['r/a', 'r/b', 'r/c']) await p.publishAsync(topic, topic, { qos: 1, retain: true });
      await p.publishAsync('r/a', 'r/a again', { qos: 1, retain: true });
      await endClient(p);
      assert.equal(t.server.broker.stats.drops.retainedLimit, 1);
      assert.equal(t.server.broker.retained.size, 2);
      const s = await connectClient(t.url(), { clientId: 'ret-sub' });
      const inbox = new Inbox(s);
      await s.subscribeAsync('r/#', { qos: 1 });
      await inbox.waitFor(2);
      await sleep(150);
      assert.deepEqual(inbox.messages.map((m) => `${m.topic}=${m.payload}`).sort(), ['r/a=r/a again', 'r/b=r/b']);
      await endClient(s);
    } finally {
      await t.close();
    }
  });
});
