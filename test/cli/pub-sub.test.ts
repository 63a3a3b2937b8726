// `starling pub` and `starling sub` against a real broker, driven through the CLI entry point.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cli, subscribed } from './run.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('starling pub / sub', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  for (const transport of ['mqtt', 'ws'] as const) {
    it(`publishes and subscribes over ${transport}, with -C and the verbose format`, async () => {
      const port = String(t.port(transport));
      const sub = cli(['sub', '-T', transport, '-p', port, '-t', `cli/${transport}/#`, '-q', '1', '-C', '2', '-W', '10', '-F', 'verbose']);
      await subscribed(t, `cli/${transport}/#`);
      const p1 = await cli(['pub', '-T', transport, '-p', port, '-t', `cli/${transport}/a`, '-m', 'hello', '-q', '1']);
      const p2 = await cli(['pub', '-T', transport, '-p', port, '-t', `cli/${transport}/b`, '-m', 'world', '-q', '2']);
      assert.equal(p1.code, 0, p1.err);
      assert.equal(p2.code, 0, p2.err);
      const s = await sub;
      assert.equal(s.code, 0, s.err);
      assert.equal(s.out, `cli/${transport}/a hello\ncli/${transport}/b world\n`);
    });
  }

  it('sends stdin line by line (-l) and prints JSON lines with MQTT 5 properties', async () => {
    const port = String(t.port());
    const sub = cli(['sub', '-p', port, '-t', 'cli/lines', '-C', '3', '-W', '10', '-F', 'json']);
    await subscribed(t, 'cli/lines');
    const pub = await cli(['pub', '-p', port, '-t', 'cli/lines', '-l', '--content-type', 'text/plain', '-D', 'k=v'], 'one\ntwo\nthree\n');
    assert.equal(pub.code, 0, pub.err);
    const s = await sub;
    const lines = s.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.payload),
      ['one', 'two', 'three'],
    );
    assert.equal(lines[0].properties.contentType, 'text/plain');
    assert.deepEqual(lines[0].properties.userProperties, { k: 'v' });
  });

  it('retains with -r and clears with -n', async () => {
    const port = String(t.port());
    assert.equal((await cli(['pub', '-p', port, '-t', 'cli/ret', '-m', 'kept', '-r', '-q', '1'])).code, 0);
    const got = await cli(['sub', '-p', port, '-t', 'cli/ret', '-C', '1', '-W', '5']);
    assert.equal(got.out, 'kept\n');
    assert.equal((await cli(['pub', '-p', port, '-t', 'cli/ret', '-n', '-r', '-q', '1'])).code, 0);
    const none = await cli(['sub', '-p', port, '-t', 'cli/ret', '-C', '1', '-W', '1']);
    assert.equal(none.out, '');
    assert.equal(none.code, 27, 'timed out without a message');
  });

  it('-W without -C exits 27 when no message came, 0 when one did', async () => {
    const port = String(t.port());
    const none = await cli(['sub', '-p', port, '-t', 'cli/quiet', '-W', '1']);
    assert.equal(none.out, '');
    assert.equal(none.code, 27, `timed out without a message: ${none.err}`);
    const sub = cli(['sub', '-p', port, '-t', 'cli/some', '-W', '3']);
    await subscribed(t, 'cli/some');
    assert.equal((await cli(['pub', '-p', port, '-t', 'cli/some', '-m', 'one'])).code, 0);
    const some = await sub;
    assert.equal(some.out, 'one\n');
    assert.equal(some.code, 0, some.err);
  });

  it('fails clearly when the broker cannot be reached', async () => {
    const r = await cli(['pub', '-p', '1', '-t', 'x', '-m', 'y']);
    assert.equal(r.code, 1);
    assert.match(r.err, /starling pub: .*(ECONNREFUSED|closed)/);
  });
});
