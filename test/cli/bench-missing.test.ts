// `starling bench` from an installed package: bench/ is not in the package, so the harness cannot
// load; the command says where the benchmark runs instead of printing a resolution stack.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runBenchFrom } from '../../src/cli/main.js';
import { processIO } from '../../src/cli/io.js';

describe('starling bench without the harness', () => {
  it('points at a source checkout and exits 1', async () => {
    let err = '';
    const io = { ...processIO(), err: (t: string) => void (err += t), out: () => {}, exit: () => {} };
    const missing = new URL('../../bench/no-such-harness.js', import.meta.url).href;
    assert.equal(await runBenchFrom(missing, ['--quick'], io), 1);
    assert.match(err, /source checkout/);
    assert.match(err, /npm run bench/);
  });
});
