import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { openListener, type OpenListener } from '../../src/transport/listeners.js';
import type { ListenerInfo } from '../../src/transport/transport.js';
import type { DevCertificateFiles } from '../../src/transport/dev-certs.js';
import { captureLog, certificateFixture, configWith, echoServer, once, waitFor, CONNECT_BYTES } from './helpers.js';
import { listenerSpec as spec, transportOptions } from '../../src/server/transport-options.js';

type Fixture = Awaited<ReturnType<typeof certificateFixture>>;

const tlsFlags = (c: DevCertificateFiles, extra: Record<string, string> = {}): Record<string, string> => ({
  mqttListeners: 'mqtt+ssl://127.0.0.1:0',
  mqttTlsCertificateFilePath: c.certFile,
  mqttTlsKeyFilePath: c.keyFile,
  mqttTlsTrustCertsFilePath: c.caFile,
  ...extra,
});

/** Connects, resolves once the handshake is done; rejects on error or close first. */
function tlsDial(port: number, opts: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', ...opts }, () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the handshake finished')));
  });
}

/** Writes and waits for the echo; resolves false when the connection dies instead. */
function echoes(s: Socket, bytes: Buffer, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const timer = setTimeout(() => resolve(false), timeoutMs);
    s.on('data', (c: Buffer) => {
      got.push(c);
      if (Buffer.concat(got).equals(bytes)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
    s.write(bytes);
  });
}

const fingerprint = (s: TLSSocket): string => s.getPeerX509Certificate()!.fingerprint256;

describe('tls listener (mqtt+ssl://)', () => {
  let certs: Fixture;
  const open: OpenListener[] = [];
  const servers: ReturnType<typeof echoServer>[] = [];
  before(async () => {
    certs = await certificateFixture();
  });
  after(async () => {
    await Promise.all(open.map((l) => l.close()));
    // Listeners leave accepted connections to their owners: here, the test.
    for (const srv of servers) for (const t of srv.transports) t.destroy();
    certs.cleanup();
  });

  async function listen(flags: Record<string, string>, siblings?: ListenerInfo[]) {
    const cap = captureLog();
    const srv = echoServer();
    servers.push(srv);
    const config = configWith(flags);
    const l = await openListener(spec(config.mqttListeners[0]), { transport: transportOptions(config), log: cap.log, ...(siblings ? { siblings: () => siblings } : {}) }, srv.accept);
    open.push(l);
    return { ...cap, srv, l };
  }

  it('echoes over TLS, verified against the CA, kind tls, no client certificate asked', async () => {
    const { srv, l } = await listen(tlsFlags(certs.a));
    const s = await tlsDial(l.info.port, { ca: readFileSync(certs.a.caFile), servername: 'localhost' });
    assert.equal(s.authorized, true);
    assert.ok(await echoes(s, CONNECT_BYTES));
    const t = srv.transports[0];
    assert.equal(t.kind, 'tls');
    assert.deepEqual(t.peer, { authorized: false });
    s.destroy();
  });

  it('refuses a mismatched or unreadable certificate and key, naming the file and its key', async () => {
    const files = certs.a;
    await assert.rejects(listen(tlsFlags(files, { mqttTlsKeyFilePath: files.clientKeyFile })), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'STARLING_TLS_FILES_INVALID');
      assert.equal(err.message, `the key in ${files.clientKeyFile} (mqttTlsKeyFilePath) is not the private key of the certificate in ${files.certFile} (mqttTlsCertificateFilePath)`);
      return true;
    });
    // A certificate where the key belongs, and the other way round.
    await assert.rejects(listen(tlsFlags(files, { mqttTlsKeyFilePath: files.caFile })), new RegExp(`^Error: cannot read the TLS private key ${files.caFile} \\(mqttTlsKeyFilePath\\): `));
    await assert.rejects(listen(tlsFlags(files, { mqttTlsCertificateFilePath: files.keyFile })), new RegExp(`^Error: cannot read the TLS certificate ${files.keyFile} \\(mqttTlsCertificateFilePath\\): `));
  });

  it('honours mqttTlsProtocols (TLSv1.3 only refuses a TLSv1.2 client)', async () => {
    const { l } = await listen(tlsFlags(certs.a, { mqttTlsProtocols: 'TLSv1.3' }));
    await assert.rejects(tlsDial(l.info.port, { ca: readFileSync(certs.a.caFile), servername: 'localhost', maxVersion: 'TLSv1.2' }));
    const s = await tlsDial(l.info.port, { ca: readFileSync(certs.a.caFile), servername: 'localhost' });
    assert.equal(s.getProtocol(), 'TLSv1.3');
    s.destroy();
  });

  it('honours mqttTlsCiphers given by IANA name', async () => {
    const { l } = await listen(tlsFlags(certs.a, { mqttTlsProtocols: 'TLSv1.2', mqttTlsCiphers: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' }));
    const s = await tlsDial(l.info.port, { ca: readFileSync(certs.a.caFile), servername: 'localhost' });
    assert.equal(s.getCipher().name, 'ECDHE-RSA-AES128-GCM-SHA256');
    s.destroy();
  });

  describe('mutual TLS (mqttTlsRequireTrustedClientCertOnConnect)', () => {
    const mtls = () => tlsFlags(certs.a, { mqttTlsRequireTrustedClientCertOnConnect: 'true' });

    it('accepts a client certificate signed by the trusted CA and reports its subject', async () => {
      const { srv, l } = await listen(mtls());
      const s = await tlsDial(l.info.port, {
        ca: readFileSync(certs.a.caFile),
        servername: 'localhost',
        cert: readFileSync(certs.a.clientCertFile),
        key: readFileSync(certs.a.clientKeyFile),
      });
      assert.ok(await echoes(s, CONNECT_BYTES));
      const peer = srv.transports[0].peer!;
      assert.equal(peer.authorized, true);
      assert.equal(peer.certificateSubject?.CN, 'starling-dev-client');
      s.destroy();
    });

    it('refuses a client without a certificate', async () => {
      const { srv, l } = await listen(mtls());
      // TLS 1.3 may finish the client side of the handshake before the server's verdict arrives.
      const ok = await tlsDial(l.info.port, { ca: readFileSync(certs.a.caFile), servername: 'localhost' }).then(
        (s) => echoes(s, CONNECT_BYTES),
        () => false,
      );
      assert.equal(ok, false);
      assert.equal(srv.transports.length, 0);
    });

    it('refuses a client certificate from an untrusted CA', async () => {
      const { srv, l } = await listen(mtls());
      const ok = await tlsDial(l.info.port, {
        ca: readFileSync(certs.a.caFile),
        servername: 'localhost',
        cert: readFileSync(certs.b.clientCertFile),
        key: readFileSync(certs.b.clientKeyFile),
      }).then(
        (s) => echoes(s, CONNECT_BYTES),
        () => false,
      );
      assert.equal(ok, false);
      assert.equal(srv.transports.length, 0);
    });

    it('with mqttTlsAllowInsecureConnection lets an untrusted certificate in, unauthorized', async () => {
      const { srv, l } = await listen({ ...mtls(), mqttTlsAllowInsecureConnection: 'true' });
      const s = await tlsDial(l.info.port, {
        ca: readFileSync(certs.a.caFile),
        servername: 'localhost',
        cert: readFileSync(certs.b.clientCertFile),
        key: readFileSync(certs.b.clientKeyFile),
      });
      assert.ok(await echoes(s, CONNECT_BYTES));
      assert.equal(srv.transports[0].peer?.authorized, false);
      assert.equal(srv.transports[0].peer?.certificateSubject?.CN, 'starling-dev-client');
      s.destroy();
    });
  });

  it('picks up a rotated certificate for new connections while the old connection stays up', async () => {
    const dir = join(certs.dir, 'live');
    mkdirSync(dir, { recursive: true });
    const files = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
    copyFileSync(certs.a.certFile, files.certFile);
    copyFileSync(certs.a.keyFile, files.keyFile);
    const { l, lines } = await listen({
      mqttListeners: 'mqtt+ssl://127.0.0.1:0',
      mqttTlsCertificateFilePath: files.certFile,
      mqttTlsKeyFilePath: files.keyFile,
      mqttTlsCertRefreshCheckDurationSec: '1',
    });
    const insecure = { rejectUnauthorized: false };
    const first = await tlsDial(l.info.port, insecure);
    const fpA = new X509Certificate(readFileSync(certs.a.certFile)).fingerprint256;
    const fpB = new X509Certificate(readFileSync(certs.b.certFile)).fingerprint256;
    assert.equal(fingerprint(first), fpA);

    // Key first, then certificate: in between, the pair does not match and must not be applied.
    copyFileSync(certs.b.keyFile, files.keyFile);
    copyFileSync(certs.b.certFile, files.certFile);
    let seen = fpA;
    const until = Date.now() + 5000;
    while (seen !== fpB && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      const s = await tlsDial(l.info.port, insecure);
      seen = fingerprint(s);
      s.destroy();
    }
    assert.equal(seen, fpB, 'a new connection sees the new certificate');
    assert.ok(await echoes(first, CONNECT_BYTES), 'the connection made before the rotation still works');
    assert.ok(lines.some((x) => /TLS files changed/.test(x.msg)));
    first.destroy();
  });

  describe('PSK (mqtt+ssl+psk://)', () => {
    const pskFlags = { mqttListeners: 'mqtt+ssl+psk://127.0.0.1:0', mqttTlsPskIdentity: 'dev1:secret1;dev2:secret2', mqttTlsPskIdentityHint: 'starling' };

    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      it(`connects with a known identity and key over ${maxVersion} and reports the identity`, async () => {
        const { srv, l } = await listen(pskFlags);
        let hint: string | null = null;
        const s = await tlsDial(l.info.port, {
          maxVersion,
          ciphers: 'PSK',
          checkServerIdentity: () => undefined,
          pskCallback: (h) => {
            hint = h;
            return { identity: 'dev2', psk: Buffer.from('secret2') };
          },
        });
        assert.ok(await echoes(s, CONNECT_BYTES));
        assert.equal(srv.transports[0].peer?.pskIdentity, 'dev2');
        if (maxVersion === 'TLSv1.2') assert.equal(hint, 'starling');
        s.destroy();
      });
    }

    it('refuses a wrong key', async () => {
      const { srv, l } = await listen(pskFlags);
      await assert.rejects(
        tlsDial(l.info.port, { ciphers: 'PSK', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: 'dev1', psk: Buffer.from('wrong') }) }),
      );
      assert.equal(srv.transports.length, 0);
    });
  });

  describe('common mistakes', () => {
    const siblings: ListenerInfo[] = [
      { url: 'mqtt://127.0.0.1:1883', scheme: 'mqtt', host: '127.0.0.1', port: 1883 },
      { url: 'mqtt+ssl://127.0.0.1:8883', scheme: 'mqtt+ssl', host: '127.0.0.1', port: 8883 },
      { url: 'ws+ssl://127.0.0.1:8084', scheme: 'ws+ssl', host: '127.0.0.1', port: 8084, path: '/mqtt' },
    ];

    it('plain MQTT bytes on mqtt+ssl:// are closed with one line pointing at mqtt://', async () => {
      const { lines, l } = await listen(tlsFlags(certs.a), siblings);
      const s = connect(l.info.port, '127.0.0.1');
      s.on('error', () => {});
      await once(s, 'connect');
      s.write(CONNECT_BYTES);
      await once(s, 'close');
      await waitFor(() => lines.some((x) => x.level === 40), 'log line');
      const warn = lines.filter((x) => x.level === 40);
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^non-TLS client on mqtt\+ssl listener mqtt\+ssl:\/\/127\.0\.0\.1:\d+: connect with TLS to mqtts:\/\/127\.0\.0\.1:\d+, or without TLS to mqtt:\/\/127\.0\.0\.1:1883$/);
    });

    it('plain HTTP on mqtt+ssl:// points at the secure WebSocket URL', async () => {
      const { lines, l } = await listen(tlsFlags(certs.a), siblings);
      const s = connect(l.info.port, '127.0.0.1');
      s.on('error', () => {});
      await once(s, 'connect');
      s.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n');
      await once(s, 'close');
      await waitFor(() => lines.some((x) => x.level === 40), 'log line');
      assert.match(lines.find((x) => x.level === 40)!.msg, /WebSocket clients should use wss:\/\/127\.0\.0\.1:8084\/mqtt/);
    });

    it('a wss:// client (HTTP inside TLS) on mqtt+ssl:// gets HTTP 400 and one line', async () => {
      const { lines, l } = await listen(tlsFlags(certs.a), siblings);
      const s = await tlsDial(l.info.port, { rejectUnauthorized: false });
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      s.on('error', () => {});
      s.write('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      await once(s, 'close');
      assert.match(Buffer.concat(got).toString(), /^HTTP\/1\.1 400/);
      const warn = lines.filter((x) => x.level === 40);
      assert.equal(warn.length, 1);
      assert.match(warn[0].msg, /^WebSocket handshake on mqtt\+ssl listener .*wss:\/\/127\.0\.0\.1:8084\/mqtt/);
    });
  });
});
