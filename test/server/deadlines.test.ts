// The shared deadline wheel (connect timeout and keepalive of every connection), driven by a fake
// clock: no real time passes. Deadlines fire late by less than a tick, never early; the interval
// runs only while a deadline is set; entries can move, be removed and be re-filed from `due`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeadlineWheel, type DeadlineClock, type WheelEntry } from '../../src/server/deadlines.js';

class FakeClock implements DeadlineClock {
  t = 1_000_000;
  private tick?: { ms: number; fn: () => void; next: number };
  intervalsStarted = 0;
  now = (): number => this.t;
  every(ms: number, fn: () => void): () => void {
    this.intervalsStarted++;
    const tick = { ms, fn, next: this.t + ms };
    this.tick = tick;
    return () => {
      if (this.tick === tick) this.tick = undefined;
    };
  }
  get running(): boolean {
    return this.tick !== undefined;
  }
  /** Advances time in 1 ms steps, firing the interval when it is due, as a timer would. */
  advance(ms: number): void {
    const end = this.t + ms;
    while (this.t < end) {
      this.t++;
      const tick = this.tick;
      if (tick && this.t >= tick.next) {
        tick.next += tick.ms;
        tick.fn();
      }
    }
  }
}

interface Entry extends WheelEntry {
  name: string;
}
const entry = (name: string): Entry => ({ name, wheelSlot: 0 });

describe('DeadlineWheel', () => {
  it('files an entry under a small integer slot counted from the wheel\'s start, on a clock of today', () => {
    const clock = new FakeClock();
    clock.t = Date.UTC(2026, 11, 7);
    const fired: string[] = [];
    const wheel = new DeadlineWheel<Entry>((e) => fired.push(e.name), { tickMs: 250, clock });
    const e = entry('a');
    // A day ahead: still a 32-bit integer (V8 keeps it in the field, unboxed), and never 0 (none).
    wheel.set(e, clock.now() + 86_400_000);
    assert.ok(Number.isInteger(e.wheelSlot) && e.wheelSlot > 0 && e.wheelSlot < 2 ** 31, `slot ${e.wheelSlot}`);
    wheel.delete(e);
    assert.equal(e.wheelSlot, 0);
    assert.equal(wheel.size, 0);
    wheel.set(e, clock.now() + 600);
    clock.advance(1000);
    assert.deepEqual(fired, ['a']);
  });

  it('fires each entry once, after its deadline and less than a tick late', () => {
    const clock = new FakeClock();
    const fired: Array<[string, number]> = [];
    const wheel = new DeadlineWheel<Entry>((e) => fired.push([e.name, clock.now()]), { tickMs: 250, clock });
    const start = clock.now();
    wheel.set(entry('a'), start + 1500);
    wheel.set(entry('b'), start + 100);
    wheel.set(entry('c'), start + 1501);
    clock.advance(3000);
    assert.deepEqual(
      fired.map(([n]) => n),
      ['b', 'a', 'c'],
    );
    const at = Object.fromEntries(fired.map(([n, t]) => [n, t - start]));
    assert.ok(at.b >= 100 && at.b < 350, `b at ${at.b}`);
    assert.ok(at.a >= 1500 && at.a < 1750, `a at ${at.a}`);
    assert.ok(at.c >= 1501 && at.c < 1751, `c at ${at.c}`);
    assert.equal(wheel.size, 0);
  });

  it('never fires early, for any deadlines and tick (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(fc.integer({ min: -500, max: 5000 }), { minLength: 1, maxLength: 30 }), (tickMs, offsets) => {
        const clock = new FakeClock();
        const start = clock.now();
        const fired = new Map<string, number>();
        const wheel = new DeadlineWheel<Entry>((e) => fired.set(e.name, clock.now()), { tickMs, clock });
        offsets.forEach((o, i) => wheel.set(entry(String(i)), start + o));
        clock.advance(5000 + 2 * tickMs + 1);
        offsets.forEach((o, i) => {
          const t = fired.get(String(i));
          assert.ok(t !== undefined, `entry ${i} fired`);
          assert.ok(t >= start + o, `entry ${i} (deadline +${o}) fired early at +${t - start}`);
          assert.ok(t <= Math.max(start, start + o) + 2 * tickMs, `entry ${i} (deadline +${o}) fired at +${t - start}, more than a tick late`);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('moves and removes entries; the interval runs only while a deadline is set', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const wheel = new DeadlineWheel<Entry>((e) => fired.push(e.name), { tickMs: 100, clock });
    assert.equal(clock.running, false, 'no interval before the first deadline');
    const a = entry('a');
    const b = entry('b');
    wheel.set(a, clock.now() + 500);
    wheel.set(b, clock.now() + 500);
    assert.equal(clock.intervalsStarted, 1);
    wheel.set(a, clock.now() + 2000);
    wheel.delete(b);
    wheel.delete(b);
    assert.equal(wheel.size, 1);
    clock.advance(1000);
    assert.deepEqual(fired, []);
    clock.advance(1200);
    assert.deepEqual(fired, ['a']);
    clock.advance(200);
    assert.equal(clock.running, false, 'stopped once nothing is left');
    wheel.set(b, clock.now() + 50);
    assert.equal(clock.running, true);
    clock.advance(200);
    assert.deepEqual(fired, ['a', 'b']);
    assert.equal(clock.intervalsStarted, 2);
  });

  it('due may re-file the entry (the keepalive re-arm) and it fires again later', () => {
    const clock = new FakeClock();
    let times = 0;
    const wheel: DeadlineWheel<Entry> = new DeadlineWheel<Entry>(
      (e) => {
        times++;
        if (times < 3) wheel.set(e, clock.now() + 1000);
      },
      { tickMs: 250, clock },
    );
    wheel.set(entry('k'), clock.now() + 1000);
    clock.advance(10_000);
    assert.equal(times, 3);
    assert.equal(wheel.size, 0);
  });

  it('after a stall longer than the wheel, what fell due fires at the next sweep, in deadline order', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const wheel = new DeadlineWheel<Entry>((e) => fired.push(e.name), { tickMs: 10, clock });
    wheel.set(entry('late'), clock.now() + 50_000);
    wheel.set(entry('early'), clock.now() + 20);
    wheel.set(entry('later'), clock.now() + 900_000);
    // The event loop was blocked: time jumps without the interval running.
    clock.t += 100_000;
    wheel.sweep();
    assert.deepEqual(fired, ['early', 'late']);
    assert.equal(wheel.size, 1);
    wheel.clear();
    assert.equal(wheel.size, 0);
    assert.equal(clock.running, false);
  });
});
