// The console served on an IPv6 loopback listener, in headless Chromium: its default broker URL
// keeps the brackets of the address, and it connects (MQTT.js drops the brackets when it rebuilds a
// WebSocket URL; the console puts them back).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';

describe('web console on [::1], in Chromium', { timeout: 60_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    preconditions();
    t = await startTestServer({ mqttListeners: 'ws://[::1]:0' });
    browser = await launchChromium();
    page = await watchedPage(browser, pageErrors);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('defaults to ws://[::1]:PORT/mqtt and connects there', async () => {
    const port = t.port('ws');
    await page.goto(`http://[::1]:${port}/`);
    await page.getByRole('link', { name: 'Connect' }).click();
    const url = `ws://[::1]:${port}/mqtt`;
    assert.equal(await page.getByLabel('Broker URL').inputValue(), url);
    await page.getByLabel('Client ID').fill('console-v6');
    await page.getByRole('button', { name: /^(Connect|Reconnect)$/ }).click();
    await page.getByRole('status').filter({ hasText: `Connected to ${url} as console-v6` }).waitFor();
    assert.equal(t.server.broker.clients.get('console-v6') !== undefined, true, 'the broker has the console connected');
    assert.deepEqual(pageErrors, []);
  });
});
