// Authentication and authorization as MQTT.js clients meet them, against a real server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { SignJWT } from 'jose';
import forge from 'node-forge';
import type { MqttClient, Packet } from 'mqtt';
import { runPasswd } from '../../src/cli/passwd.js';
import { generateDevCertificates } from '../../src/transport/dev-certs.js';
import { connectClient, endClient, Inbox, sleep } from '../helpers/mqttjs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

async function addUser(file: string, user: string, password: string): Promise<void> {
  const stdin = new PassThrough();
  stdin.end(`${password}\n`);
  const code = await runPasswd(['--password-stdin', file, user], { stdin, stdout: new PassThrough(), stderr: new PassThrough() });
  assert.equal(code, 0);
}

/** The SUBACK codes for these filters (MQTT.js rejects when any is a failure; read them anyway). */
async function subackCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters);
    return granted.map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[]; reasonCode?: number[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted;
  }
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('security: password file and ACL file', () => {
  let t: TestServer;
  let dir: string;
  let aclFile: string;
  const secret = 'a-test-secret-that-is-long-enough-for-hs256';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-sec-'));
    const passwords = join(dir, 'passwd');
    await addUser(passwords, 'alice', 'alice-pw');
    await addUser(passwords, 'bob', 'bob-pw');
    aclFile = join(dir, 'acl');
    writeFileSync(
      aclFile,
      [
        '# anonymous: nothing',
        'user alice',
        'topic readwrite alice/#',
        'topic read shared/#',
        'topic read $SYS/#',
        'user bob',
        'topic write shared/#',
        'pattern readwrite users/%u/#',
        'pattern readwrite clients/%c/#',
        'pattern readwrite %c/inbox/#',
        'pattern readwrite %u/home/#',
        '',
      ].join('\n'),
    );
    t = await startTestServer({
      mqttAuthenticationEnabled: 'true',
      mqttAuthenticationMethods: 'basic,token',
      mqttPasswordFile: passwords,
      mqttTokenSecret: secret,
      mqttAuthorizationEnabled: 'true',
      mqttAclFile: aclFile,
    });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the right password and refuses a wrong one: 3.1.1 return code 4, MQTT 5 0x86', async () => {
    const ok = await connectClient(t.url(), { clientId: 'alice-1', username: 'alice', password: 'alice-pw' });
    await endClient(ok);
    await assert.rejects(connectClient(t.url(), { clientId: 'alice-2', username: 'alice', password: 'nope' }), /Bad username or password/i);
    await assert.rejects(
      connectClient(t.url(), { protocolVersion: 5, clientId: 'alice-3', username: 'alice', password: 'nope' }),
      (err: Error & { code?: number }) => err.code === 0x86,
    );
  });

  it('refuses anonymous clients when authentication is on: return code 5 / 0x87', async () => {
    await assert.rejects(connectClient(t.url(), { clientId: 'anon' }), /Not authorized/i);
  });

  it('accepts a JWT in the password field and applies its acl claim', async () => {
    const token = await new SignJWT({ acl: { pub: ['jwt/out/#'], sub: ['jwt/in/#'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('device-7')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    const c = await connectClient(t.url(), { protocolVersion: 5, clientId: 'jwt-1', username: 'anything', password: token });
    assert.deepEqual(await subackCodes(c, ['jwt/in/x', 'elsewhere']), [0, 0x87]);
    await endClient(c);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('late')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(secret));
    await assert.rejects(connectClient(t.url(), { clientId: 'jwt-2', username: 'x', password: expired }), /Bad username or password|Not authorized/i);
  });

  it('denies a subscription in its SUBACK: 0x80 for 3.1.1, 0x87 for MQTT 5', async () => {
    const v4 = await connectClient(t.url(), { clientId: 'alice-s4', username: 'alice', password: 'alice-pw' });
    assert.deepEqual(await subackCodes(v4, ['alice/x', 'bob/x']), [0, 128]);
    await endClient(v4);
    const v5 = await connectClient(t.url(), { protocolVersion: 5, clientId: 'alice-s5', username: 'alice', password: 'alice-pw' });
    assert.deepEqual(await subackCodes(v5, ['alice/x', 'bob/x']), [0, 0x87]);
    await endClient(v5);
  });

  it('denies a publish: PUBACK 0x87 for MQTT 5, silently dropped for 3.1.1', async () => {
    const watcher = await connectClient(t.url(), { clientId: 'alice-w', username: 'alice', password: 'alice-pw' });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('shared/#');
    const v5 = await connectClient(t.url(), { protocolVersion: 5, clientId: 'alice-p5', username: 'alice', password: 'alice-pw' });
    await assert.rejects(v5.publishAsync('shared/x', 'no', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87);
    const v4 = await connectClient(t.url(), { clientId: 'alice-p4', username: 'alice', password: 'alice-pw' });
    await v4.publishAsync('shared/x', 'dropped', { qos: 1 });
    const bob = await connectClient(t.url(), { clientId: 'bob-p', username: 'bob', password: 'bob-pw' });
    await bob.publishAsync('shared/x', 'allowed', { qos: 1 });
    const [m] = await inbox.waitFor(1);
    assert.equal(m.payload.toString(), 'allowed');
    await sleep(100);
    assert.equal(inbox.messages.length, 1);
    await Promise.all([watcher, v5, v4, bob].map((c) => endClient(c)));
  });

  it('expands %u and %c in pattern rules', async () => {
    const bob = await connectClient(t.url(), { clientId: 'bob-dev', username: 'bob', password: 'bob-pw' });
    assert.deepEqual(await subackCodes(bob, ['users/bob/inbox', 'users/alice/inbox', 'clients/bob-dev/cmd', 'clients/other/cmd']), [0, 128, 0, 128]);
    await endClient(bob);
  });

  it('never lets a substituted %c or %u that starts with $ (or holds + # /) reach $SYS or other levels', async () => {
    // Client id `$SYS` with `pattern readwrite %c/inbox/#` would otherwise be granted `$SYS/inbox/#`.
    const sysId = await connectClient(t.url(), { protocolVersion: 5, clientId: '$SYS', username: 'bob', password: 'bob-pw' });
    assert.deepEqual(await subackCodes(sysId, ['$SYS/inbox/#', '$SYS/inbox/x']), [0x87, 0x87]);
    await assert.rejects(sysId.publishAsync('$SYS/inbox/x', 'no', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87);
    await endClient(sysId);
    // The same through %u: a token whose subject is `$SYS`.
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('$SYS').setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const sysUser = await connectClient(t.url(), { protocolVersion: 5, clientId: 'sys-user', username: 'x', password: token });
    assert.deepEqual(await subackCodes(sysUser, ['$SYS/home/#', 'sys-user/inbox/x']), [0x87, 0]);
    await endClient(sysUser);
    // Ordinary values still substitute.
    const bob = await connectClient(t.url(), { protocolVersion: 5, clientId: 'bob-home', username: 'bob', password: 'bob-pw' });
    assert.deepEqual(await subackCodes(bob, ['bob/home/x', 'bob-home/inbox/x', 'a/b/inbox/x']), [0, 0, 0x87]);
    await endClient(bob);
  });

  it('keeps $SYS readable only where a rule allows it', async () => {
    const bob = await connectClient(t.url(), { clientId: 'bob-sys', username: 'bob', password: 'bob-pw' });
    assert.deepEqual(await subackCodes(bob, ['$SYS/#']), [128]);
    await endClient(bob);
    const alice = await connectClient(t.url(), { clientId: 'alice-sys', username: 'alice', password: 'alice-pw' });
    assert.deepEqual(await subackCodes(alice, ['$SYS/#']), [0]);
    await endClient(alice);
  });

  it('reloads the ACL file without a restart', async () => {
    const subscribeOk = async (): Promise<boolean> => {
      const c = await connectClient(t.url(), { clientId: 'bob-reload', username: 'bob', password: 'bob-pw' });
      const [g] = await subackCodes(c, ['news/today']);
      await endClient(c);
      return g === 0;
    };
    assert.equal(await subscribeOk(), false);
    writeFileSync(aclFile, ['user alice', 'topic readwrite alice/#', 'user bob', 'topic read news/#', ''].join('\n'));
    await waitUntil(subscribeOk, 'the new ACL to apply');
  });
});

describe('security: CONNACK codes of MQTT 5 clients on the wire', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ mqttAuthenticationEnabled: 'true', mqttAuthenticationMethods: 'basic', mqttPasswordFile: '/nonexistent/passwd' });
  });
  after(() => t.close());

  it('answers 0x8C while the password file the method needs is missing', async () => {
    const c = await import('mqtt').then((m) =>
      m.default.connect(t.url(), { protocolVersion: 5, clientId: 'nofile', username: 'u', password: 'p', reconnectPeriod: 0 }),
    );
    const code = await new Promise<number | undefined>((resolve) => {
      c.once('error', (err: Error & { code?: number }) => resolve(err.code));
      c.once('packetreceive', (p: Packet) => {
        if (p.cmd === 'connack' && !p.reasonCode) resolve(0);
      });
    });
    assert.equal(code, 0x8c);
    c.end(true);
  });
});

describe('security: mutual TLS as the authentication method', () => {
  let t: TestServer;
  let dir: string;
  let certs: Awaited<ReturnType<typeof generateDevCertificates>>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-mtls-'));
    certs = await generateDevCertificates(join(dir, 'certs'), { hosts: ['localhost', '127.0.0.1'] });
    const acl = join(dir, 'acl');
    // The certificate's CN is the user name the ACL sees.
    writeFileSync(acl, ['pattern readwrite devices/%u/#', ''].join('\n'));
    t = await startTestServer({
      mqttListeners: 'mqtt+ssl://127.0.0.1:0',
      mqttTlsCertificateFilePath: certs.certFile,
      mqttTlsKeyFilePath: certs.keyFile,
      mqttTlsTrustCertsFilePath: certs.caFile,
      mqttAuthenticationEnabled: 'true',
      mqttAuthenticationMethods: 'mtls',
      mqttAuthorizationEnabled: 'true',
      mqttAclFile: acl,
    });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the certificate CN the user name (for ACL patterns) and refuses a client without a certificate', async () => {
    const url = `mqtts://127.0.0.1:${t.port('mqtt+ssl')}`;
    const ca = readFileSync(certs.caFile);
    const c = await connectClient(url, {
      protocolVersion: 5,
      clientId: 'mtls-1',
      username: 'someone-else',
      key: readFileSync(certs.clientKeyFile),
      cert: readFileSync(certs.clientCertFile),
      ca,
      rejectUnauthorized: true,
    });
    assert.deepEqual(await subackCodes(c, ['devices/starling-dev-client/x', 'devices/someone-else/x']), [0, 0x87]);
    await endClient(c);
    await assert.rejects(connectClient(url, { protocolVersion: 5, clientId: 'mtls-2', ca, rejectUnauthorized: true }, 3000));
  });

  it('refuses a certificate whose subject repeats CN (once admitted as user "alice,bob"): CONNACK 0x87', async () => {
    const url = `mqtts://127.0.0.1:${t.port('mqtt+ssl')}`;
    const ca = readFileSync(certs.caFile);
    const cert = certificateWithSubject(certs, [
      { name: 'commonName', value: 'alice' },
      { name: 'commonName', value: 'bob' },
    ]);
    await assert.rejects(
      connectClient(url, { protocolVersion: 5, clientId: 'mtls-2cn', key: readFileSync(certs.clientKeyFile), cert, ca, rejectUnauthorized: true }, 5000),
      (err: Error & { code?: number }) => err.code === 0x87,
    );
    // The same CA and key with one CN is admitted: it is the repetition that is refused.
    const single = certificateWithSubject(certs, [{ name: 'commonName', value: 'alice' }]);
    const ok = await connectClient(url, { protocolVersion: 5, clientId: 'mtls-1cn', key: readFileSync(certs.clientKeyFile), cert: single, ca, rejectUnauthorized: true });
    assert.deepEqual(await subackCodes(ok, ['devices/alice/x', 'devices/alice,bob/x']), [0, 0x87]);
    await endClient(ok);
  });
});

/** A client certificate for the development client key with this subject, signed by the development CA. */
function certificateWithSubject(certs: Awaited<ReturnType<typeof generateDevCertificates>>, subject: forge.pki.CertificateField[]): string {
  const caCert = forge.pki.certificateFromPem(readFileSync(certs.caFile, 'utf8'));
  const caKey = forge.pki.privateKeyFromPem(readFileSync(certs.caKeyFile, 'utf8')) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.certificateFromPem(readFileSync(certs.clientCertFile, 'utf8')).publicKey;
  cert.serialNumber = `0${Date.now().toString(16)}`;
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  cert.setSubject(subject);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}
