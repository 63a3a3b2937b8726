// Session.resend on resumption: what goes out again, with which DUP, how many at once, and what is
// dropped because it expired before it was ever sent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Session, type QueueLimits, type SessionOutlet } from '../../src/session/session.js';
import type { StoredMessage } from '../../src/store/ports.js';
import { markSent } from '../../src/session/outgoing.js';
import { fillWindow } from '../helpers/session-window.js';

const limits: QueueLimits = { maxQueuedMessages: 100, maxQueuedBytes: 1 << 20, overflow: 'dropOldest' };

function message(n: number, expiresAt?: number): StoredMessage {
  const m: StoredMessage = { id: `m${n}`, topic: 't', payload: Buffer.from(`m${n}`), qos: 1, retain: false, createdAt: 0 };
  if (expiresAt !== undefined) m.expiresAt = expiresAt;
  return m;
}

/** An outlet that records what the session sends. */
function recorder(): SessionOutlet & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    writable: true,
    deliver: ({ message: m, packetId, dup }) => void sent.push(`${m.id}#${packetId}${dup ? ' dup' : ''}`),
    pubrel: (packetId) => void sent.push(`pubrel#${packetId}`),
  };
}

/** A session holding `n` messages in flight, all sent on a connection that has since gone. */
function withInflight(n: number): Session {
  const s = new Session('c', 5, 60);
  for (let i = 0; i < n; i++) s.enqueue({ message: message(i), qos: 1, retain: false }, limits);
  s.outlet = recorder();
  fillWindow(s, 0);
  s.sendUnsent();
  s.outlet = undefined;
  return s;
}

describe('session: resend on resumption', () => {
  it('[MQTT-4.4.0-1] resends in order with DUP, but no more than the new send window (MQTT 5 [MQTT-3.3.4-9])', () => {
    const s = withInflight(5);
    const out = recorder();
    s.outlet = out;
    s.sendWindow = 2;
    assert.deepEqual(s.resend(0), []);
    assert.deepEqual(out.sent, ['m0#1 dup', 'm1#2 dup']);
    s.complete(1, 'puback');
    s.sendUnsent();
    assert.deepEqual(out.sent.slice(2), ['m2#3 dup'], 'one more as one is acknowledged, still with DUP');
    s.sendUnsent();
    assert.equal(out.sent.length, 3, 'nothing more while the window is full');
  });

  it('MQTT 5 [MQTT-3.3.2-5] an entry that got a packet id but was never sent is dropped if it expired; one that was sent is resent', () => {
    const s = new Session('c', 5, 60);
    s.enqueue({ message: message(0, 1000), qos: 1, retain: false }, limits);
    s.enqueue({ message: message(1, 1000), qos: 1, retain: false }, limits);
    fillWindow(s, 0);
    // Only the first went out before the connection dropped (the second waited, e.g. for a full buffer).
    const first = s.inflight.get(1)!;
    assert.equal(first.state, 'unsent');
    if (first.state === 'unsent') markSent(first);
    const out = recorder();
    s.outlet = out;
    const expired = s.resend(5000);
    assert.deepEqual(expired.map((o) => o.message.id), ['m1'], 'the never-sent entry is removed');
    assert.deepEqual([...s.inflight.keys()], [1]);
    assert.deepEqual(out.sent, ['m0#1 dup'], 'delivery of the sent one had started: it is resent, expired or not');
  });

  it('[MQTT-3.3.4-9] after a resend with a released QoS 2 entry among the resent ones, and then for new entries, no more go out than the window allows, in order', () => {
    const s = new Session('c', 5, 60);
    for (let i = 0; i < 3; i++) s.enqueue({ message: { ...message(i), qos: 2 }, qos: 2, retain: false }, limits);
    s.outlet = recorder();
    fillWindow(s, 0);
    s.sendUnsent();
    assert.ok(s.received(2), 'the middle one is released (PUBREC)');
    s.outlet = undefined;
    const out = recorder();
    s.outlet = out;
    s.sendWindow = 2;
    s.resend(0);
    // Window order: m0 (resent), m1 (awaiting PUBCOMP: its PUBREL again), m2: it would be the third outstanding.
    assert.deepEqual(out.sent, ['pubrel#2', 'm0#1 dup']);
    s.complete(2, 'pubcomp');
    s.sendUnsent();
    assert.deepEqual(out.sent.slice(2), ['m2#3 dup'], 'm2 goes once the released one completes');
    // New entries join after everything in flight: sent in order, within the window, as acknowledgements come.
    for (let i = 3; i < 6; i++) s.enqueue({ message: message(i), qos: 1, retain: false }, limits);
    const sentNow = (): string[] => out.sent.slice(3).map((x) => x.split('#')[0]);
    const ack = (id: string): void => {
      const [packetId, o] = [...s.inflight].find(([, e]) => e.message.id === id)!;
      if (o.qos === 2) {
        s.received(packetId);
        s.complete(packetId, 'pubcomp');
      } else s.complete(packetId, 'puback');
      fillWindow(s, 0);
      s.sendUnsent();
    };
    fillWindow(s, 0);
    s.sendUnsent();
    assert.deepEqual(sentNow(), [], 'the window is full (m0, m2 outstanding)');
    ack('m0');
    assert.deepEqual(sentNow(), ['m3'], 'one new entry for the one completed');
    ack('m2');
    assert.deepEqual(sentNow(), ['m3', 'm4']);
    ack('m3');
    assert.deepEqual(sentNow(), ['m3', 'm4', 'm5'], 'in order, never more than two outstanding');
    assert.equal(s.inflight.size, 2);
  });

  it('sends new entries in order, stopping at one the store does not hold yet', () => {
    const s = new Session('c', 5, 60);
    const out = recorder();
    s.outlet = out;
    s.sendWindow = 10;
    for (let i = 0; i < 3; i++) s.enqueue({ message: message(i), qos: 1, retain: false }, limits);
    const { taken } = fillWindow(s, 0);
    taken[1].written = false;
    s.sendUnsent();
    assert.deepEqual(out.sent, ['m0#1'], 'm1 is not durable yet: it and m2 behind it wait');
    taken[1].written = true;
    s.sendUnsent();
    assert.deepEqual(out.sent, ['m0#1', 'm1#2', 'm2#3']);
  });
});
