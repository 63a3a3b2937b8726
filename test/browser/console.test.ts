// The console in headless Chromium, served from the listener port it talks MQTT to, driven as a
// person would: connect, save a connection, subscribe, read the log and the topic tree, publish,
// watch the dashboard and kick a client. The broker is a real Starling server (console-broker.ts)
// and the peer a Node MQTT.js client. Screenshots at desktop and phone width go to test-artifacts/
// (gitignored). console-mqtt5.test.ts covers will, session expiry, subscribe options, unsubscribe,
// publish properties and text/base64 payloads.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { repoRoot } from '../helpers/paths.js';
import { connectClient, endClient, Inbox } from '../helpers/mqttjs.js';
import { startConsoleBroker, type ConsoleBroker } from './console-broker.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';

// The callbacks given to page.evaluate/waitForFunction run in the page; this file compiles without
// the DOM library, so the few page globals they touch are declared loosely here.
declare const document: any;
declare const window: any;
declare const localStorage: any;

const ARTIFACTS = join(repoRoot, 'test-artifacts');
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const TOKEN = 'console-test-token-5f2a';

// Fails, never skips, when the browser or the built console is missing: the message says what to do.
it('has Chromium at /usr/bin/chromium and the console built in web/dist', () => preconditions());

describe('web console in Chromium', { timeout: 120_000 }, () => {
  let browser: Browser;
  let page: Page;
  let broker: ConsoleBroker;
  let node: MqttClient;
  let nodeInbox: Inbox;
  const pageErrors: string[] = [];

  before(async () => {
    preconditions();
    mkdirSync(ARTIFACTS, { recursive: true });
    // A path other than /mqtt shows the console follows the listener's configured webSocketPath.
    broker = await startConsoleBroker({ sysIntervalSec: 1, adminToken: TOKEN, webSocketPath: '/broker/mqtt' });
    browser = await launchChromium();
    page = await watchedPage(browser, pageErrors, { viewport: DESKTOP });
    node = await connectClient(broker.wsUrl, { clientId: 'node-peer', protocolVersion: broker.protocolVersion });
    nodeInbox = new Inbox(node);
    await node.subscribeAsync('from-console/#', { qos: 1 });
  });

  after(async () => {
    if (node) await endClient(node, true);
    await browser?.close();
    await broker?.close();
  });

  it('is served from the listener port, with MQTT.js bundled (no CDN)', async () => {
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const res = await page.goto(broker.httpUrl);
    assert.equal(res?.status(), 200);
    assert.equal(await page.title(), 'Connect · Starling console');
    const origin = new URL(broker.httpUrl).origin;
    assert.ok(requests.length > 0);
    assert.deepEqual(requests.filter((u) => !u.startsWith(origin)), [], 'every request stays on the listener');
    const mqttJs = await page.request.get(new URL('/mqtt.min.js', broker.httpUrl).href);
    assert.equal(mqttJs.status(), 200, 'the quickstart page can load MQTT.js from the broker');
  });

  it('defaults the URL to this listener and saves named connections in localStorage', async () => {
    await page.waitForFunction((url) => document.querySelector('input[name=url]')?.value === url, broker.wsUrl);
    assert.equal(await page.getByLabel('Broker URL').inputValue(), broker.wsUrl);
    assert.match(await page.getByLabel('Client ID').inputValue(), /^starling-console-[0-9a-f]{8}$/);
    await page.getByLabel('Connection name').fill('Local test');
    await page.getByLabel('Protocol').selectOption(String(broker.protocolVersion));
    await page.getByLabel('Keepalive (seconds)').fill('30');
    await page.getByRole('button', { name: 'Save connection' }).click();
    const stored = await page.evaluate(() => localStorage.getItem('starling.console.profiles.v1'));
    const saved = JSON.parse(stored ?? '[]');
    assert.equal(saved[0].name, 'Local test');
    assert.equal(saved[0].keepalive, 30);
    assert.equal(saved[0].password, '', 'no password kept unless asked');
    await page.reload();
    await page.getByRole('button', { name: 'Load connection Local test' }).click();
    assert.equal(await page.getByLabel('Connection name').inputValue(), 'Local test');
    assert.equal(await page.getByLabel('Keepalive (seconds)').inputValue(), '30');
  });

  it('connects over WebSocket', async () => {
    await page.getByLabel('Client ID').fill('console-e2e');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Connected to' }).waitFor();
    assert.equal(await page.getByRole('status').innerText(), `Connected to ${broker.wsUrl} as console-e2e`);
  });

  it('navigates by keyboard and moves focus to the page heading', async () => {
    await page.getByRole('link', { name: 'Subscribe' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/subscribe$/);
    // The hashchange handler moves focus; wait for it (bounded by the default timeout).
    await page.waitForFunction(() => document.activeElement?.id === 'subscribe-title');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Subscribe');
    assert.equal(await page.getByRole('link', { name: 'Subscribe' }).getAttribute('aria-current'), 'page');
  });

  it('subscribes with a QoS', async () => {
    await page.getByLabel('Topic filter').fill('e2e/#');
    await page.locator('#page-subscribe').getByLabel('QoS', { exact: true }).selectOption('1');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    const row = page.locator('tr', { hasText: 'e2e/#' });
    await row.waitFor();
    assert.match(await row.innerText(), /QoS 1/);
  });

  it('logs received messages with pretty JSON and filters them by topic', async () => {
    await node.publishAsync('e2e/json', JSON.stringify({ a: 1, b: [true] }), { qos: 1 });
    await node.publishAsync('e2e/text', 'hello there', { qos: 0 });
    await page.getByRole('link', { name: 'Messages' }).click();
    const log = page.getByRole('list', { name: 'Received messages, newest first' });
    await log.locator('li', { hasText: 'e2e/text' }).waitFor();
    const json = log.locator('li', { hasText: 'e2e/json' }).locator('pre');
    assert.equal(await json.innerText(), '{\n  "a": 1,\n  "b": [\n    true\n  ]\n}');
    await page.getByLabel('Show topics matching').fill('e2e/+/x');
    await page.getByLabel('Show topics matching').fill('e2e/json');
    await page.waitForFunction(() => document.querySelectorAll('ol.log > li').length === 1);
    assert.match(await log.innerText(), /e2e\/json/);
    await page.getByLabel('Show topics matching').fill('');
    await page.waitForFunction(() => document.querySelectorAll('ol.log > li').length === 2);
  });

  it('shows the topic in the explorer tree with its last value and count', async () => {
    for (const v of ['20', '21.5', '22.25']) await node.publishAsync('e2e/sensors/temp', v, { qos: 1 });
    await page.getByRole('link', { name: 'Topics' }).click();
    await page.locator('.tree-row[data-topic="e2e"] .tree-toggle').click();
    await page.locator('.tree-row[data-topic="e2e/sensors"] .tree-toggle').click();
    const row = page.locator('.tree-row[data-topic="e2e/sensors/temp"]');
    await page.waitForFunction(() => document.querySelector('.tree-row[data-topic="e2e/sensors/temp"] .tree-value')?.textContent === '22.25');
    assert.match(await row.innerText(), /3 msgs/);
  });

  it('publishes hex payloads with QoS and retain, and refuses invalid JSON', async () => {
    await page.getByRole('link', { name: 'Publish' }).click();
    await page.getByLabel('Topic', { exact: true }).fill('from-console/bin');
    await page.locator('#page-publish').getByLabel('QoS', { exact: true }).selectOption('1');
    await page.getByLabel('Payload format').selectOption('hex');
    await page.getByLabel('Payload', { exact: true }).fill('00 ff 10');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const [got] = await nodeInbox.waitFor(1);
    assert.equal(got.topic, 'from-console/bin');
    assert.deepEqual([...got.payload], [0x00, 0xff, 0x10]);
    assert.equal(got.packet.qos, 1);

    await page.getByLabel('Payload format').selectOption('json');
    await page.getByLabel('Payload', { exact: true }).fill('{"broken": ');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Cannot publish' }).waitFor();
    await page.getByLabel('Payload', { exact: true }).fill('{"ok": true}');
    await page.locator('#page-publish').getByLabel('Retain', { exact: true }).check();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: '(retained)' }).waitFor();
    const [, second] = await nodeInbox.waitFor(2);
    assert.equal(second.payload.toString(), '{"ok": true}');
    assert.equal(nodeInbox.messages.length, 2, 'the invalid JSON was not sent');
  });

  it('every form control has an accessible label', async () => {
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea')]
        .filter((el: any) => el.labels?.length === 0 && !el.getAttribute('aria-label'))
        .map((el: any) => el.outerHTML),
    );
    assert.deepEqual(unlabelled, []);
  });

  it('dashboard charts $SYS over the same WebSocket; the admin page lists listeners and clients and kicks one', async () => {
    const victim = await connectClient(broker.wsUrl, { clientId: 'node-victim', protocolVersion: broker.protocolVersion });
    const closed = new Promise<void>((resolve) => victim.once('close', () => resolve()));
    try {
      await page.getByRole('link', { name: 'Dashboard' }).click();
      // Two $SYS samples make a rate; the broker publishes $SYS every second (sysIntervalSec=1).
      await page.waitForFunction(() => Number(/(\d+) samples/.exec(document.querySelector('#page-dashboard .feed-note')?.textContent ?? '')?.[1] ?? 0) >= 3);
      const connected = page.locator('.stat', { hasText: 'Clients connected' }).locator('dd');
      await page.waitForFunction(() => {
        const dd = [...document.querySelectorAll('.stat')].find((s: any) => s.textContent?.includes('Clients connected'))?.querySelector('dd');
        return dd?.textContent === '2';
      });
      assert.equal(await connected.innerText(), '2', 'node-peer and node-victim; the console’s own connection is left out');
      // A burst from a Node client moves the dashboard's inbound rate (computed from $SYS samples).
      const burst = setInterval(() => {
        for (let i = 0; i < 100; i++) node.publish('burst/x', 'x');
      }, 100);
      try {
        await page.waitForFunction(
          () => {
            const dd = [...document.querySelectorAll('.stat')].find((s: any) => s.textContent?.includes('Messages in'))?.querySelector('dd');
            return parseFloat(dd?.textContent ?? '0') >= 100;
          },
          undefined,
          { timeout: 10_000 },
        );
      } finally {
        clearInterval(burst);
      }
      const chart = page.getByRole('img', { name: /^Messages per second:/ });
      assert.match(String(await chart.getAttribute('aria-label')), /in \d/);
      assert.match(await page.locator('.stat', { hasText: 'Broker' }).innerText(), /starling version/);

      await page.screenshot({ path: join(ARTIFACTS, 'console-dashboard-desktop.png'), fullPage: true });

      // The listener list is public (/console.json); the client table waits for the token.
      await page.getByRole('link', { name: 'Admin' }).click();
      const listeners = page.locator('table', { hasText: 'Listeners' });
      await listeners.locator('td', { hasText: broker.wsUrl }).waitFor();
      assert.match(await listeners.innerText(), /WebSocket/);
      assert.match(await page.locator('table.clients').innerText(), /Enter the admin token, or an admin user and password, to list clients/);
      assert.equal(await page.locator('tr[data-client-id]').count(), 0, 'no client information without the token');

      await page.getByLabel('Admin token').fill(TOKEN);
      await page.getByRole('button', { name: 'Load' }).click();
      await page.locator('tr[data-client-id="node-victim"]').waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'console-admin-desktop.png'), fullPage: true });
      // The console's own connection has no Kick button.
      assert.match(await page.locator('tr[data-client-id="console-e2e"]').innerText(), /this console/);
      assert.equal(await page.locator('tr[data-client-id="console-e2e"] button').count(), 0);

      const kick = page.getByRole('button', { name: 'Disconnect client node-victim' });
      await kick.click();
      await page.getByRole('button', { name: 'Confirm: disconnect client node-victim' }).click();
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('victim not disconnected in 5 s')), 5000))]);
      await page.getByRole('alert').filter({ hasText: 'Disconnected node-victim.' }).waitFor();
      await page.locator('tr[data-client-id="node-victim"]').waitFor({ state: 'detached' });
    } finally {
      await endClient(victim, true);
    }
  });

  it('works at phone width without sideways scrolling', async () => {
    await page.getByRole('link', { name: 'Messages' }).click();
    await page.screenshot({ path: join(ARTIFACTS, 'console-messages-desktop.png'), fullPage: true });
    await page.setViewportSize(PHONE);
    for (const name of ['connect', 'messages', 'topics', 'dashboard', 'admin', 'trace']) {
      await page.goto(`${broker.httpUrl}#/${name}`);
      await page.locator(`#page-${name}`).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${name} overflows the phone width by ${overflow}px`);
      await page.screenshot({ path: join(ARTIFACTS, `console-${name}-phone.png`), fullPage: true });
    }
    assert.ok(existsSync(join(ARTIFACTS, 'console-dashboard-phone.png')));
  });

  it('raised no script errors and no CSP violations', () => {
    assert.deepEqual(pageErrors, []);
  });
});
