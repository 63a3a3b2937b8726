// PublisherHolds without real time (node:test mock timers): one hold per session shared by its
// publishers, released when room is made, given up on after the timeout, never twice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PublisherHolds } from '../../src/broker/back-pressure.js';
import { Session } from '../../src/session/session.js';

const settled = async (p: Promise<void>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
};

describe('PublisherHolds', () => {
  it('holds until release, one hold per session however many publishers wait on it', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const gaveUp: Session[] = [];
    const holds = new PublisherHolds(10_000, (s) => gaveUp.push(s));
    const a = new Session('a', 4, 0);
    const b = new Session('b', 4, 0);
    const p1 = holds.wait([a])!;
    const p2 = holds.wait([a, b])!;
    assert.equal(holds.size, 2);
    assert.equal(await settled(p1), false);
    holds.letGo(a);
    assert.equal(await settled(p1), true);
    assert.equal(await settled(p2), false, 'still waiting for b');
    holds.letGo(b);
    assert.equal(await settled(p2), true);
    t.mock.timers.tick(20_000);
    assert.deepEqual(gaveUp, [], 'released holds do not time out');
    assert.equal(holds.size, 0);
  });

  it('gives a session up after the timeout, counted from its first hold, then releases its publishers', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const gaveUp: string[] = [];
    const holds = new PublisherHolds(10_000, (s) => gaveUp.push(s.clientId));
    const a = new Session('a', 4, 0);
    const first = holds.wait([a])!;
    t.mock.timers.tick(6_000);
    const second = holds.wait([a])!;
    t.mock.timers.tick(3_999);
    assert.equal(await settled(second), false);
    t.mock.timers.tick(1);
    assert.deepEqual(gaveUp, ['a']);
    assert.equal(await settled(first), true);
    assert.equal(await settled(second), true, 'a later publisher does not restart the clock');
    assert.equal(holds.holding(a), false);
  });

  it('a throwing give-up still releases the publishers', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const holds = new PublisherHolds(1_000, () => {
      throw new Error('boom');
    });
    const a = new Session('a', 4, 0);
    const p = holds.wait([a])!;
    assert.throws(() => t.mock.timers.tick(1_000), /boom/);
    assert.equal(await settled(p), true);
  });

  it('clear releases everyone', async () => {
    const holds = new PublisherHolds(60_000, () => {});
    const p = holds.wait([new Session('a', 4, 0), new Session('b', 4, 0)])!;
    holds.clear();
    assert.equal(await settled(p), true);
    assert.equal(holds.size, 0);
  });
});
