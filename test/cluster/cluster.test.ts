// Three Starling nodes as one broker over a real nats-server, seen by MQTT.js clients: cross-node
// delivery at every QoS, messages crossing only to nodes that want them, order, retained messages
// (also for a node started later), takeover across nodes, shared subscriptions across nodes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox, whenConnected } from '../helpers/mqttjs.js';
import { waitUntil } from './helpers.js';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { retainedBucketName } from '../../src/cluster/nats/retained.js';
import { retainedKey } from '../../src/store/nats/keys.js';
import { http, parsePrometheus, sampleValue } from '../observe/helpers.js';

const v5 = { protocolVersion: 5 as const };

describe('cluster of three Starling nodes', () => {
  let nats: NatsServerHandle;
  const nodes: TestServer[] = [];
  const clients: MqttClient[] = [];
  const flags = (id: string) => ({ clusterNatsUrl: nats.url, clusterNodeId: id, clusterSubjectPrefix: 'c3', sysIntervalSec: '1' });

  const link = (t: TestServer) => {
    const l = t.server.cluster;
    assert.ok(l, 'the node runs a cluster link');
    return l;
  };
  async function client(t: TestServer, options: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
    const c = await connectClient(t.url(), { ...v5, ...options });
    clients.push(c);
    return c;
  }
  /** After a SUBSCRIBE: the node's NATS subscriptions have reached the NATS server. */
  const synced = (...ts: TestServer[]) => Promise.all(ts.map((t) => link(t).flush()));

  before(async () => {
    nats = await startNatsServer();
    for (const id of ['n1', 'n2', 'n3']) nodes.push(await startTestServer(flags(id)));
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    for (const t of nodes) await t.close();
    await nats.stop();
  });

  it('knows its members', async () => {
    await waitUntil(() => nodes.every((t) => link(t).members().join() === 'n1,n2,n3'), 'three members on every node');
  });

  it('shows the membership and the traffic between nodes in $SYS and /metrics', async () => {
    const [a, b] = nodes;
    const watcher = await client(a);
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('$SYS/broker/cluster/#', { qos: 0 });
    const last = (topic: string): string | undefined => inbox.messages.filter((m) => m.topic === topic).at(-1)?.payload.toString();
    await waitUntil(() => last('$SYS/broker/cluster/nodes') === '3', '$SYS/broker/cluster/nodes = 3');
    assert.equal(last('$SYS/broker/cluster/members'), 'n1,n2,n3');
    assert.equal(last('$SYS/broker/cluster/node'), 'n1');
    assert.equal(last('$SYS/broker/cluster/incompatible'), '0', 'no node of another protocol version');
    // The $SYS tree stays on its node: it is not forwarded to the others.
    assert.equal(link(a!).counters.forwarded, 0);

    // One message from a to a subscriber on b: a counts it out, b counts it in.
    const onB = await client(b!);
    const inB = new Inbox(onB);
    await onB.subscribeAsync('traffic/t', { qos: 0 });
    await synced(b!);
    const pub = await client(a!);
    await pub.publishAsync('traffic/t', 'one', { qos: 0 });
    await inB.waitFor(1);
    const scrape = async (t: TestServer) => {
      const reply = await http(t.port('ws'), '/metrics');
      assert.equal(reply.status, 200);
      return parsePrometheus(reply.text);
    };
    const prom = await scrape(a!);
    assert.equal(sampleValue(prom, 'starling_cluster_members'), 3);
    assert.equal(sampleValue(prom, 'starling_cluster_members_incompatible'), 0, 'every node speaks this protocol version');
    assert.equal(sampleValue(prom, 'starling_cluster_messages_total', { direction: 'out', kind: 'plain' }), 1);
    assert.equal(sampleValue(prom, 'starling_cluster_errors_total', { kind: 'malformed' }), 0);
    // No shared group here: nothing handed on or lost (the counting itself: link.test.ts, hand-on).
    assert.equal(sampleValue(prom, 'starling_cluster_shared_total', { kind: 'handedOn' }), 0);
    assert.equal(sampleValue(prom, 'starling_cluster_shared_total', { kind: 'lost' }), 0);
    assert.equal(sampleValue(await scrape(b!), 'starling_cluster_messages_total', { direction: 'in', kind: 'plain' }), 1);
    await waitUntil(() => last('$SYS/broker/cluster/messages/forwarded') === '1', '$SYS/broker/cluster/messages/forwarded = 1');
    await waitUntil(() => last('$SYS/broker/cluster/shared/lost') === '0', '$SYS/broker/cluster/shared/lost = 0');
  });

  it('delivers across nodes at QoS 0, 1 and 2, at the lower of the two QoS (MQTT 5 [MQTT-3.8.4-8])', async () => {
    const [a, b, c] = nodes;
    const sub2 = await client(b);
    const sub1 = await client(c);
    const in2 = new Inbox(sub2);
    const in1 = new Inbox(sub1);
    await sub2.subscribeAsync('q/+', { qos: 2 });
    await sub1.subscribeAsync('q/+', { qos: 1 });
    await synced(b, c);
    const pub = await client(a);
    for (const qos of [0, 1, 2] as const) await pub.publishAsync(`q/${qos}`, `at ${qos}`, { qos });
    const got2 = await in2.waitFor(3);
    const got1 = await in1.waitFor(3);
    assert.deepEqual(got2.map((m) => [m.topic, m.packet.qos]).sort(), [['q/0', 0], ['q/1', 1], ['q/2', 2]]);
    assert.deepEqual(got1.map((m) => [m.topic, m.packet.qos]).sort(), [['q/0', 0], ['q/1', 1], ['q/2', 1]]);
    assert.equal(got2.find((m) => m.topic === 'q/2')?.payload.toString(), 'at 2');
  });

  it('sends a message only to the nodes that want it', async () => {
    const [a, b, c] = nodes;
    const onB = await client(b);
    const onC = await client(c);
    const inB = new Inbox(onB);
    const inC = new Inbox(onC);
    await onB.subscribeAsync('only/b', { qos: 1 });
    await onC.subscribeAsync('only/c', { qos: 1 });
    await synced(b, c);
    const before = { b: link(b).counters.received, c: link(c).counters.received, a: link(a).counters.ownIgnored };
    const pub = await client(a);
    for (let i = 0; i < 5; i++) await pub.publishAsync('only/b', String(i), { qos: 1 });
    await pub.publishAsync('only/c', 'marker', { qos: 1 });
    await inB.waitFor(5);
    await inC.waitFor(1);
    assert.equal(link(b).counters.received - before.b, 5);
    assert.equal(link(c).counters.received - before.c, 1, 'c got only its marker');
    assert.equal(link(a).counters.ownIgnored - before.a, 0, 'a has no interest: nothing came back to it');
  });

  it('keeps the order of one publisher on one topic on every node', async () => {
    const [a, b, c] = nodes;
    const subs = [await client(b), await client(c), await client(a)];
    const inboxes = subs.map((s) => new Inbox(s));
    for (const s of subs) await s.subscribeAsync('ord/x', { qos: 1 });
    await synced(a, b, c);
    const pub = await client(a);
    const n = 100;
    for (let i = 0; i < n; i++) pub.publish('ord/x', String(i), { qos: i % 2 === 0 ? 1 : 0 });
    const expected = Array.from({ length: n }, (_, i) => String(i));
    for (const inbox of inboxes) {
      const got = await inbox.waitFor(n, 10_000);
      assert.deepEqual(got.map((m) => m.payload.toString()), expected);
    }
  });

  it('shows retained messages on every node, and on a node started after the publish', async () => {
    const [a, b, c] = nodes;
    const pub = await client(a);
    await pub.publishAsync('ret/x', 'kept', { qos: 1, retain: true });
    await pub.publishAsync('ret/y', 'soon gone', { qos: 1, retain: true });
    await pub.publishAsync('ret/y', '', { qos: 1, retain: true });
    await waitUntil(() => [b, c].every((t) => t.server.broker.retained.get('ret/x') !== undefined && !t.server.broker.retained.get('ret/y')), 'retained on b and c');
    await link(a).flush();
    for (const t of [b, c]) {
      const s = await client(t);
      const inbox = new Inbox(s);
      await s.subscribeAsync('ret/#', { qos: 1 });
      const [m] = await inbox.waitFor(1);
      assert.equal(m.payload.toString(), 'kept');
      assert.equal(m.packet.retain, true, 'sent with RETAIN set');
    }
    const late = await startTestServer(flags('n4'));
    nodes.push(late);
    const s = await client(late);
    const inbox = new Inbox(s);
    await s.subscribeAsync('ret/#', { qos: 1 });
    const [m] = await inbox.waitFor(1);
    assert.equal(m.payload.toString(), 'kept');
    assert.equal(late.server.broker.retained.get('ret/y'), undefined, 'the cleared one is not back');
  });

  it('clears an expired retained message from the cluster bucket while the nodes run, and keeps one retained again meanwhile [MQTT-3.3.2-5]', async () => {
    const [a] = nodes;
    const pub = await client(a);
    await pub.publishAsync('exp/gone', 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp/back', 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await link(a).flush();
    // Each node's sweep removes both; a value retained again before the purge must survive it.
    await waitUntil(() => a.server.broker.retained.get('exp/back') === undefined, 'the first value expired on a', 10_000);
    await pub.publishAsync('exp/back', 'long', { qos: 1, retain: true });
    // Every node's sweep asks; the first compare-and-delete wins, whichever node that is.
    await waitUntil(() => nodes.reduce((n, t) => n + link(t).state.retainedPurged, 0) >= 1, 'a node purged the bucket', 10_000);
    await link(a).flush();
    // Read the bucket itself: a node that starts later would skip an expired value anyway.
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open(retainedBucketName('c3'));
      const gone = await kv.get(retainedKey('exp/gone'));
      assert.ok(!gone || gone.operation !== 'PUT', 'the expired value is cleared from the bucket');
      const back = await kv.get(retainedKey('exp/back'));
      assert.equal(back?.operation, 'PUT', 'the value retained again is still in the bucket');
    } finally {
      await nc.close();
    }
  });

  it('delivers a live retained message once to a node with plain interest', async () => {
    const [a, b] = nodes;
    const s = await client(b);
    const inbox = new Inbox(s);
    await s.subscribeAsync('live/#', { qos: 1 });
    await synced(b);
    const pub = await client(a);
    await pub.publishAsync('live/r', 'one', { qos: 1, retain: true });
    await pub.publishAsync('live/end', 'end', { qos: 1 });
    const got = await inbox.waitFor(2);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['one', 'end']);
    assert.equal(inbox.messages.length, 2);
  });

  it('closes a connection when its client id connects to another node: MQTT 5 DISCONNECT 0x8E [MQTT-3.1.4-3]', async () => {
    const [a, b] = nodes;
    const first = await client(a, { clientId: 'roamer' });
    const reason = new Promise<number | undefined>((resolve) => first.once('disconnect', (p) => resolve(p.reasonCode)));
    await link(a).flush();
    const second = await client(b, { clientId: 'roamer' });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no DISCONNECT within 5 s')), 5000).unref());
    assert.equal(await Promise.race([reason, timeout]), 0x8e);
    assert.ok(second.connected, 'the new connection stays');
    await waitUntil(() => !a.server.broker.clients.get('roamer'), 'the old connection gone from node a');
  });

  it('resumes a persistent session on the node the client reconnects to, with what was queued for it [MQTT-3.1.2-4] [MQTT-4.4.0-1]', async () => {
    const [a, b, c] = nodes;
    const options = { ...v5, clientId: 'roamer', clean: false, properties: { sessionExpiryInterval: 3600 } };
    const first = await connectClient(a!.url(), options);
    await first.subscribeAsync('roam/#', { qos: 1 });
    await synced(a!);
    await endClient(first);
    const pub = await client(c!);
    for (let i = 0; i < 5; i++) await pub.publishAsync('roam/t', String(i), { qos: 1 });
    await waitUntil(() => a!.server.broker.sessions.get('roamer')?.queuedCount === 5, 'five messages queued on a');

    // Listen before CONNACK: the queued messages follow it at once.
    const again = mqtt.connect(b!.url(), { ...options, reconnectPeriod: 0 });
    clients.push(again);
    const inbox = new Inbox(again);
    await whenConnected(again, b!.url(), 5000);
    const connack = (again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket;
    assert.equal(connack?.sessionPresent, true, 'Session Present 1 on the other node');
    const got = await inbox.waitFor(5);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['0', '1', '2', '3', '4'], 'every queued message, in order');
    assert.equal(a!.server.broker.sessions.has('roamer'), false, 'the old node gave the session up');
    assert.equal(link(b!).counters.sessionsMovedIn, 1);
    await synced(b!);
    await pub.publishAsync('roam/t', 'after', { qos: 1 });
    assert.equal((await inbox.waitFor(6))[5]!.payload.toString(), 'after', 'the subscription moved with the session');
  });

  it('spreads a shared subscription over members on different nodes, each message once', async () => {
    const [a, b, c] = nodes;
    const members = [await client(a), await client(b), await client(c)];
    const inboxes = members.map((m) => new Inbox(m));
    for (const m of members) await m.subscribeAsync('$share/g/sh/#', { qos: 1 });
    await synced(a, b, c);
    const pub = await client(b);
    const n = 60;
    for (let i = 0; i < n; i++) await pub.publishAsync(`sh/${i}`, String(i), { qos: 1 });
    await waitUntil(() => inboxes.reduce((s, x) => s + x.messages.length, 0) >= n, `${n} shared deliveries`, 10_000);
    const all = inboxes.flatMap((x) => x.messages.map((m) => m.payload.toString()));
    assert.equal(all.length, n, 'none twice');
    assert.deepEqual(new Set(all).size, n, 'none lost');
    inboxes.forEach((x, i) => assert.ok(x.messages.length > 0, `member on node ${i + 1} got a share`));
  });
});
