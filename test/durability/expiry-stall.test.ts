// Session expiry cleanup does not stall the event loop: thousands of persistent sessions (each
// with a subscription and a queued message) expire at the same moment while a client keeps
// pinging and publishing; every packet is answered and the loop never blocks for long. The bound
// is generous (it proves "no stall", not a speed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { StoreOp } from '../../src/store/ports.js';
import { startTestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/wire.js';
import { dataDir } from './helpers.js';

const SESSIONS: number = 12_000;
const EXPIRY_SEC = 3;
const MAX_LOOP_DELAY_MS = 1000;

/** Writes SESSIONS offline persistent sessions that all expire EXPIRY_SEC from now. */
async function seed(dir: string): Promise<void> {
  const store = new SqliteStore({ path: join(dir, 'starling.db') });
  await store.open();
  const now = Date.now();
  const ops: StoreOp[] = [{ op: 'message.put', message: { id: 'm1', topic: 'exp/t', payload: Buffer.from('queued'), qos: 1, retain: false, createdAt: now } }];
  for (let i = 0; i < SESSIONS; i++) {
    const clientId = `exp-${i}`;
    ops.push(
      { op: 'session.put', session: { clientId, protocolVersion: 4, expiryInterval: EXPIRY_SEC, disconnectedAt: now } },
      { op: 'subscription.put', clientId, subscription: { filter: `exp/${i}/#`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 } },
      { op: 'queue.put', clientId, entry: { seq: 1, messageId: 'm1', qos: 1, retain: false, state: 'queued' } },
    );
  }
  await store.apply(ops);
  await store.close();
}

describe('durability: session expiry cleanup', () => {
  it(`${SESSIONS} persistent sessions expiring at once: PINGREQ and QoS 0 keep being answered, no event-loop stall`, async (t) => {
    const dir = dataDir();
    await seed(dir);
    const server = await startTestServer({ persistence: 'sqlite', dataDir: dir, sysIntervalSec: '0' });
    const broker = server.server.broker;
    const monitor = monitorEventLoopDelay({ resolution: 10 });
    let client: WireClient | undefined;
    try {
      assert.equal(broker.sessions.size, SESSIONS, 'the sessions were recovered before they expired');
      ({ client } = await WireClient.connect(server.port(), { clientId: 'pinger' }));
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ping/#', qos: 0 }] });
      assert.equal((await client.next()).cmd, 'suback');
      monitor.enable();
      const deadline = Date.now() + (EXPIRY_SEC + 20) * 1000;
      let rounds = 0;
      let afterExpiry = 0;
      // Bounded by count and time; goes on a few rounds past the expiry so the store writes it
      // caused happen while the client is being served.
      for (; rounds < 5000 && Date.now() < deadline && afterExpiry < 20; rounds++) {
        client.send({ cmd: 'pingreq' });
        assert.equal((await client.next(5000)).cmd, 'pingresp');
        client.send({ cmd: 'publish', topic: `ping/${rounds}`, payload: Buffer.from(String(rounds)), qos: 0 });
        const p = await client.next(5000);
        assert.deepEqual([p.cmd, p.topic], ['publish', `ping/${rounds}`]);
        if (broker.sessions.size === 1) afterExpiry++;
        else await new Promise((r) => setTimeout(r, 10));
      }
      monitor.disable();
      const maxMs = monitor.max / 1e6;
      t.diagnostic(`rounds=${rounds} eventLoopDelay max=${maxMs.toFixed(1)} ms p99=${(monitor.percentile(99) / 1e6).toFixed(1)} ms`);
      assert.equal(broker.sessions.size, 1, 'every seeded session expired; only the pinger is left');
      assert.ok(maxMs < MAX_LOOP_DELAY_MS, `event loop delay stayed under ${MAX_LOOP_DELAY_MS} ms (max ${maxMs.toFixed(1)} ms)`);
    } finally {
      monitor.disable();
      client?.end();
      await server.close();
    }
    const store = new SqliteStore({ path: join(dir, 'starling.db') });
    const snapshot = await store.open();
    await store.close();
    assert.equal(snapshot.sessions.length, 0, 'the expired sessions left the store');
    assert.equal(snapshot.messages.size, 0, 'with their queued message');
  });
});
