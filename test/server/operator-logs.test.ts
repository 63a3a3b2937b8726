// What an operator reads in the log about clients, as JSON lines: who connected and how, who left
// and why (DISCONNECT with its reason code, keepalive timeout, takeover, protocol error, socket
// closed or reset, server shutdown), and why TLS handshakes failed, once a minute per address.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { passwordLine } from '../../src/auth/password-file.js';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { generateDevCertificates, type DevCertificateFiles } from '../../src/transport/dev-certs.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { WireClient } from '../helpers/wire.js';
import { waitUntil } from '../helpers/wait.js';
import { captureLog, type LogLine } from '../transport/helpers.js';

interface Logged {
  server: RunningServer;
  lines: LogLine[];
  port(scheme: string): number;
}

const running: RunningServer[] = [];

async function start(flags: Record<string, string> = {}): Promise<Logged> {
  const cap = captureLog();
  const server = await startServer(loadConfig({ env: {}, flags: { mqttListeners: 'mqtt://127.0.0.1:0', persistence: 'memory', sysIntervalSec: '0', ...flags } }), cap.log);
  running.push(server);
  return { server, lines: cap.lines, port: (scheme) => server.listeners.find((l) => l.scheme === scheme)!.port };
}

const disconnectOf = (lines: LogLine[], clientId: string): LogLine | undefined => lines.find((l) => l.msg.startsWith('client disconnected') && l.clientId === clientId);

async function disconnected(lines: LogLine[], clientId: string): Promise<LogLine> {
  await waitUntil(() => disconnectOf(lines, clientId) !== undefined, `the disconnect line of ${clientId}`, 10_000);
  const line = disconnectOf(lines, clientId)!;
  assert.equal(line.level, 30, 'at info');
  return line;
}

after(async () => {
  for (const s of running) await s.close();
});

describe('connect and disconnect lines (info, structured)', () => {
  it('connect: client id, user, address, listener, protocol version, keepalive, clean start and session expiry', async () => {
    const b = await start();
    const url = `mqtt://127.0.0.1:${b.port('mqtt')}`;
    const c = await connectClient(url, { clientId: 'log-v5', username: 'alice', password: 'x', protocolVersion: 5, keepalive: 30, clean: false, properties: { sessionExpiryInterval: 120 } });
    const line = b.lines.find((l) => l.msg === 'client connected' && l.clientId === 'log-v5');
    assert.ok(line, 'logged when CONNACK is sent');
    assert.equal(line.level, 30);
    assert.deepEqual(
      { ...line, time: undefined, pid: undefined, hostname: undefined },
      {
        level: 30,
        time: undefined,
        pid: undefined,
        hostname: undefined,
        clientId: 'log-v5',
        username: 'alice',
        remote: '127.0.0.1',
        listener: `mqtt://127.0.0.1:${b.port('mqtt')}`,
        version: 5,
        keepalive: 30,
        cleanStart: false,
        sessionExpiry: 120,
        sessionPresent: false,
        msg: 'client connected',
      },
    );
    // An MQTT 5 DISCONNECT's reason code is in the line, by number and name.
    await new Promise<void>((r) => c.end(false, { reasonCode: 0x04 }, () => r()));
    const gone = await disconnected(b.lines, 'log-v5');
    assert.equal(gone.reason, 'client sent DISCONNECT DisconnectWithWillMessage');
    assert.equal(gone.reasonCode, 4);
    assert.equal(gone.username, 'alice');

    const v3 = await connectClient(url, { clientId: 'log-v311', protocolVersion: 4, clean: false });
    const c3 = b.lines.find((l) => l.msg === 'client connected' && l.clientId === 'log-v311')!;
    assert.equal(c3.version, 4);
    assert.equal(c3.sessionExpiry, 'never', 'clean session 0 before MQTT 5: the session never expires');
    await endClient(v3);
    assert.equal((await disconnected(b.lines, 'log-v311')).reason, 'client sent DISCONNECT');
  });

  it('keepalive timeout [MQTT-3.1.2-24], takeover [MQTT-3.1.4-2], protocol error with its statement, socket closed and reset', async () => {
    const b = await start();
    const port = b.port('mqtt');
    const quiet = await WireClient.connect(port, { clientId: 'log-quiet', keepalive: 1 });
    assert.equal(quiet.connack.returnCode, 0);
    assert.match(String((await disconnected(b.lines, 'log-quiet')).reason), /^keepalive timeout/);

    const first = await WireClient.connect(port, { clientId: 'log-twice' });
    const second = await WireClient.connect(port, { clientId: 'log-twice' });
    const taken = await disconnected(b.lines, 'log-twice');
    assert.match(String(taken.reason), /^taken over: another connection used this client id/);

    const bad = await WireClient.connect(port, { clientId: 'log-bad' }, 5);
    bad.client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'log-bad', keepalive: 60, clean: true });
    const broke = await disconnected(b.lines, 'log-bad');
    assert.equal(broke.reason, 'protocol error: second CONNECT');
    assert.equal(broke.reasonCode, 0x82);

    const dropped = await WireClient.connect(port, { clientId: 'log-dropped' });
    dropped.client.socket.end();
    assert.equal((await disconnected(b.lines, 'log-dropped')).reason, 'connection closed without DISCONNECT');

    const reset = await WireClient.connect(port, { clientId: 'log-reset' });
    reset.client.socket.resetAndDestroy();
    const r = await disconnected(b.lines, 'log-reset');
    assert.match(String(r.reason), /^socket error: .*ECONNRESET/);
    assert.equal(r.code, 'ECONNRESET');
    for (const c of [first, second]) c.client.socket.destroy();
  });

  it('a WebSocket client that vanishes (no close frame) reads as a TCP one; a reset is still a socket error with its code', async () => {
    const b = await start({ mqttListeners: 'ws://127.0.0.1:0' });
    const url = `ws://127.0.0.1:${b.port('ws')}/mqtt`;
    const gone = await WireClient.handshake(await WireClient.openWs(url), { clientId: 'log-ws-gone' });
    assert.equal(gone.connack.returnCode, 0);
    gone.client.end(); // ws.terminate(): the TCP connection closes, no close frame (1006)
    const line = await disconnected(b.lines, 'log-ws-gone');
    assert.equal(line.reason, 'connection closed without DISCONNECT');
    assert.ok(!line.msg.includes('socket error'), line.msg);
    assert.equal(line.code, undefined);

    const reset = await WireClient.handshake(await WireClient.openWs(url), { clientId: 'log-ws-reset' });
    assert.equal(reset.connack.returnCode, 0);
    reset.client.socket.resetAndDestroy(); // the TCP connection under the WebSocket
    const r = await disconnected(b.lines, 'log-ws-reset');
    assert.match(String(r.reason), /^socket error: .*ECONNRESET/);
    assert.equal(r.code, 'ECONNRESET');
  });

  it('a refused CONNECT is one line with its reason code, and no disconnect line follows', async () => {
    const b = await start();
    // MQTT 3.1 allows client ids of 1 to 23 characters.
    const { connack } = await WireClient.connect(b.port('mqtt'), { clientId: 'x'.repeat(30) }, 3);
    assert.equal(connack.returnCode, 2);
    await waitUntil(() => b.lines.some((l) => l.msg.startsWith('connection refused')), 'the refusal line');
    const refused = b.lines.find((l) => l.msg.startsWith('connection refused'))!;
    assert.equal(refused.level, 30);
    assert.equal(refused.reasonCode, 0x85);
    assert.match(refused.msg, /ClientIdentifierNotValid: MQTT 3\.1 client ids have 1 to 23 characters/);
    assert.ok(!b.lines.some((l) => l.msg.startsWith('client disconnected')));
  });

  it('a bad password: `authentication failed` with each method\'s reason, then the refusal, neither with the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-oplog-'));
    let server: RunningServer | undefined;
    try {
      const passwords = join(dir, 'passwd');
      writeFileSync(passwords, `${await passwordLine('alice', 'right-pw')}\n`);
      const b = await start({ mqttAuthenticationEnabled: 'true', mqttAuthenticationMethods: 'basic', mqttPasswordFile: passwords });
      server = b.server;
      const { connack } = await WireClient.connect(b.port('mqtt'), { clientId: 'log-badpw', username: 'alice', password: Buffer.from('wrong-pw') });
      assert.equal(connack.returnCode, 4, 'bad user name or password');
      await waitUntil(() => b.lines.some((l) => l.msg.startsWith('connection refused')), 'the refusal line');
      const failedAt = b.lines.findIndex((l) => l.msg === 'authentication failed');
      const refusedAt = b.lines.findIndex((l) => l.msg.startsWith('connection refused'));
      assert.ok(failedAt >= 0 && failedAt < refusedAt, 'the authentication line comes first');
      const failed = b.lines[failedAt]!;
      assert.equal(failed.level, 30);
      assert.equal(failed.clientId, 'log-badpw');
      assert.equal(failed.username, 'alice');
      assert.equal(failed.reasonCode, 0x86);
      assert.deepEqual(failed.reasons, ['basic: bad user name or password']);
      const refused = b.lines[refusedAt]!;
      assert.equal(refused.clientId, 'log-badpw');
      assert.equal(refused.reasonCode, 0x86);
      assert.match(refused.msg, /^connection refused: BadUserNameOrPassword/);
      assert.ok(!JSON.stringify(b.lines).includes('wrong-pw'), 'the password is never logged');
    } finally {
      await server?.close(); // before its password file goes
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('server shutdown and admin kick say so', async () => {
    const b = await start();
    const url = `mqtt://127.0.0.1:${b.port('mqtt')}`;
    const kicked = await connectClient(url, { clientId: 'log-kicked', reconnectPeriod: 0 });
    assert.equal(b.server.adminAnswer('kick', 'log-kicked').kicked, true);
    assert.equal((await disconnected(b.lines, 'log-kicked')).reason, 'kicked through the admin API');
    const last = await connectClient(url, { clientId: 'log-last', reconnectPeriod: 0 });
    await b.server.close();
    assert.equal((await disconnected(b.lines, 'log-last')).reason, 'server shutting down');
    kicked.end(true);
    last.end(true);
  });
});

describe('TLS handshake failures (warn, with the cause, once a minute per address)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-tls-logs-'));
  let certs: DevCertificateFiles;
  let stranger: DevCertificateFiles;
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tlsFlags = (extra: Record<string, string> = {}): Record<string, string> => ({
    mqttListeners: 'mqtt+ssl://127.0.0.1:0',
    mqttTlsCertificateFilePath: certs.certFile,
    mqttTlsKeyFilePath: certs.keyFile,
    mqttTlsTrustCertsFilePath: certs.caFile,
    ...extra,
  });

  /** A TLS handshake from Node; resolves once the socket is gone either way. */
  function handshake(port: number, options: ConnectionOptions): Promise<void> {
    return new Promise((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ...options });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('secureConnect', () => setTimeout(() => s.end(), 100));
    });
  }

  /** openssl s_client: an OpenSSL client, which tells the server why it gives up. */
  function opensslHandshake(port: number, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-verify_return_error', '-quiet', ...args], { stdio: ['pipe', 'ignore', 'ignore'] });
      const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.once('error', reject);
      p.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      setTimeout(() => p.stdin.end(), 500);
    });
  }

  const tlsWarnings = (lines: LogLine[]): LogLine[] => lines.filter((l) => l.level === 40 && l.msg.startsWith('TLS handshake failed'));

  it('unknown CA (an OpenSSL client, and MQTT.js hanging up), rate-limited per address', async () => {
    certs = await generateDevCertificates(join(dir, 'certs'), { hosts: ['localhost'] });
    stranger = await generateDevCertificates(join(dir, 'stranger'), { hosts: ['localhost'] });
    const b = await start(tlsFlags());
    await opensslHandshake(b.port('mqtt+ssl'), ['-CAfile', stranger.caFile]);
    await waitUntil(() => tlsWarnings(b.lines).length === 1, 'the warning');
    const [w] = tlsWarnings(b.lines);
    assert.equal(w.code, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    assert.equal(w.remote, '127.0.0.1');
    assert.match(w.msg, /does not trust the CA that signed the server certificate \(unknown CA\)/);
    // The same address again, three times and another way: no more lines this minute.
    for (let i = 0; i < 3; i++) await handshake(b.port('mqtt+ssl'), { servername: 'localhost' });
    await waitUntil(() => b.lines.filter((l) => l.level === 20 && /TLS handshake failed/.test(l.msg)).length === 3, `the held-back failures at debug: ${JSON.stringify(b.lines.slice(-8))}`);
    assert.equal(tlsWarnings(b.lines).length, 1);
    const held = b.lines.filter((l) => l.level === 20 && /TLS handshake failed/.test(l.msg));
    assert.match(held[0].msg, /closed the connection during the handshake.*unknown CA.*name mismatch/);
  });

  it('name mismatch (OpenSSL says bad certificate)', async () => {
    const b = await start(tlsFlags());
    await opensslHandshake(b.port('mqtt+ssl'), ['-CAfile', certs.caFile, '-verify_hostname', 'wrong.example']);
    await waitUntil(() => tlsWarnings(b.lines).length === 1, 'the warning');
    const [w] = tlsWarnings(b.lines);
    assert.equal(w.code, 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE');
    assert.match(w.msg, /name mismatch/);
  });

  it('missing client certificate, and one from an unknown CA, on a listener that requires one', async () => {
    const b = await start(tlsFlags({ mqttTlsRequireTrustedClientCertOnConnect: 'true' }));
    await handshake(b.port('mqtt+ssl'), { servername: 'localhost', ca: readFileSync(certs.caFile) });
    await waitUntil(() => tlsWarnings(b.lines).length === 1, 'the warning');
    assert.equal(tlsWarnings(b.lines)[0].code, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
    assert.match(tlsWarnings(b.lines)[0].msg, /sent no certificate, and this listener requires one/);

    const other = await start(tlsFlags({ mqttTlsRequireTrustedClientCertOnConnect: 'true' }));
    await handshake(other.port('mqtt+ssl'), {
      servername: 'localhost',
      ca: readFileSync(certs.caFile),
      cert: readFileSync(stranger.clientCertFile),
      key: readFileSync(stranger.clientKeyFile),
    });
    await waitUntil(() => tlsWarnings(other.lines).length === 1, 'the warning');
    const [w] = tlsWarnings(other.lines);
    assert.match(w.msg, /the client certificate was refused \(.+\): it must be signed by a CA in mqttTlsTrustCertsFilePath/);
    assert.equal(typeof w.certificateError, 'string');
  });
});
