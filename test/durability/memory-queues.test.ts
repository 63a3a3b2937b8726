// persistence=memory: a persistent session's queue is in memory only (its store keeps nothing, and
// the broker describes no queued message to it). What a client sees must be what it sees with
// SQLite: what was queued while it was away, at its QoS, in order, then what arrives live behind it,
// through a window of one (Receive Maximum 1) so every refill goes through the queue.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, connectWithInbox, endClient } from '../helpers/mqttjs.js';

describe('persistence=memory: a persistent session’s queue in memory only', () => {
  let t: TestServer;
  const clients: MqttClient[] = [];
  before(async () => {
    t = await startTestServer({ persistence: 'memory' });
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    await t?.close();
  });

  it('delivers what was queued offline at its QoS and in order, then what came live behind it [MQTT-4.6.0-6]', async () => {
    const options = { clientId: 'mq-sub', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600, receiveMaximum: 1 } };
    const first = await connectClient(t.url('mqtt'), options);
    await first.subscribeAsync('mq/#', { qos: 2 });
    await endClient(first);
    const pub = await connectClient(t.url('mqtt'), { clientId: 'mq-pub', protocolVersion: 5 });
    clients.push(pub);
    const qos = (i: number): 1 | 2 => (i % 2 === 0 ? 1 : 2);
    for (let i = 0; i < 30; i++) await pub.publishAsync('mq/t', `q${i}`, { qos: qos(i) });

    const { client: sub, inbox } = await connectWithInbox(t.url('mqtt'), options);
    clients.push(sub);
    for (let i = 0; i < 30; i++) await pub.publishAsync('mq/t', `l${i}`, { qos: qos(i) });
    const got = await inbox.waitFor(60, 10_000);
    assert.deepEqual(
      got.map((m) => [m.payload.toString(), m.packet.qos]),
      [...[...Array(30).keys()].map((i) => [`q${i}`, qos(i)]), ...[...Array(30).keys()].map((i) => [`l${i}`, qos(i)])],
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(inbox.messages.length, 60, 'nothing twice');
  });
});
