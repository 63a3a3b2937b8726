// Crash tests: a real broker process on SQLite is killed with SIGKILL mid-stream and started again
// on the same data directory. Nothing it acknowledged may be lost; QoS 2 is delivered exactly once.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'starling-crash-'));
  dirs.push(d);
  return d;
}

const flags = (dir: string, port = 0) => ({ mqttListeners: `mqtt://127.0.0.1:${port}`, persistence: 'sqlite', dataDir: dir });

/**
 * Publishes `total` messages (payload = sequence number) with at most `window` unacknowledged,
 * recording which were acknowledged; calls `onAcked` as acknowledgements arrive. Stops when the
 * connection drops.
 */
async function stream(
  client: MqttClient,
  topic: string,
  qos: 1 | 2,
  total: number,
  onAcked: (n: number) => void,
): Promise<Set<number>> {
  const acked = new Set<number>();
  const window = 50;
  let next = 0;
  let outstanding = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (client.connected && outstanding < window && next < total) {
        const seq = next++;
        outstanding++;
        client.publish(topic, String(seq), { qos }, (err) => {
          outstanding--;
          if (!err) {
            acked.add(seq);
            onAcked(acked.size);
          }
          if (next >= total && outstanding === 0) resolve();
          // MQTT.js fails queued publishes synchronously when the socket dies: do not recurse.
          else setImmediate(pump);
        });
      }
    };
    client.once('close', () => resolve());
    pump();
  });
  return acked;
}

/** Collects payloads as sequence numbers until `expected` are all present or no more arrive. */
async function collect(inbox: Inbox, expected: Set<number>, timeoutMs = 20_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let lastCount = -1;
  let quietSince = Date.now();
  for (;;) {
    const got = new Set(inbox.messages.map((m) => Number(m.payload.toString())));
    if ([...expected].every((s) => got.has(s))) break;
    if (inbox.messages.length !== lastCount) {
      lastCount = inbox.messages.length;
      quietSince = Date.now();
    }
    if (Date.now() > deadline || Date.now() - quietSince > 3000) break;
    await sleep(25);
  }
  await sleep(200); // let stragglers (duplicates) arrive so they are counted
  return inbox.messages.map((m) => Number(m.payload.toString()));
}

function missing(expected: Set<number>, got: number[]): number[] {
  const have = new Set(got);
  return [...expected].filter((s) => !have.has(s));
}

function duplicates(got: number[]): number {
  return got.length - new Set(got).size;
}

describe('durability: SIGKILL mid-stream', () => {
  it('offline persistent subscribers get every acknowledged QoS 1 (at least once) and QoS 2 (exactly once) message', async () => {
    const dir = dataDir();
    let broker: BrokerProcess = await startBrokerProcess(flags(dir));
    const port = broker.port();
    const url = `mqtt://127.0.0.1:${port}`;
    for (const [id, qos] of [['crash-q1', 1], ['crash-q2', 2]] as const) {
      const s = await connectClient(url, { clientId: id, clean: false });
      await s.subscribeAsync(`crash/q${qos}`, { qos });
      await endClient(s);
    }
    const pub1 = await connectClient(url, { clientId: 'crash-pub1' });
    const pub2 = await connectClient(url, { clientId: 'crash-pub2' });
    let killed = false;
    const killAt = (n: number): void => {
      if (!killed && n >= 800) {
        killed = true;
        broker.child.kill('SIGKILL');
      }
    };
    const [acked1, acked2] = await Promise.all([
      stream(pub1, 'crash/q1', 1, 3000, killAt),
      stream(pub2, 'crash/q2', 2, 3000, killAt),
    ]);
    pub1.end(true);
    pub2.end(true);
    assert.ok(killed, 'the broker was killed mid-stream');
    await broker.kill();
    assert.ok(acked1.size >= 800 || acked2.size >= 800, 'acknowledgements were counted before the kill');
    assert.ok(acked1.size < 3000 && acked2.size < 3000, 'the kill happened before the stream ended');

    broker = await startBrokerProcess(flags(dir, port));
    try {
      const s1 = mqtt.connect(url, { clientId: 'crash-q1', clean: false, reconnectPeriod: 0 });
      const s2 = mqtt.connect(url, { clientId: 'crash-q2', clean: false, reconnectPeriod: 0 });
      const [in1, in2] = [new Inbox(s1), new Inbox(s2)];
      const [got1, got2] = await Promise.all([collect(in1, acked1), collect(in2, acked2)]);
      assert.deepEqual(missing(acked1, got1), [], 'every acknowledged QoS 1 message arrived');
      assert.deepEqual(missing(acked2, got2), [], 'every acknowledged QoS 2 message arrived');
      assert.equal(duplicates(got2), 0, 'QoS 2 delivered exactly once');
      // QoS 1 may repeat; count it so a regression is visible in the output.
      console.log(`qos1 acked=${acked1.size} received=${got1.length} duplicates=${duplicates(got1)}; qos2 acked=${acked2.size} received=${got2.length}`);
      s1.end(true);
      s2.end(true);
    } finally {
      await broker.kill('SIGTERM');
    }
  });

  it('a connected persistent subscriber resumes after the restart and misses nothing acknowledged', async () => {
    const dir = dataDir();
    let broker = await startBrokerProcess(flags(dir));
    const port = broker.port();
    const url = `mqtt://127.0.0.1:${port}`;
    // Reconnects on its own, like a real device, to the same address once the broker is back.
    const sub = mqtt.connect(url, { clientId: 'live-q2', clean: false, reconnectPeriod: 100, connectTimeout: 2000 });
    const inbox = new Inbox(sub);
    await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
    await sub.subscribeAsync('live/q2', { qos: 2 });
    const pub = await connectClient(url, { clientId: 'live-pub' });
    let killed = false;
    const acked = await stream(pub, 'live/q2', 2, 3000, (n) => {
      if (!killed && n >= 1000) {
        killed = true;
        broker.child.kill('SIGKILL');
      }
    });
    pub.end(true);
    await broker.kill();
    broker = await startBrokerProcess(flags(dir, port));
    try {
      const got = await collect(inbox, acked);
      assert.deepEqual(missing(acked, got), [], 'every acknowledged message arrived');
      assert.equal(duplicates(got), 0, 'QoS 2 delivered exactly once across the crash');
      sub.end(true);
    } finally {
      await broker.kill('SIGTERM');
    }
  });

  it('keeps acknowledged retained messages', async () => {
    const dir = dataDir();
    let broker = await startBrokerProcess(flags(dir));
    const port = broker.port();
    const url = `mqtt://127.0.0.1:${port}`;
    const pub = await connectClient(url, { clientId: 'ret-pub' });
    for (let i = 0; i < 50; i++) await pub.publishAsync(`ret/${i}`, `v${i}`, { qos: 1, retain: true });
    await pub.publishAsync('ret/0', '', { qos: 1, retain: true });
    pub.end(true);
    await broker.kill();
    broker = await startBrokerProcess(flags(dir, port));
    try {
      const sub = await connectClient(url, { clientId: 'ret-sub' });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('ret/#', { qos: 1 });
      const got = await inbox.waitFor(49);
      assert.deepEqual(new Set(got.map((m) => m.topic)).size, 49);
      assert.ok(!got.some((m) => m.topic === 'ret/0'), 'the cleared topic stays cleared');
      await endClient(sub);
    } finally {
      await broker.kill('SIGTERM');
    }
  });

  it('publishes a delayed will after a restart, at its time', async () => {
    const dir = dataDir();
    let broker = await startBrokerProcess(flags(dir));
    const port = broker.port();
    const url = `mqtt://127.0.0.1:${port}`;
    const dying = await connectClient(url, {
      protocolVersion: 5,
      clientId: 'will-delay',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'wd/crash', payload: Buffer.from('still sent'), qos: 1, retain: false, properties: { willDelayInterval: 3 } },
    });
    (dying as unknown as { stream: { destroy(): void } }).stream.destroy();
    dying.end(true);
    await sleep(200);
    await broker.kill();
    broker = await startBrokerProcess(flags(dir, port));
    try {
      const watcher = await connectClient(url, { clientId: 'will-watch' });
      const inbox = new Inbox(watcher);
      await watcher.subscribeAsync('wd/#', { qos: 1 });
      const [m] = await inbox.waitFor(1, 6000);
      assert.equal(m.payload.toString(), 'still sent');
      await endClient(watcher);
    } finally {
      await broker.kill('SIGTERM');
    }
  });

  it('refuses to start on a corrupt database, naming the file, instead of starting empty', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'starling.db'), randomBytes(8192));
    await assert.rejects(startBrokerProcess(flags(dir)), (err: Error) => /starling\.db.*not a SQLite database/s.test(err.message));
  });
});
