// The console's admin page in headless Chromium: clients with search, paging and auto-refresh
// (and no Kick on the console's own connection), subscriptions per client and per filter,
// retained messages browsed by branch and deleted through the admin API, the listeners, and a
// clients table that fits a 1280–1400 px window and names listeners as clients dial them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { startConsoleBroker, type ConsoleBroker } from './console-broker.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';
import { openConnected } from './console-page.js';

const TOKEN = 'admin-page-token';
const FLEET = 60;

describe('console admin page in Chromium', { timeout: 180_000 }, () => {
  let browser: Browser;
  let page: Page;
  let broker: ConsoleBroker;
  const clients: MqttClient[] = [];
  const errors: string[] = [];

  before(async () => {
    preconditions();
    broker = await startConsoleBroker({ sysIntervalSec: 60, adminToken: TOKEN, webSocketPath: '/mqtt' });
    for (let i = 0; i < FLEET; i++) {
      const c = await connectClient(broker.wsUrl, { clientId: `meter-${i}`, protocolVersion: 5 });
      await c.subscribeAsync(i % 2 ? 'tariff/#' : `meters/${i}/cmd`, { qos: 1 });
      clients.push(c);
    }
    for (const room of ['kitchen', 'hall', 'attic']) await clients[0].publishAsync(`home/${room}/temp`, '20', { qos: 1, retain: true });
    await clients[0].publishAsync('other/flag', 'on', { qos: 1, retain: true });
    browser = await launchChromium();
    page = await watchedPage(browser, errors);
    page.setDefaultTimeout(30_000);
    await openConnected(page, broker.httpUrl, 'admin-console');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Load' }).click();
  });

  after(async () => {
    for (const c of clients) await endClient(c, true);
    await browser?.close();
    await broker?.close();
  });

  it('pages and searches clients, refreshes on its own, and offers no Kick on its own connection', async () => {
    const table = page.locator('table.clients');
    await table.locator('caption', { hasText: `Clients (${FLEET + 1})` }).waitFor();
    assert.equal(await table.locator('tbody tr').count(), 50);
    assert.equal(await page.getByRole('group', { name: 'clients pages' }).locator('span').innerText(), `1–50 of ${FLEET + 1}`);
    await page.getByRole('button', { name: 'Next page of clients' }).click();
    await page.getByRole('group', { name: 'clients pages' }).locator('span', { hasText: `51–${FLEET + 1} of ${FLEET + 1}` }).waitFor();

    await page.getByLabel('Search clients').fill('meter-4');
    await table.locator('caption', { hasText: 'Clients (11 matching)' }).waitFor();
    const row = await table.locator('tr[data-client-id="meter-42"]').innerText();
    assert.match(row, /ws:\/\/127\.0\.0\.1:\d+/, 'listener');
    assert.match(row, /5\.0 ws/, 'protocol and transport');

    await page.getByLabel('Search clients').fill('admin-console');
    await table.locator('tr[data-client-id="admin-console"]').waitFor();
    assert.match(await table.locator('tr[data-client-id="admin-console"]').innerText(), /this console/);
    assert.equal(await table.locator('tr[data-client-id="admin-console"] button').count(), 0);

    // A client that arrives later shows up without a click (refresh every 5 s while shown).
    await page.getByLabel('Search clients').fill('latecomer');
    const late = await connectClient(broker.wsUrl, { clientId: 'latecomer', protocolVersion: 4, username: 'late-user' });
    clients.push(late);
    await table.locator('tr[data-client-id="latecomer"]').waitFor();
    assert.match(await table.locator('tr[data-client-id="latecomer"]').innerText(), /late-user/);
    assert.match(await table.locator('tr[data-client-id="latecomer"]').innerText(), /3\.1\.1/);
  });

  it('lists subscriptions per client and per filter', async () => {
    const table = page.locator('table.subscriptions');
    await page.getByLabel('Subscriptions of client').fill('meter-7');
    await page.getByLabel('Subscriptions of client').press('Enter');
    await table.locator('caption', { hasText: 'Subscriptions (1)' }).waitFor();
    assert.match(await table.locator('tbody').innerText(), /meter-7\s+tariff\/#\s+1\s+—\s+online/);

    await page.getByLabel('Subscriptions of client').fill('');
    await page.getByLabel('Subscriptions of client').press('Enter');
    await page.getByLabel('Group subscriptions').selectOption('filter');
    await table.locator('tr[data-filter="tariff/#"]').waitFor();
    assert.match(await table.locator('tr[data-filter="tariff/#"]').innerText(), /tariff\/#\s+30\s+meter-1, meter-3, meter-5/);
    assert.match(await table.locator('tr[data-filter="tariff/#"]').innerText(), /and 22 more/);
  });

  it('browses retained messages by branch and deletes one', async () => {
    const table = page.locator('table.retained');
    await page.getByLabel('Retained under').fill('home/#');
    await page.getByLabel('Retained under').press('Enter');
    await table.locator('caption', { hasText: 'Retained messages (3 under home/#)' }).waitFor();
    const topics = await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { topic: string } }).dataset.topic));
    assert.deepEqual(topics, ['home/attic/temp', 'home/hall/temp', 'home/kitchen/temp']);
    await page.getByRole('button', { name: 'Delete retained message home/hall/temp' }).click();
    await page.getByRole('button', { name: 'Confirm: delete retained message home/hall/temp' }).click();
    await page.getByRole('alert').filter({ hasText: 'Deleted the retained message on home/hall/temp.' }).waitFor();
    await table.locator('caption', { hasText: 'Retained messages (2 under home/#)' }).waitFor();
    const res = await fetch(`${broker.httpUrl}api/v1/retained?topic=home%2Fhall%2Ftemp`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 404, 'gone from the broker');
  });

  it('lists the listeners', async () => {
    const listeners = page.locator('#listeners-title + .table-wrap table');
    await listeners.locator('td', { hasText: broker.wsUrl }).waitFor();
    assert.match(await listeners.innerText(), /WebSocket/);
  });

  it('fits the clients table in a 1280–1400 px window, the listener shown as clients dial it', async () => {
    // Ids as long as the console's own default (starling-console-xxxxxxxx) and longer, with a user
    // name: at 1400 px the table used to be 1175 px in its 1126 px box, the Kick button cut to "K".
    for (const id of ['starling-console-e24ca78e', 'warehouse-gateway-north-07']) {
      clients.push(await connectClient(broker.wsUrl, { clientId: id, protocolVersion: 5, username: 'fleet-operator' }));
    }
    const table = page.locator('table.clients');
    await page.getByLabel('Search clients').fill('fleet-operator');
    await table.locator('caption', { hasText: 'Clients (2 matching)' }).waitFor();
    for (const width of [1400, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      const fit = await table.evaluate((t) => {
        const box = (t as unknown as { parentElement: { scrollWidth: number; clientWidth: number; getBoundingClientRect(): { right: number } } }).parentElement;
        const buttons = [...(t as unknown as { querySelectorAll(s: string): Iterable<{ textContent: string; getBoundingClientRect(): { right: number } }> }).querySelectorAll('tbody button')];
        return { scrollWidth: box.scrollWidth, clientWidth: box.clientWidth, right: box.getBoundingClientRect().right, buttons: buttons.map((b) => ({ text: b.textContent, right: b.getBoundingClientRect().right })) };
      });
      assert.ok(fit.scrollWidth <= fit.clientWidth, `at ${width} px the table is ${fit.scrollWidth} px in a ${fit.clientWidth} px box`);
      assert.equal(fit.buttons.length, 2);
      for (const b of fit.buttons) {
        assert.equal(b.text, 'Kick');
        assert.ok(b.right <= fit.right, `at ${width} px the Kick button ends at ${b.right}, its box at ${fit.right}`);
      }
    }
    // The URL a client dials, the one the Listeners table lists, path included.
    const listenerCell = table.locator('tr[data-client-id="warehouse-gateway-north-07"] td').nth(2);
    assert.equal(await listenerCell.innerText(), broker.wsUrl);
    const listed = await page.locator('#listeners-title + .table-wrap table tbody td.mono').allInnerTexts();
    assert.ok(listed.includes(broker.wsUrl), `listeners: ${listed.join(', ')}`);
    // The broker's search finds clients by the URL as shown: every client here dialled that one
    // listener, and no client id or user name holds its port, so the search matches them all. (The
    // row itself may be on the second page; waiting for it raced the debounced search: the rows of
    // the previous search were still shown.)
    await page.getByLabel('Search clients').fill('');
    const all = table.locator('caption', { hasText: /^Clients \(\d+\)$/ });
    await all.waitFor();
    const total = Number(/\d+/.exec(await all.innerText())![0]);
    assert.ok(total > 2, `${total} clients`);
    await page.getByLabel('Search clients').fill(new URL(broker.wsUrl).port + '/mqtt');
    await table.locator('caption', { hasText: `Clients (${total} matching)` }).waitFor();
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('raised no script errors and no CSP violations', () => {
    assert.deepEqual(errors, []);
  });
});
