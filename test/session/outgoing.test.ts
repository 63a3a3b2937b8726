// The outgoing entry's state machine (src/session/outgoing.ts): each transition, what the store
// keeps of each state and what recovery makes of it, and the Session operations that drive them.
// The @ts-expect-error lines are part of the test: impossible combinations must not compile.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  fromQueueEntry,
  isSent,
  isWritten,
  markReleased,
  markResend,
  markSent,
  newEntry,
  toQueueEntry,
  windowed,
  writing,
  writtenDown,
  type Outgoing,
} from '../../src/session/outgoing.js';
import { Session, type QueueLimits, type SessionOutlet } from '../../src/session/session.js';
import type { Delivery } from '../../src/session/delivery.js';
import type { StoredMessage } from '../../src/store/ports.js';
import { fillWindow } from '../helpers/session-window.js';

const limits: QueueLimits = { maxQueuedMessages: 100, maxQueuedBytes: 1 << 20, overflow: 'dropOldest' };

function message(n: number, qos: 1 | 2 = 1): StoredMessage {
  return { id: `m${n}`, topic: 't', payload: Buffer.from(`m${n}`), qos, retain: false, createdAt: 0 };
}

const delivery = (n: number, qos: 1 | 2): Delivery => ({ message: message(n, qos), qos, retain: false });

function recorder(): SessionOutlet & { out: Delivery[]; pubrels: number[] } {
  const out: Delivery[] = [];
  const pubrels: number[] = [];
  return { out, pubrels, writable: true, deliver: (d) => void out.push(d), pubrel: (id) => void pubrels.push(id) };
}

describe('session: outgoing entry states', () => {
  it('QoS 1: queued → unsent → awaitingPuback; a resend makes it unsent with DUP [MQTT-3.3.1-1]', () => {
    const q = newEntry(1, delivery(1, 1), 4);
    assert.equal(q.state, 'queued');
    assert.equal(q.written, true);
    const u = windowed(q, 7);
    assert.equal(u as unknown, q, 'the same object: sets and batches hold entries by identity');
    assert.deepEqual([u.state, u.packetId, u.dup], ['unsent', 7, false]);
    const s = markSent(u);
    assert.equal(s.state, 'awaitingPuback');
    assert.equal(isSent(s), true);
    const again = markResend(s);
    assert.deepEqual([again.state, again.packetId, again.dup, again.written], ['unsent', 7, true, true]);
  });

  it('QoS 2: sent → awaitingPubrec → (PUBREC) awaitingPubcomp [MQTT-4.3.3-4]', () => {
    const s = markSent(windowed(newEntry(1, delivery(1, 2), 4), 3));
    assert.equal(s.state, 'awaitingPubrec');
    if (s.state !== 'awaitingPubrec') return;
    const r = markReleased(s);
    assert.equal(r.state, 'awaitingPubcomp');
    assert.equal(isSent(r), true);
  });

  it('written exists only before an entry is sent: writing/writtenDown move it, a sent entry always counts as written', () => {
    const q = newEntry(1, delivery(1, 1), 4);
    writing(q);
    assert.equal(isWritten(q), false);
    const u = windowed(q, 1);
    assert.equal(u.written, false, 'taking an entry keeps its pending write');
    writtenDown(u);
    assert.equal(isWritten(u), true);
    const s = markSent(u);
    writing(s);
    assert.equal(isWritten(s), true, 'nothing holds back an entry that went out');
  });

  it('impossible combinations do not type-check (checked when the tests are built)', () => {
    const q = newEntry(1, delivery(1, 1), 4);
    const s = markSent(windowed(newEntry(2, delivery(2, 1), 4), 1));
    // Never called: each line must fail to compile, or the build of the tests fails (unused directive).
    const illTyped = (): unknown[] => [
      // @ts-expect-error a queued entry has no packet identifier
      q.packetId,
      // @ts-expect-error only an entry in the window can be sent
      markSent(q),
      // @ts-expect-error a sent entry carries no DUP flag of its own (a resend sets it)
      s.dup,
      // @ts-expect-error nor a pending write
      s.written,
      // @ts-expect-error a QoS 1 entry is never released
      s.state === 'awaitingPuback' && markReleased(s),
    ];
    assert.equal(typeof illTyped, 'function');
    assert.deepEqual([q.state, s.state], ['queued', 'awaitingPuback']);
  });

  it('the stored form: queued, inflight (sent or not) and released; recovery counts anything with an id as sent', () => {
    fc.assert(
      fc.property(fc.constantFrom<1 | 2>(1, 2), fc.integer({ min: 0, max: 4 }), fc.boolean(), (qos, steps, ids) => {
        let o: Outgoing = newEntry(5, ids ? { ...delivery(5, qos), subscriptionIds: [3] } : delivery(5, qos), 4);
        if (steps >= 1 && o.state === 'queued') o = windowed(o, 9);
        if (steps >= 2 && o.state === 'unsent') o = markSent(o);
        if (steps >= 3 && qos === 2 && o.state === 'awaitingPubrec') o = markReleased(o);
        const stored = toQueueEntry(o);
        const expected = o.state === 'queued' ? 'queued' : o.state === 'awaitingPubcomp' ? 'released' : 'inflight';
        assert.equal(stored.state, expected);
        assert.equal(stored.packetId, o.state === 'queued' ? undefined : 9);
        assert.deepEqual(stored.subscriptionIds, ids ? [3] : undefined);
        const back = fromQueueEntry(stored, o.message);
        if (o.state === 'queued') assert.equal(back.state, 'queued');
        else if (o.state === 'awaitingPubcomp') assert.equal(back.state, 'awaitingPubcomp');
        else assert.equal(back.state, qos === 2 ? 'awaitingPubrec' : 'awaitingPuback', 'it may have reached the client: resent with DUP');
        assert.deepEqual(toQueueEntry(back), { ...stored, state: stored.state });
      }),
      { numRuns: 60 },
    );
  });

  it('a stored in-flight entry without a packet identifier is queued again', () => {
    const back = fromQueueEntry({ seq: 1, messageId: 'm1', qos: 1, retain: false, state: 'inflight' }, message(1));
    assert.equal(back.state, 'queued');
  });
});

describe('session: acknowledgements move entries', () => {
  function online(qos: 1 | 2, n = 1): { s: Session; out: ReturnType<typeof recorder> } {
    const s = new Session('c', 5, 0);
    const out = recorder();
    s.outlet = out;
    for (let i = 0; i < n; i++) s.enqueue(delivery(i, qos), limits);
    fillWindow(s, 0);
    s.sendUnsent();
    return { s, out };
  }

  it('[MQTT-4.3.2-1] PUBACK completes a sent QoS 1 entry, PUBCOMP does not', () => {
    const { s, out } = online(1);
    assert.equal(out.out[0].packetId, 1);
    assert.equal(s.complete(1, 'pubcomp'), undefined);
    assert.equal(s.complete(1, 'puback')?.state, 'awaitingPuback');
    assert.equal(s.inflight.size, 0);
  });

  it('PUBACK also completes a QoS 1 entry waiting to be resent (the client had it from the earlier connection)', () => {
    const { s } = online(1);
    s.outlet = { writable: false, deliver: () => assert.fail('not writable'), pubrel: () => {} };
    s.resend(0);
    assert.equal(s.inflight.get(1)?.state, 'unsent');
    assert.ok(s.complete(1, 'puback'));
  });

  it('[MQTT-4.3.3-4] QoS 2: PUBREC releases (PUBACK does not complete it), PUBCOMP completes only a released entry; a resumption resends PUBREL, not the PUBLISH', () => {
    const { s } = online(2);
    assert.equal(s.complete(1, 'puback'), undefined);
    assert.equal(s.complete(1, 'pubcomp'), undefined, 'not released yet');
    assert.equal(s.received(1)?.state, 'awaitingPubcomp');
    const out = recorder();
    s.outlet = out;
    assert.deepEqual(s.resend(0), []);
    assert.deepEqual(out.pubrels, [1]);
    assert.equal(out.out.length, 0, 'the PUBLISH is never resent after PUBREC [MQTT-4.3.3-6]');
    assert.ok(s.complete(1, 'pubcomp'));
  });

  it('a session whose queue was taken into the window and acknowledged holds none of its entries (nor their payloads)', () => {
    const { s } = online(1, 50);
    for (let id = 1; id <= 50; id++) assert.ok(s.complete(id, 'puback'), `PUBACK ${id}`);
    assert.equal(s.inflight.size, 0);
    assert.equal(s.queuedCount, 0);
    // The queue's array itself (private): emptied, not only read past.
    assert.equal((s as unknown as { pending: unknown[] }).pending.length, 0, 'the queue let go of the 50 taken entries');
    // It still queues and sends after being emptied.
    s.enqueue(delivery(50, 1), limits);
    fillWindow(s, 0);
    assert.equal(s.inflight.size, 1);
  });

  it('a small queue emptied into the window holds none of its entries either (its array is kept for reuse)', () => {
    const { s } = online(1, 5);
    for (let id = 1; id <= 5; id++) assert.ok(s.complete(id, 'puback'), `PUBACK ${id}`);
    const pending = (s as unknown as { pending: unknown[] }).pending;
    assert.deepEqual(pending.filter((o) => o !== undefined), [], 'no taken entry (nor its payload) is held');
    s.enqueue(delivery(5, 1), limits);
    fillWindow(s, 0);
    assert.equal(s.inflight.size, 1);
    assert.equal(s.queuedCount, 0);
  });

  it('PUBREC for a QoS 1 entry releases nothing', () => {
    const { s } = online(1);
    assert.equal(s.received(1), undefined);
    assert.equal(s.inflight.get(1)?.state, 'awaitingPuback');
  });

  it('flush stops at an entry whose store write is pending, and keeps the order [MQTT-4.6.0-2]', () => {
    const s = new Session('c', 5, 60);
    const out = recorder();
    s.enqueue(delivery(0, 1), limits);
    const second = s.enqueue(delivery(1, 1), limits);
    s.enqueue(delivery(2, 1), limits);
    assert.equal(second.outcome, 'queued');
    if (second.outcome !== 'queued') return;
    writing(second.entry);
    s.outlet = out;
    fillWindow(s, 0);
    s.sendUnsent();
    assert.deepEqual(out.out.map((d) => d.message.id), ['m0']);
    writtenDown(second.entry);
    s.sendUnsent();
    assert.deepEqual(out.out.map((d) => [d.message.id, d.packetId, d.dup]), [['m0', 1, false], ['m1', 2, false], ['m2', 3, false]]);
  });
});
