// webSocketAllowedOrigins in a real browser: a page from an allowed origin connects, a page from
// any other site cannot ride the user's browser into the broker. The other site is a real name to
// Chromium (evil.test, mapped to 127.0.0.1 by --host-resolver-rules): pages served from this
// machine under a loopback name are admitted by default, a remote site's are not.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';

function servePage(html: string): Promise<Server> {
  const s = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

describe('WebSocket origin check in Chromium', () => {
  let browser: Browser;
  let t: TestServer;
  let allowed: Server;
  let other: Server;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium"`);
    // Two page servers: the first one's origin is allowed, the second one's is not.
    const page = (wsUrl: string) => `<!doctype html><html><body><pre id="log"></pre>
<script src="${wsUrl.replace('ws://', 'http://').replace('/mqtt', '')}/mqtt.min.js"></script>
<script>
  const log = (t) => { document.getElementById('log').textContent += t + '\\n' }
  const client = mqtt.connect('${wsUrl}', { reconnectPeriod: 0, connectTimeout: 5000 })
  client.on('connect', () => log('connected'))
  client.on('error', (e) => log('error ' + e.message))
  client.on('close', () => log('closed'))
</script></body></html>`;
    allowed = await servePage('placeholder');
    other = await servePage('placeholder');
    const allowedOrigin = `http://127.0.0.1:${(allowed.address() as AddressInfo).port}`;
    t = await startTestServer({ webSocketAllowedOrigins: allowedOrigin });
    const html = page(t.url('ws'));
    for (const s of [allowed, other]) {
      s.removeAllListeners('request');
      s.on('request', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(html);
      });
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--host-resolver-rules=MAP evil.test 127.0.0.1',
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    for (const s of [allowed, other]) await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  });

  /** The page's log, and what Chromium said on its console (handshake failures are reported there). */
  async function outcome(server: Server, host = '127.0.0.1'): Promise<string> {
    const page = await browser.newPage();
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    try {
      await page.goto(`http://${host}:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction("/connected|closed|error/.test(document.getElementById('log').textContent)", undefined, { timeout: 10_000 });
      return `${await page.locator('#log').innerText()}\n${consoleLines.join('\n')}`;
    } finally {
      await page.close();
    }
  }

  it('lets a page from the allowed origin connect', async () => {
    assert.match(await outcome(allowed), /connected/);
  });

  /** The HTTP status the broker answers a WebSocket upgrade carrying this Origin with. */
  function upgradeStatus(origin: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(t.url('ws'), 'mqtt', { origin });
      const timer = setTimeout(() => reject(new Error('no answer to the upgrade within 5 s')), 5000);
      ws.once('open', () => {
        clearTimeout(timer);
        ws.terminate();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        ws.terminate();
        resolve(res.statusCode ?? 0);
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  it('refuses a page from another site (HTTP 403 on the upgrade)', async () => {
    const log = await outcome(other, 'evil.test');
    assert.doesNotMatch(log, /connected/);
    assert.match(log, /closed|error/);
    // Chromium reports the refused handshake on the page's console with the status it got.
    assert.match(log, /403/, 'the browser saw HTTP 403');
    // The same upgrade with that page's Origin, from Node: the broker's answer is 403 itself,
    // and the allowed page's origin gets the upgrade (101).
    assert.equal(await upgradeStatus(`http://evil.test:${(other.address() as AddressInfo).port}`), 403);
    assert.equal(await upgradeStatus(`http://127.0.0.1:${(allowed.address() as AddressInfo).port}`), 101);
  });
});
