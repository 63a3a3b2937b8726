// The console's live trace in headless Chromium: an admin picks a client id (then a topic
// filter) and watches the real exchange of a Node MQTT.js client as decoded rows, streamed by the
// broker from /api/v1/trace.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { startConsoleBroker, type ConsoleBroker } from './console-broker.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';
import { openConnected } from './console-page.js';

const TOKEN = 'trace-page-token';

describe('console trace in Chromium', { timeout: 120_000 }, () => {
  let browser: Browser;
  let page: Page;
  let broker: ConsoleBroker;
  const errors: string[] = [];

  before(async () => {
    preconditions();
    broker = await startConsoleBroker({ sysIntervalSec: 60, adminToken: TOKEN, webSocketPath: '/mqtt' });
    browser = await launchChromium();
    page = await watchedPage(browser, errors);
    page.setDefaultTimeout(20_000);
    await openConnected(page, broker.httpUrl, 'trace-console');
  });
  after(async () => {
    await browser?.close();
    await broker?.close();
  });

  it('asks for the admin sign-in first', async () => {
    await page.getByRole('link', { name: 'Trace' }).click();
    await page.getByLabel('Trace client').fill('anyone');
    await page.getByRole('button', { name: 'Start trace' }).click();
    await page.locator('.trace-status', { hasText: 'sign in on the Admin page first' }).waitFor();
  });

  it('shows one client’s packets both ways, decoded, as they happen', async () => {
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Load' }).click();
    await page.getByRole('link', { name: 'Trace' }).click();
    await page.getByLabel('Trace client').fill('traced-dev');
    await page.getByRole('button', { name: 'Start trace' }).click();
    await page.locator('.trace-status', { hasText: 'Tracing client traced-dev' }).waitFor();

    const dev = await connectClient(broker.wsUrl, { clientId: 'traced-dev', protocolVersion: 5, username: 'dev-user', properties: { sessionExpiryInterval: 60 } });
    const other = await connectClient(broker.wsUrl, { clientId: 'other', protocolVersion: 5 });
    try {
      await dev.subscribeAsync('cmd/#', { qos: 1 });
      await dev.publishAsync('data/x', '42', { qos: 1 });
      await other.publishAsync('cmd/reboot', 'now', { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      await dev.endAsync({ reasonCode: 0x04 });
      const table = page.locator('table.trace');
      await table.locator('tr[data-type="disconnect"]').waitFor();
      const text = (type: string, dir: 'in' | 'out') => table.locator(`tr.trace-${dir}[data-type="${type}"]`).first().innerText();
      assert.match(await text('connect', 'in'), /traced-dev[\s\S]*CONNECT[\s\S]*MQTT 5\.0 · clean start · keepalive \d+ · user dev-user · sessionExpiryInterval=60/);
      assert.match(await text('connack', 'out'), /CONNACK[\s\S]*success \(0x0\) · receiveMaximum=/);
      assert.match(await text('subscribe', 'in'), /id \d+ · cmd\/# QoS 1/);
      assert.match(await text('suback', 'out'), /granted QoS 1/);
      assert.match(await text('publish', 'in'), /data\/x · QoS 1 · id \d+ · 2 B · “42”/);
      assert.match(await text('puback', 'out'), /id \d+ · success/);
      assert.match(await text('publish', 'out'), /cmd\/reboot · QoS 1 · id \d+ · 3 B · “now”/);
      assert.match(await text('puback', 'in'), /success/);
      assert.match(await text('disconnect', 'in'), /disconnect with will message \(0x4\)/);
      assert.equal(await table.locator('tr', { hasText: 'other' }).count(), 0, 'only the traced client');
      await page.getByRole('button', { name: 'Stop' }).click();
      await page.locator('.trace-status', { hasText: 'Stopped tracing client traced-dev' }).waitFor();
    } finally {
      await endClient(other, true);
    }
  });

  it('traces a topic filter across clients', async () => {
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByLabel('Trace client').fill('');
    await page.getByLabel('Trace topics matching').fill('alarms/+');
    await page.getByRole('button', { name: 'Start trace' }).click();
    await page.locator('.trace-status', { hasText: 'Tracing topic filter alarms/+' }).waitFor();
    const a = await connectClient(broker.wsUrl, { clientId: 'siren', protocolVersion: 4 });
    try {
      await a.publishAsync('alarms/fire', 'on', { qos: 0 });
      await a.publishAsync('status/fire', 'ignored', { qos: 0 });
      const table = page.locator('table.trace');
      // In from siren, and out to every subscriber: here the console itself, which watches #.
      await table.locator('tr.trace-out[data-type="publish"]', { hasText: 'alarms/fire' }).waitFor();
      assert.match(await table.locator('tr.trace-in[data-type="publish"]').innerText(), /siren[\s\S]*alarms\/fire · QoS 0 · 2 B · “on”/);
      assert.match(await table.locator('tr.trace-out[data-type="publish"]').innerText(), /trace-console[\s\S]*alarms\/fire/);
      assert.equal(await table.locator('tr', { hasText: 'status/fire' }).count(), 0);
    } finally {
      await endClient(a, true);
      await page.getByRole('button', { name: 'Stop' }).click();
    }
  });

  it('raised no script errors and no CSP violations', () => {
    assert.deepEqual(errors, []);
  });
});
