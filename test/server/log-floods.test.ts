// Lines a client can provoke at will are written once a minute per address, not once per attempt:
// an audit got 5,000 warn lines from 5,000 sockets over maxConnections, and a line per request from
// clients speaking the wrong protocol to a port. Real broker, real sockets; the log captured as JSON.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { waitUntil } from '../helpers/wait.js';
import { captureLog, type LogLine } from '../transport/helpers.js';
import { certificateFixture } from '../transport/helpers.js';

/** Opens a socket from `localAddress`, writes `bytes`, and resolves once the broker closed it. */
function poke(port: number, localAddress: string, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = tcpConnect({ host: '127.0.0.1', port, localAddress }, () => s.write(bytes));
    s.on('error', () => {});
    s.on('data', () => {});
    const timer = setTimeout(() => s.destroy(), 5000);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const CONNECT_311 = Buffer.from([0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x61, 0x62, 0x63]);

describe('log lines a client provokes at will: once a minute per address', () => {
  let certs: Awaited<ReturnType<typeof certificateFixture>>;
  let t: TestServer;
  let lines: LogLine[];
  let holder: MqttClient;
  before(async () => {
    certs = await certificateFixture();
    const captured = captureLog();
    lines = captured.lines;
    t = await startTestServer(
      {
        mqttListeners: 'mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws://127.0.0.1:0',
        mqttTlsCertificateFilePath: certs.a.certFile,
        mqttTlsKeyFilePath: certs.a.keyFile,
        sysIntervalSec: '0',
      },
      {},
      captured.log,
    );
  });
  after(async () => {
    if (holder) await endClient(holder, true);
    await t.close();
    certs.cleanup();
  });

  const count = (msg: RegExp, remote: string): number => lines.filter((l) => msg.test(String(l.msg)) && (l as { remote?: string }).remote === remote && l.level === 40).length;

  it('HTTP on the MQTT port and MQTT on the WebSocket port: one advice line each per address, however many tries', async () => {
    for (let i = 0; i < 30; i++) await poke(t.port('mqtt'), '127.0.3.1', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 30; i++) await poke(t.port('ws'), '127.0.3.2', CONNECT_311);
    for (let i = 0; i < 30; i++) await poke(t.port('mqtt+ssl'), '127.0.3.3', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil(() => lines.some((l) => (l as { remote?: string }).remote === '127.0.3.3'), 'the TLS port to log', 5000);
    assert.equal(count(/./, '127.0.3.1'), 1, 'HTTP on the MQTT port: one warn line for 30 tries');
    assert.equal(count(/./, '127.0.3.2'), 1, 'MQTT on the WebSocket port: one warn line for 30 tries');
    assert.equal(count(/./, '127.0.3.3'), 1, 'HTTP on the TLS port: one warn line for 30 tries');
  });

  it('sockets over maxConnections: one warn line per address, the refusals all counted', async () => {
    // A fresh broker at its limit: one client holds the only place.
    const captured = captureLog();
    const full = await startTestServer(
      { mqttListeners: 'mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0', mqttTlsCertificateFilePath: certs.a.certFile, mqttTlsKeyFilePath: certs.a.keyFile, maxConnections: '1', sysIntervalSec: '0' },
      {},
      captured.log,
    );
    try {
      holder = await connectClient(full.url(), { clientId: 'holder' });
      const before = full.server.broker.stats.limits.maxConnections;
      for (let i = 0; i < 40; i++) await poke(full.port('mqtt'), '127.0.3.4', CONNECT_311);
      for (let i = 0; i < 40; i++) await poke(full.port('mqtt+ssl'), '127.0.3.5', 'x');
      await waitUntil(() => full.server.broker.stats.limits.maxConnections >= before + 80, 'every refusal to be counted', 10_000);
      const warned = (remote: string): number => captured.lines.filter((l) => /connection limit reached/.test(String(l.msg)) && (l as { remote?: string }).remote === remote && l.level === 40).length;
      assert.equal(warned('127.0.3.4'), 1, 'refused MQTT connections: one warn line for 40');
      assert.equal(warned('127.0.3.5'), 1, 'refused at accept (TLS): one warn line for 40');
    } finally {
      await endClient(holder, true);
      await full.close();
    }
  });
});
