// Zero loss of acknowledged QoS 1/2 messages when a node is killed (persistence=nats): a node in its
// own process holds two persistent subscribers (QoS 1 and QoS 2) while a publisher on another node
// sends messages and counts the acknowledgements; the node is SIGKILLed mid-stream, the subscribers
// reconnect to a third node, get their sessions back (adopted from the lost node's JetStream store)
// and receive every message whose publisher got its PUBACK: QoS 2 exactly once, QoS 1 at least once,
// its duplicates no more than the resends the cluster counted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startNatsCluster, startNatsServer } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { connectClient, endClient, whenConnected } from '../helpers/mqttjs.js';
import { waitUntil } from './helpers.js';
import { scrape } from '../helpers/metrics.js';
import { sampleValue } from '../observe/helpers.js';

const TOTAL = 240;
const KILL_AFTER = 80;

for (const nats3 of [false, true]) describe(`cluster with persistence=nats: a node killed (${nats3 ? 'three-server NATS cluster, replicas 3' : 'one NATS server'})`, () => {
  let nats: { url: string; stop(): Promise<void> };
  let victim: BrokerProcess | undefined;
  const nodes: TestServer[] = [];
  const clients: MqttClient[] = [];
  const flags = (id: string): Record<string, string> => ({
    mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0',
    sysIntervalSec: '1',
    clusterNatsUrl: nats.url,
    clusterNodeId: id,
    clusterSubjectPrefix: 'dl',
    clusterRetainedReplicas: nats3 ? '3' : '1',
    clusterHeartbeatMs: '300',
    persistence: 'nats',
  });

  before(async () => {
    if (!nats3) nats = await startNatsServer();
    else {
      const cluster = await startNatsCluster(3);
      nats = { url: cluster.urls.join(','), stop: () => cluster.stop() };
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    await victim?.kill();
    for (const t of nodes) await t.close();
    await nats.stop();
  });

  it('loses no acknowledged QoS 1 or QoS 2 message: the sessions are adopted and resumed on another node', async (t) => {
    victim = await startBrokerProcess(flags('a'), 30_000);
    nodes.push(await startTestServer(flags('b')), await startTestServer(flags('c')));
    const [b, c] = nodes;
    await waitUntil(() => b!.server.cluster!.members().join() === 'a,b,c' && c!.server.cluster!.members().join() === 'a,b,c', 'three members', 10_000);

    // Everything each subscriber ever received, across both of its connections: for QoS 2 as an
    // MQTT receiver counts deliveries, so a PUBLISH resent with DUP and the packet id still awaiting
    // its PUBREL is the same delivery [MQTT-4.3.3-9]; the packet ids outlive the first connection
    // like a persistent client's state would.
    const received = { 1: new Map<string, number>(), 2: new Map<string, number>() };
    const awaitingRelease = new Map<number, string>();
    const trace: string[] = [];
    let resentWithoutDup = 0;
    const subscriber = (qos: 1 | 2, url: string): MqttClient => {
      const client = mqtt.connect(url, {
        protocolVersion: 5,
        clientId: `keeper-${qos}`,
        clean: false,
        reconnectPeriod: 0,
        properties: { sessionExpiryInterval: 3600 },
        will: { topic: 'dl/will', payload: Buffer.from(`keeper-${qos} lost`), qos: 1, retain: false },
      });
      // Counted when the PUBLISH arrives: MQTT.js emits a QoS 2 message only at PUBREL, and a new
      // client object has no memory of a PUBREC its predecessor sent (the broker resumes with PUBREL).
      client.on('packetreceive', (packet) => {
        if (packet.cmd === 'pubrel' && qos === 2) awaitingRelease.delete(packet.messageId!);
        if (packet.cmd !== 'publish') return;
        const payload = String(packet.payload);
        if (qos === 2) {
          const id = packet.messageId!;
          if (awaitingRelease.get(id) === payload) {
            // Sent again before its PUBREL: the same delivery, which must carry DUP [MQTT-3.3.1-1].
            if (!packet.dup) resentWithoutDup++;
            return;
          }
          awaitingRelease.set(id, payload);
        }
        received[qos].set(payload, (received[qos].get(payload) ?? 0) + 1);
        trace.push(`${qos}:${url.slice(-5)}:${payload}:${packet.dup ? 'D' : ''}${packet.messageId}`);
      });
      client.on('error', () => {});
      clients.push(client);
      return client;
    };
    const onVictim = `mqtt://127.0.0.1:${victim.port()}`;
    for (const qos of [1, 2] as const) {
      const s = subscriber(qos, onVictim);
      await whenConnected(s, onVictim, 5000);
      await s.subscribeAsync('dl/t', { qos });
    }

    // Wills of the lost node's clients are published by the node that adopts their sessions.
    const watcher = await connectClient(b!.url(), { protocolVersion: 5, clientId: 'watcher' });
    clients.push(watcher);
    const wills: string[] = [];
    const sys = new Map<string, string>();
    watcher.on('message', (topic, payload) => {
      if (topic.startsWith('$SYS/')) sys.set(topic, payload.toString());
      else wills.push(payload.toString());
    });
    await watcher.subscribeAsync('dl/will', { qos: 1 });
    await watcher.subscribeAsync('$SYS/broker/cluster/durable/#', { qos: 0 });

    const pub = await connectClient(b!.url(), { protocolVersion: 5, clientId: 'pub' });
    clients.push(pub);
    const acked: string[] = [];
    let killed: Promise<void> | undefined;
    for (let i = 0; i < TOTAL; i++) {
      if (i === KILL_AFTER) killed = victim.kill('SIGKILL');
      // QoS 1 and 2 alternate; each is acknowledged (PUBACK / PUBCOMP) before the next is sent.
      await pub.publishAsync('dl/t', String(i), { qos: i % 2 === 0 ? 1 : 2 });
      acked.push(String(i));
    }
    await killed;

    // Both reconnect to node c: their sessions were on the lost node a.
    const back: MqttClient[] = [];
    for (const qos of [1, 2] as const) {
      const s = subscriber(qos, c!.url());
      await whenConnected(s, c!.url(), 20_000);
      const present = (s as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent;
      assert.equal(present, true, `QoS ${qos}: the session was adopted and resumed (Session Present 1)`);
      back.push(s);
    }
    await waitUntil(() => acked.every((p) => received[1].has(p) && received[2].has(p)), 'every acknowledged message at both subscribers', 20_000).catch((err: unknown) => {
      const missing = (qos: 1 | 2) => acked.filter((p) => !received[qos].has(p));
      throw new Error(`${(err as Error).message}; missing at QoS 1: ${missing(1).join(',')}; at QoS 2: ${missing(2).join(',')}`);
    });
    // Anything still under way settles before the counts are taken.
    await new Promise((r) => setTimeout(r, 500));
    const duplicates = (qos: 1 | 2) => [...received[qos].values()].reduce((sum, n) => sum + n - 1, 0);
    const links = [b!, c!].map((n) => n.server.cluster!.counters);
    const resent = links.reduce((sum, k) => sum + k.durableResent, 0);
    const dropped = links.reduce((sum, k) => sum + k.durableDuplicates, 0);
    t.diagnostic(`${acked.length} acknowledged; duplicates: QoS 1 subscriber ${duplicates(1)} (resent ${resent}), QoS 2 subscriber ${duplicates(2)}; stream copies dropped ${dropped}`);
    if (duplicates(1) + duplicates(2) > 0) {
      const dupd = new Set([...received[1], ...received[2]].filter(([, n]) => n > 1).map(([p]) => p));
      t.diagnostic(trace.filter((x) => dupd.has(x.split(':')[2]!)).join(' '));
    }
    assert.equal(duplicates(2), 0, 'QoS 2: no message delivered twice across the node loss');
    assert.equal(resentWithoutDup, 0, 'a QoS 2 PUBLISH sent again carries DUP [MQTT-3.3.1-1]');
    assert.ok(duplicates(1) <= resent, `QoS 1: every duplicate is a counted resend (${duplicates(1)} > ${resent})`);
    const adopted = (b!.server.cluster!.durable?.counters.adoptedSessions ?? 0) + (c!.server.cluster!.durable?.counters.adoptedSessions ?? 0);
    assert.equal(adopted, 2, 'one node adopted both sessions of the lost node');
    await waitUntil(() => wills.length >= 2, 'both wills', 5000);
    await new Promise((r) => setTimeout(r, 300));
    if (wills.length !== 2) {
      const k = (n: TestServer) => ({ wills: n.server.broker.stats.willsPublished, ...n.server.cluster!.durable!.counters, movedIn: n.server.cluster!.counters.sessionsMovedIn, movedOut: n.server.cluster!.counters.sessionsMovedOut });
      t.diagnostic(`wills ${wills.join('|')}; b ${JSON.stringify(k(b!))}; c ${JSON.stringify(k(c!))}`);
    }
    assert.deepEqual(wills.sort(), ['keeper-1 lost', 'keeper-2 lost'], 'each will once [MQTT-3.1.2-8]');

    // The counters as an operator sees them: /metrics on each node, $SYS on the watcher's node (b).
    for (const n of [b!, c!]) {
      const k = n.server.cluster!.counters;
      const prom = await scrape(n);
      assert.equal(sampleValue(prom, 'starling_cluster_durable_total', { kind: 'resent' }), k.durableResent, '/metrics: QoS 1 resends counted');
      assert.equal(sampleValue(prom, 'starling_cluster_durable_total', { kind: 'duplicatesDropped' }), k.durableDuplicates, '/metrics: stream copies dropped');
    }
    const kb = b!.server.cluster!.counters;
    await waitUntil(
      () => sys.get('$SYS/broker/cluster/durable/resent') === String(kb.durableResent) && sys.get('$SYS/broker/cluster/durable/duplicates') === String(kb.durableDuplicates),
      '$SYS/broker/cluster/durable/{resent,duplicates} as counted',
      10_000,
    );
  });
});
