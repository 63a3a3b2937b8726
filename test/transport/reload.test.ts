// Files re-read by a running server (every mqttTlsCertRefreshCheckDurationSec): the PSK identity
// file of an mqtt+ssl+psk:// listener, and the certificate of a ws+ssl:// listener. New connections
// get the new material; connections made before stay up. Clients are MQTT.js, the broker is real.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { certificateFixture } from './helpers.js';

type Fixture = Awaited<ReturnType<typeof certificateFixture>>;

const pskClient = (identity: string, secret: string): IClientOptions =>
  ({ ciphers: 'PSK', checkServerIdentity: () => undefined, pskCallback: () => ({ identity, psk: Buffer.from(secret) }) }) as IClientOptions;

/** Retries `attempt` every 200 ms until it resolves; bounded. */
async function eventually<T>(attempt: () => Promise<T>, label: string, timeoutMs = 6000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${label}: still failing after ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The client still works: a QoS 1 message to itself comes back. */
async function stillWorks(c: MqttClient, topic: string): Promise<void> {
  const inbox = new Inbox(c);
  await c.subscribeAsync(topic, { qos: 1 });
  await c.publishAsync(topic, 'still here', { qos: 1 });
  const [m] = await inbox.waitFor(1);
  assert.equal(m.payload.toString(), 'still here');
}

describe('files re-read by a running server', () => {
  let certs: Fixture;
  const servers: TestServer[] = [];
  const clients: MqttClient[] = [];
  before(async () => {
    certs = await certificateFixture();
  });
  after(async () => {
    await Promise.all(clients.map((c) => endClient(c, true)));
    await Promise.all(servers.map((s) => s.close()));
    certs?.cleanup();
  });

  it('mqttTlsPskIdentityFile: a PSK listener takes its identities from the file and follows edits to it', async () => {
    const file = join(certs.dir, 'psk-identities');
    writeFileSync(file, '# devices\ndev1:first-secret\n');
    const t = await startTestServer({ mqttListeners: 'mqtt+ssl+psk://127.0.0.1:0', mqttTlsPskIdentityFile: file, mqttTlsCertRefreshCheckDurationSec: '1' });
    servers.push(t);
    const url = `mqtts://127.0.0.1:${t.port('mqtt+ssl+psk')}`;

    const dev1 = await connectClient(url, { clientId: 'psk-dev1', ...pskClient('dev1', 'first-secret') });
    clients.push(dev1);
    await assert.rejects(connectClient(url, { clientId: 'psk-dev2', ...pskClient('dev2', 'second-secret') }, 3000), 'dev2 is not in the file yet');

    // dev1 revoked, dev2 added: new handshakes follow the file within the refresh interval.
    writeFileSync(file, 'dev2:second-secret\n');
    const dev2 = await eventually(() => connectClient(url, { clientId: 'psk-dev2', ...pskClient('dev2', 'second-secret') }, 3000), 'dev2 after the edit');
    clients.push(dev2);
    await assert.rejects(connectClient(url, { clientId: 'psk-dev1b', ...pskClient('dev1', 'first-secret') }, 3000), 'dev1 was removed from the file');
    // The session negotiated before the edit is not cut.
    await stillWorks(dev1, 'psk/dev1');
    await stillWorks(dev2, 'psk/dev2');
  });

  it('certificate rotation on ws+ssl://: new connections get the new certificate, open ones stay up', async () => {
    const dir = join(certs.dir, 'live-wss');
    mkdirSync(dir, { recursive: true });
    const files = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
    copyFileSync(certs.a.certFile, files.certFile);
    copyFileSync(certs.a.keyFile, files.keyFile);
    const t = await startTestServer({
      mqttListeners: 'ws+ssl://127.0.0.1:0',
      mqttTlsCertificateFilePath: files.certFile,
      mqttTlsKeyFilePath: files.keyFile,
      mqttTlsCertRefreshCheckDurationSec: '1',
    });
    servers.push(t);
    const port = t.port('ws+ssl');
    const url = `wss://127.0.0.1:${port}/mqtt`;
    const trustA = { ca: readFileSync(certs.a.caFile) };
    const trustB = { ca: readFileSync(certs.b.caFile) };

    const before = await connectClient(url, { clientId: 'wss-before', ...trustA });
    clients.push(before);
    const fpB = new X509Certificate(readFileSync(certs.b.certFile)).fingerprint256;
    assert.notEqual(await served(port), fpB);

    // Key first, then certificate: in between the pair does not match and must not be applied.
    copyFileSync(certs.b.keyFile, files.keyFile);
    copyFileSync(certs.b.certFile, files.certFile);
    await eventually(async () => assert.equal(await served(port), fpB), 'the new certificate served');
    const after = await connectClient(url, { clientId: 'wss-after', ...trustB });
    clients.push(after);
    await assert.rejects(connectClient(url, { clientId: 'wss-old-ca', ...trustA }, 3000), 'the old CA no longer verifies the server');
    await stillWorks(before, 'wss/before');
    await stillWorks(after, 'wss/after');
  });
});

/** Fingerprint of the certificate a fresh TLS handshake on `port` is shown. */
function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()!.fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.setTimeout(3000, () => s.destroy(new Error('no TLS handshake within 3 s')));
    s.once('error', reject);
  });
}
