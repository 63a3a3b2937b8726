// The dashboard in headless Chromium: uPlot charts with a time axis drawn from the first $SYS
// sample (rates seeded from the broker's 1-minute load averages), a sliding window, readable
// uptime, and headline figures that leave out the console's own connection, traffic,
// subscriptions and the $SYS tree's retained messages, true from the first sample on.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { startConsoleBroker, type ConsoleBroker } from './console-broker.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';
import { openConnected, statText } from './console-page.js';

declare const document: any;

describe('console dashboard in Chromium', { timeout: 120_000 }, () => {
  let browser: Browser;
  const errors: string[] = [];

  before(async () => {
    preconditions();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('draws the first sample at once, with readable uptime and no $SYS or console figures in the headline', async () => {
    // $SYS once at start and then only every minute: all the console has is the retained sample.
    const broker = await startConsoleBroker({ sysIntervalSec: 60, adminToken: 'dash-token', webSocketPath: '/mqtt' });
    let page: Page | undefined;
    try {
      page = await watchedPage(browser, errors);
      await openConnected(page, broker.httpUrl, 'dash-seed');
      await page.getByRole('link', { name: 'Dashboard' }).click();
      await page.locator('.feed-note', { hasText: '1 sample from $SYS' }).waitFor();
      assert.match(await page.locator('.feed-note').innerText(), /1-minute averages/);
      assert.match(await statText(page, 'Uptime'), /^\d+ s$/, 'uptime in words, not "N seconds"');
      assert.equal(await statText(page, 'Retained messages'), '0', 'the $SYS tree’s own retained messages are left out');
      assert.equal(await statText(page, 'Subscriptions'), '0', 'the console’s $SYS subscription is left out');
      assert.equal(await statText(page, 'Messages out'), '0/s');
      // The only sample was taken as the broker started, before the console connected.
      assert.equal(await statText(page, 'Clients connected'), '0');
      // Four uPlot canvases, each naming its latest values: a chart with data from the first sample.
      await page.waitForFunction(() => document.querySelectorAll('#page-dashboard .plot canvas').length === 4);
      assert.equal(await page.getByRole('img', { name: 'Connections: clients 0' }).count(), 1);
      assert.match(String(await page.getByRole('img', { name: /^Messages per second:/ }).getAttribute('aria-label')), /in 0\/s, out 0\/s/);
      const windowOf = () => page!.getByRole('img', { name: /^Connections:/ }).getAttribute('data-window-seconds');
      assert.equal(await windowOf(), '60');
      await page.getByLabel('Chart window').selectOption('15');
      assert.equal(await windowOf(), '900');
      await page.getByLabel('Chart window').selectOption('60');
      assert.equal(await windowOf(), '3600');
    } finally {
      await page?.context().close();
      await broker.close();
    }
  });

  it('counts other clients’ messages per second and leaves out what the console itself receives', async () => {
    const broker = await startConsoleBroker({ sysIntervalSec: 1, adminToken: 'dash-token', webSocketPath: '/mqtt' });
    const node = await connectClient(broker.wsUrl, { clientId: 'dash-publisher', protocolVersion: 5 });
    let page: Page | undefined;
    try {
      page = await watchedPage(browser, errors);
      await openConnected(page, broker.httpUrl, 'dash-rates');
      // The console subscribes to everything: every message the node sends is delivered to it.
      await page.getByRole('link', { name: 'Subscribe' }).click();
      await page.getByLabel('Topic filter').fill('#');
      await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
      await page.locator('tr', { hasText: 'QoS 0' }).waitFor();
      await page.getByRole('link', { name: 'Dashboard' }).click();
      // Idle but for $SYS, which the broker sends only to the console: nothing goes out to others.
      await page.waitForFunction(() => Number(/(\d+) samples/.exec(document.querySelector('.feed-note')?.textContent ?? '')?.[1] ?? 0) >= 4);
      assert.equal(await statText(page, 'Messages out'), '0/s');
      const burst = setInterval(() => {
        for (let i = 0; i < 100; i++) node.publish('burst/x', 'x');
      }, 100);
      try {
        await page.waitForFunction(() => {
          const dd = [...document.querySelectorAll('.stat')].find((s: any) => s.querySelector('dt')?.textContent === 'Messages in')?.querySelector('dd');
          return parseFloat(dd?.textContent ?? '0') >= 100;
        }, undefined, { timeout: 20_000 });
      } finally {
        clearInterval(burst);
      }
      const msgIn = parseFloat(await statText(page, 'Messages in'));
      const msgOut = parseFloat(await statText(page, 'Messages out'));
      assert.ok(msgOut < msgIn / 10, `messages out ${msgOut}/s should leave out the console's own ${msgIn}/s`);
      assert.equal(await statText(page, 'Subscriptions'), '0', 'the console’s # and $SYS subscriptions are left out');
      // dash-publisher; the console's own connection is left out like its subscriptions.
      assert.equal(await statText(page, 'Clients connected'), '1');
    } finally {
      await page?.context().close();
      await endClient(node, true);
      await broker.close();
    }
  });

  it('shows the real subscriptions and clients from the first sample on: the retained one predates the console', async () => {
    const broker = await startConsoleBroker({ sysIntervalSec: 2, adminToken: 'dash-token', webSocketPath: '/mqtt' });
    // Two other clients with one subscription each: `watcher`'s to $SYS also tells the test when
    // the broker publishes.
    const sensor = await connectClient(broker.wsUrl, { clientId: 'dash-sensor', protocolVersion: 5 });
    const watcher = await connectClient(broker.wsUrl, { clientId: 'dash-watcher', protocolVersion: 5 });
    let page: Page | undefined;
    try {
      await sensor.subscribeAsync('sensors/#', { qos: 0 });
      await watcher.subscribeAsync('$SYS/broker/#', { qos: 0 });
      const live = (topic: string, payload?: string) =>
        new Promise<void>((resolve) => {
          const on = (t: string, p: Buffer, packet: { retain: boolean }) => {
            if (t !== topic || packet.retain || (payload !== undefined && p.toString() !== payload)) return;
            watcher.off('message', on);
            resolve();
          };
          watcher.on('message', on);
        });
      // The broker has published a sample with both subscriptions: it is the retained one.
      await live('$SYS/broker/subscriptions/count', '2');
      page = await watchedPage(browser, errors);
      await page.goto(broker.httpUrl);
      // Every value the two figures ever show, from the first render on.
      await page.evaluate(() => {
        const w = globalThis as any;
        w.seen = { 'Clients connected': [], Subscriptions: [] };
        for (const stat of document.querySelectorAll('#page-dashboard .stat')) {
          const label = stat.querySelector('dt').textContent;
          const dd = stat.querySelector('dd');
          if (!(label in w.seen)) continue;
          new w.MutationObserver(() => w.seen[label].push(dd.textContent)).observe(dd, { childList: true, characterData: true, subtree: true });
        }
      });
      await page.getByLabel('Client ID').fill('dash-first');
      // Connect just after a sample, so the retained one makes the first point, long before the next.
      await live('$SYS/broker/uptime');
      await page.getByRole('button', { name: 'Connect', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Connected to' }).waitFor();
      await page.getByRole('link', { name: 'Dashboard' }).click();
      await page.locator('.feed-note', { hasText: /^1 sample from \$SYS/ }).waitFor();
      assert.match(await page.locator('.feed-note').innerText(), /1-minute averages/, 'the first sample is the retained one');
      await page.waitForFunction(() => Number(/(\d+) samples/.exec(document.querySelector('.feed-note')?.textContent ?? '')?.[1] ?? 0) >= 3, undefined, { timeout: 15_000 });
      const seen = (await page.evaluate(() => (globalThis as any).seen)) as Record<string, string[]>;
      // '–' is the figure before any sample.
      const shown = (label: string) => seen[label].filter((v) => v !== '–');
      assert.ok(shown('Subscriptions').length >= 3, `a render per sample: ${JSON.stringify(seen)}`);
      assert.deepEqual([...new Set(shown('Subscriptions'))], ['2'], 'sensors/# and $SYS/broker/#, from the first sample on, never the console’s own');
      assert.deepEqual([...new Set(shown('Clients connected'))], ['2'], 'dash-sensor and dash-watcher, never the console itself');
      assert.equal(await page.getByRole('img', { name: 'Connections: clients 2' }).count(), 1);
      assert.match(String(await page.getByRole('img', { name: /^Subscriptions and retained:/ }).getAttribute('aria-label')), /subscriptions 2/);
      assert.match(await page.locator('.feed-note').innerText(), /leave out this console’s own connection, traffic and subscriptions/);
    } finally {
      await page?.context().close();
      await endClient(sensor, true);
      await endClient(watcher, true);
      await broker.close();
    }
  });

  it('raised no script errors and no CSP violations', () => {
    assert.deepEqual(errors, []);
  });
});
