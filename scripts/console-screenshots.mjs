#!/usr/bin/env node
// Takes the console screenshots of README.md and docs/console.md (docs/images/console-*.png): a
// real broker with a small simulated plant publishing retained and live values, the console in
// headless Chromium connected to it for long enough that the charts have a history.
// Run after `npm run build`:  node scripts/console-screenshots.mjs [seconds of history, default 40]
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startTestServer } from '../dist/test/helpers/server.js';
import { launchChromium, preconditions } from '../dist/test/browser/chromium.js';
import { repoRoot } from '../dist/test/helpers/paths.js';

const OUT = join(repoRoot, 'docs', 'images');
const TOKEN = 'screenshot-token';
const HISTORY_SEC = Number(process.argv[2] ?? 40);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

preconditions();
const t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', sysIntervalSec: '2', httpAdminToken: TOKEN });
const port = t.port('ws');
const httpUrl = `http://127.0.0.1:${port}/`;
const wsUrl = `ws://127.0.0.1:${port}/mqtt`;
const connect = (clientId, opts = {}) =>
  new Promise((resolve, reject) => {
    const c = mqtt.connect(wsUrl, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });

// A plant: 4 lines of 12 machines, each with a retained status and live JSON telemetry; a few
// other clients subscribed, so the admin views have something to show.
const plant = await connect('plant-gateway', { username: 'gateway' });
for (let line = 1; line <= 4; line++) {
  for (let m = 1; m <= 12; m++) {
    plant.publish(`factory/line${line}/machine${m}/status`, m % 7 === 0 ? 'maintenance' : 'running', { retain: true, qos: 1 });
    plant.publish(`factory/line${line}/machine${m}/config`, JSON.stringify({ model: `M-${100 + m}`, firmware: '2.4.1', maxRpm: 3000 }), { retain: true, qos: 1 });
  }
}
plant.publish('home/livingroom/temperature', '21.4', { retain: true });
plant.publish('home/kitchen/temperature', '22.9', { retain: true });
const watchers = [];
for (const [id, filter] of [['dashboard-tv', 'factory/+/+/status'], ['historian', 'factory/#'], ['alerts-service', 'factory/+/+/alarm']]) {
  const c = await connect(id, { username: id === 'historian' ? 'historian' : undefined });
  await c.subscribeAsync(filter, { qos: 1 });
  watchers.push(c);
}
let tick = 0;
const telemetry = setInterval(() => {
  tick++;
  // Traffic rises and falls so the charts have a shape.
  const burst = 20 + Math.round(60 * (1 + Math.sin(tick / 25)));
  for (let i = 0; i < burst; i++) {
    const idx = (tick * burst + i) % 48;
    const line = 1 + Math.floor(idx / 12);
    const m = 1 + (idx % 12);
    // Every message differs from the one before on its topic (the explorer shows the diff).
    const temp = 60 + 8 * Math.sin((tick + m * 3 + i / 48) / 10) + line;
    plant.publish(`factory/line${line}/machine${m}/telemetry`, JSON.stringify({ temperature: +temp.toFixed(2), rpm: 2400 + ((tick * 7 + m * 13) % 300), vibration: +(0.2 + 0.05 * Math.cos(tick / 7)).toFixed(3) }));
  }
}, 200);

const browser = await launchChromium();
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' })).newPage();
page.setDefaultTimeout(30_000);
await page.goto(httpUrl);
await page.getByLabel('Client ID').fill('starling-console');
await page.getByRole('button', { name: 'Connect', exact: true }).click();
await page.getByRole('status').filter({ hasText: 'Connected to' }).waitFor();

const shot = async (name) => {
  await sleep(600);
  await page.screenshot({ path: join(OUT, `console-${name}.png`) });
  console.log(`docs/images/console-${name}.png`);
};

// A subscription of the user's own, for the message log.
await page.getByRole('link', { name: 'Subscribe' }).click();
await page.getByLabel('Topic filter').fill('factory/+/machine7/#');
await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
await page.locator('tr', { hasText: 'factory/+/machine7/#' }).waitFor();

// History for the charts.
await page.getByRole('link', { name: 'Dashboard' }).click();
await sleep(HISTORY_SEC * 1000);
await shot('dashboard');

await page.getByRole('link', { name: 'Messages' }).click();
await shot('messages');

await page.getByRole('link', { name: 'Topics' }).click();
for (const topic of ['factory', 'factory/line2', 'factory/line2/machine3']) await page.locator(`.tree-row[data-topic="${topic}"] .tree-toggle`).click();
await page.locator('.tree-row[data-topic="factory/line2/machine3/telemetry"]').click();
await page.getByLabel('Chart field').selectOption('temperature');
await sleep(3000);
await page.setViewportSize({ width: 1280, height: 1150 });
await shot('topics');
await page.setViewportSize({ width: 1280, height: 900 });

await page.getByRole('link', { name: 'Admin' }).click();
await page.getByLabel('Admin token').fill(TOKEN);
await page.getByRole('button', { name: 'Load' }).click();
await page.locator('tr[data-client-id="historian"]').waitFor();
await page.evaluate(() => document.getElementById('clients-title').closest('section').scrollIntoView());
await page.evaluate(() => window.scrollBy(0, -70));
await shot('admin');

await page.getByRole('link', { name: 'Trace' }).click();
await page.getByLabel('Trace client').fill('maintenance-app');
await page.getByRole('button', { name: 'Start trace' }).click();
await sleep(1000);
const maint = await connect('maintenance-app', { username: 'maint', properties: { sessionExpiryInterval: 300 } });
await maint.subscribeAsync('factory/line1/machine1/#', { qos: 1 });
await maint.publishAsync('factory/line1/machine1/ack', 'on my way', { qos: 1 });
await sleep(600);
await maint.endAsync({ reasonCode: 0 });
await sleep(800);
await page.getByRole('button', { name: 'Stop' }).click();
await page.setViewportSize({ width: 1280, height: 960 });
await shot('trace');


clearInterval(telemetry);
await browser.close();
for (const c of [plant, ...watchers]) c.end(true);
await t.close();
