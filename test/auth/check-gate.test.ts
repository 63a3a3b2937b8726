// The credential-check gate (src/auth/check-gate.ts): at most so many checks at once, turns taken
// by address, and a cap per address past which an attempt is refused without being checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CheckGate, TooManyChecks } from '../../src/auth/check-gate.js';

/** A check that finishes when told to. */
function pending(): { promise: Promise<string>; finish: (v: string) => void } {
  let finish!: (v: string) => void;
  const promise = new Promise<string>((resolve) => (finish = resolve));
  return { promise, finish };
}

describe('auth: the credential-check gate', () => {
  it('runs at most maxRunning at once and gives the next turn to the next address, not the next arrival', async () => {
    const gate = new CheckGate({ maxRunning: 2, maxPerAddress: 8 });
    const started: string[] = [];
    const checks = new Map<string, ReturnType<typeof pending>>();
    const attempt = (address: string, name: string): Promise<string> =>
      gate.run(address, () => {
        started.push(name);
        const p = pending();
        checks.set(name, p);
        return p.promise;
      });
    const results: Array<Promise<string>> = [];
    // A burst of six from one address, then one from another.
    for (let i = 0; i < 6; i++) results.push(attempt('192.0.2.1', `a${i}`));
    results.push(attempt('192.0.2.2', 'b0'));
    assert.deepEqual(started, ['a0', 'a1']);
    assert.equal(gate.active, 2);
    assert.equal(gate.queued, 5);
    checks.get('a0')!.finish('a0');
    await results[0];
    // The next turn goes round the addresses: a2 (192.0.2.1 was first to wait), then b0, not a3.
    checks.get('a1')!.finish('a1');
    await results[1];
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, ['a0', 'a1', 'a2', 'b0'], 'the other address waited one check, not the whole burst');
    for (const name of ['a2', 'b0', 'a3', 'a4', 'a5']) {
      await new Promise((r) => setImmediate(r));
      checks.get(name)?.finish(name);
    }
    for (let i = 0; i < 10 && started.length < 7; i++) {
      await new Promise((r) => setImmediate(r));
      for (const [name, c] of checks) c.finish(name);
    }
    assert.deepEqual(await Promise.all(results), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'b0']);
    assert.equal(gate.active, 0);
    assert.equal(gate.queued, 0);
  });

  it('refuses an address past maxPerAddress at once (IPv6 counted per /64), and takes it again once its checks are done', async () => {
    const gate = new CheckGate({ maxRunning: 1, maxPerAddress: 2 });
    const first = pending();
    const a = gate.run('2001:db8::1', () => first.promise);
    const b = gate.run('2001:db8::2', () => Promise.resolve('second'));
    let ran = false;
    await assert.rejects(
      gate.run('2001:db8::3', async () => {
        ran = true;
        return 'third';
      }),
      (err: unknown) => err instanceof TooManyChecks && err.address === '2001:db8:0:0::/64',
    );
    assert.equal(ran, false, 'a refused attempt is never checked');
    // Another address is not affected.
    const other = gate.run('192.0.2.9', () => Promise.resolve('other'));
    first.finish('first');
    assert.deepEqual(await Promise.all([a, b, other]), ['first', 'second', 'other']);
    assert.equal(await gate.run('2001:db8::3', () => Promise.resolve('again')), 'again');
  });

  it('a check that fails gives its turn back', async () => {
    const gate = new CheckGate({ maxRunning: 1, maxPerAddress: 1 });
    await assert.rejects(gate.run('192.0.2.1', () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await gate.run('192.0.2.1', () => Promise.resolve('ok')), 'ok');
    assert.equal(gate.active, 0);
  });
});
