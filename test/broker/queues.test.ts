// Queues: delivery to one session without a channel. The window (our maxInflightMessages and the
// client's Receive Maximum), the overflow policies and their counted drops, back-pressure holds,
// resending on attach [MQTT-4.4.0-1], and acknowledgements that wait for the store only when the
// session is persistent (QoS 0 and non-persistent sessions never await).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredMessage } from '../../src/store/ports.js';
import type { DropReason } from '../../src/hooks/hooks.js';
import { WriteBatch } from '../../src/broker/writes.js';
import { brokerParts, message, online, sqlitePath, sqliteStore, type BrokerParts } from '../helpers/broker-parts.js';
import type { Session } from '../../src/session/session.js';

function enqueue(p: BrokerParts, s: Session, topic: string, hold = false): boolean {
  return p.queues.enqueue(s, { message: message(p.ids, topic, topic), qos: 1, retain: false }, Date.now(), { policy: p.queues.overflowPolicy(s, hold) });
}

/** Enqueues to a persistent session as the pipeline does: stored with its message, then sent. */
async function enqueueDurably(p: BrokerParts, s: Session, m: StoredMessage): Promise<void> {
  const batch = new WriteBatch();
  p.queues.enqueue(s, { message: m, qos: m.qos, retain: false }, Date.now(), { batch, withMessage: true });
  await p.writes.commit(batch);
}

const settledSoon = async (promise: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void promise.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
};

describe('Queues', () => {
  it('fills the window up to the client’s Receive Maximum and refills it on PUBACK', async () => {
    const p = await brokerParts();
    const { session, outlet } = await online(p, 'win', {}, 2);
    for (const t of ['a', 'b', 'c']) enqueue(p, session, t);
    p.queues.pump(session);
    assert.deepEqual(outlet.written.map((w) => [w.topic, w.packetId]), [['a', 1], ['b', 2]]);
    assert.equal(session.queuedCount, 1);
    assert.equal(p.stats.limits.maxInflightMessages ?? 0, 0, 'held back by the client’s window, not ours');
    assert.equal(p.queues.completed(session, 1, 'puback'), true);
    assert.deepEqual(outlet.written.map((w) => w.topic), ['a', 'b', 'c']);
    assert.equal(p.queues.completed(session, 1, 'puback'), false, 'an id already acknowledged');
    await p.close();
  });

  it('counts maxInflightMessages when our own window holds a message back', async () => {
    const p = await brokerParts({ maxInflightMessages: 1 });
    const { session, outlet } = await online(p, 'ours');
    enqueue(p, session, 'a');
    enqueue(p, session, 'b');
    p.queues.pump(session);
    assert.equal(outlet.written.length, 1);
    assert.equal(p.stats.limits.maxInflightMessages, 1);
    await p.close();
  });

  it('dropOldest drops the oldest for room, counted as queueFull and told to the dropped notification', async () => {
    const dropped: Array<[DropReason, string, string | undefined]> = [];
    const notify = { dropped: (reason: DropReason, m: StoredMessage, clientId?: string) => dropped.push([reason, m.topic, clientId]) };
    const p = await brokerParts({ queue: { maxQueuedMessages: 2, overflow: 'dropOldest' }, hooks: { notify } });
    const { client, session } = await online(p, 'slow', { clean: false, expiryInterval: 60 });
    p.sessions.disconnected(client, 'normal');
    for (const t of ['1', '2', '3']) assert.equal(enqueue(p, session, t), true);
    assert.deepEqual(session.queued().map((o) => o.message.topic), ['2', '3']);
    assert.equal(p.stats.drops.queueFull, 1);
    assert.deepEqual(dropped, [['queueFull', '1', 'slow']]);
    await p.close();
  });

  it('refuseNewest refuses the new message and keeps the queue', async () => {
    const p = await brokerParts({ queue: { maxQueuedMessages: 1, overflow: 'refuseNewest' } });
    const { client, session } = await online(p, 'full', { clean: false, expiryInterval: 60 });
    p.sessions.disconnected(client, 'normal');
    assert.equal(enqueue(p, session, 'kept'), true);
    assert.equal(enqueue(p, session, 'refused'), false);
    assert.deepEqual(session.queued().map((o) => o.message.topic), ['kept']);
    assert.equal(p.stats.drops.queueRefused, 1);
    await p.close();
  });

  it('backPressure holds a publisher until the full queue drained to half its limits, and drops nothing', async () => {
    const p = await brokerParts({ queue: { maxQueuedMessages: 2, overflow: 'backPressure' } });
    const { session, outlet } = await online(p, 'held', {}, 1);
    assert.equal(p.queues.overflowPolicy(session, true), 'backPressure');
    assert.equal(p.queues.overflowPolicy(session, false), 'dropOldest', 'a publisher that cannot wait is never held');
    for (const t of ['1', '2', '3', '4']) assert.equal(enqueue(p, session, t, true), true);
    p.queues.pump(session);
    assert.ok(session.over(p.queues.limits));
    const hold = p.queues.holdUntilRoom([session]);
    assert.ok(hold);
    assert.equal(await settledSoon(hold), false, 'held while the queue is over its limits');
    p.queues.completed(session, outlet.written[0]!.packetId!, 'puback');
    assert.ok(!session.over(p.queues.limits));
    assert.equal(await settledSoon(hold), false, 'within its limits again, but not at half: still held (one message per release would cost a write each)');
    p.queues.completed(session, outlet.written[1]!.packetId!, 'puback');
    assert.equal(await settledSoon(hold), true, 'released once acknowledgements drained it to half');
    assert.equal(Object.values(p.stats.drops).reduce((a, b) => a + b, 0), 0);
    await p.close();
  });

  it('a hold that times out on a queue back within its limits (not yet at half) lets the publisher go and drops nothing', async () => {
    const p = await brokerParts({ queue: { maxQueuedMessages: 4, overflow: 'backPressure' }, backPressureTimeoutMs: 50 });
    const { session, outlet } = await online(p, 'moving', {}, 1);
    for (const t of ['1', '2', '3', '4', '5', '6']) assert.equal(enqueue(p, session, t, true), true);
    p.queues.pump(session);
    assert.ok(session.over(p.queues.limits), 'five queued behind one in flight, over the limit of 4');
    const hold = p.queues.holdUntilRoom([session]);
    assert.ok(hold);
    p.queues.completed(session, outlet.written[0]!.packetId!, 'puback');
    assert.ok(!session.over(p.queues.limits) && !session.withinHalf(p.queues.limits), 'within its limits, above half');
    assert.equal(await settledSoon(hold), false);
    // Bounded wait for the 50 ms hold timer.
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(await settledSoon(hold), true, 'let go at the timeout');
    assert.equal(Object.values(p.stats.drops).reduce((a, b) => a + b, 0), 0, 'a queue that is moving sheds nothing');
    await p.close();
  });

  it('attach resends what was in flight with DUP, before anything queued [MQTT-4.4.0-1]', async () => {
    const p = await brokerParts();
    const first = await online(p, 'back', { clean: false, expiryInterval: 60 }, 1);
    await enqueueDurably(p, first.session, message(p.ids, 'in-flight', 'x'));
    await enqueueDurably(p, first.session, message(p.ids, 'queued', 'y'));
    assert.deepEqual(first.outlet.written.map((w) => [w.topic, w.dup]), [['in-flight', false]]);
    p.sessions.disconnected(first.client, 'abnormal');
    const again = await online(p, 'back', { clean: false, expiryInterval: 60 }, 1);
    assert.equal(again.sessionPresent, true);
    assert.deepEqual(again.outlet.written.map((w) => [w.topic, w.packetId, w.dup]), [['in-flight', first.outlet.written[0]!.packetId, true]]);
    await p.close();
  });

  it('PUBREC and PUBREL wait for the store only for a persistent session (SQLite)', async () => {
    const p = await brokerParts({ store: sqliteStore(sqlitePath()) });
    const passing = await online(p, 'passing');
    const kept = await online(p, 'kept', { clean: false, expiryInterval: 60 });
    p.queues.enqueue(passing.session, { message: message(p.ids, 'q2', 'x', { qos: 2 }), qos: 2, retain: false }, Date.now());
    p.queues.pump(passing.session);
    await enqueueDurably(p, kept.session, message(p.ids, 'q2', 'x', { qos: 2 }));
    for (const { session } of [passing, kept]) session.addInbound(7);
    const id = (s: Session) => [...s.inflight.keys()][0]!;
    const now = p.queues.received(passing.session, id(passing.session));
    assert.ok(!(now instanceof Promise) && now?.message.topic === 'q2', 'answered at once');
    assert.equal(p.queues.inboundCompleted(passing.session, 7), true);
    const later = p.queues.received(kept.session, id(kept.session));
    assert.ok(later instanceof Promise, 'waits for the released state to be durable');
    assert.equal((await later)?.message.topic, 'q2');
    const inbound = p.queues.inboundCompleted(kept.session, 7);
    assert.ok(inbound instanceof Promise);
    assert.equal(await inbound, true);
    await p.close();
  });
});
