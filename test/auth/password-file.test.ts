// The password file format: scrypt hashing, SCRAM fields usable by the SCRAM-SHA-256
// authenticator, parse errors with file:line, and in-place line replacement.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  hashPassword,
  parsePasswordFile,
  parseScryptField,
  passwordLine,
  replaceUserLine,
  verifyPassword,
  formatScryptField,
} from '../../src/auth/password-file.js';
import { FileFormatError } from '../../src/auth/watched-file.js';
import { scramLogin } from './helpers.js';

/** Cheap parameters so tests stay fast; the format is the same. */
const FAST = { N: 1024, r: 8, p: 1 };

describe('auth: password hashing', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const h = await hashPassword('s3cret', FAST);
    assert.equal(await verifyPassword('s3cret', h), true);
    assert.equal(await verifyPassword('s3cret ', h), false);
    assert.equal(await verifyPassword('', h), false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([hashPassword('pw', FAST), hashPassword('pw', FAST)]);
    assert.notDeepEqual(a.salt, b.salt);
    assert.notDeepEqual(a.hash, b.hash);
  });

  it('formats and parses $scrypt$N$r$p$salt$hash', async () => {
    const h = await hashPassword('pw', FAST);
    const back = parseScryptField(formatScryptField(h));
    assert.deepEqual(back, h);
    assert.throws(() => parseScryptField('$scrypt$1000$8$1$AAAA$AAAA'), /power of two/);
    assert.throws(() => parseScryptField(`$scrypt$${2 ** 24}$8$1$AAAA$AAAA`), /outside/);
    assert.throws(() => parseScryptField('$bcrypt$x'), /scrypt/);
  });
});

describe('auth: password file', () => {
  it('parses users with and without SCRAM credentials, ignoring comments', async () => {
    const alice = await passwordLine('alice', 'a-pw', { scrypt: FAST });
    const bob = await passwordLine('bob', 'b-pw', { scrypt: FAST, scram: false });
    const table = parsePasswordFile(`# users\n\n${alice}\n  ${bob}\n`, 'passwd');
    assert.deepEqual([...table.keys()], ['alice', 'bob']);
    assert.ok(table.get('alice')!.scram);
    assert.equal(table.get('bob')!.scram, undefined);
    assert.equal(await verifyPassword('a-pw', table.get('alice')!.password), true);
  });

  it('names file:line of a bad line, and of a duplicate user', async () => {
    const alice = await passwordLine('alice', 'a-pw', { scrypt: FAST });
    assert.throws(
      () => parsePasswordFile(`${alice}\n# ok\nbob:plaintext\n`, '/etc/starling/passwd'),
      (e: unknown) => e instanceof FileFormatError && e.message.startsWith('/etc/starling/passwd:3:'),
    );
    assert.throws(
      () => parsePasswordFile(`${alice}\n${alice}\n`, 'passwd'),
      (e: unknown) => e instanceof FileFormatError && e.line === 2 && /twice/.test(e.message),
    );
  });

  it('stored SCRAM credentials let the same user log in with SCRAM-SHA-256 [MQTT-4.12]', async () => {
    const table = parsePasswordFile(`${await passwordLine('carol', 'c-pw', { scrypt: FAST })}\n`, 'passwd');
    const lookup = (u: string) => table.get(u)?.scram;
    const ok = await scramLogin(lookup, 'carol', 'c-pw');
    assert.equal(ok.kind, 'success');
    assert.equal(ok.username, 'carol');
    assert.equal((await scramLogin(lookup, 'carol', 'wrong')).kind, 'failure');
    assert.equal((await scramLogin(lookup, 'nobody', 'c-pw')).kind, 'failure');
  });

  it('replaces, appends and removes one user line, keeping comments and others', () => {
    const text = '# header\nalice:$scrypt$A\nbob:$scrypt$B\n';
    assert.deepEqual(replaceUserLine(text, 'bob', 'bob:$scrypt$NEW'), { text: '# header\nalice:$scrypt$A\nbob:$scrypt$NEW\n', found: true });
    assert.deepEqual(replaceUserLine(text, 'carol', 'carol:$scrypt$C'), { text: text + 'carol:$scrypt$C\n', found: false });
    assert.deepEqual(replaceUserLine(text, 'alice', undefined), { text: '# header\nbob:$scrypt$B\n', found: true });
    assert.deepEqual(replaceUserLine('', 'x', undefined), { text: '', found: false });
  });

  it('refuses user names that would break the format', async () => {
    await assert.rejects(passwordLine('a:b', 'pw', { scrypt: FAST }), /":"/);
    await assert.rejects(passwordLine('a\nb', 'pw', { scrypt: FAST }), /line breaks/);
    await assert.rejects(passwordLine('#x', 'pw', { scrypt: FAST }), /comment/);
  });
});
