// Admin users on a real server: HTTP Basic credentials of users from the password file listed in
// httpAdminUsers open the admin API, beside (or instead of) the bearer token.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { passwordLine } from '../../src/auth/password-file.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { http } from './helpers.js';

// Cheap scrypt parameters: the test is about who gets in, not about hash cost.
const FAST = { N: 1024, r: 8, p: 1 };
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('admin API with admin users (httpAdminUsers over mqttPasswordFile)', () => {
  let dir: string;
  let passwd: string;
  let t: TestServer;
  let both: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-admin-users-'));
    passwd = join(dir, 'passwd');
    const lines = await Promise.all([
      passwordLine('alice', 'alice-pass-123', { scram: false, scrypt: FAST }),
      passwordLine('bob', 'bob-pass-456', { scram: false, scrypt: FAST }),
    ]);
    writeFileSync(passwd, lines.join('\n') + '\n', { mode: 0o600 });
    t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', mqttPasswordFile: passwd, httpAdminUsers: 'alice' });
    both = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', mqttPasswordFile: passwd, httpAdminUsers: 'alice', httpAdminToken: 'both-token-0123456789' });
  });

  after(async () => {
    await t?.close();
    await both?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets an admin user in with the right password', async () => {
    const r = await http(t.port('ws'), '/api/v1/listeners', { headers: basic('alice', 'alice-pass-123') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().listeners[0].scheme, 'ws');
  });

  it('refuses a wrong password, an unknown user and a malformed header with 401, never a Basic challenge', async () => {
    for (const headers of [basic('alice', 'wrong'), basic('mallory', 'alice-pass-123'), { Authorization: 'Basic !!!' }, basic('alice', ''), {}]) {
      const r = await http(t.port('ws'), '/api/v1/clients', { headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.json().error, 'missing or invalid admin user credentials');
      // A Basic challenge would make browsers prompt for, and then keep sending, credentials.
      assert.doesNotMatch(String(r.headers['www-authenticate']), /Basic/i);
    }
  });

  it('refuses a user of the password file who is not an admin user with 403', async () => {
    const r = await http(t.port('ws'), '/api/v1/clients', { headers: basic('bob', 'bob-pass-456') });
    assert.equal(r.status, 403);
    assert.match(r.json().error, /"bob" is not an admin user/);
  });

  it('refuses Basic credentials sent by a page on another site', async () => {
    const port = t.port('ws');
    const good = basic('alice', 'alice-pass-123');
    const kick = (headers: Record<string, string>) => http(port, '/api/v1/clients/x/kick', { method: 'POST', headers: { ...good, ...headers } });
    assert.equal((await kick({ Origin: 'https://evil.example' })).status, 403);
    assert.equal((await kick({ 'Sec-Fetch-Site': 'cross-site' })).status, 403);
    // Same origin (the console itself) passes: 404 because no client "x" is connected.
    assert.equal((await kick({ Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin' })).status, 404);
  });

  it('accepts either the token or an admin user when both are configured', async () => {
    const port = both.port('ws');
    assert.equal((await http(port, '/api/v1/broker', { headers: { Authorization: 'Bearer both-token-0123456789' } })).status, 200);
    assert.equal((await http(port, '/api/v1/broker', { headers: basic('alice', 'alice-pass-123') })).status, 200);
    const bad = await http(port, '/api/v1/broker', { headers: { Authorization: 'Bearer nope' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.json().error, 'missing or invalid bearer token or admin user credentials');
  });

  it('slows down guessing from one address with the MQTT login throttle', async () => {
    const throttle = t.server.loginThrottle;
    const before = throttle.score('127.0.0.1');
    for (let i = 0; i < 2; i++) {
      const r = await http(t.port('ws'), '/api/v1/broker', { headers: basic('alice', `wrong-${i}`) });
      assert.equal(r.status, 401);
    }
    assert.ok(throttle.score('127.0.0.1') > before + 1.5, 'each wrong admin password counts against the address');
    const ok = await http(t.port('ws'), '/api/v1/broker', { headers: basic('alice', 'alice-pass-123') });
    assert.equal(ok.status, 200, 'the right password still gets in');
  });

  it('is off when neither a token nor admin users are configured, even with a password file', async () => {
    const off = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', mqttPasswordFile: passwd });
    try {
      const r = await http(off.port('ws'), '/api/v1/clients', { headers: basic('alice', 'alice-pass-123') });
      assert.equal(r.status, 404);
      assert.match(r.json().error, /admin API is off/);
    } finally {
      await off.close();
    }
  });
});

describe('admin users: password checks take turns with MQTT logins (check-gate.ts)', () => {
  it('an address past its share of checks under way is answered busy without a check, then checked again once they are done', async () => {
    const { createAdminUsers } = await import('../../src/auth/admin-users.js');
    const { parsePasswordFile } = await import('../../src/auth/password-file.js');
    const { CheckGate } = await import('../../src/auth/check-gate.js');
    const { silentLog } = await import('../helpers/channel.js');
    const table = parsePasswordFile(await passwordLine('alice', 'alice-pass-123', { scram: false, scrypt: FAST }), 'passwd');
    const gate = new CheckGate({ maxRunning: 1, maxPerAddress: 2 });
    const users = createAdminUsers({ users: ['alice'], passwordFile: '', log: silentLog, table, gate })!;
    const answers = await Promise.all(Array.from({ length: 6 }, () => users.check('alice', 'alice-pass-123', '192.0.2.7')));
    assert.deepEqual(answers.filter((a) => a === 'admin').length, 2, `two checked: ${answers.join(',')}`);
    assert.deepEqual(answers.filter((a) => a === 'busy').length, 4, `four answered busy: ${answers.join(',')}`);
    assert.equal(await users.check('alice', 'alice-pass-123', '192.0.2.7'), 'admin', 'checked again once the others are done');
    users.close();
  });
});
