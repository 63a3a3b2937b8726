// Dashboard: live figures and charts from $SYS over the console's own MQTT connection.
import { append, bytes, compact, duration, field, h, page, select } from '../dom';
import { TimeChart } from '../charts';
import type { Connection } from '../connection';
import type { SysFeed, Sample } from '../sys-feed';

const perSec = (v: number): string => compact(v) + '/s';
const count = (v: number): string => compact(Math.round(v));
const bytesPerSec = (v: number): string => bytes(Math.round(v)) + '/s';
/** The sliding windows the charts offer, minutes; samples are kept in the browser for the longest. */
const WINDOWS = [1, 15, 60];

function stat(label: string): { el: HTMLElement; value: HTMLElement } {
  const value = h('dd', {}, '–');
  return { el: h('div', { class: 'stat' }, h('dt', {}, label), value), value };
}

export function dashboardPage(conn: Connection, feed: SysFeed): { element: HTMLElement; shown(visible: boolean): void } {
  const stats = {
    version: stat('Broker'),
    uptime: stat('Uptime'),
    connected: stat('Clients connected'),
    subscriptions: stat('Subscriptions'),
    retained: stat('Retained messages'),
    msgIn: stat('Messages in'),
    msgOut: stat('Messages out'),
    bytesIn: stat('Bytes in'),
    bytesOut: stat('Bytes out'),
  };
  const charts = {
    connections: new TimeChart('Connections', [{ name: 'clients', color: '--s1' }], count, true),
    subs: new TimeChart('Subscriptions and retained', [{ name: 'subscriptions', color: '--s1' }, { name: 'retained', color: '--s2' }], count, true),
    messages: new TimeChart('Messages per second', [{ name: 'in', color: '--s1' }, { name: 'out', color: '--s2' }], perSec),
    bytes: new TimeChart('Bytes per second', [{ name: 'in', color: '--s1' }, { name: 'out', color: '--s2' }], bytesPerSec),
  };
  const windowSelect = select(WINDOWS.map((m) => [String(m), m === 60 ? '1 hour' : `${m} minute${m === 1 ? '' : 's'}`]), '1', { name: 'chartWindow' });
  const feedNote = h('p', { class: 'muted feed-note', 'aria-live': 'polite' }, 'Connect to a broker to see its $SYS statistics.');

  let visible = false;
  const renderCharts = (): void => {
    const s = feed.samples;
    const to = Date.now();
    const from = to - Number(windowSelect.value) * 60_000;
    const at = s.map((x) => x.at);
    const col = (k: keyof Sample) => s.map((x) => x[k] as number | null);
    charts.connections.update(at, [col('connected')], from, to);
    charts.subs.update(at, [col('subscriptions'), col('retained')], from, to);
    charts.messages.update(at, [col('msgInPerSec'), col('msgOutPerSec')], from, to);
    charts.bytes.update(at, [col('bytesInPerSec'), col('bytesOutPerSec')], from, to);
  };

  const renderFeed = (): void => {
    const s = feed.samples;
    const last = s[s.length - 1];
    const show = (el: { value: HTMLElement }, v: number | null | undefined, fmt: (n: number) => string) => (el.value.textContent = v == null ? '–' : fmt(v));
    stats.version.value.textContent = feed.latest.get('version') ?? '–';
    show(stats.uptime, feed.num('uptime'), duration);
    show(stats.connected, last?.connected, count);
    show(stats.subscriptions, last?.subscriptions, count);
    show(stats.retained, last?.retained, count);
    show(stats.msgIn, last?.msgInPerSec, perSec);
    show(stats.msgOut, last?.msgOutPerSec, perSec);
    show(stats.bytesIn, last?.bytesInPerSec, bytesPerSec);
    show(stats.bytesOut, last?.bytesOutPerSec, bytesPerSec);
    if (visible) renderCharts();
    if (s.length > 0) {
      feedNote.textContent = `${s.length} sample${s.length === 1 ? '' : 's'} from $SYS, the latest at ${new Date(last.at).toLocaleTimeString()}` +
        (last.seeded ? ' (rates from the broker’s 1-minute averages until the next sample).' : '.') +
        ' Figures leave out this console’s own connection, traffic and subscriptions and the $SYS tree’s retained messages.';
    } else if (conn.status === 'connected') feedNote.textContent = 'Waiting for $SYS/broker/# data (the broker publishes it every few seconds).';
  };
  feed.onSample(renderFeed);
  conn.onStatus(renderFeed);
  windowSelect.addEventListener('change', renderCharts);
  // The window slides with the clock between samples.
  let ticker: number | undefined;

  const element = page('dashboard', 'Dashboard');
  append(
    element,
    feedNote,
    h('dl', { class: 'stats' }, ...Object.values(stats).map((s) => s.el)),
    h('div', { class: 'toolbar chart-tools' }, field('Chart window', windowSelect)),
    h('div', { class: 'charts' }, ...Object.values(charts).map((c) => c.element)),
  );
  renderFeed();

  return {
    element,
    shown(v: boolean) {
      visible = v;
      window.clearInterval(ticker);
      ticker = undefined;
      if (v) {
        renderCharts();
        ticker = window.setInterval(renderCharts, 1000);
      }
    },
  };
}
