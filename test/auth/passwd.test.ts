// `starling passwd` end to end in --password-stdin mode: add, update, delete, errors, and the
// result accepted by the broker's basic authentication and SCRAM.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { runPasswd } from '../../src/cli/passwd.js';
import { parsePasswordFile, verifyPassword } from '../../src/auth/password-file.js';
import { createSecurity } from '../../src/auth/security.js';
import { client, connect, scramLogin, silentLog, tempDir } from './helpers.js';

async function passwd(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runPasswd(args, { stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err };
}

describe('auth: starling passwd', () => {
  it('adds, updates and deletes users; the broker accepts the result', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'passwd');

    const added = await passwd(['--password-stdin', file, 'alice'], 'first-pw\n');
    assert.equal(added.code, 0, added.err);
    assert.match(added.out, /added user alice/);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'a new file is readable by its owner only');
    assert.equal((await passwd(['--password-stdin', file, 'bob'], 'bob-pw\r\nignored second line\n')).code, 0);

    const updated = await passwd(['--password-stdin', file, 'alice'], 'second-pw');
    assert.equal(updated.code, 0, updated.err);
    assert.match(updated.out, /updated user alice/);

    const table = parsePasswordFile(readFileSync(file, 'utf8'), file);
    assert.deepEqual([...table.keys()], ['alice', 'bob'], 'updated in place, order kept');
    assert.equal(await verifyPassword('second-pw', table.get('alice')!.password), true);
    assert.equal(await verifyPassword('first-pw', table.get('alice')!.password), false);
    assert.equal(await verifyPassword('bob-pw', table.get('bob')!.password), true, 'CR LF and later lines are not part of it');

    const s = await createSecurity({
      mqttAuthenticationEnabled: true,
      mqttAuthenticationMethods: ['basic'],
      mqttPasswordFile: file,
      mqttAuthorizationEnabled: false,
      log: silentLog,
    });
    t.after(() => s.close());
    assert.equal(await s.hooks.authenticate!(client(), connect('alice', 'second-pw')), 0);
    assert.equal((await scramLogin(s.authenticators[0], 'bob', 'bob-pw')).kind, 'success');

    const deleted = await passwd(['-D', file, 'bob']);
    assert.equal(deleted.code, 0, deleted.err);
    assert.deepEqual([...parsePasswordFile(readFileSync(file, 'utf8'), file).keys()], ['alice']);
    assert.deepEqual(readdirSync(dir), ['passwd'], 'no temporary files left behind');
  });

  it('--no-scram stores only the scrypt hash; an existing file keeps its mode', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'passwd');
    writeFileSync(file, '# managed by hand\n', { mode: 0o640 });
    assert.equal((await passwd(['--no-scram', '--password-stdin', file, 'carol'], 'pw\n')).code, 0);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.startsWith('# managed by hand\ncarol:$scrypt$'));
    assert.equal(parsePasswordFile(text, file).get('carol')!.scram, undefined);
    assert.equal(statSync(file).mode & 0o777, 0o640);
  });

  it('fails with a message and exit code for bad use', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'passwd');
    const cases: Array<[string[], string, number, RegExp]> = [
      [[file], '', 2, /expected FILE and USER/],
      [['--bogus', file, 'u'], '', 2, /unknown option --bogus/],
      [['--password-stdin', file, 'u'], '\n', 1, /empty password/],
      [['--password-stdin', file, 'a:b'], 'pw\n', 1, /":"/],
      [['-D', file, 'ghost'], '', 1, /not in/],
      [[file, 'u'], 'pw\n', 1, /not a terminal/],
    ];
    for (const [args, stdin, code, re] of cases) {
      const r = await passwd(args, stdin);
      assert.equal(r.code, code, args.join(' '));
      assert.match(r.err, re, args.join(' '));
    }
    writeFileSync(file, 'broken line\n');
    const r = await passwd(['--password-stdin', file, 'u'], 'pw\n');
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`${file}:1:`), 'names the bad line of the existing file');
    assert.equal(readFileSync(file, 'utf8'), 'broken line\n', 'left untouched');
    const help = await passwd(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /usage: starling passwd/);
  });
});
