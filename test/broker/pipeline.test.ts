// Pipeline: routing a message without a channel. What each subscriber gets (QoS the lower of the
// two [MQTT-3.8.4-8], Retain As Published [MQTT-3.3.1-12]), when the publisher may be acknowledged
// (at once unless a durable write or a held queue must finish first), and the cluster's side:
// forwarded once, shared groups served through the link, messages from elsewhere never forwarded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredMessage } from '../../src/store/ports.js';
import type { ClusterLink } from '../../src/broker/cluster-link.js';
import { brokerParts, message, online, sqlitePath, sqliteStore, subscription } from '../helpers/broker-parts.js';

/** A cluster link that records what it is asked to forward. */
function recordingLink(deliversLocally = false): ClusterLink & { forwarded: string[] } {
  const forwarded: string[] = [];
  return {
    forwarded,
    // A durable link resolves when the message survives this node.
    forward: (m: StoredMessage) => {
      forwarded.push(m.topic);
      return deliversLocally ? Promise.resolve() : undefined;
    },
    deliversLocally: () => deliversLocally,
    claim: () => undefined,
    interest: () => undefined,
  };
}

describe('Pipeline', () => {
  it('gives each subscriber the lower QoS and RETAIN only with Retain As Published [MQTT-3.3.1-12]', async () => {
    const p = await brokerParts();
    const low = await online(p, 'low');
    const rap = await online(p, 'rap');
    await p.sessions.subscribe(low.session, [subscription('t/#', 0)]);
    await p.sessions.subscribe(rap.session, [subscription('t/#', 2, { retainAsPublished: true })]);
    const n = p.pipeline.route(message(p.ids, 't/x', 'hi', { qos: 1, retain: true }));
    assert.ok(n instanceof Promise, 'a QoS 1 retained message is acknowledged once stored');
    assert.equal(await n, 2);
    assert.deepEqual(low.outlet.written.map((w) => [w.qos, w.retain]), [[0, false]]);
    assert.deepEqual(rap.outlet.written.map((w) => [w.qos, w.retain]), [[1, true]]);
    assert.equal(p.retained.reader.get('t/x')?.payload.toString(), 'hi', 'and the retained index has it');
    assert.equal(p.stats.messagesRouted, 1);
    await p.close();
  });

  it('answers at once (a number, never a Promise) when nothing durable gates the acknowledgement', async () => {
    const p = await brokerParts();
    const sub = await online(p, 'quick');
    await p.sessions.subscribe(sub.session, [subscription('n/#', 1)]);
    assert.equal(p.pipeline.route(message(p.ids, 'n/1', 'x', { qos: 1 })), 1, 'QoS 1 to a session that ends with its connection');
    assert.equal(p.pipeline.route(message(p.ids, 'n/2', 'y', { qos: 0, retain: true })), 1, 'a retained QoS 0 message is stored in the background');
    assert.deepEqual(sub.outlet.written.map((w) => w.topic), ['n/1', 'n/2']);
    await p.close();
  });

  it('to a persistent session: nothing goes out and nothing is acknowledged until the entry is durable (SQLite)', async () => {
    const path = sqlitePath();
    const p = await brokerParts({ store: sqliteStore(path) });
    const sub = await online(p, 'durable', { clean: false, expiryInterval: 3600 });
    await p.sessions.subscribe(sub.session, [subscription('d/#', 1)]);
    const routed = p.pipeline.route(message(p.ids, 'd/1', 'kept'));
    assert.ok(routed instanceof Promise);
    assert.equal(sub.outlet.written.length, 0, 'not sent before it is stored');
    assert.equal(await routed, 1);
    assert.deepEqual(sub.outlet.written.map((w) => w.topic), ['d/1']);
    await p.close();
    const reopened = sqliteStore(path);
    const snap = await reopened.open();
    await reopened.close();
    assert.equal(snap.sessions[0]?.queue.length, 1);
  });

  it('a delivery that writes to the store mid-route loses no later entry: it is acknowledged only once stored (SQLite)', async () => {
    const path = sqlitePath();
    const p = await brokerParts({ store: sqliteStore(path), queue: { maxQueuedMessages: 1, overflow: 'refuseNewest' } });
    // full: a persistent session whose queue is full, so it refuses the message (it joins the commit, adds nothing).
    const full = await online(p, 'full', { clean: false, expiryInterval: 3600 }, 1);
    // writer: a session whose outlet writes to the store as it is handed the message (as a closing connection does).
    const writer = await online(p, 'writer');
    // kept: a persistent session, after them in the route, whose entry must be stored before the acknowledgement.
    const kept = await online(p, 'kept', { clean: false, expiryInterval: 3600 });
    for (const s of [full, writer, kept]) await p.sessions.subscribe(s.session, [subscription('h/#', 1)]);
    full.outlet.writable = false;
    // One into its in-flight window (Receive Maximum 1), one into its queue: full.
    for (const i of [0, 1]) await p.pipeline.route(message(p.ids, `h/${i}`, 'fills full'));
    const deliver = writer.outlet.deliver.bind(writer.outlet);
    writer.outlet.deliver = (d) => {
      void p.writes.persist([{ op: 'retained.delete', topic: 'elsewhere' }]);
      deliver(d);
    };
    const routed = p.pipeline.route(message(p.ids, 'h/2', 'must be kept'));
    assert.ok(routed instanceof Promise, 'the acknowledgement waits for a commit');
    assert.equal(await routed, 3);
    await p.close();
    const reopened = sqliteStore(path);
    const snap = await reopened.open();
    await reopened.close();
    const queueOf = (id: string) => snap.sessions.find((x) => x.session.clientId === id)?.queue.length;
    assert.equal(queueOf('kept'), 3, 'every message stored for kept before it was acknowledged');
    assert.equal(queueOf('full'), 2, `full refused the third (${JSON.stringify(snap.sessions.map((x) => [x.session.clientId, x.queue.length]))})`);
  });

  it('holds a QoS 1 publisher on a full queue under backPressure until PUBACKs drained it to half its limit', async () => {
    const p = await brokerParts({ queue: { maxQueuedMessages: 1, overflow: 'backPressure' } });
    const sub = await online(p, 'slow', {}, 1);
    await p.sessions.subscribe(sub.session, [subscription('bp', 1)]);
    const routes = [1, 2, 3].map((i) => p.pipeline.route(message(p.ids, 'bp', String(i), { publisherId: 'pub' }), { holdPublisher: true }));
    const last = routes[2];
    assert.ok(last instanceof Promise, 'the third finds the queue full and waits');
    let done = false;
    void last.then(() => (done = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    p.queues.completed(sub.session, sub.outlet.written[0]!.packetId!, 'puback');
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(done, false, 'back within its limit (1) but not at half: still held');
    p.queues.completed(sub.session, sub.outlet.written[1]!.packetId!, 'puback');
    assert.equal(await last, 1);
    await p.close();
  });

  it('in a cluster: forwards a local message once, leaves shared groups to the link, never forwards a remote one', async () => {
    const p = await brokerParts();
    const link = recordingLink();
    p.pipeline.attachCluster(link);
    const plain = await online(p, 'plain');
    const member = await online(p, 'member');
    await p.sessions.subscribe(plain.session, [subscription('c/#', 0)]);
    await p.sessions.subscribe(member.session, [subscription('$share/g/c/#', 0)]);
    assert.equal(p.pipeline.route(message(p.ids, 'c/1', 'x', { qos: 0 })), 1);
    assert.deepEqual(link.forwarded, ['c/1']);
    assert.equal(member.outlet.written.length, 0, 'the link picks the one member cluster-wide');
    p.pipeline.routeRemote(message(p.ids, 'c/2', 'y', { qos: 0 }), { shared: 'g\0c/#' });
    assert.deepEqual(member.outlet.written.map((w) => w.topic), ['c/2'], 'the link’s pick is delivered here');
    p.pipeline.routeRemote(message(p.ids, 'c/3', 'z', { qos: 0 }));
    assert.deepEqual(link.forwarded, ['c/1'], 'a message from elsewhere is not forwarded again');
    assert.deepEqual(plain.outlet.written.map((w) => w.topic), ['c/1', 'c/3']);
    await p.close();
  });

  it('a link that delivers locally itself: the message is retained here but not delivered twice', async () => {
    const p = await brokerParts();
    p.pipeline.attachCluster(recordingLink(true));
    const plain = await online(p, 'plain');
    await p.sessions.subscribe(plain.session, [subscription('s/#', 0)]);
    assert.equal(await p.pipeline.route(message(p.ids, 's/1', 'x', { qos: 0, retain: true })), 0);
    assert.equal(plain.outlet.written.length, 0);
    assert.ok(p.retained.reader.get('s/1'));
    await p.close();
  });

  it('routeRemote: `only` limits the sessions, and a stream position seen before is a counted duplicate', async () => {
    const p = await brokerParts();
    const a = await online(p, 'a');
    const b = await online(p, 'b');
    for (const x of [a, b]) await p.sessions.subscribe(x.session, [subscription('o/#', 0)]);
    assert.equal(p.pipeline.routeRemote(message(p.ids, 'o/1', '1', { qos: 0 }), { only: 'a' }), 1);
    assert.equal(p.pipeline.routeRemote(message(p.ids, 'o/2', '2', { qos: 0 }), { only: new Set(['b']) }), 1);
    const at = { seq: 5, duplicates: 0 };
    p.pipeline.routeRemote(message(p.ids, 'o/3', '3', { qos: 0 }), { at });
    p.pipeline.routeRemote(message(p.ids, 'o/3', '3', { qos: 0 }), { at: { ...at, duplicates: 0 } });
    const again = { seq: 5, duplicates: 0 };
    p.pipeline.routeRemote(message(p.ids, 'o/3', '3', { qos: 0 }), { at: again });
    assert.equal(again.duplicates, 2, 'both sessions had sequence 5 already');
    assert.deepEqual(a.outlet.written.map((w) => w.topic), ['o/1', 'o/3']);
    assert.deepEqual(b.outlet.written.map((w) => w.topic), ['o/2', 'o/3']);
    await p.close();
  });
});
