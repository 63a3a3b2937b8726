// The topic explorer in headless Chromium with 100,000 retained topics published from Node: the
// console subscribes to # itself, the virtual tree shows exact per-branch counts in natural order
// while drawing only the rows in view, search finds deep topics, the detail panel shows value,
// properties, history chart of a JSON field and the diff, and a retained branch is deleted.
// Nothing here is timed: every wait is for content, bounded by generous limits.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { connectClient, endClient } from '../helpers/mqttjs.js';
import { startConsoleBroker, type ConsoleBroker } from './console-broker.js';
import { launchChromium, preconditions, watchedPage } from './chromium.js';
import { openConnected } from './console-page.js';

declare const document: any;

const DEVICES = 1000;
const SENSORS = 100;
const TOKEN = 'explorer-token';

/** data-topic of the tree rows now in the DOM, top to bottom. */
function renderedTopics(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('.tree-row')]
      .sort((a: any, b: any) => Number(a.dataset.index) - Number(b.dataset.index))
      .map((r: any) => r.dataset.topic),
  );
}

describe('topic explorer in Chromium with 100,000 topics', { timeout: 300_000 }, () => {
  let browser: Browser;
  let page: Page;
  let broker: ConsoleBroker;
  let node: MqttClient;
  const errors: string[] = [];

  before(async () => {
    preconditions();
    broker = await startConsoleBroker({ sysIntervalSec: 60, adminToken: TOKEN, webSocketPath: '/mqtt' });
    node = await connectClient(broker.wsUrl, { clientId: 'explorer-publisher', protocolVersion: 5 });
    // 100,000 retained topics, then one QoS 1 message: its PUBACK comes after the broker took
    // every earlier message of this connection.
    for (let d = 0; d < DEVICES; d++) {
      for (let s = 0; s < SENSORS; s++) node.publish(`fleet/dev${d}/s${s}`, String(d * SENSORS + s), { qos: 0, retain: true });
      if (d % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await node.publishAsync('marker/done', 'yes', { qos: 1, retain: true });
    browser = await launchChromium();
    page = await watchedPage(browser, errors);
    page.setDefaultTimeout(60_000);
  });

  after(async () => {
    if (node) await endClient(node, true);
    await browser?.close();
    await broker?.close();
  });

  it('subscribes to # itself and counts every retained topic', async () => {
    await openConnected(page, broker.httpUrl, 'explorer-console');
    await page.getByRole('link', { name: 'Topics' }).click();
    await page.locator('.explorer-summary', { hasText: '100,001 topics with a value' }).waitFor();
    assert.deepEqual(await renderedTopics(page), ['fleet', 'marker'], 'top level, collapsed');
    assert.match(await page.locator('.tree-row[data-topic="fleet"]').innerText(), /100k topics · 100k msgs/);
  });

  it('sorts naturally and draws only the rows in view', async () => {
    await page.locator('.tree-row[data-topic="fleet"] .tree-toggle').click();
    await page.locator('.tree-row[data-topic="fleet/dev10"]').waitFor();
    const shown = await renderedTopics(page);
    assert.deepEqual(shown.slice(0, 13), ['fleet', ...Array.from({ length: 12 }, (_, i) => `fleet/dev${i}`)]);
    assert.match(await page.locator('.tree-row[data-topic="fleet/dev7"]').innerText(), /100 topics · 100 msgs/);
    assert.equal(await page.locator('.tree-row[data-topic="fleet"]').getAttribute('aria-expanded'), 'true');

    await page.getByRole('button', { name: 'Expand all' }).click();
    await page.locator('.tree-row[data-topic="fleet/dev0/s0"]').waitFor();
    const rows = await page.locator('.tree-row').count();
    assert.ok(rows > 10 && rows < 200, `${rows} row elements for 101,003 rows: the list is virtual`);
    // The keyboard reaches the last row; it is scrolled into view and selected.
    await page.locator('.tree-row[data-topic="fleet/dev0/s0"]').click();
    await page.keyboard.press('End');
    await page.locator('.tree-row.selected[data-topic="marker/done"]').waitFor();
    assert.ok((await renderedTopics(page)).includes('fleet/dev999/s99'), 'the rows above the last are drawn too');
    await page.getByRole('button', { name: 'Collapse all' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.tree-row').length === 2);
  });

  it('searches 100,000 paths and shows the matches with their branches', async () => {
    await page.getByLabel('Search topics').fill('dev999/s9');
    await page.locator('.tree-row[data-topic="fleet/dev999/s99"]').waitFor();
    assert.deepEqual(await renderedTopics(page), [
      'fleet', 'fleet/dev999', 'fleet/dev999/s9', ...Array.from({ length: 10 }, (_, i) => `fleet/dev999/s9${i}`),
    ]);
    assert.match(await page.locator('.tree-row[data-topic="fleet"]').getAttribute('class') ?? '', /context/, 'shown as the way to a match');
    await page.locator('.tree-row[data-topic="fleet/dev999/s95"]').click();
    const detail = page.locator('section.detail');
    await detail.locator('.detail-topic', { hasText: 'fleet/dev999/s95' }).waitFor();
    assert.equal(await detail.locator('.detail-value').innerText(), '99995');
    assert.match(await detail.locator('.detail-meta').innerText(), /delivered at QoS 0 · retained/);
    await page.getByLabel('Search topics').fill('');
    await page.waitForFunction(() => document.querySelectorAll('.tree-row').length === 2);
  });

  it('shows a live topic’s JSON, properties, field history chart and diff', async () => {
    for (let i = 0; i < 5; i++) {
      await node.publishAsync('live/thermo', JSON.stringify({ t: 20 + i, h: 50 }), {
        qos: 1,
        properties: { contentType: 'application/json', userProperties: { site: 'north' } },
      });
    }
    await page.locator('.tree-row[data-topic="live"]').waitFor();
    await page.locator('.tree-row[data-topic="live"] .tree-toggle').click();
    await page.locator('.tree-row[data-topic="live/thermo"]').click();
    const detail = page.locator('section.detail');
    // Should this ever time out (it did once, in a full run on a busy machine), say what the page
    // showed instead: the count it reached, the summary, whether the console was still connected.
    await detail.locator('.detail-meta', { hasText: '5 messages' }).waitFor().catch(async (err: Error) => {
      const shown = await page.evaluate(() => ({
        meta: document.querySelector('section.detail .detail-meta')?.textContent,
        summary: document.querySelector('.explorer-summary')?.textContent,
        connection: document.getElementById('connection-status')?.textContent,
        thermoRow: document.querySelector('.tree-row[data-topic="live/thermo"]')?.textContent,
      }));
      throw new Error(`${err.message}\nthe page showed: ${JSON.stringify(shown)}`);
    });
    assert.equal(await detail.locator('.detail-value').innerText(), '{\n  "t": 24,\n  "h": 50\n}');
    assert.match(await detail.locator('.detail-meta').innerText(), /delivered at QoS 0 · not retained/);
    const props = await detail.locator('table.props').innerText();
    assert.match(props, /contentType\s+application\/json/);
    assert.match(props, /userProperties\s+site=north/);
    await detail.getByLabel('Chart field').selectOption('t');
    await page.getByRole('img', { name: 'History: value 24' }).waitFor();
    assert.match(await detail.locator('.chart-note, p.muted').first().innerText(), /5 values/);
    const diff = await detail.locator('pre.diff').innerText();
    assert.match(diff, /^- {3}"t": 23,$/m);
    assert.match(diff, /^\+ {3}"t": 24,$/m);
    await detail.getByLabel('Show value as').selectOption('hex');
    assert.match(await detail.locator('.detail-value').innerText(), /^7b 22 74 22 3a 32 34/);
  });

  it('deletes a retained branch after confirmation, through MQTT', async () => {
    await page.locator('.tree-row[data-topic="fleet"] .tree-toggle').click();
    await page.locator('.tree-row[data-topic="fleet/dev5"]').click();
    const detail = page.locator('section.detail');
    await detail.getByRole('button', { name: 'Delete retained branch (100)' }).click();
    await detail.getByRole('button', { name: 'Confirm: delete 100 retained messages under fleet/dev5' }).click();
    await detail.getByRole('alert').filter({ hasText: 'Deleted 100 retained messages.' }).waitFor();
    await page.locator('.explorer-summary', { hasText: '99,902 topics with a value' }).waitFor();
    await page.locator('.tree-row[data-topic="fleet/dev5"]').waitFor({ state: 'detached' });
    const res = await fetch(`${broker.httpUrl}api/v1/retained?filter=${encodeURIComponent('fleet/dev5/#')}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(((await res.json()) as { total: number }).total, 0, 'the broker holds none of them');
  });

  it('subscribes to # only while “Subscribe to all topics” is ticked', async () => {
    const filters = async (): Promise<string[]> => {
      const res = await fetch(`${broker.httpUrl}api/v1/subscriptions?clientId=explorer-console`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      return ((await res.json()) as { subscriptions: Array<{ filter: string }> }).subscriptions.map((s) => s.filter);
    };
    const until = async (want: boolean): Promise<void> => {
      for (let i = 0; i < 100 && (await filters()).includes('#') !== want; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal((await filters()).includes('#'), want);
    };
    await until(true);
    await page.getByLabel('Subscribe to all topics (#)').uncheck();
    await until(false);
    await page.getByLabel('Subscribe to all topics (#)').check();
    await until(true);
  });

  it('raised no script errors and no CSP violations', () => {
    assert.deepEqual(errors, []);
  });
});
