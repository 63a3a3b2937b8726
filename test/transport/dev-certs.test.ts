import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevCertificates, generateDevCertificates } from '../../src/transport/dev-certs.js';

describe('development certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-devcerts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a CA, a server certificate for the hosts and a client certificate, all signed by the CA', async () => {
    const f = await generateDevCertificates(join(dir, 'named'), { hosts: ['broker.test', '10.1.2.3', '::1'], days: 30 });
    const ca = new X509Certificate(readFileSync(f.caFile));
    const server = new X509Certificate(readFileSync(f.certFile));
    const client = new X509Certificate(readFileSync(f.clientCertFile));
    assert.equal(ca.ca, true);
    assert.equal(server.ca, false);
    assert.ok(server.verify(ca.publicKey) && client.verify(ca.publicKey), 'signed by the CA');
    assert.ok(server.checkIssued(ca) && client.checkIssued(ca));
    assert.equal(server.checkHost('broker.test'), 'broker.test');
    assert.equal(server.checkIP('10.1.2.3'), '10.1.2.3');
    assert.equal(server.checkIP('::1'), '::1');
    assert.equal(server.checkHost('localhost'), undefined, 'only the names asked for');
    assert.match(server.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/, 'serverAuth');
    assert.match(client.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.2/, 'clientAuth');
    assert.ok(server.checkPrivateKey(createPrivateKey(readFileSync(f.keyFile))));
    assert.ok(client.checkPrivateKey(createPrivateKey(readFileSync(f.clientKeyFile))));
    const days = (new Date(server.validTo).getTime() - Date.now()) / 86400_000;
    assert.ok(days > 29 && days < 31, `valid for ~30 days, got ${days}`);
    assert.equal(statSync(f.keyFile).mode & 0o077, 0, 'private keys are not readable by others');
  });

  it('defaults to localhost, 127.0.0.1 and ::1', async () => {
    const f = await generateDevCertificates(join(dir, 'default'));
    const server = new X509Certificate(readFileSync(f.certFile));
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkIP('::1'), '::1');
  });

  it('ensureDevCertificates creates once and reuses afterwards', async () => {
    const target = join(dir, 'ensure');
    const first = await ensureDevCertificates(target);
    assert.equal(first.created, true);
    const pem = readFileSync(first.certFile, 'utf8');
    const second = await ensureDevCertificates(target);
    assert.equal(second.created, false);
    assert.equal(second.certFile, first.certFile);
    assert.equal(readFileSync(second.certFile, 'utf8'), pem);
    assert.deepEqual(Object.keys(second).sort(), ['caFile', 'caKeyFile', 'certFile', 'clientCertFile', 'clientKeyFile', 'created', 'keyFile']);
  });
});
