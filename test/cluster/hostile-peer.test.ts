// What anything that can publish on a cluster's NATS subjects can do to a node, over a real
// nats-server: every field of every kind of message is checked before use, a bad message is dropped
// and counted (never thrown into the NATS client, never a crash), and nothing a peer sends makes a
// node hold more than a bound: members and their heartbeat periods, interest changes held while a
// node's interest cannot be read, how many nodes are tracked, batches, retained messages, claims, and
// (persistence=nats) the adoption of a node that never held a store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsServerHandle } from '../helpers/nats-server.js';
import type { TestServer } from '../helpers/server.js';
import { fullGc, liveBytes, MiB } from '../helpers/heap.js';
import type { NatsClusterLink } from '../../src/cluster/nats/link.js';
import { clusterSubjects } from '../../src/cluster/nats/subjects.js';
import { encodeClaim, encodeHeartbeat, H, messageHeaders, WIRE_VERSION } from '../../src/cluster/nats/wire.js';
import { encodeFrame } from '../../src/cluster/batch-frame.js';
import { FakeBroker, message, natsAndNode, natsWithClient, startLink, waitUntil } from './helpers.js';

type Node = { link: NatsClusterLink; broker: FakeBroker };

describe('a hostile publisher on the cluster subjects', () => {
  let nats: NatsServerHandle;
  let raw: NatsConnection;
  const open: Node[] = [];
  let prefixSeq = 0;

  /** One node under a prefix of its own, and the subjects a peer of it publishes on. */
  async function node(): Promise<{ a: Node; subjects: ReturnType<typeof clusterSubjects> }> {
    const prefix = `h${++prefixSeq}`;
    const a = await startLink([nats.url], 'a', { prefix, heartbeatMs: 200 });
    open.push(a);
    return { a, subjects: clusterSubjects(prefix) };
  }
  const beat = (subjects: ReturnType<typeof clusterSubjects>, fields: Record<string, unknown>, subjectNode = String(fields.node)): void => {
    const h = headers();
    h.set(H.origin, subjectNode);
    raw.publish(subjects.node(subjectNode), Buffer.from(JSON.stringify({ instance: 'x', intervalMs: 100, startedAt: 0, iv: 0, wire: WIRE_VERSION, ...fields })), { headers: h });
  };

  let stop: (open: Node[]) => Promise<void>;

  before(async () => void ({ nats, raw, stop } = await natsWithClient()));
  after(() => stop(open));

  it('drops heartbeats whose period is outside clusterHeartbeatMs (100..60,000 ms: 0, 99, 60,001, 1e12, NaN), whose node id is not one, or sent on another node\'s subject; counts them; none is a member', async () => {
    const { a, subjects } = await node();
    const bad: Array<[Record<string, unknown>, string?]> = [
      [{ node: 'zero', intervalMs: 0 }],
      [{ node: 'fast', intervalMs: 99 }],
      [{ node: 'slow', intervalMs: 60_001 }],
      [{ node: 'forever', intervalMs: 1e12 }],
      // JSON has no NaN: it is sent as null.
      [{ node: 'nan', intervalMs: NaN }],
      [{ node: 'negative-start', startedAt: -1 }],
      [{ node: 'odd-iv', iv: 'many' }],
      [{ node: 'x'.repeat(65) }],
      [{ node: 'long-instance', instance: 'i'.repeat(65) }],
      // Speaking for another node: the subject is the sender's.
      [{ node: 'victim' }, 'sender'],
    ];
    for (const [fields, subjectNode] of bad) beat(subjects, fields, subjectNode);
    beat(subjects, { node: 'fine', intervalMs: 60_000 });
    await raw.flush();
    await waitUntil(() => a.link.members().includes('fine'), 'a well-formed heartbeat is heard');
    assert.deepEqual(a.link.members(), ['a', 'fine'], 'no malformed heartbeat made a member');
    assert.equal(a.link.counters.malformed, bad.length, 'each counted');
  });

  it('holds a bounded amount of the interest changes of a node whose interest cannot be read (versions with a gap, no answer to its sync)', async () => {
    const { a, subjects } = await node();
    // Every change is a valid filter of 60,000 characters: 15 of them make each message about 900 KB.
    const changes = Array.from({ length: 15 }, (_, i) => [`f/${i}/`.padEnd(60_000, 'y'), null, true]);
    const MESSAGES = 80;
    const gc = fullGc();
    const baseline = liveBytes(gc);
    for (let v = 0; v < MESSAGES; v++) {
      raw.publish(subjects.interest.changes('gappy'), Buffer.from(JSON.stringify({ node: 'gappy', instance: 'x', v: 10 + v * 2, changes })));
      if (v % 8 === 7) await raw.flush();
    }
    // Messages reach the node in the order they were published: once this heartbeat is heard, all were read.
    beat(subjects, { node: 'marker', intervalMs: 60_000 });
    await raw.flush();
    await waitUntil(() => a.link.members().includes('marker'), 'every change message read', 20_000);
    const grown = liveBytes(gc) - baseline;
    const sent = MESSAGES * 15 * 60_000;
    assert.ok(grown < 40 * MiB, `the node holds ${(grown / MiB).toFixed(1)} MiB more after ${(sent / MiB).toFixed(0)} MiB of changes it could not apply`);
  });

  it('tracks the interest of at most 256 other nodes, making room by forgetting nodes that never heartbeat', async () => {
    const { a, subjects } = await node();
    for (let i = 0; i < 300; i++) {
      const n = `n${i}`;
      raw.publish(subjects.interest.changes(n), Buffer.from(JSON.stringify({ node: n, instance: 'x', v: 1, changes: [[`t/${i}`, null, true]] })));
    }
    beat(subjects, { node: 'marker', intervalMs: 60_000 });
    await raw.flush();
    await waitUntil(() => a.link.members().includes('marker'), 'every change message read');
    assert.ok(a.link.state.knownNodes <= 256, `${a.link.state.knownNodes} nodes' interest held`);
    // The newest are the ones kept: n299's interest routes.
    const got: string[] = [];
    const inbox = raw.subscribe(subjects.inbox('n299'), { callback: () => void got.push('n299') });
    await raw.flush();
    await waitUntil(() => (a.link.forward(message('t/299')), got.length > 0), 'the last node announced still gets its topic');
    inbox.unsubscribe();
  });

  it('drops interest with filters no SUBSCRIBE could carry (a wildcard inside a level, over 65,535 bytes, an empty share name, a share name with a slash)', async () => {
    const { a, subjects } = await node();
    const bad = [['a/#/b', null, true], ['x'.repeat(65_536), null, true], ['t', '', true], ['t', 'g/h', true], ['', null, true]];
    for (const change of bad) {
      raw.publish(subjects.interest.changes('w'), Buffer.from(JSON.stringify({ node: 'w', instance: 'x', v: 1, changes: [change] })));
    }
    beat(subjects, { node: 'marker', intervalMs: 60_000 });
    await raw.flush();
    await waitUntil(() => a.link.members().includes('marker'), 'every message read');
    assert.equal(a.link.counters.malformed, bad.length, 'each interest message with a bad filter counted');
    assert.equal(a.link.state.knownNodes, 0, 'none applied');
  });

  it('routes no batch that carries a topic name with a wildcard or a string over 65,535 bytes [MQTT-3.3.2-2] [MQTT-1.5.4-1]', async () => {
    const { a, subjects } = await node();
    const frames = [
      encodeFrame('p', [{ message: message('ok/1') }, { message: message('ok/#') }]),
      encodeFrame('p', [{ message: message('ok/+/x') }]),
      encodeFrame('p', [{ message: message('') }]),
      encodeFrame('p', [{ message: message('ok/'.padEnd(65_536, 'z')) }]),
      encodeFrame('p', [{ message: message('ok/2', { publisherId: 'c'.repeat(65_536) }) }]),
      encodeFrame('p', [{ message: message('ok/3'), shared: 'nokey' }]),
    ];
    for (const f of frames) raw.publish(subjects.inbox('a'), f);
    raw.publish(subjects.inbox('a'), encodeFrame('p', [{ message: message('ok/fine') }]));
    await raw.flush();
    await waitUntil(() => a.broker.routed.length > 0, 'the well-formed batch routed');
    assert.deepEqual(a.broker.topics(), ['ok/fine'], 'nothing of a malformed batch routed');
    assert.equal(a.link.counters.malformed, frames.length);
  });

  it('routes no retained message whose properties no PUBLISH could carry, or whose topic has a wildcard', async () => {
    const { a, subjects } = await node();
    const h = messageHeaders(message('r/1', { retain: true }), 'p');
    h.set(H.properties, Buffer.from(JSON.stringify({ userProperties: 5 })).toString('base64url'));
    raw.publish(subjects.retain.topic('r/1'), Buffer.from('x'), { headers: h });
    raw.publish(subjects.retain.topic('r/2'), Buffer.from('x'), { headers: messageHeaders(message('r/#', { retain: true }), 'p') });
    raw.publish(subjects.retain.topic('r/3'), Buffer.from('x'), { headers: messageHeaders(message('r/3', { retain: true }), 'p') });
    await raw.flush();
    await waitUntil(() => a.broker.routed.length > 0, 'the well-formed one routed');
    assert.deepEqual(a.broker.topics(), ['r/3']);
    assert.equal(a.link.counters.malformed, 2);
  });

  it('ignores a claim whose client id no CONNECT could carry (over 65,535 bytes)', async () => {
    const { a, subjects } = await node();
    const h = headers();
    h.set(H.origin, 'p');
    raw.publish(subjects.claim('long'), encodeClaim({ clientId: 'c'.repeat(65_536), at: Date.now() }), { headers: h });
    raw.publish(subjects.claim('fine'), encodeClaim({ clientId: 'fine', at: Date.now() }), { headers: h });
    await raw.flush();
    await waitUntil(() => a.broker.takenOver.length > 0, 'the well-formed claim taken');
    assert.deepEqual(a.broker.takenOver, ['fine']);
    assert.equal(a.link.counters.malformed, 1);
  });
});

describe('a heartbeat of a node that never held a store (persistence=nats)', () => {
  let nats: NatsServerHandle;
  let t: TestServer;
  let stop: () => Promise<void>;

  before(async () => void ({ nats, node: t, stop } = await natsAndNode({ clusterNodeId: 'keeper', clusterSubjectPrefix: 'ph', clusterHeartbeatMs: '200', persistence: 'nats' })));
  after(() => stop());

  it('is no reason to adopt it: when it falls silent no store is made for it', async () => {
    const link = t.server.cluster as NatsClusterLink;
    assert.ok(link.durable, 'durable delivery runs');
    const raw = await connect({ servers: nats.url });
    try {
      const h = headers();
      h.set(H.origin, 'phantom');
      raw.publish(clusterSubjects('ph').node('phantom'), encodeHeartbeat({ node: 'phantom', instance: 'x', intervalMs: 100, startedAt: 0, iv: 0, wire: WIRE_VERSION }), { headers: h });
      await raw.flush();
      await waitUntil(() => link.members().includes('phantom'), 'phantom heard');
      await waitUntil(() => !link.members().includes('phantom'), 'phantom lost', 5000);
      // Its loss is handled at the next sweep; the adoption, if any, runs to its end.
      await waitUntil(() => link.durable!.counters.adopted > 0 || link.durable!.pending().length === 0, 'the loss handled', 10_000);
      await new Promise((r) => setTimeout(r, 500));
      await Promise.all(link.durable!.pending());
      const jsm = await jetstreamManager(raw);
      const names: string[] = [];
      for await (const name of jsm.streams.names()) names.push(name);
      assert.deepEqual(names.filter((n) => n.includes('phantom')), [], `no stream made for the phantom (streams: ${names.join(', ')})`);
      assert.equal(link.durable!.counters.adopted, 0);
    } finally {
      await raw.close();
    }
  });
});
