// The cluster link against a real nats-server, with broker stand-ins: subscriptions follow interest,
// each message reaches a node once, shared groups spread across nodes, retained messages reach every
// node and a node started later, claims, membership, failures of a NATS server. Needs nats-server
// (test/helpers/nats-server.ts fails with a clear message when it is missing).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, startNatsServer, type NatsClusterHandle, type NatsServerHandle } from '../helpers/nats-server.js';
import type { StoredMessage } from '../../src/store/ports.js';
import type { NatsClusterLink } from '../../src/cluster/nats/link.js';
import { clusterSubjects } from '../../src/cluster/nats/subjects.js';
import { encodeClaim, encodeHeartbeat, H, WIRE_VERSION } from '../../src/cluster/nats/wire.js';
import { encodeFrame } from '../../src/cluster/batch-frame.js';
import type { LocalRetained } from '../../src/cluster/retained-copy.js';
import { FakeBroker, message, natsWithClient, startLink, waitUntil } from './helpers.js';
import { outlivesTurn } from '../../src/session/message.js';
import type { SessionTransfer } from '../../src/broker/cluster-link.js';
import { captureLog } from '../transport/helpers.js';

type Node = { link: NatsClusterLink; broker: FakeBroker };

/** Which message this is, as it crosses: its payload (unique per test message; a QoS 0 message's id is the receiving node's). */
const said = (m: StoredMessage): string => m.payload.toString();

function memoryRetained(): LocalRetained & { map: Map<string, StoredMessage> } {
  const map = new Map<string, StoredMessage>();
  return { map, list: () => [...map.values()], get: (t) => map.get(t), set: (m) => void map.set(m.topic, m), delete: (t) => void map.delete(t) };
}

describe('cluster link (one nats-server)', () => {
  let nats: NatsServerHandle;
  let raw: NatsConnection;
  const open: Node[] = [];
  let prefixSeq = 0;

  /** Three links under a prefix of their own, so tests do not see each other's subjects or bucket. */
  async function trio(extra = {}): Promise<{ prefix: string; a: Node; b: Node; c: Node }> {
    const prefix = `t${++prefixSeq}`;
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => startLink([nats.url], id, { prefix, ...extra })));
    open.push(a, b, c);
    // Each node waits for the acknowledgements of the members it knows: all three, once they met.
    await waitUntil(() => [a, b, c].every((n) => n.link.members().join() === 'a,b,c'), 'three members on every node');
    return { prefix, a, b, c };
  }

  let stop: (open: Node[]) => Promise<void>;

  before(async () => void ({ nats, raw, stop } = await natsWithClient()));
  after(() => stop(open));

  it('routes a message only to the nodes whose filters match, once per node, one batch per node and turn', async () => {
    const { a, b, c } = await trio();
    // Two of b's filters match a/b: the sender matches once per node, so b gets one copy.
    b.link.interest('a/+', undefined, true);
    b.link.interest('a/b', undefined, true);
    c.link.interest('marker', undefined, true);
    await Promise.all([b.link.flush(), c.link.flush()]);
    a.link.forward(message('a/b'));
    a.link.forward(message('a/c'));
    a.link.forward(message('x/y'));
    a.link.forward(message('marker'));
    await waitUntil(() => c.broker.routed.length === 1, 'the marker on c');
    await waitUntil(() => b.broker.routed.length >= 2, 'two messages on b');
    assert.deepEqual(b.broker.topics(), ['a/b', 'a/c']);
    assert.equal(b.link.counters.received, 2);
    assert.equal(b.link.counters.duplicates, 0);
    assert.deepEqual(c.broker.topics(), ['marker']);
    assert.equal(a.broker.routed.length, 0);
    assert.equal(a.link.counters.forwarded, 4);
    // One turn, two destinations: two NATS messages carried the three messages.
    assert.equal(a.link.counters.batches, 2);
  });

  it('knows a new filter on every member once interest() resolves (a SUBACK waits for it), and sends nothing where nobody wants it', async () => {
    const { a, b, c } = await trio();
    await b.link.interest('now/#', undefined, true);
    a.link.forward(message('now/1'));
    await waitUntil(() => b.broker.routed.length === 1, 'now/1 on b');
    // No plain filter and no shared group anywhere matches: no NATS message at all.
    await a.link.flush();
    const before = { batches: a.link.counters.batches, shared: a.link.counters.forwardedShared };
    for (let i = 0; i < 20; i++) a.link.forward(message(`nobody/${i}`));
    await a.link.flush();
    assert.deepEqual({ batches: a.link.counters.batches, shared: a.link.counters.forwardedShared }, before);
    assert.equal(c.broker.routed.length + b.broker.routed.length, 1);
  });

  it('exchanges interest too large for one NATS message in pieces, and in pages to a node that starts later', async () => {
    const { prefix, a, b } = await trio();
    // 40 filters of 8 KiB: several pieces of changes, several pages of the whole interest.
    const filters = Array.from({ length: 40 }, (_, i) => `big/${i}/${'x'.repeat(8192)}`);
    await Promise.all(filters.map((f) => b.link.interest(f, undefined, true)));
    a.link.forward(message(filters[39]!));
    await waitUntil(() => b.broker.routed.length === 1, 'the last filter known on a');
    const d = await startLink([nats.url], 'd', { prefix });
    open.push(d);
    await waitUntil(() => d.link.state.knownNodes === 3, 'd knows the interest of a, b and c');
    d.link.forward(message(filters[0]!));
    d.link.forward(message(filters[39]!));
    await waitUntil(() => b.broker.routed.length === 3, 'both from d on b');
    assert.deepEqual(b.broker.topics().slice(1), [filters[0], filters[39]]);
  });

  it('stops sending a topic to a node only when its last matching filter goes', async () => {
    const { a, b } = await trio();
    b.link.interest('k/#', undefined, true);
    b.link.interest('k/+', undefined, true);
    b.link.interest('end', undefined, true);
    b.link.interest('k/+', undefined, false);
    await b.link.flush();
    a.link.forward(message('k/1'));
    a.link.forward(message('end'));
    await waitUntil(() => b.broker.routed.length === 2, 'k/1 and end');
    b.link.interest('k/#', undefined, false);
    await b.link.flush();
    assert.equal(b.link.state.plainFilters, 1);
    a.link.forward(message('k/2'));
    a.link.forward(message('end'));
    await waitUntil(() => b.broker.routed.length === 3, 'the second end');
    assert.deepEqual(b.broker.topics(), ['k/1', 'end', 'end']);
  });

  it('never sends a node its own messages (the broker delivered them locally)', async () => {
    const { a, b } = await trio();
    a.link.interest('own/#', undefined, true);
    b.link.interest('own/b', undefined, true);
    await Promise.all([a.link.flush(), b.link.flush()]);
    a.link.forward(message('own/1'));
    a.link.forward(message('own/b'));
    await waitUntil(() => b.broker.routed.length === 1, 'own/b on b');
    await a.link.flush();
    assert.equal(a.broker.routed.length, 0);
    assert.equal(a.link.counters.batches, 1, 'one batch, to b only');
  });

  it('keeps the order of one publisher on one topic, and every property', async () => {
    const { a, b } = await trio();
    b.link.interest('ord', undefined, true);
    await b.link.flush();
    const sent: StoredMessage[] = [];
    for (let i = 0; i < 200; i++) {
      const m = message('ord', { qos: (i % 3) as 0 | 1 | 2, publisherId: 'p', properties: { userProperties: [['i', String(i)], ['a', 'b']], correlationData: Buffer.from([i & 255]) } });
      sent.push(m);
      a.link.forward(m);
    }
    await waitUntil(() => b.broker.routed.length === 200, '200 messages');
    // Every field but the id of a message that does not outlive its turn, which the receiving node gives (batch-frame.ts).
    const crossed = (m: StoredMessage): StoredMessage => (outlivesTurn(m) ? m : { ...m, id: 'here' });
    assert.deepEqual(b.broker.routed.map((r) => crossed(r.message)), sent.map(crossed));
    const qos0 = b.broker.routed.filter((r) => r.message.qos === 0).map((r) => r.message.id);
    assert.equal(new Set(qos0).size, qos0.length, 'each QoS 0 message an id of its own');
  });

  it('delivers each message to one member of a shared group across nodes, every node taking part', async () => {
    const { a, b, c } = await trio();
    for (const n of [a, b, c]) n.link.interest('s/#', 'g', true);
    c.link.interest('s/+', 'h', true);
    await Promise.all([a, b, c].map((n) => n.link.flush()));
    const n = 60;
    for (let i = 0; i < n; i++) a.link.forward(message(`s/${i}`));
    const g = (node: Node) => node.broker.routed.filter((r) => r.sharedKey === 'g\0s/#');
    await waitUntil(() => g(a).length + g(b).length + g(c).length === n, `${n} messages in group g`);
    await waitUntil(() => c.broker.routed.filter((r) => r.sharedKey === 'h\0s/+').length === n, `${n} messages in group h`);
    const ids = [a, b, c].flatMap((x) => g(x).map((r) => said(r.message)));
    assert.equal(new Set(ids).size, n, 'no message twice');
    for (const x of [a, b, c]) assert.ok(g(x).length > 0, `node ${x.link.nodeId} got a share`);
    // Plain routing saw none of them: nobody has plain interest.
    assert.equal([a, b, c].reduce((s, x) => s + x.broker.topics().length, 0), 0);
  });

  /** Three nodes, each with a member of shared group g on s/#; `g(node)` is what a node routed to it. */
  async function groupOnAll(): Promise<{ a: Node; b: Node; c: Node; g: (node: Node) => FakeBroker['routed'] }> {
    const { a, b, c } = await trio();
    for (const n of [a, b, c]) n.link.interest('s/#', 'g', true);
    await Promise.all([a, b, c].map((n) => n.link.flush()));
    return { a, b, c, g: (node) => node.broker.routed.filter((r) => r.sharedKey === 'g\0s/#') };
  }

  it('hands a QoS 1 shared-group message on to another node of the group when the picked node has no member left; QoS 0 is not', async () => {
    const { a, b, c, g } = await groupOnAll();
    // b's last member left, and a has not heard of it yet: a still picks b in turn.
    b.broker.emptyGroups.add('g\0s/#');
    const n = 30;
    for (let i = 0; i < n; i++) a.link.forward(message(`s/${i}`, { qos: 1 }));
    await waitUntil(() => g(a).length + g(c).length === n, `${n} QoS 1 messages delivered by a and c`);
    assert.equal(b.link.counters.sharedHandedOn, n / 3, "b handed on its turns");
    const ids = [a, c].flatMap((x) => g(x).map((r) => said(r.message)));
    assert.equal(new Set(ids).size, n, 'none lost, none twice');
    // Handed on once only: with c's member gone too, what b and c hand on ends at a, or is counted
    // lost where it lands on the other empty node; nothing bounces, nothing arrives twice.
    c.broker.emptyGroups.add('g\0s/#');
    const fromPart1 = g(a).length;
    for (let i = 0; i < n; i++) a.link.forward(message(`s/x${i}`, { qos: 1 }));
    const settled = () => g(a).length - fromPart1 + b.link.counters.sharedLost + c.link.counters.sharedLost;
    await waitUntil(() => settled() === n, `${n} messages delivered by a or counted lost`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled(), n);
    assert.equal(b.link.counters.sharedHandedOn + c.link.counters.sharedHandedOn, n / 3 + (2 * n) / 3, 'each of their turns handed on once');
    assert.equal(new Set(g(a).map((r) => said(r.message))).size, g(a).length, 'none twice');
    // QoS 0 is at most once: not handed on.
    const before = b.link.counters.sharedHandedOn;
    a.link.forward(message('s/q0'));
    a.link.forward(message('s/q0'));
    a.link.forward(message('s/q0'));
    await a.link.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(b.link.counters.sharedHandedOn, before);
  });

  it('hands on a QoS 1 shared-group message the sending node picked for itself when its own last member left, once; QoS 0 is not', async () => {
    const { a, b, c, g } = await groupOnAll();
    // a's last member left after a picked itself (the same turn): its own turns find nobody here.
    a.broker.emptyGroups.add('g\0s/#');
    const n = 30;
    for (let i = 0; i < n; i++) a.link.forward(message(`s/${i}`, { qos: 1 }));
    await waitUntil(() => g(b).length + g(c).length === n, `${n} QoS 1 messages delivered by b and c`);
    assert.equal(g(a).length, 0);
    assert.equal(a.link.counters.sharedHandedOn, n / 3, 'a handed on its own turns');
    assert.equal(a.link.counters.receivedShared, n / 3, 'its own turns counted as for any node');
    const ids = [b, c].flatMap((x) => g(x).map((r) => said(r.message)));
    assert.equal(new Set(ids).size, n, 'none lost, none twice');
    // Once only: with b's member gone too, what a hands to b (and b hands to a) is counted lost
    // there, never passed on again; the rest reaches c.
    b.broker.emptyGroups.add('g\0s/#');
    const before = { c: g(c).length, aOn: a.link.counters.sharedHandedOn, bOn: b.link.counters.sharedHandedOn };
    for (let i = 0; i < n; i++) a.link.forward(message(`s/y${i}`, { qos: 1 }));
    const lost = () => a.link.counters.sharedLost + b.link.counters.sharedLost + c.link.counters.sharedLost;
    const settled = () => g(c).length - before.c + lost();
    await waitUntil(() => settled() === n, `${n} messages delivered by c or counted lost`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled(), n);
    assert.equal(a.link.counters.sharedHandedOn - before.aOn, n / 3, "a's own turns handed on once");
    assert.equal(b.link.counters.sharedHandedOn - before.bOn, n / 3, "b's turns handed on once");
    assert.equal(lost(), g(c).length - before.c - n / 3, 'each handed-on message delivered by c or lost, not both');
    assert.equal(new Set(g(c).map((r) => said(r.message))).size, g(c).length, 'none twice');
    // QoS 0 is at most once: a's own turn with no member is not handed on.
    const handedOn = a.link.counters.sharedHandedOn;
    for (let i = 0; i < 3; i++) a.link.forward(message('s/q0'));
    await a.link.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.link.counters.sharedHandedOn, handedOn);
  });

  it('sends a retained message to every node once, and to a node started later (bucket)', async () => {
    const { prefix, a, b, c } = await trio();
    b.link.interest('r/#', undefined, true);
    await b.link.flush();
    const kept = message('r/1', { retain: true, payload: Buffer.from('kept'), publisherId: 'pub' });
    a.link.forward(kept);
    a.link.forward(message('r/2', { retain: true, payload: Buffer.from('cleared') }));
    a.link.forward(message('r/2', { retain: true, payload: Buffer.alloc(0) }));
    await waitUntil(() => b.broker.routed.length === 3 && c.broker.routed.length === 3, 'the retained messages on b and c');
    await a.link.flush();
    assert.equal(b.link.counters.received, 0, 'not also through plain interest');
    assert.equal(b.link.counters.receivedRetained, 3);
    assert.ok(b.broker.routed.every((r) => r.message.retain));

    const local = memoryRetained();
    local.set(message('stale', { retain: true }));
    const d = await startLink([nats.url], 'd', { prefix, retained: local });
    open.push(d);
    assert.equal(d.link.state.retainedLoaded, true);
    assert.deepEqual([...local.map.keys()], ['r/1'], 'bucket content applied, stale one dropped');
    const { publisherId: _p, ...withoutPublisher } = kept;
    assert.deepEqual(local.map.get('r/1'), withoutPublisher);
    assert.equal(d.broker.routed.length, 0, 'loading delivers nothing');
  });

  it('settles two claims of one client id on the later one; ignores its own', async () => {
    const { prefix, a, b, c } = await trio();
    a.link.claim('c1', false);
    await waitUntil(() => b.broker.takenOver.length === 1 && c.broker.takenOver.length === 1, 'takeover on b and c');
    assert.deepEqual(b.broker.takenOver, ['c1']);
    assert.deepEqual(a.broker.takenOver, []);
    // A claim older than a's own for the same id: a's connection is the newer one and stays.
    a.link.claim('c2', false);
    await a.link.flush();
    const h = headers();
    h.set(H.origin, 'elsewhere');
    raw.publish(clusterSubjects(prefix).claim('c2'), encodeClaim({ clientId: 'c2', at: Date.now() - 1000 }), { headers: h });
    await waitUntil(() => a.link.counters.claimsIgnored === 1, 'the older claim ignored');
    await waitUntil(() => c.broker.takenOver.includes('c2') && c.broker.takenOver.length === 3, 'both claims on c');
    assert.deepEqual(a.broker.takenOver, []);
  });

  it('moves a session to the node a client reconnects to with Clean Start 0, in parts larger sessions need [MQTT-3.1.2-4]', async () => {
    const { a, b, c } = await trio();
    await waitUntil(() => a.link.members().join() === 'a,b,c', 'three members');
    // Larger than the server's max_payload (1 MiB by default), so it travels in several parts.
    const big = Buffer.alloc(300 * 1024, 7);
    const messages = [0, 1, 2, 3, 4].map((i) => message(`s/${i}`, { qos: 1, payload: Buffer.concat([big, Buffer.from([i])]), properties: { correlationData: Buffer.from([i, 0xff]) } }));
    const transfer: SessionTransfer = {
      state: {
        session: { clientId: 'mover', protocolVersion: 5, expiryInterval: 3600 },
        subscriptions: [{ filter: 's/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        queue: messages.map((m, i) => ({ seq: i + 1, messageId: m.id, qos: 1, retain: false, state: i < 2 ? ('inflight' as const) : ('queued' as const), ...(i < 2 ? { packetId: i + 1 } : {}) })),
        inbound: [9],
      },
      messages,
    };
    b.broker.sessions.set('mover', transfer);
    await a.link.claim('mover', true);
    assert.equal(a.broker.imported.length, 1, 'the session arrived before the claim resolved');
    assert.deepEqual(a.broker.imported[0], transfer, 'intact: buffers, properties, queue states, inbound ids');
    assert.equal(b.broker.sessions.has('mover'), false, 'the old node gave it up');
    assert.ok(b.broker.takenOver.includes('mover') && c.broker.takenOver.includes('mover'), 'every other node was asked');
    assert.equal(a.link.counters.sessionsMovedIn, 1);
    assert.equal(b.link.counters.sessionsMovedOut, 1);
    // Clean Start 1: the others end their copy and nothing is asked for or waited on.
    c.broker.sessions.set('fresh', transfer);
    assert.equal(a.link.claim('fresh', false), undefined);
    await waitUntil(() => !c.broker.sessions.has('fresh'), 'the old session ended on c');
    assert.equal(a.broker.imported.length, 1);
  });

  it('does not wait longer than moveTimeoutMs for a node that does not answer', async () => {
    const prefix = `t${++prefixSeq}`;
    const a = await startLink([nats.url], 'a', { prefix, moveTimeoutMs: 300 });
    open.push(a);
    // A member that heartbeats but never answers claims (a node that is going away).
    const h = headers();
    h.set(H.origin, 'mute');
    raw.publish(clusterSubjects(prefix).node('mute'), encodeHeartbeat({ node: 'mute', instance: 'x', intervalMs: 60_000, startedAt: 0 }), { headers: h });
    await waitUntil(() => a.link.members().includes('mute'), 'the mute node listed');
    const started = Date.now();
    await a.link.claim('someone', true);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 3000, `gave up after the timeout (${took} ms)`);
    assert.equal(a.broker.imported.length, 0);
  });

  it('lists live members, drops a silent node after three periods and a closing one at once', async () => {
    const { prefix, a, b } = await trio();
    await waitUntil(() => a.link.members().join() === 'a,b,c', 'three members');
    const h = headers();
    h.set(H.origin, 'ghost');
    raw.publish(clusterSubjects(prefix).node('ghost'), encodeHeartbeat({ node: 'ghost', instance: 'x', intervalMs: 100, startedAt: 0 }), { headers: h });
    await waitUntil(() => a.link.members().includes('ghost'), 'ghost listed');
    await waitUntil(() => !a.link.members().includes('ghost'), 'ghost dropped', 2000);
    await b.link.close();
    await waitUntil(() => a.link.members().join() === 'a,c', 'b gone', 1000);
  });

  it('a node of another cluster protocol version is listed and logged as such, and its interest is not asked for', async () => {
    const prefix = `t${++prefixSeq}`;
    const { log, lines } = captureLog();
    const a = await startLink([nats.url], 'a', { prefix, log });
    open.push(a);
    const beat = (node: string, wire: number): void => {
      const h = headers();
      h.set(H.origin, node);
      raw.publish(clusterSubjects(prefix).node(node), encodeHeartbeat({ node, instance: 'x', intervalMs: 60_000, startedAt: 0, iv: 1, wire }), { headers: h });
    };
    // Who is asked for its interest (interest.ts sync: a request on <prefix>.isync.<node>).
    const asked: string[] = [];
    const spy = raw.subscribe(clusterSubjects(prefix).interest.sync('*'), { callback: (_e, m) => void asked.push(m.subject.split('.').pop()!) });
    await raw.flush();
    beat('future', WIRE_VERSION + 1);
    beat('same', WIRE_VERSION);
    await waitUntil(() => a.link.members().join() === 'a,future,same', 'both listed as members');
    assert.deepEqual(a.link.incompatible(), ['future']);
    await waitUntil(() => asked.includes('same'), 'the interest of the node of this version asked for');
    assert.ok(!asked.includes('future'), `none asked of the other (${asked.join()})`);
    spy.unsubscribe();
    const said = lines.filter((l) => /another version of the cluster protocol/.test(String(l.msg)));
    assert.equal(said.length, 1, 'logged once');
    assert.equal(said[0].level, 50, 'at error');
    assert.equal(said[0].node, 'future');
    assert.equal(said[0].protocol, WIRE_VERSION + 1);
    assert.equal(said[0].ours, WIRE_VERSION);
    beat('future', WIRE_VERSION + 1);
    await a.link.flush();
    assert.equal(lines.filter((l) => /another version of the cluster protocol/.test(String(l.msg))).length, 1, 'not again at its next heartbeat');

    // The node of the other version announces interest anyway (its interest protocol may be the
    // same): none of it is applied, so nothing is forwarded to it. The same announcement from a
    // node not heard from yet is applied, and gets the message.
    const subjects = clusterSubjects(prefix);
    const got: string[] = [];
    const inboxes = ['future', 'unheard'].map((node) => raw.subscribe(subjects.inbox(node), { callback: () => void got.push(node) }));
    for (const node of ['future', 'unheard']) {
      raw.publish(subjects.interest.changes(node), JSON.stringify({ node, instance: 'x', v: 1, changes: [['v/#', null, true]] }));
    }
    await raw.flush();
    await waitUntil(() => (a.link.forward(message('v/1')), got.includes('unheard')), 'the message forwarded to the node of this version');
    await a.link.flush();
    await raw.flush();
    assert.ok(!got.includes('future'), `nothing forwarded to the node of another version (${got.join()})`);
    for (const sub of inboxes) sub.unsubscribe();
  });

  it('forgets what it knew of a node that comes back speaking another cluster protocol version', async () => {
    const { prefix, a, b } = await trio();
    b.link.interest('v/#', undefined, true);
    await b.link.flush();
    await waitUntil(() => a.link.state.knownNodes === 2, 'a knows the interest of b and c');
    // b "restarts" (a new instance) on another version: its old interest must not keep routing to it.
    const h = headers();
    h.set(H.origin, 'b');
    raw.publish(clusterSubjects(prefix).node('b'), encodeHeartbeat({ node: 'b', instance: 'next', intervalMs: 60_000, startedAt: 1, iv: 1, wire: WIRE_VERSION + 1 }), { headers: h });
    await waitUntil(() => a.link.incompatible().includes('b'), 'b listed as of another version');
    assert.equal(a.link.state.knownNodes, 1, 'only c\'s interest is still known');
  });

  it('counts malformed and oversized messages without throwing', async () => {
    const { prefix, a, b } = await trio();
    b.link.interest('bad', undefined, true);
    await b.link.flush();
    raw.publish(clusterSubjects(prefix).inbox('b'), 'not a frame');
    await waitUntil(() => b.link.counters.malformed === 1, 'malformed counted');
    // A valid frame cut short: refused whole, nothing of it routed.
    const frame = encodeFrame('a', [{ message: message('bad') }, { message: message('bad') }]);
    raw.publish(clusterSubjects(prefix).inbox('b'), frame.subarray(0, frame.length - 1));
    await waitUntil(() => b.link.counters.malformed === 2, 'truncated frame counted');
    const max = raw.info?.max_payload ?? 1024 * 1024;
    assert.doesNotThrow(() => a.link.forward(message('bad', { payload: Buffer.alloc(max + 1) })));
    assert.equal(a.link.counters.publishErrors, 1);
    assert.equal(b.broker.routed.length, 0);
  });

  it('routes topics too long for a subject through the bare root', async () => {
    const { a, b, c } = await trio({ maxSubjectLength: 64 });
    const long = 'L/' + 'x'.repeat(200);
    b.link.interest('L/+', undefined, true);
    c.link.interest(long, undefined, true);
    await Promise.all([b.link.flush(), c.link.flush()]);
    a.link.forward(message(long));
    await waitUntil(() => b.broker.routed.length === 1 && c.broker.routed.length === 1, 'the long topic on b and c');
    assert.equal(b.broker.routed[0].message.topic, long);
  });
});

describe('cluster link (three-server NATS cluster)', () => {
  let natsCluster: NatsClusterHandle;
  const open: Node[] = [];
  before(async () => {
    natsCluster = await startNatsCluster(3);
  });
  after(async () => {
    await Promise.all(open.map((n) => n.link.close()));
    await natsCluster.stop();
  });

  it('keeps routing after the NATS server a node uses dies (reconnect, subscriptions restored)', async () => {
    const opts = { prefix: 'fo', retainedReplicas: 3, timeoutMs: 5000 };
    const a = await startLink(natsCluster.urls, 'a', opts);
    const b = await startLink(natsCluster.urls, 'b', opts);
    open.push(a, b);
    b.link.interest('f/#', undefined, true);
    await b.link.flush();
    // Interest crosses the NATS routes asynchronously: publish until b has one.
    await waitUntil(() => (a.link.forward(message('f/warm')), b.broker.routed.length > 0), 'first delivery', 10_000);

    // The subscriber's server dies: b must reconnect elsewhere and subscribe again there.
    const port = Number(b.link.server().split(':').pop());
    const victim = natsCluster.servers.find((s) => s.port === port);
    assert.ok(victim, `b is connected to one of the servers (${b.link.server()})`);
    victim.kill();
    await waitUntil(() => b.link.counters.reconnects >= 1, 'b reconnected', 15_000);
    assert.notEqual(Number(b.link.server().split(':').pop()), port);

    const before = b.broker.routed.length;
    await waitUntil(() => (a.link.forward(message('f/probe')), b.broker.routed.length > before), 'delivery after failover', 15_000);
    const start = b.broker.routed.length;
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const m = message('f/seq');
      sent.push(said(m));
      a.link.forward(m);
    }
    await waitUntil(() => b.broker.routed.length >= start + 50, 'the 50 after failover', 10_000);
    const got = b.broker.routed.slice(start).map((r) => said(r.message)).filter((p) => sent.includes(p));
    assert.deepEqual(got, sent, 'all of them, in order');

    // The retained bucket (3 replicas) still takes writes, and a node started now reads them.
    // Written while JetStream may still be electing the bucket's leader: the link retries it.
    a.link.forward(message('f/kept', { retain: true, payload: Buffer.from('kept') }));
    await a.link.flush(15_000);
    assert.equal(a.link.state.retainedWriteFailures, 0, 'the retained write was acknowledged after the failover');
    const local = memoryRetained();
    const d = await startLink(natsCluster.urls.filter((u) => !u.endsWith(`:${port}`)), 'd', { ...opts, retained: local });
    open.push(d);
    // JetStream may still be electing leaders after the loss: the link then loads in the background.
    await waitUntil(() => d.link.state.retainedLoaded, 'the bucket loaded on d', 20_000);
    assert.equal(local.map.get('f/kept')?.retain, true);
  });
});

describe('cluster link (NATS gone)', () => {
  it('refuses to start without NATS, saying so', async () => {
    await assert.rejects(startLink(['nats://127.0.0.1:1'], 'a'), /cluster: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });

  it('bounds what it buffers while NATS is unreachable, and closes anyway', async () => {
    const nats = await startNatsServer();
    try {
      const a = await startLink([nats.url], 'a', { reconnectBufferBytes: 1024 * 1024 });
      // A node that wants the messages, so that there is something to send.
      const b = await startLink([nats.url], 'b');
      await waitUntil(() => a.link.members().join() === 'a,b', 'two members');
      b.link.interest('gone', undefined, true);
      await b.link.flush();
      nats.kill();
      await nats.exited();
      const payload = Buffer.alloc(100 * 1024);
      // Forwarding never throws; once the client knows it is disconnected, the buffer fills and drops start.
      await waitUntil(() => (a.link.forward(message('gone', { payload })), a.link.counters.droppedDisconnected > 0), 'drops', 10_000);
      assert.equal(a.link.counters.publishErrors, 0);
      const started = Date.now();
      await Promise.all([a.link.close(), b.link.close()]);
      assert.ok(Date.now() - started < 5000, 'close is bounded');
    } finally {
      await nats.stop();
    }
  });
});
