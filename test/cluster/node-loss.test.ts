// Losing a node: one Starling node runs in its own process and is killed (SIGKILL, no goodbye); the
// other nodes keep delivering to each other and drop it from their members once its heartbeats stop.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { waitUntil } from './helpers.js';

describe('cluster: a node killed', () => {
  let nats: NatsServerHandle;
  let victim: BrokerProcess | undefined;
  const nodes: TestServer[] = [];
  const clients: MqttClient[] = [];

  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    await victim?.kill();
    for (const t of nodes) await t.close();
    await nats.stop();
  });

  it('leaves the other nodes working and drops it from their members', async () => {
    const flags = (id: string) => ({ clusterNatsUrl: nats.url, clusterNodeId: id, clusterSubjectPrefix: 'loss' });
    nodes.push(await startTestServer(flags('a')), await startTestServer(flags('b')));
    const [a, b] = nodes;
    victim = await startBrokerProcess({ ...flags('v'), mqttListeners: 'mqtt://127.0.0.1:0', persistence: 'memory', logLevel: 'silent' });
    await waitUntil(() => a.server.cluster?.members().join() === 'a,b,v', 'v joined', 10_000);

    // v has a subscriber and a publisher of its own; both go with it.
    const onV = await connectClient(`mqtt://127.0.0.1:${victim.port()}`, { clientId: 'on-v', reconnectPeriod: 0 });
    clients.push(onV);
    onV.on('error', () => undefined);
    await onV.subscribeAsync('k/#', { qos: 1 });

    const sub = await connectClient(b.url(), { protocolVersion: 5 });
    const pub = await connectClient(a.url(), { protocolVersion: 5 });
    clients.push(sub, pub);
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('k/#', { qos: 1 });
    await b.server.cluster?.flush();
    await pub.publishAsync('k/before', 'before', { qos: 1 });
    await inbox.waitFor(1);

    await victim.kill('SIGKILL');
    for (let i = 0; i < 20; i++) await pub.publishAsync(`k/${i}`, String(i), { qos: 1 });
    const got = await inbox.waitFor(21, 5000);
    assert.deepEqual(got.slice(1).map((m) => m.payload.toString()), Array.from({ length: 20 }, (_, i) => String(i)));
    // No goodbye came: v goes after three missed heartbeats (2 s each).
    await waitUntil(() => a.server.cluster?.members().join() === 'a,b' && b.server.cluster?.members().join() === 'a,b', 'v dropped', 10_000);
  });
});
