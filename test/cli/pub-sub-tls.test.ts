// `starling pub` / `starling sub` over mqtts:// and wss:// (with --cafile, --cert/--key for mutual
// TLS, and --insecure), over TLS-PSK (--psk/--psk-identity), the hex and base64 output formats,
// and progress output, against real brokers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, subscribed } from './run.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { certificateFixture } from '../transport/helpers.js';

type Fixture = Awaited<ReturnType<typeof certificateFixture>>;

describe('starling pub / sub over TLS, PSK, output formats and progress', () => {
  let certs: Fixture;
  let mtls: TestServer;
  let psk: TestServer;

  before(async () => {
    certs = await certificateFixture();
    // Mutual TLS on both secure listeners: a client needs the CA to trust the server and a certificate of its own.
    mtls = await startTestServer({
      mqttListeners: 'mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws+ssl://127.0.0.1:0',
      mqttTlsCertificateFilePath: certs.a.certFile,
      mqttTlsKeyFilePath: certs.a.keyFile,
      mqttTlsTrustCertsFilePath: certs.a.caFile,
      mqttTlsRequireTrustedClientCertOnConnect: 'true',
    });
    psk = await startTestServer({ mqttListeners: 'mqtt+ssl+psk://127.0.0.1:0', mqttTlsPskIdentity: 'dev1:secret;dev2:other' });
  });

  after(async () => {
    await mtls?.close();
    await psk?.close();
    certs?.cleanup();
  });

  const tlsArgs = () => ['--cafile', certs.a.caFile, '--cert', certs.a.clientCertFile, '--key', certs.a.clientKeyFile];

  for (const [transport, scheme] of [['mqtts', 'mqtt+ssl'], ['wss', 'ws+ssl']] as const) {
    it(`publishes and subscribes over ${transport} with --cafile, --cert and --key`, async () => {
      const conn = ['-T', transport, '-p', String(mtls.port(scheme)), ...tlsArgs()];
      const sub = cli(['sub', ...conn, '-t', `tls/${transport}`, '-q', '1', '-C', '1', '-W', '10']);
      await subscribed(mtls, `tls/${transport}`);
      const pub = await cli(['pub', ...conn, '-t', `tls/${transport}`, '-m', `over ${transport}`, '-q', '1']);
      assert.equal(pub.code, 0, pub.err);
      const s = await sub;
      assert.equal(s.code, 0, s.err);
      assert.equal(s.out, `over ${transport}\n`);
    });
  }

  it('is refused without a client certificate when the broker requires one', async () => {
    const r = await cli(['pub', '-T', 'mqtts', '-p', String(mtls.port('mqtt+ssl')), '--cafile', certs.a.caFile, '-t', 'x', '-m', 'y']);
    assert.equal(r.code, 1);
    assert.match(r.err, /^starling pub: /);
  });

  it('does not trust the server without --cafile, and connects anyway with --insecure', async () => {
    const port = String(mtls.port('mqtt+ssl'));
    const client = ['--cert', certs.a.clientCertFile, '--key', certs.a.clientKeyFile];
    const refused = await cli(['pub', '-T', 'mqtts', '-p', port, ...client, '-t', 'x', '-m', 'y']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /certificate/i);
    // A CA that did not sign the server's certificate is no better.
    const wrongCa = await cli(['pub', '-T', 'mqtts', '-p', port, ...client, '--cafile', certs.b.caFile, '-t', 'x', '-m', 'y']);
    assert.equal(wrongCa.code, 1);
    for (const transport of ['mqtts', 'wss'] as const) {
      const p = String(mtls.port(transport === 'mqtts' ? 'mqtt+ssl' : 'ws+ssl'));
      const ok = await cli(['pub', '-T', transport, '-p', p, ...client, '--insecure', '-t', 'x', '-m', 'y']);
      assert.equal(ok.code, 0, `${transport}: ${ok.err}`);
    }
  });

  it('reaches an mqtt+ssl+psk:// listener with --psk and --psk-identity', async () => {
    const conn = ['-T', 'mqtts', '-p', String(psk.port('mqtt+ssl+psk')), '--psk-identity', 'dev1', '--psk', Buffer.from('secret').toString('hex')];
    const sub = cli(['sub', ...conn, '-t', 'psk/cli', '-q', '1', '-C', '1', '-W', '10']);
    await subscribed(psk, 'psk/cli');
    const pub = await cli(['pub', ...conn, '-i', 'psk-pub', '-t', 'psk/cli', '-m', 'over psk', '-q', '1']);
    assert.equal(pub.code, 0, pub.err);
    const s = await sub;
    assert.equal(s.code, 0, s.err);
    assert.equal(s.out, 'over psk\n');

    const wrong = await cli(['pub', '-T', 'mqtts', '-p', String(psk.port('mqtt+ssl+psk')), '--psk-identity', 'dev1', '--psk', Buffer.from('nope').toString('hex'), '-t', 'x', '-m', 'y']);
    assert.equal(wrong.code, 1);
  });

  it('explains PSK flags it cannot use', async () => {
    const port = String(psk.port('mqtt+ssl+psk'));
    const cases: Array<[string[], RegExp]> = [
      [['--psk', '736563726574'], /--psk and --psk-identity go together/],
      [['--psk', 'secret', '--psk-identity', 'dev1'], /--psk is the key in hex/],
      [['-T', 'wss', '--psk', '736563726574', '--psk-identity', 'dev1'], /--psk needs an mqtts:\/\/ connection/],
    ];
    for (const [flags, why] of cases) {
      const r = await cli(['pub', '-T', 'mqtts', '-p', port, '-t', 'x', '-m', 'y', ...flags]);
      assert.equal(r.code, 1, flags.join(' '));
      assert.match(r.err, why);
    }
  });

  for (const [format, expected] of [['hex', '00ff10e282ac'], ['base64', 'AP8Q4oKs']] as const) {
    it(`prints binary payloads with -F ${format}`, async () => {
      const file = join(certs.dir, `payload-${format}.bin`);
      writeFileSync(file, Buffer.from([0x00, 0xff, 0x10, 0xe2, 0x82, 0xac]));
      const port = String(mtls.port('mqtt'));
      const sub = cli(['sub', '-p', port, '-t', `fmt/${format}`, '-C', '2', '-W', '10', '-F', format]);
      await subscribed(mtls, `fmt/${format}`);
      assert.equal((await cli(['pub', '-p', port, '-t', `fmt/${format}`, '-f', file])).code, 0);
      assert.equal((await cli(['pub', '-p', port, '-t', `fmt/${format}`, '-n'])).code, 0);
      const s = await sub;
      assert.equal(s.code, 0, s.err);
      assert.equal(s.out, `${expected}\n\n`, 'an empty payload prints an empty line');
    });
  }

  it('shows progress with --progress (--repeat runs and sub) and, on a terminal, for long -l runs', async () => {
    const port = String(mtls.port('mqtt'));
    const sub = cli(['sub', '-p', port, '-t', 'progress/#', '-C', '3', '-W', '10', '--progress']);
    await subscribed(mtls, 'progress/#');
    const counted = await cli(['pub', '-p', port, '-t', 'progress/c', '-m', 'x', '--repeat', '2500', '--progress']);
    assert.equal(counted.code, 0, counted.err);
    assert.equal(counted.err, '\r1000/2500 messages\r2000/2500 messages\r2500/2500 messages\n');
    const s = await sub;
    assert.equal(s.out, 'x\nx\nx\n', '-C 3 prints three messages even when more are arriving');
    assert.equal(s.err, '\r1 messages\r2 messages\r3 messages\n');

    const lines = Array.from({ length: 2100 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const terminal = await cli(['pub', '-p', port, '-t', 'progress/l', '-l'], { stdin: lines, stderrIsTTY: true });
    assert.equal(terminal.code, 0, terminal.err);
    assert.equal(terminal.err, '\r1000 messages\r2000 messages\r2100 messages\n', '-l shows progress on a terminal like -c');
    const short = await cli(['pub', '-p', port, '-t', 'progress/l', '-l'], { stdin: 'a\nb\n', stderrIsTTY: true });
    assert.equal(short.err, '', 'a short run stays quiet');
    const piped = await cli(['pub', '-p', port, '-t', 'progress/l', '-l'], { stdin: lines, stderrIsTTY: false });
    assert.equal(piped.err, '', 'no progress when standard error is not a terminal');
  });
});
