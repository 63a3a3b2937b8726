// Seeded fuzzing over real sockets: thousands of malformed and mutated packets over TCP and
// WebSocket. After every batch the broker must be alive, every offending connection closed, and
// a healthy client must still publish and receive.
//
// Which mutated streams break the protocol is not known in advance (a flipped payload byte is
// still a valid PUBLISH; a truncated packet leaves the broker waiting for the rest). So each
// stream ends with a violation no parser state can absorb: more zero bytes than the largest packet
// the broker accepts fill any packet it is waiting for, and then a 0x00 byte is the reserved
// packet type 0 (§2.1.2: reserved, a malformed packet). Every fuzz connection has then been sent a violation
// and must be closed by the broker, batch by batch.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { WebSocket } from 'ws';
import { validVectors } from '../vectors/catalogue.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** mulberry32: a small seeded PRNG so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const BATCHES = 20;
const CONNECTIONS_PER_BATCH = 16;
const PACKETS_PER_CONNECTION = 12;
/** mqttMessageMaxLength of the fuzzed broker: no pending packet is longer. */
const MAX_PACKET = 4096;
const TERMINAL_VIOLATION = Buffer.alloc(MAX_PACKET + 1, 0);

function mutate(rand: () => number, bytes: Buffer): Buffer {
  const b = Buffer.from(bytes);
  switch (Math.floor(rand() * 6)) {
    case 0: // flip bytes
      for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n && b.length > 0; i++) b[Math.floor(rand() * b.length)] ^= 1 + Math.floor(rand() * 255);
      return b;
    case 1: // truncate
      return b.subarray(0, Math.floor(rand() * b.length));
    case 2: // insert random bytes
      return Buffer.concat([b.subarray(0, 1), Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256))), b.subarray(1)]);
    case 3: // garbage remaining length
      return Buffer.concat([b.subarray(0, 1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), b.subarray(2)]);
    case 4: // pure noise
      return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
    default: // unchanged: valid packets in odd places (a second CONNECT, server-only packets, ...)
      return b;
  }
}

interface Target {
  send(data: Buffer): void;
  /** Resolves true if the broker closed the connection within the time. */
  closedByBroker(ms: number): Promise<boolean>;
  destroy(): void;
}

/** Resolves true once `source` emits close within `ms`; remembers a close that came earlier. */
function closeWatcher(source: { on(event: 'close', cb: () => void): unknown }): (ms: number) => Promise<boolean> {
  let closed = false;
  const waiters: Array<() => void> = [];
  source.on('close', () => {
    closed = true;
    waiters.forEach((w) => w());
  });
  return (ms) =>
    closed
      ? Promise.resolve(true)
      : new Promise((r) => {
          const t = setTimeout(() => r(false), ms);
          waiters.push(() => {
            clearTimeout(t);
            r(true);
          });
        });
}

function openTcp(port: number): Promise<Target> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => {
      // Read (and discard) what the broker sends: a socket never read sees no FIN, so no 'close'.
      s.resume();
      resolve({ send: (d) => void s.write(d), closedByBroker: closeWatcher(s), destroy: () => s.destroy() });
    });
    s.on('error', () => {});
    s.once('error', reject);
  });
}

function openWs(url: string): Promise<Target> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mqtt');
    ws.on('error', () => {});
    ws.once('open', () => {
      resolve({
        send: (d) => {
          if (ws.readyState === ws.OPEN) ws.send(d, { binary: true });
        },
        closedByBroker: closeWatcher(ws),
        destroy: () => ws.terminate(),
      });
    });
    ws.once('unexpected-response', () => reject(new Error('websocket upgrade refused')));
  });
}

describe('fuzzing over real sockets', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ connectTimeoutSec: '2', mqttMessageMaxLength: String(MAX_PACKET) });
  });
  after(() => t.close());

  for (const transport of ['tcp', 'ws'] as const) {
    it(`survives ${BATCHES * CONNECTIONS_PER_BATCH * PACKETS_PER_CONNECTION} mutated packets over ${transport} (seed ${SEED})`, async () => {
      const rand = prng(SEED + (transport === 'ws' ? 1 : 0));
      const sub = await connectClient(t.url(), { clientId: `fuzz-health-sub-${transport}` });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('health/#', { qos: 1 });
      const pub = await connectClient(t.url(), { clientId: `fuzz-health-pub-${transport}` });
      const baseline = t.server.connections.size;
      let closedByFuzz = 0;
      let sent = 0;

      for (let batch = 0; batch < BATCHES; batch++) {
        const targets = await Promise.all(
          Array.from({ length: CONNECTIONS_PER_BATCH }, () => (transport === 'tcp' ? openTcp(t.port()) : openWs(t.url('ws')))),
        );
        for (const target of targets) {
          const version = rand() < 0.5 ? 4 : 5;
          const pool = validVectors.filter((v) => v.version === version);
          const connects = pool.filter((v) => v.packet.type === 'connect');
          // Usually a proper CONNECT first, so the fuzz reaches the connected state too.
          if (rand() < 0.8) target.send(connects[Math.floor(rand() * connects.length)].bytes);
          for (let i = 0; i < PACKETS_PER_CONNECTION; i++) {
            target.send(mutate(rand, pool[Math.floor(rand() * pool.length)].bytes));
            sent++;
          }
        }
        // Most mutated streams already broke the protocol; the rest get the terminal violation.
        const early = await Promise.all(targets.map((x) => x.closedByBroker(150)));
        closedByFuzz += early.filter(Boolean).length;
        targets.forEach((x, i) => early[i] || x.send(TERMINAL_VIOLATION));
        const closed = await Promise.all(targets.map((x) => x.closedByBroker(3000)));
        const open = closed.flatMap((c, i) => (c ? [] : [i]));
        assert.deepEqual(open, [], `batch ${batch} (seed ${SEED}): connections ${open.join(', ')} were sent a violation and not closed by the broker`);
        targets.forEach((x) => x.destroy());

        // The broker is alive and serves a healthy client after every batch.
        await pub.publishAsync('health/check', `${transport}-${batch}`, { qos: 1 });
        const got = await inbox.waitFor(batch + 1, 3000);
        assert.equal(got[batch].payload.toString(), `${transport}-${batch}`);
      }

      // Every fuzz connection is gone from the broker (nothing leaked), the healthy ones stay.
      const deadline = Date.now() + 3000;
      while (t.server.connections.size > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(t.server.connections.size, baseline);
      assert.ok(sub.connected && pub.connected, 'healthy clients untouched');
      // The mutations themselves are hostile enough: most streams were closed before the terminal violation.
      assert.ok(closedByFuzz > (BATCHES * CONNECTIONS_PER_BATCH) / 2, `mutations alone closed ${closedByFuzz} connections`);
      assert.equal(sent, BATCHES * CONNECTIONS_PER_BATCH * PACKETS_PER_CONNECTION);
      await Promise.all([endClient(sub), endClient(pub)]);
    });
  }
});
