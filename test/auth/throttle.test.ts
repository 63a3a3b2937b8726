// The failure slow-down: growth, bound, decay, per-/64 IPv6 keys and the cap on remembered
// addresses, with an injected clock (no sleeping).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FailureThrottle, addressKey } from '../../src/auth/throttle.js';

function throttleAt(start = 1_000_000, opts = {}) {
  const clock = { t: start };
  const th = new FailureThrottle({ freeFailures: 2, baseDelayMs: 100, maxDelayMs: 1_000, halfLifeMs: 10_000, maxTracked: 3, ...opts }, () => clock.t);
  return { th, clock };
}

describe('auth: failure slow-down', () => {
  it('costs nothing for the first failures, then doubles, bounded by the maximum', () => {
    const { th } = throttleAt();
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      delays.push(th.delayMs('198.51.100.7'));
      th.failure('198.51.100.7');
    }
    assert.deepEqual(delays, [0, 0, 0, 100, 200, 400, 800, 1000, 1000]);
  });

  it('decays: the weight halves every half-life and the address is forgotten', () => {
    const { th, clock } = throttleAt();
    for (let i = 0; i < 4; i++) th.failure('198.51.100.7');
    assert.equal(th.delayMs('198.51.100.7'), 200);
    clock.t += 10_000; // score 4 → 2, which is free
    assert.equal(th.delayMs('198.51.100.7'), 0);
    assert.ok(Math.abs(th.score('198.51.100.7') - 2) < 1e-9);
    clock.t += 10_000 * 10;
    assert.equal(th.score('198.51.100.7'), 0);
    assert.equal(th.size, 0, 'forgotten once negligible');
  });

  it('keeps other addresses unaffected', () => {
    const { th } = throttleAt();
    for (let i = 0; i < 6; i++) th.failure('198.51.100.7');
    assert.ok(th.delayMs('198.51.100.7') > 0);
    assert.equal(th.delayMs('198.51.100.8'), 0);
  });

  it('remembers at most maxTracked addresses, dropping the least recently failed', () => {
    const { th } = throttleAt();
    for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1', '10.0.0.4']) th.failure(a);
    assert.equal(th.size, 3);
    assert.equal(th.score('10.0.0.2'), 0, 'oldest dropped');
    assert.ok(th.score('10.0.0.1') > 1, 'refreshed by its second failure');
  });

  it('counts IPv6 per /64 and IPv4-mapped addresses as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002:ffff:0:0:9'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
    const { th } = throttleAt();
    for (let i = 0; i < 4; i++) th.failure(`2001:db8:1:2::${i + 1}`);
    assert.ok(th.delayMs('2001:db8:1:2::99') > 0, 'one /64 is one attacker');
  });

  it('counts against the user name too: many addresses trying one name are slowed by the name', () => {
    const { th } = throttleAt(1_000_000, { maxTracked: 100 });
    for (let i = 0; i < 4; i++) th.failure(`198.51.100.${i + 1}`, 'alice');
    assert.equal(th.delayMs('198.51.100.1'), 0, 'each address alone has one failure');
    assert.equal(th.delayMs('198.51.100.99', 'alice'), 200, 'the name has four');
    assert.equal(th.userDelayMs('alice'), 200);
    assert.equal(th.delayMs('198.51.100.99', 'bob'), 0);
    // A long name is kept by its hash, and still counted.
    const long = 'x'.repeat(70_000);
    for (let i = 0; i < 3; i++) th.failure('198.51.100.50', long);
    assert.ok(Math.abs(th.userScore(long) - 3) < 1e-9);
  });

  it('a refund takes back exactly what a failure counted in advance still weighs', () => {
    const { th, clock } = throttleAt(1_000_000, { maxTracked: 100 });
    th.failure('198.51.100.7', 'alice');
    const receipt = th.failure('198.51.100.7', 'alice');
    clock.t += 10_000; // both halve: 2 → 1
    th.refund(receipt);
    assert.ok(Math.abs(th.score('198.51.100.7') - 0.5) < 1e-9, `${th.score('198.51.100.7')}`);
    assert.ok(Math.abs(th.userScore('alice') - 0.5) < 1e-9);
    th.refund(th.failure('198.51.100.8'));
    assert.equal(th.score('198.51.100.8'), 0, 'a refunded first failure leaves nothing');
  });

  it('waits the computed delay (bounded, measured)', async () => {
    const th = new FailureThrottle({ freeFailures: 0, baseDelayMs: 40, maxDelayMs: 40, halfLifeMs: 60_000 });
    th.failure('192.0.2.50');
    const t0 = performance.now();
    await th.wait('192.0.2.50');
    const took = performance.now() - t0;
    assert.ok(took >= 35 && took < 2_000, `waited ${took} ms`);
    const t1 = performance.now();
    await th.wait('192.0.2.51');
    assert.equal(th.delayMs('192.0.2.51'), 0);
    assert.ok(performance.now() - t1 < 500, 'no wait without failures');
  });
});
