// The quickstart, followed as written: its listener and TLS lines pasted into a config file,
// MQTT.js (3.1.1 and 5) over all four transports with QoS 0/1/2 and retain, mutual TLS as in its
// Node.js example, TLS-PSK, and its HTML page in headless Chromium.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { generateDevCertificates, type DevCertificateFiles } from '../../src/transport/dev-certs.js';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { silentLog } from '../helpers/channel.js';

const CHROMIUM = '/usr/bin/chromium';

describe('the quickstart, as written', () => {
  let dir: string;
  let certs: DevCertificateFiles;
  let stranger: DevCertificateFiles;
  let server: RunningServer;
  /** Serves the quickstart's HTML page from an origin of its own, as a user's web server would. */
  let pageServer: Server;
  let pageHtml = '';
  const port = (scheme: string) => server.listeners.find((l) => l.scheme === scheme)!.port;

  before(async () => {
    pageServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(pageHtml);
    });
    await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', () => r()));
    dir = mkdtempSync(join(tmpdir(), 'starling-quickstart-'));
    certs = await generateDevCertificates(join(dir, 'certs'), { hosts: ['localhost', '127.0.0.1'] });
    stranger = await generateDevCertificates(join(dir, 'stranger'), { hosts: ['localhost'] });
    // The quickstart's lines, with OS-chosen ports so suites can run side by side, plus mutual TLS.
    const file = join(dir, 'starling.conf');
    writeFileSync(
      file,
      [
        '# pasted from "Using MQTT over WebSocket"',
        'mqttListeners=mqtt://127.0.0.1:0,mqtt+ssl://127.0.0.1:0,ws://127.0.0.1:0,ws+ssl://127.0.0.1:0,mqtt+ssl+psk://127.0.0.1:0',
        `mqttTlsCertificateFilePath=${certs.certFile}  `,
        `mqttTlsKeyFilePath=${certs.keyFile}`,
        `mqttTlsTrustCertsFilePath=${certs.caFile}`,
        'mqttTlsRequireTrustedClientCertOnConnect=true',
        'mqttTlsPskIdentity=device1:s3cret;device2:other',
        'persistence=memory',
        '',
      ].join('\n'),
    );
    server = await startServer(loadConfig({ file, env: {} }), silentLog);
  });
  after(async () => {
    await server?.close();
    await new Promise<void>((r) => (pageServer ? pageServer.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const tls = (): IClientOptions => ({
    key: readFileSync(certs.clientKeyFile),
    cert: readFileSync(certs.clientCertFile),
    ca: readFileSync(certs.caFile),
    rejectUnauthorized: true,
  });
  const urls = () => ({
    mqtt: `mqtt://127.0.0.1:${port('mqtt')}`,
    'mqtt+ssl': `mqtts://127.0.0.1:${port('mqtt+ssl')}`,
    ws: `ws://127.0.0.1:${port('ws')}/mqtt`,
    'ws+ssl': `wss://127.0.0.1:${port('ws+ssl')}/mqtt`,
  });

  for (const scheme of ['mqtt', 'mqtt+ssl', 'ws', 'ws+ssl'] as const) {
    for (const protocolVersion of [4, 5] as const) {
      it(`MQTT.js ${protocolVersion === 5 ? '5.0' : '3.1.1'} over ${scheme}: subscribe, publish QoS 0/1/2 with retain, receive`, async () => {
        const url = urls()[scheme];
        const secure = scheme.endsWith('+ssl');
        const base: IClientOptions = { protocolVersion, keepalive: 60, clean: true, connectTimeout: 30_000, ...(secure ? tls() : {}) };
        const tag = `${scheme.replace('+', '-')}-${protocolVersion}`;
        const sub = await connectClient(url, { ...base, clientId: `qs-sub-${tag}` });
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(`testtopic/${tag}/#`, { qos: 2 });
        const pub = await connectClient(url, {
          ...base,
          clientId: `qs-pub-${tag}`,
          will: { topic: 'willMsg', payload: Buffer.from('Connection closed abnormally..!'), qos: 0, retain: false },
        });
        for (const qos of [0, 1, 2] as const) await pub.publishAsync(`testtopic/${tag}/${qos}`, `ws connection demo ${qos}`, { qos, retain: true });
        const got = await inbox.waitFor(3);
        assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.qos]).sort(), [
          ['ws connection demo 0', 0],
          ['ws connection demo 1', 1],
          ['ws connection demo 2', 2],
        ]);
        // Retained: a later subscriber on the same listener gets all three with the flag set.
        const late = await connectClient(url, { ...base, clientId: `qs-late-${tag}` });
        const lateInbox = new Inbox(late);
        await late.subscribeAsync(`testtopic/${tag}/#`, { qos: 2 });
        const retained = await lateInbox.waitFor(3);
        assert.ok(retained.every((m) => m.packet.retain));
        await Promise.all([endClient(sub), endClient(pub), endClient(late)]);
      });
    }
  }

  it('mutual TLS refuses a client without a certificate and one with an untrusted certificate', async () => {
    for (const url of [urls()['mqtt+ssl'], urls()['ws+ssl']]) {
      await assert.rejects(connectClient(url, { ca: readFileSync(certs.caFile), rejectUnauthorized: true, clientId: 'no-cert' }, 3000));
      await assert.rejects(
        connectClient(
          url,
          { key: readFileSync(stranger.clientKeyFile), cert: readFileSync(stranger.clientCertFile), ca: readFileSync(certs.caFile), rejectUnauthorized: true, clientId: 'stranger' },
          3000,
        ),
      );
    }
  });

  it('connects over TLS-PSK with a known identity', async () => {
    const c = await connectClient(`mqtts://127.0.0.1:${port('mqtt+ssl+psk')}`, {
      clientId: 'psk-client',
      ciphers: 'PSK',
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ identity: 'device1', psk: Buffer.from('s3cret') }),
    } as IClientOptions);
    const inbox = new Inbox(c);
    await c.subscribeAsync('psk/#', { qos: 1 });
    await c.publishAsync('psk/x', 'over psk', { qos: 1 });
    const [m] = await inbox.waitFor(1);
    assert.equal(m.payload.toString(), 'over psk');
    await endClient(c);
  });

  describe("the quickstart's HTML page in Chromium", () => {
    let browser: Browser;
    before(async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium"`);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    });
    after(async () => {
      await browser?.close();
    });

    it('connects to ws://127.0.0.1:PORT/mqtt from the page and receives a message published from Node', async () => {
      const wsPort = port('ws');
      // The page from the quickstart, served by this test; MQTT.js comes from the broker itself.
      pageHtml = `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>weboscoket MQTT</title>
<script src="http://127.0.0.1:${wsPort}/mqtt.min.js"></script></head>
<body>Use websocket client to connect to MQTT server<pre id="log"></pre></body>
<script>
  const clientId = 'mqttjs_' + Math.random().toString(16).substr(2, 8)
  const host = 'ws://127.0.0.1:${wsPort}/mqtt'
  const options = {
    keepalive: 60, clientId: clientId, protocolId: 'MQTT', protocolVersion: 4, clean: true,
    reconnectPeriod: 1000, connectTimeout: 30 * 1000,
    will: { topic: 'willMsg', payload: 'Connection closed abnormally..!', qos: 0, retain: false },
  }
  const log = (t) => { document.getElementById('log').textContent += t + '\\n' }
  const client = mqtt.connect(host, options)
  client.on('error', (err) => { log('error ' + err); client.end() })
  client.on('connect', () => {
    client.subscribe('testtopic', { qos: 0 }, () => log('subscribed'))
  })
  client.on('message', (topic, message) => log('Received Message: ' + message.toString() + ' On topic: ' + topic))
</script></html>`;
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`);
      const logHas = (text: string) => `document.getElementById('log').textContent.includes(${JSON.stringify(text)})`;
      await page.waitForFunction(logHas('subscribed'), undefined, { timeout: 10_000 });
      const node = await connectClient(urls().mqtt, { clientId: 'qs-node' });
      await node.publishAsync('testtopic', 'ws connection demo...!', { qos: 0, retain: false });
      await page.waitForFunction(logHas('Received Message: ws connection demo...! On topic: testtopic'), undefined, { timeout: 10_000 });
      await endClient(node);
      await page.close();
    });
  });
});
