// createSecurity end to end at the hook level: every method (basic, token with HMAC / PEM / JWKS,
// mtls), their ordering, each refusal code, SCRAM over the same users, reload of the password and
// ACL files without a restart, and the failure slow-down.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK } from 'jose';
import { createSecurity, type Security, type SecurityOptions } from '../../src/auth/security.js';
import { passwordLine } from '../../src/auth/password-file.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import type { ConnectPacket } from '../../src/protocol/packets.js';
import { captureLog, client, connect, scramLogin, silentLog, tempDir, waitFor } from './helpers.js';

const OK = 0x00;
const BAD_CREDENTIALS = 0x86;
const NOT_AUTHORIZED = 0x87;
const BAD_METHOD = 0x8c;
const FAST = { N: 1024, r: 8, p: 1 };
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';

type TestContext = { after(fn: () => void): void };

async function security(t: TestContext, opts: Partial<SecurityOptions>): Promise<Security> {
  const s = await createSecurity({
    mqttAuthenticationEnabled: true,
    mqttAuthenticationMethods: ['basic'],
    mqttAuthorizationEnabled: false,
    log: silentLog,
    fileCheckIntervalMs: 50,
    // No slow-down unless a test asks for it, so failures in one test do not slow the next.
    throttle: { freeFailures: 1_000 },
    ...opts,
  });
  t.after(() => s.close());
  return s;
}

async function passwordFile(dir: string, users: Record<string, string>): Promise<string> {
  const lines = await Promise.all(Object.entries(users).map(([u, p]) => passwordLine(u, p, { scrypt: FAST })));
  const file = join(dir, 'passwd');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Replaces a file the way editors and `starling passwd` do: write aside, then rename. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}

const auth = (s: Security, c: ClientInfo, p: ConnectPacket): Promise<number> => Promise.resolve(s.hooks.authenticate!(c, p));

function hmacToken(claims: Record<string, unknown>, opts: { exp?: number | string; nbf?: number | string; secret?: string; iss?: string; aud?: string } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  if (opts.iss) jwt = jwt.setIssuer(opts.iss);
  if (opts.aud) jwt = jwt.setAudience(opts.aud);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

const now = (): number => Math.floor(Date.now() / 1000);

describe('auth: basic (password file)', () => {
  it('accepts the right password and refuses wrong, unknown and missing credentials', async (t) => {
    const dir = tempDir(t);
    const s = await security(t, { mqttPasswordFile: await passwordFile(dir, { alice: 'a-pw' }) });
    const c = client();
    assert.equal(await auth(s, c, connect('alice', 'a-pw')), OK);
    assert.equal(c.username, 'alice');
    assert.equal(await auth(s, client(), connect('alice', 'wrong')), BAD_CREDENTIALS);
    assert.equal(await auth(s, client(), connect('mallory', 'a-pw')), BAD_CREDENTIALS);
    assert.equal(await auth(s, client(), connect()), NOT_AUTHORIZED, 'no credentials at all');
    assert.equal(await auth(s, client(), connect('alice')), NOT_AUTHORIZED, 'a user name proves nothing');
  });

  it('answers 0x8C while the password file is not configured or not loaded, and loads it when it appears', async (t) => {
    const unset = await security(t, {});
    assert.equal(await auth(unset, client(), connect('alice', 'a-pw')), BAD_METHOD);

    const dir = tempDir(t);
    const file = join(dir, 'passwd');
    const s = await security(t, { mqttPasswordFile: file });
    assert.equal(await auth(s, client(), connect('alice', 'a-pw')), BAD_METHOD);
    replaceFile(file, (await passwordLine('alice', 'a-pw', { scrypt: FAST })) + '\n');
    await waitFor(async () => (await auth(s, client(), connect('alice', 'a-pw'))) === OK, 'the new password file');
  });

  it('reloads the file without a restart, and keeps the previous one when the new one is bad', async (t) => {
    const dir = tempDir(t);
    const file = await passwordFile(dir, { alice: 'a-pw' });
    const { log, lines } = captureLog();
    const s = await security(t, { mqttPasswordFile: file, log });
    assert.equal(await auth(s, client(), connect('bob', 'b-pw')), BAD_CREDENTIALS);

    const alice = await passwordLine('alice', 'a-pw', { scrypt: FAST });
    const bob = await passwordLine('bob', 'b-pw', { scrypt: FAST });
    replaceFile(file, `${alice}\n${bob}\n`);
    await waitFor(async () => (await auth(s, client(), connect('bob', 'b-pw'))) === OK, 'bob to be added');

    replaceFile(file, `${alice}\n# fine\nbob:not-a-hash\n`);
    await waitFor(
      () => lines().some((l) => l.level === 50 && String(l.msg).includes(`${file}:3:`)),
      'an error naming the bad line',
    );
    assert.equal(await auth(s, client(), connect('bob', 'b-pw')), OK, 'previous good file still in force');
  });

  it('serves SCRAM-SHA-256 over the same users [MQTT-4.12]', async (t) => {
    const dir = tempDir(t);
    const s = await security(t, { mqttPasswordFile: await passwordFile(dir, { carol: 'c-pw' }) });
    const scram = s.authenticators.find((a) => a.method === 'SCRAM-SHA-256');
    assert.ok(scram, 'SCRAM offered with basic');
    assert.deepEqual(s.hooks.authenticators, s.authenticators);
    const good = await scramLogin(scram, 'carol', 'c-pw');
    assert.equal(good.kind, 'success');
    const bad = await scramLogin(scram, 'carol', 'nope', client({ remoteAddress: '203.0.113.9' }));
    assert.equal(bad.kind, 'failure');
    // The score decays continuously (half-life 60 s), so one failure reads just under 1 a moment later.
    assert.ok(s.throttle.score('203.0.113.9') > 0.9, 'SCRAM failures count towards the slow-down');
  });
});

describe('auth: token (JWT)', () => {
  it('HMAC secret: a valid token passes; sub becomes the user name; acl becomes grants', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: ['token'], mqttTokenSecret: SECRET });
    const token = await hmacToken({ sub: 'device-1', acl: { pub: ['d/1/#'], sub: ['cmd/1'] } }, { exp: now() + 60 });
    const c = client({ username: 'whatever' });
    assert.equal(await auth(s, c, connect('whatever', token)), OK);
    assert.equal(c.username, 'device-1');
    assert.deepEqual(c.grants, { publish: ['d/1/#'], subscribe: ['cmd/1'], deny: [] });
    assert.equal(c.credentialsExpireAt! > Date.now(), true);
    // Token grants restrict even without an ACL file.
    assert.equal(s.hooks.authorizePublish!(c, 'd/1/x'), OK);
    assert.equal(s.hooks.authorizePublish!(c, 'd/2/x'), NOT_AUTHORIZED);
    assert.equal(s.hooks.authorizeSubscribe!(c, 'cmd/1'), OK);
  });

  it('a token without the user name claim leaves the client anonymous, not the CONNECT name', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: ['token'], mqttTokenSecret: SECRET });
    const c = client({ username: 'admin' });
    assert.equal(await auth(s, c, connect('admin', await hmacToken({ role: 'x' }))), OK);
    assert.equal(c.username, undefined);
    assert.equal(c.grants, undefined);
  });

  it('refuses expired, not-yet-valid, wrongly signed and wrong issuer/audience tokens with 0x86', async (t) => {
    const s = await security(t, {
      mqttAuthenticationMethods: ['token'],
      mqttTokenSecret: SECRET,
      mqttTokenIssuer: 'https://issuer.example',
      mqttTokenAudience: 'starling',
      mqttTokenClockToleranceSec: 5,
    });
    const good = { iss: 'https://issuer.example', aud: 'starling' };
    const cases: Array<[string, Promise<string>, number]> = [
      ['valid', hmacToken({ sub: 'u' }, { ...good, exp: now() + 60 }), OK],
      ['expired', hmacToken({ sub: 'u' }, { ...good, exp: now() - 60 }), BAD_CREDENTIALS],
      ['expired within the clock tolerance', hmacToken({ sub: 'u' }, { ...good, exp: now() - 2 }), OK],
      ['not yet valid (nbf)', hmacToken({ sub: 'u' }, { ...good, nbf: now() + 60 }), BAD_CREDENTIALS],
      ['nbf within the clock tolerance', hmacToken({ sub: 'u' }, { ...good, nbf: now() + 2 }), OK],
      ['wrong secret', hmacToken({ sub: 'u' }, { ...good, secret: 'another-secret-another-secret-another!' }), BAD_CREDENTIALS],
      ['wrong issuer', hmacToken({ sub: 'u' }, { iss: 'https://evil.example', aud: 'starling' }), BAD_CREDENTIALS],
      ['wrong audience', hmacToken({ sub: 'u' }, { iss: 'https://issuer.example', aud: 'other' }), BAD_CREDENTIALS],
      ['malformed acl claim', hmacToken({ sub: 'u', acl: { pub: 'a/#' } }, good), NOT_AUTHORIZED],
      ['acl claim with an invalid filter', hmacToken({ sub: 'u', acl: { sub: ['a/#/b'] } }, good), NOT_AUTHORIZED],
    ];
    for (const [name, token, code] of cases) assert.equal(await auth(s, client(), connect('x', await token)), code, name);
    // An unsigned token (alg none) is never accepted.
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'u', ...good })).toString('base64url');
    assert.equal(await auth(s, client(), connect('x', `${header}.${body}.`)), BAD_CREDENTIALS, 'alg none');
    // A password that is not a JWT at all is nothing this method can judge.
    assert.equal(await auth(s, client(), connect('x', 'plain-password')), NOT_AUTHORIZED);
  });

  it('PEM public key file: verifies asymmetric tokens, refuses another key and HMAC tokens', async (t) => {
    const dir = tempDir(t);
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = join(dir, 'token.pem');
    writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
    const s = await security(t, { mqttAuthenticationMethods: ['token'], mqttTokenPublicKeyFile: pem });
    const sign = (key: typeof privateKey) => new SignJWT({ sub: 'ec-user' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('1m').sign(key);
    const c = client();
    assert.equal(await auth(s, c, connect(undefined, await sign(privateKey))), OK);
    assert.equal(c.username, 'ec-user');
    assert.equal(await auth(s, client(), connect(undefined, await sign(other.privateKey))), BAD_CREDENTIALS);
    assert.equal(await auth(s, client(), connect(undefined, await hmacToken({ sub: 'u' }))), BAD_CREDENTIALS, 'no HMAC without a secret');
  });

  it('JWKS file: picks the key by kid, refuses unknown kids, follows file changes', async (t) => {
    const dir = tempDir(t);
    const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const k2 = generateKeyPairSync('ed25519');
    const jwks = join(dir, 'jwks.json');
    const jwk = async (key: typeof k1.publicKey, kid: string) => ({ ...(await exportJWK(key)), kid });
    writeFileSync(jwks, JSON.stringify({ keys: [await jwk(k1.publicKey, 'rsa-1')] }));
    const s = await security(t, { mqttAuthenticationMethods: ['token'], mqttTokenJwksFile: jwks });
    const rsa = await new SignJWT({ sub: 'r' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setExpirationTime('1m').sign(k1.privateKey);
    const ed = await new SignJWT({ sub: 'e' }).setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1' }).setExpirationTime('1m').sign(k2.privateKey);
    assert.equal(await auth(s, client(), connect(undefined, rsa)), OK);
    assert.equal(await auth(s, client(), connect(undefined, ed)), BAD_CREDENTIALS, 'kid not in the set');
    replaceFile(jwks, JSON.stringify({ keys: [await jwk(k1.publicKey, 'rsa-1'), await jwk(k2.publicKey, 'ed-1')] }));
    await waitFor(async () => (await auth(s, client(), connect(undefined, ed))) === OK, 'the new JWKS');
  });

  it('answers 0x8C when the token method has no key', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: ['token'] });
    assert.equal(await auth(s, client(), connect(undefined, await hmacToken({ sub: 'u' }))), BAD_METHOD);
  });
});

describe('auth: mtls (client certificate)', () => {
  const peer = (authorized: boolean, subject?: Record<string, string | string[]>) => ({ authorized, ...(subject ? { certificateSubject: subject } : {}) });

  it('a subject that repeats the identity field is refused, and the log says why', async (t) => {
    const { log, lines } = captureLog();
    const s = await security(t, { mqttAuthenticationMethods: ['mtls'], log });
    const c = client({ peer: peer(true, { CN: ['alice', 'bob'] }) });
    assert.equal(await auth(s, c, connect()), NOT_AUTHORIZED);
    assert.equal(c.username, undefined);
    const line = lines().find((l) => l.msg === 'authentication failed');
    assert.match(String((line?.reasons as string[] | undefined)?.join(' ')), /repeats CN/);
    // Another field repeated (two OUs) does not matter when CN is the identity.
    const ok = client({ peer: peer(true, { CN: 'alice', OU: ['a', 'b'] }) });
    assert.equal(await auth(s, ok, connect()), OK);
    assert.equal(ok.username, 'alice');
  });

  it('a verified certificate passes and its CN becomes the user name', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: ['mtls'] });
    const c = client({ username: 'claimed', peer: peer(true, { CN: 'sensor-9', O: 'Acme' }) });
    assert.equal(await auth(s, c, connect('claimed')), OK);
    assert.equal(c.username, 'sensor-9');
  });

  it('the configured subject field is used instead of CN', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: ['mtls'], mqttTlsClientCertUsernameField: 'OU' });
    const c = client({ peer: peer(true, { CN: 'x', OU: 'fleet-a' }) });
    assert.equal(await auth(s, c, connect()), OK);
    assert.equal(c.username, 'fleet-a');
    assert.equal(await auth(s, client({ peer: peer(true, { CN: 'x' }) }), connect()), NOT_AUTHORIZED, 'field missing');
  });

  it('an unverified or missing certificate does not pass', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: ['mtls'] });
    assert.equal(await auth(s, client({ peer: peer(false, { CN: 'forged' }) }), connect()), NOT_AUTHORIZED);
    assert.equal(await auth(s, client({ peer: peer(false) }), connect()), NOT_AUTHORIZED);
    assert.equal(await auth(s, client(), connect('u', 'p')), NOT_AUTHORIZED);
  });
});

describe('auth: method order and combined refusals', () => {
  it('the first method that passes decides the identity', async (t) => {
    const dir = tempDir(t);
    const mqttPasswordFile = await passwordFile(dir, { alice: 'a-pw' });
    const certPeer = { authorized: true, certificateSubject: { CN: 'device-1' } };
    const certFirst = await security(t, { mqttAuthenticationMethods: ['mtls', 'basic'], mqttPasswordFile });
    const c1 = client({ peer: certPeer });
    assert.equal(await auth(certFirst, c1, connect('alice', 'a-pw')), OK);
    assert.equal(c1.username, 'device-1');
    const basicFirst = await security(t, { mqttAuthenticationMethods: ['basic', 'mtls'], mqttPasswordFile });
    const c2 = client({ peer: certPeer });
    assert.equal(await auth(basicFirst, c2, connect('alice', 'a-pw')), OK);
    assert.equal(c2.username, 'alice');
    // A wrong password does not stop a later method from passing.
    const c3 = client({ peer: certPeer });
    assert.equal(await auth(basicFirst, c3, connect('alice', 'wrong')), OK);
    assert.equal(c3.username, 'device-1');
  });

  it('a token in the password field passes even when basic tried it first', async (t) => {
    const dir = tempDir(t);
    const s = await security(t, { mqttAuthenticationMethods: ['basic', 'token'], mqttPasswordFile: await passwordFile(dir, { alice: 'a-pw' }), mqttTokenSecret: SECRET });
    assert.equal(await auth(s, client(), connect('anything', await hmacToken({ sub: 't' }))), OK);
    assert.equal(await auth(s, client(), connect('alice', 'a-pw')), OK);
    assert.equal(await auth(s, client(), connect('alice', 'wrong')), BAD_CREDENTIALS);
  });

  it('reports the most specific refusal: 0x86 over 0x8C over 0x87', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: ['basic', 'token', 'mtls'], mqttTokenSecret: SECRET });
    // basic is misconfigured (no file): alone that is 0x8C…
    assert.equal(await auth(s, client(), connect('u', 'p')), BAD_METHOD);
    // …but a token that was checked and found bad says more.
    const expired = await hmacToken({ sub: 'u' }, { exp: now() - 3600 });
    assert.equal(await auth(s, client(), connect('u', expired)), BAD_CREDENTIALS);
  });

  it('refuses everyone with 0x87 when no method is configured, and rejects unknown method names', async (t) => {
    const s = await security(t, { mqttAuthenticationMethods: [] });
    assert.equal(await auth(s, client(), connect('u', 'p')), NOT_AUTHORIZED);
    await assert.rejects(security(t, { mqttAuthenticationMethods: ['basic', 'ldap'] }), /unknown method "ldap"/);
  });

  it('installs no hooks for what is disabled', async (t) => {
    const s = await security(t, { mqttAuthenticationEnabled: false, mqttAuthorizationEnabled: false });
    assert.equal(s.hooks.authenticate, undefined);
    assert.equal(s.hooks.authorizePublish, undefined);
    assert.deepEqual(s.authenticators, []);
  });
});

describe('auth: ACL through createSecurity', () => {
  it('applies the ACL file and reloads it without a restart; a bad file keeps the previous one', async (t) => {
    const dir = tempDir(t);
    const acl = join(dir, 'acl.conf');
    writeFileSync(acl, 'user alice\ntopic write a/#\n');
    const { log, lines } = captureLog();
    const s = await security(t, { mqttAuthenticationEnabled: false, mqttAuthorizationEnabled: true, mqttAclFile: acl, log });
    const alice = client({ username: 'alice' });
    assert.equal(s.hooks.authorizePublish!(alice, 'a/1'), OK);
    assert.equal(s.hooks.authorizePublish!(alice, 'b/1'), NOT_AUTHORIZED);
    assert.equal(s.hooks.authorizeSubscribe!(alice, 'a/#'), NOT_AUTHORIZED, 'write is not read');

    replaceFile(acl, 'user alice\ntopic readwrite b/#\n');
    await waitFor(() => s.hooks.authorizePublish!(alice, 'b/1') === OK, 'the new ACL');
    assert.equal(s.hooks.authorizePublish!(alice, 'a/1'), NOT_AUTHORIZED);
    assert.equal(s.hooks.authorizeSubscribe!(alice, 'b/+'), OK);
    assert.equal(s.authorizeRead(alice, 'b/1'), OK);

    replaceFile(acl, 'user alice\ntopic readwrite c/#\nbogus line\n');
    await waitFor(() => lines().some((l) => l.level === 50 && String(l.msg).includes(`${acl}:3:`)), 'an error naming the bad line');
    assert.equal(s.hooks.authorizePublish!(alice, 'b/1'), OK, 'previous ACL still in force');
    assert.equal(s.hooks.authorizePublish!(alice, 'c/1'), NOT_AUTHORIZED);
  });

  it('refuses everything when authorization is on but no ACL file is set (fails closed)', async (t) => {
    const s = await security(t, { mqttAuthenticationEnabled: false, mqttAuthorizationEnabled: true });
    assert.equal(s.hooks.authorizePublish!(client(), 'x'), NOT_AUTHORIZED);
    assert.equal(s.hooks.authorizeSubscribe!(client(), 'x'), NOT_AUTHORIZED);
  });
});

describe('auth: failure slow-down through the hook', () => {
  it('slows repeated failures from one address, bounded, and leaves other addresses alone', async (t) => {
    const dir = tempDir(t);
    const s = await security(t, {
      mqttPasswordFile: await passwordFile(dir, { alice: 'a-pw' }),
      throttle: { freeFailures: 1, baseDelayMs: 60, maxDelayMs: 120, halfLifeMs: 60_000 },
    });
    const attacker = '198.51.100.66';
    const timed = async (remoteAddress: string, password: string): Promise<[number, number]> => {
      const t0 = performance.now();
      const code = await auth(s, client({ remoteAddress }), connect('alice', password));
      return [code, performance.now() - t0];
    };
    await timed(attacker, 'guess-1'); // free
    await timed(attacker, 'guess-2'); // score 1 before: free
    const [, third] = await timed(attacker, 'guess-3'); // score 2: waits 60 ms first
    const [code4, fourth] = await timed(attacker, 'a-pw'); // score 3: 120 ms, even for the right password
    const [, fifth] = await timed(attacker, 'guess-5'); // capped at 120 ms
    assert.equal(code4, OK, 'the right password still works, only later');
    // Lower bounds are what the slow-down guarantees (timers never fire early by more than a tick).
    assert.ok(third >= 55, `third attempt waited ≥ 60 ms (took ${third.toFixed(0)})`);
    assert.ok(fourth >= 115, `fourth attempt waited ≥ 120 ms (took ${fourth.toFixed(0)})`);
    assert.ok(fifth >= 115 && fifth < 120 + 2_000, `capped at 120 ms (took ${fifth.toFixed(0)})`);
    assert.equal(s.throttle.delayMs(attacker), 120);
    assert.equal(s.throttle.delayMs('198.51.100.67'), 0, 'another address is not slowed');
    assert.equal(await auth(s, client({ remoteAddress: '198.51.100.67' }), connect('alice', 'a-pw')), OK);
  });

  it('refused passwords count against the user name too; a token client’s CONNECT user name does not', async (t) => {
    const dir = tempDir(t);
    const s = await security(t, {
      mqttAuthenticationMethods: ['basic', 'token'],
      mqttPasswordFile: await passwordFile(dir, { alice: 'a-pw' }),
      mqttTokenSecret: SECRET,
      throttle: { freeFailures: 1_000 },
    });
    for (let i = 0; i < 3; i++) await auth(s, client({ remoteAddress: `198.51.100.${70 + i}` }), connect('alice', `guess-${i}`));
    assert.ok(s.throttle.userScore('alice') > 2.9, `three addresses, one name: ${s.throttle.userScore('alice')}`);
    const forged = await hmacToken({ sub: 'dev' }, { exp: now() + 60, secret: 'another-secret-that-is-long-enough-for-hs256' });
    assert.equal(await auth(s, client({ remoteAddress: '198.51.100.80' }), connect('fleet', forged)), BAD_CREDENTIALS);
    assert.equal(s.throttle.userScore('fleet'), 0, 'a bad token is not a guess at the user name');
    assert.ok(s.throttle.score('198.51.100.80') > 0.9, 'it counts against the address');
  });
});
