// Load tests: floods of idle sockets and a subscriber that stops reading must not hurt anyone else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { fullGc, liveBytes, MiB } from '../helpers/heap.js';

function openIdle(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', () => {});
    s.once('error', reject);
  });
}

/**
 * Round trip of one QoS 0 message through the broker, in ms. It must arrive (within a generous
 * 10 s); how fast is reported, not asserted: on a loaded 2-core machine any bound would be luck.
 */
async function roundTrip(pub: Awaited<ReturnType<typeof connectClient>>, inbox: Inbox, n: number): Promise<number> {
  const started = performance.now();
  pub.publish('probe/rt', String(n));
  await inbox.waitFor(n + 1, 10_000);
  return performance.now() - started;
}

describe('load: idle sockets', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ connectTimeoutSec: '1' });
  });
  after(() => t.close());

  it('closes 2000 sockets that never send CONNECT while serving a healthy client', async () => {
    const sub = await connectClient(t.url(), { clientId: 'idle-healthy-sub' });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('probe/#');
    const pub = await connectClient(t.url(), { clientId: 'idle-healthy-pub' });
    const sockets: Socket[] = [];
    const closed = new Set<Socket>();
    for (let batch = 0; batch < 20; batch++) {
      const opened = await Promise.all(Array.from({ length: 100 }, () => openIdle(t.port())));
      for (const s of opened) {
        s.once('close', () => closed.add(s));
        // Half of them send the start of a CONNECT and then nothing (slowloris).
        if (sockets.length % 2 === 0) s.write(Buffer.from([0x10, 0x20, 0x00, 0x04]));
        sockets.push(s);
      }
      // The healthy pair is served while the idle sockets pile up (roundTrip fails if it is not).
      await roundTrip(pub, inbox, batch);
    }
    const deadline = Date.now() + 8000;
    while (closed.size < sockets.length && Date.now() < deadline) await sleep(50);
    assert.equal(closed.size, sockets.length, 'the connect timeout closed every idle socket');
    assert.equal(t.server.broker.stats.limits.connectTimeout, sockets.length, 'each close counted as a connectTimeout limit hit');
    assert.ok(sub.connected && pub.connected);
    await roundTrip(pub, inbox, 20);
    await Promise.all([endClient(sub), endClient(pub)]);
  });
});

describe('load: a subscriber that stops reading', () => {
  let t: TestServer;
  const maxOutgoing = 256 * 1024;
  const maxQueuedMessages = 500;
  const maxQueuedBytes = 200 * 1024;
  const maxInflight = 20;
  before(async () => {
    t = await startTestServer({
      maxOutgoingBytes: String(maxOutgoing),
      maxQueuedMessages: String(maxQueuedMessages),
      maxQueuedBytes: String(maxQueuedBytes),
      maxInflightMessages: String(maxInflight),
      slowConsumerTimeoutSec: '0',
      // This test is of the dropping policy's bounds (backpressure.test.ts covers the default).
      queueOverflowPolicy: 'dropOldest',
    });
  });
  after(() => t.close());

  it('keeps its buffer bounded, drops its QoS 0, caps its QoS 1 queue, and does not slow others', async () => {
    // The slow subscriber: subscribes at QoS 0 and QoS 1, then never reads again.
    const slow = await openIdle(t.port());
    const send = (p: object) => slow.write(mqttPacket.generate(p as mqttPacket.Packet));
    send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'slow', keepalive: 0 });
    send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/q0', qos: 0 }, { topic: 'flood/q1', qos: 1 }] });
    await sleep(100);
    slow.pause();

    const healthy = await connectClient(t.url(), { clientId: 'flood-healthy' });
    const inbox = new Inbox(healthy);
    await healthy.subscribeAsync('probe/#');
    const prober = await connectClient(t.url(), { clientId: 'flood-prober' });
    const flooder = await connectClient(t.url(), { clientId: 'flooder' });
    const payload = Buffer.alloc(1024, 7);
    const slowConn = [...t.server.connections].find((c) => c.channel.clientId === 'slow')!;
    assert.ok(slowConn, 'found the slow connection');
    const session = t.server.broker.sessions.get('slow')!;
    // The broker runs in this process, so its memory is this process's: measured before the flood,
    // during it (the slow client still holding its share) and after the slow client is gone.
    const gc = fullGc();
    const baseline = liveBytes(gc);
    // What the broker itself holds for the stalled client, sampled every round: its outgoing
    // buffer, its queue (count and payload bytes) and its in-flight window. Each has a limit, so
    // together they are bounded however much is published (about 11 MiB here).
    const peak = { buffered: 0, queuedBytes: 0, queued: 0, inflight: 0 };
    const sample = (): void => {
      peak.buffered = Math.max(peak.buffered, slowConn.bufferedBytes);
      peak.queuedBytes = Math.max(peak.queuedBytes, session.queuedBytes);
      peak.queued = Math.max(peak.queued, session.queuedCount);
      peak.inflight = Math.max(peak.inflight, session.inflight.size);
    };
    const slowest: number[] = [];
    let published = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) flooder.publish('flood/q0', payload);
      for (let i = 0; i < 50; i++) flooder.publish('flood/q1', payload, { qos: 1 });
      published += 550 * payload.length;
      slowest.push(await roundTrip(prober, inbox, round));
      sample();
    }
    const during = liveBytes(gc) - baseline;
    const stats = t.server.broker.stats;
    // The socket buffer stays within the limit plus the packet that crossed it (and what the kernel holds).
    assert.ok(peak.buffered <= maxOutgoing + 2 * 1100, `buffered ${peak.buffered} bytes`);
    assert.ok(peak.queued <= maxQueuedMessages, `QoS 1 queue capped at maxQueuedMessages (${peak.queued})`);
    assert.ok(peak.queuedBytes <= maxQueuedBytes, `QoS 1 queue capped at maxQueuedBytes (${peak.queuedBytes})`);
    assert.ok(peak.inflight <= maxInflight, `in-flight window capped at maxInflightMessages (${peak.inflight})`);
    const held = peak.buffered + peak.queuedBytes + peak.inflight * (payload.length + 64);
    const bound = maxOutgoing + 2 * 1100 + maxQueuedBytes + maxInflight * (payload.length + 64);
    assert.ok(held <= bound && held < published / 10, `the broker held at most ${held} bytes for it of ${published} published (bound ${bound})`);
    assert.ok(stats.drops.slowConsumer > 0, 'QoS 0 to the slow consumer was dropped');
    assert.ok(stats.drops.queueFull > 0, 'the QoS 1 queue overflowed by policy');
    // Healthy clients kept being served: every probe arrived (roundTrip fails otherwise). Times are
    // for the log only; on a loaded machine they say more about the machine than about the broker.
    assert.equal(slowest.length, 20, `healthy round trips: ${slowest.map((x) => x.toFixed(1)).join(', ')} ms`);
    // Memory: what the limits allow (about 0.7 MiB here) plus generous room for JIT code, parser
    // buffers and allocator slack. A broker that kept what it dropped would hold most of the
    // 11 MiB published and fail both bounds.
    const mib = (n: number): string => (n / MiB).toFixed(1);
    assert.ok(during < Math.min(6 * MiB, published / 2), `held ${mib(during)} MiB more during the flood (${mib(published)} MiB published)`);
    slow.destroy();
    await waitUntil(() => !t.server.broker.sessions.has('slow'), 'the slow session to end', 10_000);
    const afterwards = liveBytes(gc) - baseline;
    assert.ok(afterwards < 4 * MiB, `held ${mib(afterwards)} MiB more once the slow client was gone (${mib(during)} MiB during the flood)`);
    await Promise.all([endClient(healthy), endClient(prober), endClient(flooder)]);
  });
});
