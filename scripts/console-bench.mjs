#!/usr/bin/env node
// How the console holds up under load: a broker, a Node publisher sending RATE messages a second
// over 1,000 topics for SECONDS seconds, and the console in headless Chromium subscribed to all of
// it (its explorer's `#`) with one page shown. Reports frame times (requestAnimationFrame deltas),
// long tasks, the JS heap and how many messages the console took in. A benchmark, not a test: the
// figures depend on the machine. Run after `npm run build`:
//   node scripts/console-bench.mjs [--rate 10000] [--seconds 60] [--page topics|dashboard|messages]
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startTestServer } from '../dist/test/helpers/server.js';
import { launchChromium, preconditions } from '../dist/test/browser/chromium.js';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '10000' }, seconds: { type: 'string', default: '60' }, page: { type: 'string', default: 'topics' } } });
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const TOPICS = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

preconditions();
const t = await startTestServer({ mqttListeners: 'ws://127.0.0.1:0', sysIntervalSec: '5' });
const port = t.port('ws');
const browser = await launchChromium(['--enable-precise-memory-info']);
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
page.setDefaultTimeout(60_000);
await page.goto(`http://127.0.0.1:${port}/`);
await page.getByLabel('Client ID').fill('bench-console');
await page.getByRole('button', { name: 'Connect', exact: true }).click();
await page.getByRole('status').filter({ hasText: 'Connected to' }).waitFor();
if (values.page === 'messages') {
  await page.getByRole('link', { name: 'Subscribe' }).click();
  await page.getByLabel('Topic filter').fill('bench/#');
  await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
  await page.locator('tr', { hasText: 'bench/#' }).waitFor();
}
await page.locator(`nav a[data-page="${values.page}"]`).click();
if (values.page === 'topics') await page.locator('.explorer-summary').waitFor();

// In the page: every animation frame's delta, long tasks, and the heap every second.
await page.evaluate(() => {
  const w = window;
  w.__bench = { frames: [], longTasks: [], heap: [] };
  let last = performance.now();
  const frame = (now) => {
    w.__bench.frames.push(now - last);
    last = now;
    w.__benchRaf = requestAnimationFrame(frame);
  };
  w.__benchRaf = requestAnimationFrame(frame);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.__bench.longTasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: false });
  w.__benchHeap = setInterval(() => w.__bench.heap.push(performance.memory?.usedJSHeapSize ?? 0), 1000);
});

const pub = await new Promise((resolve, reject) => {
  const c = mqtt.connect(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'bench-publisher', reconnectPeriod: 0 });
  c.once('connect', () => resolve(c));
  c.once('error', reject);
});
// RATE a second in 10 ms slices; the payload is a number or a small JSON object.
let sent = 0;
const started = Date.now();
const timer = setInterval(() => {
  const elapsed = (Date.now() - started) / 1000;
  const target = Math.min(RATE * elapsed, RATE * SECONDS);
  while (sent < target) {
    const i = sent % TOPICS;
    pub.publish(`bench/dev${i}/${i % 2 ? 'value' : 'state'}`, i % 2 ? String(sent % 1000) : JSON.stringify({ t: sent % 100, ok: true, seq: sent }));
    sent++;
  }
}, 10);
// Midway, switch pages and back: the console must stay usable under load.
await sleep((SECONDS * 1000) / 2);
// Timed inside the page (from the click to the new page's heading having focus), so the figure is
// the page's own latency, not that of the DevTools connection driving it.
const switchMs = await page.evaluate(async (back) => {
  const t0 = performance.now();
  const until = (id) => new Promise((resolve) => {
    const check = () => (document.activeElement?.id === id ? resolve() : setTimeout(check, 0));
    check();
  });
  document.querySelector('nav a[data-page="dashboard"]').click();
  await until('dashboard-title');
  document.querySelector(`nav a[data-page="${back}"]`).click();
  await until(`${back}-title`);
  return Math.round(performance.now() - t0);
}, values.page);

await sleep((SECONDS * 1000) / 2);
clearInterval(timer);
await sleep(2000);
const result = await page.evaluate(() => {
  const w = window;
  cancelAnimationFrame(w.__benchRaf);
  clearInterval(w.__benchHeap);
  return { ...w.__bench, summary: document.querySelector('.explorer-summary')?.textContent ?? '' };
});
const stats = t.server.broker.stats;
const brokerSent = stats.messagesSent;
const drops = Object.fromEntries(Object.entries(stats.drops).filter(([, n]) => n > 0));
pub.end(true);
await browser.close();
await t.close();

const measuredSec = result.frames.slice(1).reduce((a, b) => a + b, 0) / 1000;
const frames = result.frames.slice(1).sort((a, b) => a - b);
const q = (p) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))] ?? 0;
const mib = (b) => (b / 1048576).toFixed(1);
const heap = result.heap.filter((b) => b > 0);
const report = {
  page: values.page,
  rate: RATE,
  seconds: SECONDS,
  sent,
  frames: frames.length,
  measuredSeconds: +measuredSec.toFixed(1),
  framesPerSecond: +(frames.length / measuredSec).toFixed(1),
  brokerSentToConsole: brokerSent,
  brokerDrops: drops,
  frameMs: { p50: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), p99: +q(0.99).toFixed(1), max: +(frames[frames.length - 1] ?? 0).toFixed(1) },
  longTasks: { count: result.longTasks.length, totalMs: Math.round(result.longTasks.reduce((a, b) => a + b, 0)), maxMs: Math.round(Math.max(0, ...result.longTasks)) },
  heapMiB: heap.length ? { start: mib(heap[0]), end: mib(heap[heap.length - 1]), max: mib(Math.max(...heap)) } : 'not available',
  pageSwitchAndBackUnderLoadMs: switchMs,
  explorer: result.summary || undefined,
  loadAverage: (await import('node:os')).loadavg().map((n) => +n.toFixed(1)),
};
console.log(JSON.stringify(report, null, 2));
