// Session expiry cleanup does not stall the event loop: thousands of persistent sessions (each
// with a subscription and a queued message) expire at the same moment while a client keeps
// pinging and publishing; every packet is answered and the loop never blocks for long.
//
// "Blocks" is measured as CPU time: the most CPU the process used between two ticks of a 5 ms
// sampler. The broker ends expired sessions in slices and deletes them in small background
// batches, each a few milliseconds, so 250 ms of uninterrupted work means a real regression. Wall
// time is reported but not asserted: on a loaded 2-core machine the process can wait hundreds of
// milliseconds for a CPU with nothing of its own to do (seen before any session had expired).
// The sessions expire EXPIRY_SEC after seeding; seeding and recovering them takes about half a
// second here and three on a loaded machine, and the test checks it watched from before the first.
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
const EXPIRY_SEC = 8;
const MAX_BUSY_MS = 250;

/** Writes SESSIONS offline persistent sessions that all expire EXPIRY_SEC after `now`. */
async function seed(dir: string, now: number): Promise<void> {
  const store = new SqliteStore({ path: join(dir, 'starling.db') });
  await store.open();
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

interface Pause {
  ms: number;
  /** Sessions left before and after the pause: says whether expiry was going on. */
  sessions: string;
}

/** The longest gaps between ticks of a 5 ms timer, by wall time and by CPU time used in them. */
function watchPauses(sessions: () => number): { stop(): void; wall: Pause; busy: Pause } {
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const result = { wall: { ms: 0, sessions: '' }, busy: { ms: 0, sessions: '' }, stop: () => clearInterval(timer) };
  let wall = performance.now();
  let cpu = cpuMs();
  let before = sessions();
  const timer = setInterval(() => {
    const [w, c, after] = [performance.now(), cpuMs(), sessions()];
    if (w - wall > result.wall.ms) result.wall = { ms: Math.round(w - wall), sessions: `${before} → ${after}` };
    if (c - cpu > result.busy.ms) result.busy = { ms: Math.round(c - cpu), sessions: `${before} → ${after}` };
    [wall, cpu, before] = [w, c, after];
  }, 5);
  return result;
}

describe('durability: session expiry cleanup', () => {
  it(`${SESSIONS} persistent sessions expiring at once: PINGREQ and QoS 0 keep being answered, no event-loop stall`, async (t) => {
    const dir = dataDir();
    const seeded = Date.now();
    await seed(dir, seeded);
    const server = await startTestServer({ persistence: 'sqlite', dataDir: dir, sysIntervalSec: '0' });
    const broker = server.server.broker;
    // Watched from here, before the first expiry (recovery itself, one synchronous read, is not).
    const monitor = monitorEventLoopDelay({ resolution: 10 });
    monitor.enable();
    const pauses = watchPauses(() => broker.sessions.size);
    let client: WireClient | undefined;
    try {
      const startedIn = Date.now() - seeded;
      assert.equal(broker.sessions.size, SESSIONS, `the sessions were recovered before they expired (seed + start took ${startedIn} ms of ${EXPIRY_SEC * 1000})`);
      ({ client } = await WireClient.connect(server.port(), { clientId: 'pinger' }));
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ping/#', qos: 0 }] });
      assert.equal((await client.next()).cmd, 'suback');
      const deadline = Date.now() + (EXPIRY_SEC + 20) * 1000;
      let rounds = 0;
      let afterExpiry = 0;
      // Bounded by count and time; goes on 20 rounds (200 ms and more) past the expiry so the
      // store writes it caused, which trail it by a batch or two, happen while the client is served.
      for (; rounds < 5000 && Date.now() < deadline && afterExpiry < 20; rounds++) {
        client.send({ cmd: 'pingreq' });
        assert.equal((await client.next(5000)).cmd, 'pingresp');
        client.send({ cmd: 'publish', topic: `ping/${rounds}`, payload: Buffer.from(String(rounds)), qos: 0 });
        const p = await client.next(5000);
        assert.deepEqual([p.cmd, p.topic], ['publish', `ping/${rounds}`]);
        if (broker.sessions.size === 1) afterExpiry++;
        await new Promise((r) => setTimeout(r, 10));
      }
      pauses.stop();
      monitor.disable();
      const { wall, busy } = pauses;
      const delay = `eventLoopDelay max=${(monitor.max / 1e6).toFixed(1)} ms p99=${(monitor.percentile(99) / 1e6).toFixed(1)} ms`;
      const report = `startup=${startedIn} ms rounds=${rounds} ${delay}; longest pause ${wall.ms} ms (sessions ${wall.sessions}); most CPU in one pause ${busy.ms} ms (sessions ${busy.sessions})`;
      t.diagnostic(report);
      assert.equal(broker.sessions.size, 1, 'every seeded session expired; only the pinger is left');
      assert.ok(busy.ms < MAX_BUSY_MS, `the event loop never worked ${MAX_BUSY_MS} ms without a break: ${report}`);
    } finally {
      pauses.stop();
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
