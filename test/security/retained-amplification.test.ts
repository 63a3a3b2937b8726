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
