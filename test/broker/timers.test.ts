// KeyedTimers: timers that fall due together fire in slices, one slice per event-loop turn, so
// thousands of sessions expiring at once never hold the loop; a due key can still be cancelled.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedTimers } from '../../src/broker/timers.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Waits (bounded) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !done(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(done(), 'condition reached');
}

describe('KeyedTimers', () => {
  it('fires keys due at once in slices of maxPerSlice, one slice per turn, in the order they fell due', async () => {
    const timers = new KeyedTimers(3);
    const fired: Array<{ key: string; turn: number }> = [];
    // Counts event-loop turns: one check phase runs this once, and at most one slice.
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick).unref();
    };
    tick();
    for (let i = 0; i < 10; i++) timers.set(`k${i}`, 0, () => fired.push({ key: `k${i}`, turn: turns }));
    assert.equal(timers.size, 10);
    await until(() => fired.length === 10);
    ticking = false;
    assert.deepEqual(fired.map((f) => f.key), Array.from({ length: 10 }, (_, i) => `k${i}`));
    const perTurn = new Map<number, number>();
    for (const f of fired) perTurn.set(f.turn, (perTurn.get(f.turn) ?? 0) + 1);
    assert.ok(Math.max(...perTurn.values()) <= 3, `at most 3 per turn: ${JSON.stringify([...perTurn])}`);
    assert.equal(timers.size, 0);
  });

  it('cancels a key that is due but waiting for its slice', async () => {
    const timers = new KeyedTimers(1);
    const fired: string[] = [];
    timers.set('a', 0, () => {
      fired.push('a');
      // b fell due with a; clearing it now means it never fires.
      assert.equal(timers.has('b'), true);
      assert.equal(timers.clear('b'), true);
    });
    timers.set('b', 0, () => fired.push('b'));
    timers.set('c', 0, () => fired.push('c'));
    await until(() => fired.includes('c'));
    await turn();
    assert.deepEqual(fired, ['a', 'c']);
    assert.equal(timers.has('b'), false);
  });

  it('clearAll drops due keys too', async () => {
    const timers = new KeyedTimers(1);
    const fired: string[] = [];
    for (const k of ['a', 'b', 'c']) timers.set(k, 0, () => {
      fired.push(k);
      timers.clearAll();
    });
    await until(() => fired.length > 0);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(fired, ['a']);
    assert.equal(timers.size, 0);
  });
});
