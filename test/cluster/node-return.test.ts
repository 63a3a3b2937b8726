// A node that comes back while (or after) it was counted as lost, with persistence=nats: it takes its
// own place before it opens its store, so it waits while another node adopts it and then starts
// without the adopted sessions (they stay with the adopter, and move back to it only when their
// clients reconnect there); an adopter leaves a node alone whose place key keeps changing.
// Real nats-server, real Starling nodes (one in its own process, to be killed), MQTT.js clients.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { connectClient, endClient, Inbox, whenConnected } from '../helpers/mqttjs.js';
import net from 'node:net';
import { clusterKv, resolve, type PlaceBucket } from '../../src/cluster/nats/place.js';
import { waitUntil } from './helpers.js';

const v5 = { protocolVersion: 5 as const };

describe('cluster with persistence=nats: a node that comes back', () => {
  let nats: NatsServerHandle;
  let raw: NatsConnection;
  let victim: BrokerProcess | undefined;
  const open: TestServer[] = [];
  const clients: MqttClient[] = [];
  const flags = (prefix: string, id: string): Record<string, string> => ({
    mqttListeners: 'mqtt://127.0.0.1:0',
    clusterNatsUrl: nats.url,
    clusterNodeId: id,
    clusterSubjectPrefix: prefix,
    clusterHeartbeatMs: '300',
    persistence: 'nats',
  });
  const kvOf = (prefix: string): Promise<PlaceBucket> => clusterKv(raw, prefix, 1);
  /** The key's state as every node judges it (its last entry that stands), not merely its last entry. */
  const mark = async (kv: PlaceBucket, node: string) => (await resolve(kv, node))?.mark;

  before(async () => {
    nats = await startNatsServer();
    raw = await connect({ servers: nats.url });
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    await victim?.kill();
    for (const t of open) await t.close();
    await raw.close();
    await nats.stop();
  });

  it('waits to open its store while another node adopts it, then takes its place', async () => {
    const kv = await kvOf('pw');
    // Another node (z) is in the middle of adopting node w.
    await kv.kv.put('place.w', new TextEncoder().encode(JSON.stringify({ by: 'z', state: 'adopting' })));
    let started: TestServer | undefined;
    const starting = startTestServer(flags('pw', 'w')).then((t) => {
      started = t;
      open.push(t);
      return t;
    });
    // Bounded look: the node has not started while the adoption runs (nor changed the mark).
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(started, undefined, 'the node does not start while it is being adopted');
    assert.deepEqual(await mark(kv, 'w'), { by: 'z', state: 'adopting' });
    await kv.kv.put('place.w', new TextEncoder().encode(JSON.stringify({ by: 'z', state: 'done' })));
    const w = await starting;
    assert.ok(w.server.cluster, 'started once the adoption was done');
    assert.deepEqual(await mark(kv, 'w'), { by: 'w', state: 'self' }, 'it holds its own place again');
  });

  it('leaves its adopted sessions with the adopter when it comes back, and a client that reconnects to it gets its session moved back', async () => {
    victim = await startBrokerProcess(flags('pr', 'x'), 30_000);
    const y = await startTestServer(flags('pr', 'y'));
    open.push(y);
    await waitUntil(() => y.server.cluster!.members().join() === 'x,y', 'two members', 10_000);
    const onX = `mqtt://127.0.0.1:${victim.port()}`;
    const options = { ...v5, clientId: 'returner', clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 3600 } };
    const first = await connectClient(onX, options);
    await first.subscribeAsync('pr/t', { qos: 1 });
    await endClient(first);
    // Queued for the offline session on x, through JetStream from a publisher on y.
    const pub = await connectClient(y.url(), v5);
    clients.push(pub);
    for (let i = 0; i < 3; i++) await pub.publishAsync('pr/t', `m${i}`, { qos: 1 });

    await victim.kill('SIGKILL');
    const kv = await kvOf('pr');
    for (let i = 0; i < 200 && (await mark(kv, 'x'))?.state !== 'done'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await mark(kv, 'x'))?.state, 'done', 'y adopted x within 20 s');
    assert.equal(y.server.cluster!.durable!.counters.adoptedSessions, 1, 'y holds the session now');

    // x comes back (a new process, same node id): its store no longer has the adopted session.
    victim = await startBrokerProcess(flags('pr', 'x'), 30_000);
    assert.deepEqual(await mark(kv, 'x'), { by: 'x', state: 'self' });
    const onNewX = `mqtt://127.0.0.1:${victim.port()}`;
    const again = mqtt.connect(onNewX, options);
    clients.push(again);
    const inbox = new Inbox(again);
    await whenConnected(again, onNewX, 10_000);
    assert.equal((again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent, true, 'the session came from the adopter [MQTT-3.1.2-4]');
    const got = await inbox.waitFor(3, 10_000);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['m0', 'm1', 'm2']);
  });

  it('is not adopted while it runs, even when another node asks to adopt it', async () => {
    const a = await startTestServer(flags('pa', 'a'));
    const b = await startTestServer(flags('pa', 'b'));
    open.push(a, b);
    const sub = await connectClient(a.url(), { ...v5, clientId: 'stays', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await sub.subscribeAsync('pa/t', { qos: 1 });
    await endClient(sub);
    // As if b had wrongly counted a as lost: a keeps rewriting its place key, so b leaves it alone.
    await b.server.cluster!.durable!.adopt('a');
    assert.equal(b.server.cluster!.durable!.counters.adopted, 0, 'nothing adopted');
    const kv = await kvOf('pa');
    assert.deepEqual(await mark(kv, 'a'), { by: 'a', state: 'self' });
    assert.ok(a.server.broker.sessions.get('stays'), 'the session is still on a');
    // a's store still works (it was not fenced by another opener): a new session is stored.
    const other = await connectClient(a.url(), { ...v5, clientId: 'later', clean: false, properties: { sessionExpiryInterval: 3600 } });
    clients.push(other);
    await other.subscribeAsync('pa/u', { qos: 1 });
  });
  it('steps back when another node takes its place while it runs: it closes (clients go, listeners shut) and says so through failed', async () => {
    const c = await startTestServer(flags('pc', 'c'));
    open.push(c);
    const port = c.port();
    const client = await connectClient(c.url(), { ...v5, clientId: 'on-c', reconnectPeriod: 0 });
    clients.push(client);
    const gone = new Promise<void>((r) => client.once('close', () => r()));
    const b = await clusterKv(raw, 'pc', 1);
    // As an adopter that counted c lost (c cut off from NATS): a write on the key's last entry. c's
    // own rewrite may come first on that entry; then the adopter's write does not stand and is made again.
    for (let i = 0; i < 20 && (await resolve(b, 'c'))?.mark?.by !== 'y'; i++) {
      const latest = (await resolve(b, 'c'))!.latest;
      await b.kv.put('place.c', new TextEncoder().encode(JSON.stringify({ by: 'y', state: 'adopting', after: latest })));
    }
    assert.equal((await resolve(b, 'c'))?.mark?.by, 'y', 'the adopter holds c\'s place');
    const failed = await Promise.race([c.server.failed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
    assert.ok(failed instanceof Error, 'the server says it closed itself');
    assert.match(failed.message, /place was taken by y/);
    await gone;
    const refused = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(false)));
      s.once('error', () => r(true));
    });
    assert.ok(refused, 'its listeners are closed');
    // The adopter finishes; the node, when restarted, would wait for that and start clean (tested above).
    await b.kv.put('place.c', new TextEncoder().encode(JSON.stringify({ by: 'y', state: 'done', after: (await resolve(b, 'c'))!.latest })));
  });
});
