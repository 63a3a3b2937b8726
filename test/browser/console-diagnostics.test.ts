// When the console's own connection fails, it says why in words and offers a URL from the
// broker's listener list: a missing /mqtt path, ws:// on the TLS port, a certificate the browser
// does not trust, an origin the broker refuses, nothing listening. Real Chromium, a real broker
// with two ws:// listeners and a ws+ssl:// one (development certificate, not trusted here).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';

/** A port nothing listens on (bound by the OS, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('console connection diagnostics in Chromium', { timeout: 120_000 }, () => {
  let browser: Browser;
  let page: Page;
  let t: TestServer;
  let dir: string;
  let plain: number;
  let other: number;
  let tls: number;
  const errors: string[] = [];

  before(async () => {
    preconditions();
    dir = mkdtempSync(join(tmpdir(), 'starling-console-diag-'));
    t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0,ws://127.0.0.1:0,ws+ssl://127.0.0.1:0', dataDir: dir });
    const ws = t.server.listeners.filter((l) => l.scheme === 'ws');
    plain = ws[0].port;
    other = ws[1].port;
    tls = t.port('ws+ssl');
    // console.test and unlisted.test are this machine under other names: a page from console.test
    // is a site the broker does not know; nothing listens on unlisted.test's port 1.
    browser = await launchChromium(['--host-resolver-rules=MAP console.test 127.0.0.1, MAP unlisted.test 127.0.0.1']);
    page = await watchedPage(browser, errors);
    page.setDefaultTimeout(20_000);
    await page.goto(`http://127.0.0.1:${plain}/`);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function tryUrl(url: string, on: Page = page): Promise<string> {
    await on.getByLabel('Broker URL').fill(url);
    await on.getByRole('button', { name: /^(Connect|Reconnect)$/ }).click();
    const box = on.locator('.diagnosis', { hasText: `Could not connect to ${url}` });
    await box.waitFor();
    assert.match(await on.getByRole('status').innerText(), /could not connect/);
    return box.innerText();
  }

  it('says the path is missing and offers the listener’s URL', async () => {
    const text = await tryUrl(`ws://127.0.0.1:${plain}/`);
    assert.match(text, /takes MQTT on \/mqtt on this port; the URL has no path/);
    assert.match(text, new RegExp(`Try ws://127\\.0\\.0\\.1:${plain}/mqtt`));
    await page.getByRole('button', { name: 'Use this URL' }).click();
    assert.equal(await page.getByLabel('Broker URL').inputValue(), `ws://127.0.0.1:${plain}/mqtt`);
  });

  it('says ws:// was used on the TLS port', async () => {
    const text = await tryUrl(`ws://127.0.0.1:${tls}/mqtt`);
    assert.match(text, new RegExp(`Port ${tls} speaks TLS: connect with wss://`));
    assert.match(text, new RegExp(`Try wss://127\\.0\\.0\\.1:${tls}/mqtt`));
  });

  it('on the TLS listener from this page, names the certificate and where to open the console', async () => {
    const text = await tryUrl(`wss://127.0.0.1:${tls}/mqtt`);
    assert.match(text, new RegExp(`Open the console at https://127\\.0\\.0\\.1:${tls}/`));
    assert.match(text, /if this browser does not trust its certificate \(a development or private one\), opening https:\/\/127\.0\.0\.1:\d+\/ lets you accept it/);
  });

  it('says the broker refuses the origin of a page from another site', async () => {
    // A page from this machine is admitted by every listener; one from another site is not.
    const remote = await watchedPage(browser, errors);
    remote.setDefaultTimeout(20_000);
    await remote.goto(`http://console.test:${plain}/`);
    const text = await tryUrl(`ws://127.0.0.1:${other}/mqtt`, remote);
    assert.match(text, /takes WebSocket connections only from its own pages, pages served on its machine and the origins in webSocketAllowedOrigins/);
    assert.match(text, new RegExp(`this page comes from http://console\\.test:${plain}`));
    assert.match(text, new RegExp(`add http://console\\.test:${plain} to webSocketAllowedOrigins`));
    await remote.context().close();
  });

  it('says nothing of the broker is listening on that port', async () => {
    const port = await closedPort();
    const text = await tryUrl(`ws://127.0.0.1:${port}/mqtt`);
    assert.match(text, new RegExp(`Nothing of this broker is listening on port ${port}; its WebSocket listeners are ws://127\\.0\\.0\\.1:${plain}/mqtt`));
    assert.match(text, new RegExp(`Try ws://127\\.0\\.0\\.1:${plain}/mqtt`));
  });

  it('hides the diagnosis once a connection succeeds', async () => {
    await page.getByLabel('Broker URL').fill(`ws://127.0.0.1:${plain}/mqtt`);
    await page.getByRole('button', { name: /^(Connect|Reconnect)$/ }).click();
    await page.getByRole('status').filter({ hasText: 'Connected to' }).waitFor();
    assert.equal(await page.locator('.diagnosis').isVisible(), false);
  });

  it('says what it can about a host the broker does not list', async () => {
    const text = await tryUrl('ws://unlisted.test:1/mqtt');
    assert.match(text, /Nothing answered at unlisted\.test:1, and a browser does not say why/);
    assert.match(text, /this broker uses \/mqtt/);
  });

  it('raised no script errors and no CSP violations beyond the failed connections themselves', () => {
    // Chromium logs each failed WebSocket as a console error; nothing else may appear.
    const unexpected = errors.filter((e) => !/WebSocket connection to .* failed/.test(e));
    assert.deepEqual(unexpected, []);
  });
});
