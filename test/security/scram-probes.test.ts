// SCRAM-SHA-256 as an attacker meets it on the wire: the challenge for a user name that does not
// exist looks like a real user's (salt keyed on the server secret, kept in the data directory), the
// exchange runs to the final step the same way, and challenges collected and abandoned count in the
// failed-login slow-down per address and per user name. Packets built and parsed by mqtt-packet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { passwordLine } from '../../src/auth/password-file.js';
import { SERVER_SECRET_FILE } from '../../src/auth/server-secret.js';
import { clientFinal, clientFirst } from '../helpers/scram-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/wire.js';

const METHOD = 'SCRAM-SHA-256';

interface Challenge {
  salt: Buffer;
  iterations: number;
  /** Milliseconds from CONNECT to the server-first message. */
  ms: number;
}

describe('SCRAM-SHA-256 probes learn nothing and are slowed down', () => {
  let t: TestServer;
  let dir: string;
  let flags: Record<string, string>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-scram-'));
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, `${await passwordLine('carol', 'carol-pw', { scrypt: { N: 1024, r: 8, p: 1 } })}\n`);
    flags = {
      mqttAuthenticationEnabled: 'true',
      mqttAuthenticationMethods: 'basic',
      mqttPasswordFile: passwd,
      persistence: 'sqlite',
      dataDir: join(dir, 'data'),
    };
    t = await startTestServer(flags);
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts an exchange for `user`, reads the server-first message, and hangs up. */
  async function challenge(user: string, from = '127.0.0.1'): Promise<Challenge> {
    const c = await WireClient.open(t.port(), 5, from);
    const started = performance.now();
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: `probe-${user}`, properties: { authenticationMethod: METHOD, authenticationData: clientFirst(user).message } });
    const p = await c.next(15_000);
    const ms = performance.now() - started;
    c.end();
    assert.equal(p.cmd, 'auth', `a challenge for ${user}`);
    assert.equal(p.reasonCode, 0x18);
    const attrs = Object.fromEntries(String(p.properties!.authenticationData).split(',').map((kv: string) => [kv[0], kv.slice(2)]));
    return { salt: Buffer.from(attrs.s, 'base64'), iterations: Number(attrs.i), ms };
  }

  /** A whole exchange; returns the CONNACK reason code. */
  async function login(user: string, password: string, from: string): Promise<number> {
    const c = await WireClient.open(t.port(), 5, from);
    const first = clientFirst(user);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: `login-${user}`, properties: { authenticationMethod: METHOD, authenticationData: first.message } });
    const p = await c.next(15_000);
    assert.equal(p.cmd, 'auth');
    const final = clientFinal(first, password, p.properties!.authenticationData!);
    c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: final.message } });
    const connack = await c.next(15_000);
    assert.equal(connack.cmd, 'connack');
    c.end();
    return connack.reasonCode as number;
  }

  it('an unknown user gets a salt and iteration count like a real user’s: stable, keyed on a server secret kept in the data directory (mode 0600), not sha256(name)', async () => {
    const real = await challenge('carol');
    const ghost = await challenge('ghost');
    assert.equal(ghost.salt.length, real.salt.length, 'a salt of a real salt’s length');
    assert.equal(ghost.iterations, real.iterations, 'the usual iteration count');
    assert.notDeepEqual(ghost.salt, createHash('sha256').update('ghost').digest().subarray(0, 16), 'not computable from the name');
    assert.deepEqual((await challenge('ghost')).salt, ghost.salt, 'the same salt again, as a real user’s');
    assert.notDeepEqual((await challenge('ghost-2')).salt, ghost.salt, 'another name, another salt');
    const secretFile = join(flags.dataDir, SERVER_SECRET_FILE);
    assert.equal(statSync(secretFile).mode & 0o777, 0o600, 'the secret file is readable by the broker only');
    // After a restart with the same data directory the made-up salt is still the same.
    await t.close();
    t = await startTestServer(flags);
    assert.deepEqual((await challenge('ghost', '127.0.0.2')).salt, ghost.salt, 'the secret survives a restart');
  });

  it('an unknown user goes through the same exchange and is refused at the final step with 0x86, like a wrong password', async () => {
    assert.equal(await login('carol', 'carol-pw', '127.0.0.3'), 0);
    assert.equal(await login('carol', 'wrong', '127.0.0.3'), 0x86);
    assert.equal(await login('nobody', 'carol-pw', '127.0.0.3'), 0x86);
  });

  it('challenges collected and abandoned count in the login throttle per address; a successful exchange does not', async () => {
    const throttle = t.server.loginThrottle;
    const from = '127.0.0.5';
    for (let i = 0; i < 6; i++) await challenge(`name-${i}`, from);
    assert.ok(throttle.score(from) > 5.5, `six abandoned exchanges counted: ${throttle.score(from)}`);
    const expected = throttle.delayMs(from);
    assert.ok(expected >= 500, `the address is slowed down: ${expected} ms`);
    const next = await challenge('name-6', from);
    assert.ok(next.ms >= expected - 10, `the next challenge waited ${next.ms.toFixed(0)} ms, at least ${expected} ms`);
    // A successful exchange takes back what it was charged.
    assert.equal(await login('carol', 'carol-pw', '127.0.0.6'), 0);
    assert.ok(throttle.score('127.0.0.6') < 0.1, `a success leaves no failure behind: ${throttle.score('127.0.0.6')}`);
  });

  it('challenges for one user name from many addresses count against the name', async () => {
    const throttle = t.server.loginThrottle;
    for (let i = 0; i < 6; i++) await challenge('target', `127.0.1.${i + 1}`);
    assert.ok(throttle.userScore('target') > 5.5, `six exchanges for one name counted: ${throttle.userScore('target')}`);
    const expected = throttle.userDelayMs('target');
    assert.ok(expected >= 500, `the name is slowed down: ${expected} ms`);
    const fresh = await challenge('target', '127.0.1.100');
    assert.ok(fresh.ms >= expected - 10, `a new address waited ${fresh.ms.toFixed(0)} ms for the name, at least ${expected} ms`);
    assert.equal(throttle.delayMs('127.0.1.101'), 0, 'another address, no name: not slowed');
  });
});
