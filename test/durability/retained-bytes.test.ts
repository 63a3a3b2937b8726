// maxRetainedBytes: the retained store is bounded by bytes (topic + payload + properties) as well as
// by count. Over MQTT with MQTT.js, on the memory and the SQLite store; on SQLite the byte total is
// rebuilt from the store at start-up, so the budget holds across a restart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { limitHits } from '../helpers/metrics.js';
import { retainedBytes } from '../../src/router/retained.js';
import { dataDir } from './helpers.js';
import { makeBroker } from '../helpers/channel.js';
import type { StoredMessage } from '../../src/store/ports.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { join } from 'node:path';

/** What a new subscriber to `filter` receives as retained, as topic=payload-length, sorted. */
async function retainedSeen(t: TestServer, filter: string, expected: number): Promise<string[]> {
  const s = await connectClient(t.url(), { clientId: `seen-${Math.random().toString(36).slice(2)}` });
  const inbox = new Inbox(s);
  await s.subscribeAsync(filter, { qos: 1 });
  if (expected > 0) await inbox.waitFor(expected);
  await sleep(200);
  await endClient(s);
  return inbox.messages.map((m) => `${m.topic}=${m.payload.length}`).sort();
}

/** Sum of what the index holds, counted message by message: must equal the running total. */
function recount(t: TestServer): number {
  let n = 0;
  for (const m of t.server.broker.retained.all()) n += retainedBytes(m);
  return n;
}

// Topic `rb/x` is 4 bytes: a 396-byte payload makes a 400-byte retained message.
const P400 = 'x'.repeat(396);

for (const persistence of ['memory', 'sqlite'] as const) {
  describe(`maxRetainedBytes (${persistence} store)`, () => {
    it('refuses growth past the budget and counts it; a smaller replacement and a clear always work; a refused replacement clears the stale value', async () => {
      const flags: Record<string, string> = { maxRetainedBytes: '1000', sysIntervalSec: '0', persistence };
      if (persistence === 'sqlite') flags.dataDir = dataDir();
      const t = await startTestServer(flags);
      try {
        const p = await connectClient(t.url(), { clientId: 'rb-pub', protocolVersion: 5 });
        await p.publishAsync('rb/a', P400, { qos: 1, retain: true });
        await p.publishAsync('rb/b', P400, { qos: 1, retain: true });
        assert.equal(t.server.broker.retained.bytes, 800);
        // 1200 > 1000: not kept, counted both as a drop and as the limit's hit.
        await p.publishAsync('rb/c', P400, { qos: 1, retain: true });
        assert.equal(t.server.broker.retained.size, 2);
        assert.equal(t.server.broker.stats.drops.retainedLimit, 1);
        assert.equal(await limitHits(t, 'maxRetainedBytes'), 1);
        // Replacing with a smaller message always fits, and frees room.
        await p.publishAsync('rb/a', 'small', { qos: 1, retain: true });
        assert.equal(t.server.broker.retained.bytes, 400 + 4 + 5);
        await p.publishAsync('rb/c', P400, { qos: 1, retain: true });
        assert.equal(t.server.broker.retained.bytes, 800 + 9);
        // Properties count too: a User Property of 200 bytes pushes this one over.
        await p.publishAsync('rb/d', 'y', { qos: 1, retain: true, properties: { userProperties: { k: 'v'.repeat(200) } } });
        assert.equal(t.server.broker.retained.get('rb/d'), undefined, 'user properties are counted');
        // A larger replacement that does not fit is refused, and the topic's older value goes with it.
        await p.publishAsync('rb/b', 'z'.repeat(600), { qos: 1, retain: true });
        assert.equal(t.server.broker.retained.get('rb/b'), undefined, 'no stale value left behind');
        assert.equal(await limitHits(t, 'maxRetainedBytes'), 3);
        // Clearing with an empty payload always works [MQTT-3.3.1-10].
        await p.publishAsync('rb/c', '', { qos: 1, retain: true });
        assert.equal(t.server.broker.retained.bytes, 9);
        assert.equal(recount(t), t.server.broker.retained.bytes, 'the running total is the sum of its parts');
        await endClient(p);
        assert.deepEqual(await retainedSeen(t, 'rb/#', 1), ['rb/a=5']);
      } finally {
        await t.close();
      }
    });
  });
}

describe('maxRetainedBytes across a restart (SQLite)', () => {
  it('rebuilds the byte total from the store; under a smaller budget new topics are refused but smaller replacements still work', async () => {
    const dir = dataDir();
    const base = { persistence: 'sqlite', dataDir: dir, sysIntervalSec: '0' };
    let t = await startTestServer({ ...base, maxRetainedBytes: '10000' });
    try {
      const p = await connectClient(t.url(), { clientId: 'rb-restart' });
      for (const topic of ['rb/a', 'rb/b', 'rb/c']) await p.publishAsync(topic, P400, { qos: 1, retain: true });
      await endClient(p);
      assert.equal(t.server.broker.retained.bytes, 1200);
    } finally {
      await t.close();
    }
    // Restarted with a budget below what the store holds: everything stored is kept (and counted).
    t = await startTestServer({ ...base, maxRetainedBytes: '1000' });
    try {
      assert.equal(t.server.broker.retained.size, 3);
      assert.equal(t.server.broker.retained.bytes, 1200, 'the total is rebuilt on recovery');
      const p = await connectClient(t.url(), { clientId: 'rb-restart' });
      await p.publishAsync('rb/new', 'n', { qos: 1, retain: true });
      assert.equal(t.server.broker.retained.get('rb/new'), undefined, 'over budget: a new topic is refused');
      await p.publishAsync('rb/a', 'a', { qos: 1, retain: true });
      assert.equal(t.server.broker.retained.get('rb/a')?.payload.toString(), 'a', 'a smaller replacement works even over budget');
      await p.publishAsync('rb/b', '', { qos: 1, retain: true });
      await endClient(p);
      assert.equal(t.server.broker.retained.bytes, 5 + 400);
      assert.equal(t.server.broker.stats.limits.maxRetainedBytes, 1);
      assert.deepEqual(await retainedSeen(t, 'rb/#', 2), ['rb/a=1', 'rb/c=396']);
    } finally {
      await t.close();
    }
  });
});

describe('maxRetainedBytes for copies from other workers and cluster nodes', () => {
  it('a copy from another process (start-up copy or live forward) meets the same budget through the same check', async () => {
    const broker = await makeBroker({ maxRetainedBytes: 1000 });
    try {
      const copy = (topic: string, payload: string, publisherId?: string): StoredMessage => ({
        id: broker.ids.next(), topic, payload: Buffer.from(payload), qos: 0, retain: true, createdAt: Date.now(), ...(publisherId ? { publisherId } : {}),
      });
      const local = broker.localRetained();
      // A starting worker's copy of the running one's retained messages (ipc-link welcome) / a cluster bucket load.
      local.set(copy('rb/a', P400));
      local.set(copy('rb/b', P400));
      local.set(copy('rb/c', P400));
      assert.deepEqual([...broker.retained.all()].map((m) => m.topic).sort(), ['rb/a', 'rb/b']);
      // A live retained message from another worker or node (routeRemote with the retain flag).
      broker.routeRemote(copy('rb/d', P400, 'elsewhere'));
      assert.equal(broker.retained.get('rb/d'), undefined);
      assert.equal(broker.stats.limits.maxRetainedBytes, 2);
      assert.equal(broker.stats.drops.retainedLimit, 2);
      assert.equal(broker.retained.bytes, 800);
    } finally {
      await broker.close();
    }
  });
});

describe('retained messages no packet can carry (stored by an older version)', () => {
  it('are removed at start-up, from the store too, so new # subscribers are served', async () => {
    const dir = dataDir();
    const store = new SqliteStore({ path: join(dir, 'starling.db') });
    await store.open();
    const message = (topic: string): StoredMessage => ({ id: `old-${topic.length}`, topic, payload: Buffer.from('v'), qos: 0, retain: true, createdAt: Date.now() });
    await store.apply([{ op: 'retained.put', message: message('é'.repeat(40_000)) }, { op: 'retained.put', message: message('fine/one') }]);
    await store.close();
    const base = { persistence: 'sqlite', dataDir: dir, sysIntervalSec: '0' };
    let t = await startTestServer(base);
    try {
      assert.deepEqual([...t.server.broker.retained.all()].map((m) => m.topic), ['fine/one']);
      assert.deepEqual(await retainedSeen(t, '#', 1), ['fine/one=1']);
    } finally {
      await t.close();
    }
    t = await startTestServer(base);
    try {
      assert.equal(t.server.broker.retained.size, 1, 'the removal was written to the store');
    } finally {
      await t.close();
    }
  });
});

describe('maxRetainedBytes counts what is held: a retained payload is held once (memory store)', () => {
  it('the memory store keeps the very Buffer the retained index holds (no second copy beside the counted one)', async () => {
    const store = new MemoryStore();
    const t = await startTestServer({ sysIntervalSec: '0' }, { store });
    try {
      const p = await connectClient(t.url(), { clientId: 'held-once', protocolVersion: 5 });
      // Larger than one socket read: the packet arrives in pieces, as the soak's 900 KiB ones do.
      const payload = Buffer.alloc(900 * 1024, 0x72);
      await p.publishAsync('held/once', payload, { qos: 1, retain: true });
      await endClient(p);
      const held = t.server.broker.retained.get('held/once');
      assert.ok(held, 'retained');
      assert.equal(t.server.broker.retained.bytes, retainedBytes(held));
      const stored = (await store.open()).retained.find((m) => m.topic === 'held/once');
      assert.ok(stored, 'stored');
      assert.equal(stored.payload, held.payload, 'one Buffer, held by both');
      assert.ok(held.payload.buffer.byteLength <= payload.length + 4096, `the payload pins ${held.payload.buffer.byteLength} bytes for ${payload.length}`);
    } finally {
      await t.close();
    }
  });
});
