// The cluster's destination cache (nats/interest.ts plainFor: which other nodes want a topic) is
// bounded in size, not only in count: an MQTT.js publisher on one node choosing many long distinct
// topics, each of them wanted by a subscriber on another node over a real nats-server, must not make
// the publisher's node hold those topics. Measured as what the process holds after full garbage
// collections (both nodes run in this process).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { fullGc, liveBytes, MiB } from '../helpers/heap.js';
import { waitUntil } from './helpers.js';

describe('cluster destination cache', () => {
  let nats: NatsServerHandle;
  const nodes: TestServer[] = [];
  const clients: MqttClient[] = [];
  const flags = (id: string) => ({ clusterNatsUrl: nats.url, clusterNodeId: id, clusterSubjectPrefix: 'dc' });

  before(async () => {
    nats = await startNatsServer();
    for (const id of ['a', 'b']) nodes.push(await startTestServer(flags(id)));
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    for (const t of nodes) await t.close();
    await nats.stop();
  });

  it('does not hold the long distinct topics one publisher sends to another node (topics over 1,024 characters are matched each time)', async (t) => {
    const [a, b] = nodes as [TestServer, TestServer];
    await waitUntil(() => a.server.cluster!.members().join() === 'a,b', 'both nodes members');
    // The subscriber counts what arrives and keeps nothing of it.
    const sub = await connectClient(b.url(), { protocolVersion: 5, clientId: 'dc-sub' });
    clients.push(sub);
    let received = 0;
    sub.on('message', () => void received++);
    await sub.subscribeAsync('long/#', { qos: 0 });
    await b.server.cluster!.flush();
    const pub = await connectClient(a.url(), { protocolVersion: 5, clientId: 'dc-pub' });
    clients.push(pub);

    // A short topic crosses (and is remembered: the cache still serves what it is for).
    await pub.publishAsync('long/short', 'x', { qos: 0 });
    await waitUntil(() => received === 1, 'the short topic on b');

    const TOPICS = 400;
    const LENGTH = 64_000;
    const gc = fullGc();
    const baseline = liveBytes(gc);
    for (let i = 0; i < TOPICS; i++) {
      await pub.publishAsync(`long/${i}/`.padEnd(LENGTH, 'x'), 'x', { qos: 0 });
      // Bounded: the next one waits until this one crossed.
      await waitUntil(() => received === i + 2, `long topic ${i} on b`, 10_000);
    }
    const grown = liveBytes(gc) - baseline;
    const sent = TOPICS * LENGTH;
    t.diagnostic(`held ${(grown / MiB).toFixed(1)} MiB more after ${(sent / MiB).toFixed(1)} MiB of topics`);
    assert.ok(
      grown < sent / 4,
      `the process holds ${(grown / MiB).toFixed(1)} MiB more after ${TOPICS} topics of ${LENGTH} characters (${(sent / MiB).toFixed(1)} MiB of topics)`,
    );
  });

});
