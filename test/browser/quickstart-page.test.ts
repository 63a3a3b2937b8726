// The quickstart's HTML page ("Connect to MQTT over WebSocket in Browser"), as printed, with its
// subscribe and publish snippets, in headless Chromium against the DEFAULT origin policy: opened
// from a file (Origin: null) and served by a local dev server on another port, it connects,
// subscribes, publishes and receives. The same page from another site (evil.test, mapped to
// 127.0.0.1 by --host-resolver-rules) is refused, and the broker says once what line admits it.
// Only two things differ from the printed page: MQTT.js is loaded from beside the page (this
// machine has no internet to reach the CDN) and the host is this broker's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { waitUntil } from '../helpers/wait.js';
import { captureLog, type LogLine } from '../transport/helpers.js';
import { CHROMIUM, launchChromium } from './chromium.js';

/** The page from the quickstart, its two code blocks joined, followed by its subscribe and publish snippets. */
const QUICKSTART_PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>weboscoket MQTT</title>
  <script src="<https://unpkg.com/mqtt/dist/mqtt.min.js>"></script>
</head>
<body>
  Use websocket client to connect to MQTT server
</body>
<script>
  const clientId = 'mqttjs_' + Math.random().toString(16).substr(2, 8)
  const host = 'ws://broker.streamnative.io:8083/mqtt'
  const options = {
    keepalive: 60,
    clientId: clientId,
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 30 * 1000,
    will: {
      topic: 'willMsg',
      payload: 'Connection closed abnormally..!',
      qos: 0,
    retain: false
  },
}
console.log('Connecting mqtt client')
const client = mqtt.connect(host, options)
client.on('error', (err) => {
  console.log('Connection error: ', err)
  client.end()
})
client.on('reconnect', () => {
  console.log('Reconnecting...')
})

client.on('connect', () => {
  console.log(\`Client connected: \${clientId}\`)
  // Subscribe
  client.subscribe('testtopic', { qos: 0 })
})

// Publish
client.publish('testtopic', 'ws connection demo...!', { qos: 0, retain: false })
// Receive
client.on('message', (topic, message, packet) => {
  console.log(\`Received Message: \${message.toString()} On topic: \${topic}\`)
})
</script>
`;

const MQTT_BUNDLE = join(dirname(createRequire(import.meta.url).resolve('mqtt/package.json')), 'dist', 'mqtt.min.js');

/** The page with MQTT.js from beside it and this broker as host; nothing else changed. */
const pageFor = (brokerUrl: string): string =>
  QUICKSTART_PAGE.replace('<https://unpkg.com/mqtt/dist/mqtt.min.js>', 'mqtt.min.js').replace('ws://broker.streamnative.io:8083/mqtt', brokerUrl);

describe("the quickstart's HTML page in Chromium, default configuration", () => {
  let dir: string;
  let server: RunningServer;
  let lines: LogLine[];
  let devServer: Server;
  let browser: Browser;
  let wsUrl: string;
  let mqttUrl: string;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium"`);
    dir = mkdtempSync(join(tmpdir(), 'starling-qs-page-'));
    const cap = captureLog();
    lines = cap.lines;
    // Nothing about origins configured: the defaults are what is under test.
    server = await startServer(loadConfig({ env: {}, flags: { mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0', persistence: 'memory', sysIntervalSec: '0' } }), cap.log);
    const port = (scheme: string): number => server.listeners.find((l) => l.scheme === scheme)!.port;
    wsUrl = `ws://127.0.0.1:${port('ws')}/mqtt`;
    mqttUrl = `mqtt://127.0.0.1:${port('mqtt')}`;
    writeFileSync(join(dir, 'index.html'), pageFor(wsUrl));
    copyFileSync(MQTT_BUNDLE, join(dir, 'mqtt.min.js'));
    // A developer's local web server (npx serve, vite, Live Server) on a port of its own.
    devServer = createServer((req, res) => {
      const file = req.url === '/mqtt.min.js' ? 'mqtt.min.js' : 'index.html';
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
      res.end(readFileSync(join(dir, file)));
    });
    await new Promise<void>((r) => devServer.listen(0, '127.0.0.1', () => r()));
    browser = await launchChromium(['--headless', '--host-resolver-rules=MAP evil.test 127.0.0.1']);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await new Promise<void>((r) => (devServer ? devServer.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the page and returns its console lines as they come. */
  async function open(url: string): Promise<{ page: Page; console: string[] }> {
    const page = await browser.newPage();
    const lines: string[] = [];
    page.on('console', (m) => lines.push(m.text()));
    await page.goto(url);
    return { page, console: lines };
  }

  /** The page connects, its publish arrives, its subscription receives what Node publishes. */
  async function roundTrip(url: string): Promise<void> {
    const watcher = await connectClient(mqttUrl, { clientId: `qs-watch-${Math.random().toString(16).slice(2, 8)}` });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('testtopic', { qos: 0 });
    const { page, console } = await open(url);
    try {
      await waitUntil(() => console.some((l) => l.startsWith('Client connected: mqttjs_')), `the page's "Client connected" (console: ${console.join(' | ')})`, 15_000);
      const clientId = console.find((l) => l.startsWith('Client connected: '))!.slice('Client connected: '.length);
      const [fromPage] = await inbox.waitFor(1);
      assert.equal(fromPage.payload.toString(), 'ws connection demo...!');
      await waitUntil(() => server.broker.sessions.get(clientId)?.subscriptions.has('testtopic') === true, "the page's subscription", 10_000);
      await watcher.publishAsync('testtopic', 'from node', { qos: 0 });
      await waitUntil(() => console.includes('Received Message: from node On topic: testtopic'), 'the message on the page', 10_000);
      assert.ok(!console.some((l) => l.startsWith('Connection error') || l === 'Reconnecting...'), console.join('\n'));
    } finally {
      await page.close();
      await endClient(watcher);
    }
  }

  it('opened from a file (Origin: null) on a loopback listener: connects, subscribes, publishes and receives', async () => {
    await roundTrip(pathToFileURL(join(dir, 'index.html')).href);
  });

  it('served from a local web server on another port (127.0.0.1 and localhost): connects, subscribes, publishes and receives', async () => {
    const port = (devServer.address() as AddressInfo).port;
    await roundTrip(`http://127.0.0.1:${port}/`);
    await roundTrip(`http://localhost:${port}/`);
  });

  it('served from another site: the upgrade is refused (403), logged once with the line that admits it', async () => {
    const port = (devServer.address() as AddressInfo).port;
    const known = new Set(server.broker.sessions.keys());
    const { page, console } = await open(`http://evil.test:${port}/`);
    try {
      // The page retries every second (reconnectPeriod 1000); several refusals, one log line.
      await waitUntil(() => console.filter((l) => l === 'Reconnecting...').length >= 3, 'three reconnect attempts', 20_000);
      assert.ok(console.some((l) => /403/.test(l)), `Chromium reports the 403: ${console.join(' | ')}`);
      assert.ok(!console.some((l) => l.startsWith('Client connected')));
      assert.deepEqual([...server.broker.sessions.keys()].filter((id) => !known.has(id)), [], 'no CONNECT reached the broker');
    } finally {
      await page.close();
    }
    const warned = lines.filter((l) => l.level === 40 && l.origin === `http://evil.test:${port}`);
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.equal(warned[0].configLine, `webSocketAllowedOrigins=http://evil.test:${port}`);
    assert.match(warned[0].msg, /^WebSocket upgrade refused \(HTTP 403\): browser origin http:\/\/evil\.test:\d+ is not allowed; to let pages from/);
  });
});
