// Expired retained messages are removed [MQTT-3.3.2-5]: from the index, by a periodic sweep that
// looks at a bounded slice per tick, and from the store (retained.delete), so a restart does not
// load them again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RetainedIndex } from '../../src/router/retained.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { StoredMessage } from '../../src/store/ports.js';
import { makeBroker } from '../helpers/channel.js';
import { HeldStore } from '../helpers/held-store.js';
import { startTestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { waitUntil } from '../helpers/wait.js';
import { dataDir } from './helpers.js';

const retained = (topic: string, expiresAt?: number): StoredMessage => {
  const m: StoredMessage = { id: topic, topic, payload: Buffer.from(topic), qos: 1, retain: true, createdAt: 0 };
  if (expiresAt !== undefined) m.expiresAt = expiresAt;
  return m;
};

async function storedRetained(dir: string): Promise<string[]> {
  const store = new SqliteStore({ path: join(dir, 'starling.db') });
  const snapshot = await store.open();
  await store.close();
  return snapshot.retained.map((m) => m.topic).sort();
}

describe('durability: expired retained messages are removed [MQTT-3.3.2-5]', () => {
  it('RetainedIndex.sweepExpired looks at no more than maxScan messages per call, carrying on where it stopped', () => {
    const index = new RetainedIndex();
    for (let i = 0; i < 10; i++) index.set(retained(`t/${i}`, i % 2 === 0 ? 100 : undefined));
    const removed: string[] = [];
    let calls = 0;
    while (index.size > 5 && calls < 10) {
      const gone = index.sweepExpired(100, 3);
      assert.ok(gone.length <= 2, 'three looked at, of which at most two expired');
      removed.push(...gone);
      calls++;
    }
    assert.equal(calls, 3, 'the last expired one is the ninth: three calls of three');
    assert.deepEqual(removed.sort(), ['t/0', 't/2', 't/4', 't/6', 't/8']);
    assert.deepEqual(index.sweepExpired(100), [], 'nothing left to remove');
  });

  it('memory store: the sweep removes expired retained messages and writes retained.delete', async () => {
    let clock = 1_000_000;
    const store = new HeldStore();
    const broker = await makeBroker({ store, now: () => clock, retainedSweep: { intervalMs: 10, maxScanPerTick: 2 } });
    try {
      for (let i = 0; i < 5; i++) await broker.route(retained(`x/${i}`, clock + 1000));
      await broker.route(retained('x/keep', clock + 60_000));
      await broker.route(retained('x/forever'));
      await sleep(50);
      assert.equal(broker.retained.size, 7, 'nothing expired yet');
      clock += 1000;
      await waitUntil(() => broker.retained.size === 2, 'the sweep');
      assert.deepEqual([...broker.retained.all()].map((m) => m.topic).sort(), ['x/forever', 'x/keep']);
      await waitUntil(() => store.opNames().filter((o) => o === 'retained.delete').length === 5, 'the deletes to reach the store');
      const snapshot = await store.inner.open();
      assert.deepEqual(snapshot.retained.map((m) => m.topic).sort(), ['x/forever', 'x/keep']);
    } finally {
      await broker.close();
    }
  });

  it('SQLite: swept while running, and one that expired while the broker was down is neither delivered nor kept after a restart', async () => {
    const dir = dataDir();
    const config = { persistence: 'sqlite', dataDir: dir, sysIntervalSec: '0' };
    let t = await startTestServer(config);
    try {
      const pub = await connectClient(t.url(), { clientId: 'rx-pub', protocolVersion: 5 });
      await pub.publishAsync('rx/live', 'a', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
      await pub.publishAsync('rx/keep', 'b', { qos: 1, retain: true, properties: { messageExpiryInterval: 600 } });
      // The default sweep runs every second.
      await waitUntil(() => t.server.broker.retained.get('rx/live') === undefined, 'the live sweep', 5000);
      await pub.publishAsync('rx/down', 'c', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
      await endClient(pub);
    } finally {
      await t.close();
    }
    assert.deepEqual(await storedRetained(dir), ['rx/down', 'rx/keep'], 'rx/live left the store while the broker ran');
    await sleep(1100); // rx/down expires while the broker is down
    t = await startTestServer(config);
    try {
      assert.equal(t.server.broker.retained.get('rx/down'), undefined, 'not loaded at start-up');
      const sub = await connectClient(t.url(), { clientId: 'rx-sub', protocolVersion: 5 });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('rx/#', { qos: 1 });
      await inbox.waitFor(1);
      await sleep(150);
      assert.deepEqual(inbox.messages.map((m) => m.topic), ['rx/keep']);
      await endClient(sub);
    } finally {
      await t.close();
    }
    assert.deepEqual(await storedRetained(dir), ['rx/keep'], 'the start-up sweep removed rx/down from the store');
  });
});
