// Load tests: floods of idle sockets and a subscriber that stops reading must not hurt anyone else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

function openIdle(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', () => {});
    s.once('error', reject);
  });
}

/** Round trip of one QoS 0 message through the broker, in ms. */
async function roundTrip(pub: Awaited<ReturnType<typeof connectClient>>, inbox: Inbox, n: number): Promise<number> {
  const started = performance.now();
  pub.publish('probe/rt', String(n));
  await inbox.waitFor(n + 1, 5000);
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
      // The healthy pair is served while the idle sockets pile up.
      assert.ok((await roundTrip(pub, inbox, batch)) < 1000);
    }
    const deadline = Date.now() + 8000;
    while (closed.size < sockets.length && Date.now() < deadline) await sleep(50);
    assert.equal(closed.size, sockets.length, 'the connect timeout closed every idle socket');
    assert.ok(sub.connected && pub.connected);
    assert.ok((await roundTrip(pub, inbox, 20)) < 1000);
    await Promise.all([endClient(sub), endClient(pub)]);
  });
});

describe('load: a subscriber that stops reading', () => {
  let t: TestServer;
  const maxOutgoing = 256 * 1024;
  before(async () => {
    t = await startTestServer({ maxOutgoingBytes: String(maxOutgoing), maxQueuedMessages: '500', slowConsumerTimeoutSec: '0' });
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
    let maxBuffered = 0;
    const slowest: number[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) flooder.publish('flood/q0', payload);
      for (let i = 0; i < 50; i++) flooder.publish('flood/q1', payload, { qos: 1 });
      slowest.push(await roundTrip(prober, inbox, round));
      maxBuffered = Math.max(maxBuffered, slowConn.bufferedBytes);
    }
    const stats = t.server.broker.stats;
    const session = t.server.broker.sessions.get('slow')!;
    // The socket buffer stays within the limit plus the packet that crossed it (and what the kernel holds).
    assert.ok(maxBuffered <= maxOutgoing + 2 * 1100, `buffered ${maxBuffered} bytes`);
    assert.ok(stats.drops.slowConsumer > 0, 'QoS 0 to the slow consumer was dropped');
    assert.ok(session.queuedCount <= 500, `QoS 1 queue capped at maxQueuedMessages (${session.queuedCount})`);
    assert.ok(stats.drops.queueFull > 0, 'the QoS 1 queue overflowed by policy');
    assert.ok(Math.max(...slowest) < 1000, `healthy round trips stayed fast: ${slowest.map((x) => x.toFixed(1)).join(', ')}`);
    slow.destroy();
    await Promise.all([endClient(healthy), endClient(prober), endClient(flooder)]);
  });
});
