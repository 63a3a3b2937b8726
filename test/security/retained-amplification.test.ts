// One SUBSCRIBE must not make the broker do work no client can receive. An audit retained 100,000
// messages, then sent one SUBSCRIBE of 1,000 filters that each matched all of them from a client
// that read nothing: every copy was made and dropped, and the event loop was held for 35 s.
// Here: 20,000 retained messages and 256 distinct filters matching all of them, from a raw socket
// that never reads (QoS 0) and from a persistent session at QoS 1; the counts of copies made and
// dropped show the walk stopped where the session could take no more. Real broker, real sockets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { healthyClient, type HealthyClient } from '../helpers/healthy.js';
import { waitUntil } from '../helpers/wait.js';
import { Inbox } from '../helpers/mqttjs.js';
import { silentLog } from '../helpers/channel.js';
import { localSubscriptions } from '../../src/api/local.js';

const RETAINED = 20_000;
const TOPIC_LEVELS = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

/** 256 distinct filters that each match every `r/a/b/c/d/e/f/g/<n>`: each level literal or `+`, then `+` or `#`. */
function amplifyingFilters(): string[] {
  const out: string[] = [];
  for (let mask = 0; mask < 128; mask++) {
    const levels = TOPIC_LEVELS.map((l, i) => (mask & (1 << i) ? '+' : l));
    for (const last of ['+', '#']) out.push(['r', ...levels, last].join('/'));
  }
  return out;
}

/** A raw socket that sends CONNECT and one SUBSCRIBE, then never reads a byte. */
function silentSubscriber(port: number, clientId: string, qos: 0 | 1, clean: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => {
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 0 } as mqttPacket.IConnectPacket));
      const subscriptions = amplifyingFilters().map((topic) => ({ topic, qos }));
      s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions } as mqttPacket.ISubscribePacket));
      resolve(s);
    });
    s.on('error', () => {});
    s.once('error', reject);
  });
}

describe('retained messages for a new subscription: no more work than the session can take', () => {
  let t: TestServer;
  let publisher: MqttClient;
  let healthy: HealthyClient;
  const sockets: Socket[] = [];

  before(async () => {
    t = await startTestServer({ maxOutgoingBytes: '65536', sysIntervalSec: '0' });
    publisher = await connectClient(t.url(), { clientId: 'retainer' });
    // Retained at QoS 1, so that a QoS 1 subscription gets QoS 1 copies (a subscription gets the lower of the two).
    const sent: Array<Promise<unknown>> = [];
    for (let i = 0; i < RETAINED; i++) sent.push(publisher.publishAsync(`r/${TOPIC_LEVELS.join('/')}/${i}`, 'x', { qos: 1, retain: true }));
    await Promise.all(sent);
    await waitUntil(() => t.server.broker.retained.size === RETAINED, 'every retained message to be kept', 30_000);
    healthy = await healthyClient(t);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await endClient(publisher, true);
    await endClient(healthy.client, true);
    await t.close();
  });

  it('QoS 0: copies stop once the connection\'s outgoing buffer is full, for every later filter too', async () => {
    const { stats } = t.server.broker;
    const before = { cut: stats.limits.retainedCopies, slow: stats.drops.slowConsumer };
    sockets.push(await silentSubscriber(t.port(), 'amp-qos0', 0, true));
    await waitUntil(() => stats.limits.retainedCopies >= before.cut + 256, 'every filter\'s walk to stop short', 30_000);
    // Each topic + payload is 17 or so bytes: at most about 64 KiB of them per filter are read, and
    // once the buffer is full none at all (before: 256 × 20,000 copies made, nearly all dropped).
    const dropped = stats.drops.slowConsumer - before.slow;
    assert.ok(dropped < 2 * (65_536 / 10), `slow-consumer drops stay within one buffer's worth (${dropped})`);
    await healthy.check('after the QoS 0 SUBSCRIBE');
  });

  it('QoS 1, persistent session: copies stop once its queue and window are full', async () => {
    const { stats } = t.server.broker;
    const before = { cut: stats.limits.retainedCopies, full: stats.drops.queueFull };
    sockets.push(await silentSubscriber(t.port(), 'amp-qos1', 1, false));
    await waitUntil(() => stats.limits.retainedCopies >= before.cut + 256, 'every filter\'s walk to stop short', 30_000);
    const session = t.server.broker.sessions.get('amp-qos1');
    assert.ok(session, 'the session exists');
    const { maxQueuedMessages } = t.server.broker.options.queue;
    assert.ok(session.queuedCount <= maxQueuedMessages, `the queue holds at most its limit (${session.queuedCount})`);
    assert.ok(session.queuedCount + session.inflight.size >= maxQueuedMessages, `and it was filled (${session.queuedCount} queued, ${session.inflight.size} in flight, limit ${maxQueuedMessages})`);
    assert.equal(stats.drops.queueFull - before.full, 0, 'no copy was made only to be dropped');
    await healthy.check('after the QoS 1 SUBSCRIBE');
  });
});

describe('retained messages for a new subscription: each kind goes as far as its own room', () => {
  it('a spent QoS 0 allowance does not cut the QoS 1 copies, nor a full queue the QoS 0 ones; an in-process subscriber gets them all', async () => {
    // (An allowance at least the socket's high-water mark, 16 KiB: below it a buffer past
    // maxOutgoingBytes never reports a drain, and QoS 1 deliveries wait for one.)
    const t = await startTestServer({ maxOutgoingBytes: '65536', maxQueuedMessages: '10', maxInflightMessages: '5', sysIntervalSec: '0' });
    try {
      const pub = await connectClient(t.url(), { clientId: 'mixed-retainer', protocolVersion: 5 });
      // 100 retained QoS 0 messages of 1,000 bytes (100 KB, past the 64 KiB allowance) under t/a, and
      // 30 retained QoS 1 ones under t/b and t/z, so QoS 0 ones come first and last in the walk.
      const sent: Array<Promise<unknown>> = [];
      for (let i = 0; i < 100; i++) sent.push(pub.publishAsync(`t/a/${i}`, Buffer.alloc(1000, 0x61), { qos: 0, retain: true }));
      for (let i = 0; i < 15; i++) {
        sent.push(pub.publishAsync(`t/b/${i}`, 'b', { qos: 1, retain: true }));
        sent.push(pub.publishAsync(`t/z/${i}`, 'z', { qos: 1, retain: true }));
      }
      await Promise.all(sent);
      await waitUntil(() => t.server.broker.retained.size === 130, 'every retained message to be kept', 10_000);
      const { stats } = t.server.broker;
      const cutBefore = stats.limits.retainedCopies;
      // A QoS 1 subscriber that reads nothing yet: its window (5) and queue (10) take 15 QoS 1
      // copies, the byte allowance about 65 QoS 0 ones; neither stops the other.
      const sub = await connectClient(t.url(), { clientId: 'mixed-sub', protocolVersion: 5, clean: true });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('t/#', { qos: 1 });
      const ofQos = (q: number): number => inbox.messages.filter((m) => m.packet.qos === q).length;
      await waitUntil(() => ofQos(1) >= 15 && ofQos(0) >= 30, 'the copies to arrive', 10_000).catch((err: Error) => {
        const sess = t.server.broker.sessions.get('mixed-sub');
        throw new Error(`${err.message}: queued ${sess?.queuedCount} inflight ${sess?.inflight.size} cut ${stats.limits.retainedCopies - cutBefore}: ${inbox.messages.map((m) => `${m.packet.qos}:${m.topic}`).join(' ')}`);
      });
      const qos1 = ofQos(1);
      const qos0 = ofQos(0);
      assert.ok(qos1 >= 15, `QoS 1 copies up to the queue and window (${qos1})`);
      assert.ok(qos0 >= 30 && qos0 < 100, `QoS 0 copies up to the byte allowance (${qos0})`);
      assert.ok(stats.limits.retainedCopies > cutBefore, 'the cut is counted');
      await endClient(sub, true);
      // In process: no socket buffer, so no byte allowance; all 130 arrive.
      const got: string[] = [];
      const stop = localSubscriptions(t.server.broker, silentLog).subscribe('t/#', (m) => void got.push(m.topic), 1);
      await waitUntil(() => got.length === 130, `every retained message in process (${got.length})`, 10_000);
      stop();
      await endClient(pub, true);
    } finally {
      await t.close();
    }
  });
});
