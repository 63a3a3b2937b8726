// Dashboard: live charts from $SYS over the console's own MQTT connection, the listener list from
// the public /console.json (URLs are no secret: clients are given them), and the client table from
// the admin API (with a kick action), which needs the admin token or an admin user's password.
import { append, bytes, checkbox, compact, duration, field, h, input, page, replace, select } from '../dom';
import { TimeChart } from '../charts';
import type { Connection } from '../connection';
import type { SysFeed, Sample } from '../sys-feed';
import { AdminApi, publicListeners, storeToken, storedToken, type AdminClient, type AdminCredentials } from '../admin';

const REFRESH_MS = 5000;
const TRANSPORTS: Record<string, string> = { 'mqtt:': 'MQTT over TCP', 'mqtts:': 'MQTT over TLS', 'ws:': 'WebSocket', 'wss:': 'secure WebSocket' };

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
        ' Figures leave out this console’s own traffic and subscriptions and the $SYS tree’s retained messages.';
    } else if (conn.status === 'connected') feedNote.textContent = 'Waiting for $SYS/broker/# data (the broker publishes it every few seconds).';
  };
  feed.onSample(renderFeed);
  conn.onStatus(renderFeed);
  windowSelect.addEventListener('change', renderCharts);
  // The window slides with the clock between samples.
  let ticker: number | undefined;

  // ---- admin API: listeners and clients ----
  const method = select([['token', 'Admin token'], ['user', 'Admin user and password']], 'token', { name: 'adminAuth' });
  const token = input({ name: 'adminToken', type: 'password', autocomplete: 'off', spellcheck: 'false' });
  token.value = storedToken();
  const remember = checkbox(token.value !== '', { name: 'rememberToken' });
  const user = input({ name: 'adminUser', autocomplete: 'username', autocapitalize: 'off', spellcheck: 'false' });
  const password = input({ name: 'adminPassword', type: 'password', autocomplete: 'current-password' });
  const tokenFields = [field('Admin token', token, 'The broker’s admin token (Authorization: Bearer).'), field('Remember in this tab', remember)];
  const userFields = [
    field('Admin user', user, 'A user of the password file listed in httpAdminUsers.'),
    field('Admin password', password, 'Kept in memory for this page only, never stored.'),
  ];
  const showMethod = (): void => {
    for (const f of tokenFields) f.hidden = method.value !== 'token';
    for (const f of userFields) f.hidden = method.value !== 'user';
  };
  method.addEventListener('change', showMethod);
  showMethod();
  // Taken from the form on Load; the password lives here, in memory, until the page goes.
  let credentials: AdminCredentials | undefined = token.value ? { token: token.value } : undefined;
  const adminMessage = h('p', { class: 'form-message', role: 'alert' });
  const listenersBody = h('tbody');
  const clientsBody = h('tbody');
  const clientsCaption = h('caption', {}, 'Clients');
  let timer: number | undefined;
  let confirming: string | undefined;

  const api = (): AdminApi | undefined => (credentials ? new AdminApi(credentials) : undefined);

  const clientRow = (c: AdminClient): HTMLTableRowElement => {
    const kick = h('button', { type: 'button', class: 'small danger', 'aria-label': `Disconnect client ${c.clientId}` }, 'Kick');
    if (confirming === c.clientId) {
      kick.textContent = 'Confirm kick';
      kick.setAttribute('aria-label', `Confirm: disconnect client ${c.clientId}`);
    }
    kick.addEventListener('click', async () => {
      if (confirming !== c.clientId) {
        // Two steps so one stray click or key press does not drop a production client.
        confirming = c.clientId;
        kick.textContent = 'Confirm kick';
        kick.setAttribute('aria-label', `Confirm: disconnect client ${c.clientId}`);
        window.setTimeout(() => {
          if (confirming === c.clientId) {
            confirming = undefined;
            kick.textContent = 'Kick';
            kick.setAttribute('aria-label', `Disconnect client ${c.clientId}`);
          }
        }, 5000);
        return;
      }
      confirming = undefined;
      try {
        await api()!.kick(c.clientId);
        adminMessage.textContent = `Disconnected ${c.clientId}.`;
      } catch (err) {
        adminMessage.textContent = `Kick failed: ${(err as Error).message}`;
      }
      void refresh();
    });
    return h(
      'tr',
      { 'data-client-id': c.clientId },
      h('td', { class: 'mono' }, c.clientId),
      h('td', {}, c.address + (c.remotePort ? `:${c.remotePort}` : '')),
      h('td', {}, c.protocol),
      h('td', {}, c.transport),
      h('td', {}, h('time', { datetime: c.connectedAt }, new Date(c.connectedAt).toLocaleString())),
      h('td', { class: 'num' }, c.inflight),
      h('td', { class: 'num' }, c.queued),
      h('td', {}, kick),
    );
  };

  async function refreshListeners(): Promise<void> {
    try {
      const ls = await publicListeners();
      if (ls.length === 0) replace(listenersBody, h('tr', {}, h('td', { colspan: 2, class: 'muted' }, 'The broker lists no listeners.')));
      else replace(listenersBody, ...ls.map((l) => h('tr', {}, h('td', { class: 'mono' }, l.url), h('td', {}, TRANSPORTS[new URL(l.url).protocol] ?? ''))));
    } catch (err) {
      replace(listenersBody, h('tr', {}, h('td', { colspan: 2, class: 'muted' }, `Listeners unavailable: ${(err as Error).message}`)));
    }
  }

  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    timer = undefined;
    void refreshListeners();
    const a = api();
    if (!a) {
      replace(clientsBody, h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'Enter the admin token, or an admin user and password, to list clients.')));
      return;
    }
    try {
      const cs = await a.clients();
      clientsCaption.textContent = `Clients (${cs.total})`;
      if (cs.clients.length === 0) replace(clientsBody, h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No clients connected.')));
      else replace(clientsBody, ...cs.clients.map(clientRow));
      if (adminMessage.textContent?.startsWith('Admin API')) adminMessage.textContent = '';
    } catch (err) {
      adminMessage.textContent = `Admin API: ${(err as Error).message}`;
    }
    if (visible) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
  }

  const adminForm = h(
    'form',
    {
      class: 'toolbar admin-auth',
      'aria-label': 'Admin API access',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const byUser = method.value === 'user';
        if (byUser) credentials = user.value && password.value ? { user: user.value, password: password.value } : undefined;
        else credentials = token.value ? { token: token.value } : undefined;
        storeToken(!byUser && remember.checked ? token.value : null);
        adminMessage.textContent = '';
        void refresh();
      },
    },
    field('Sign in with', method),
    ...tokenFields,
    ...userFields,
    h('button', { type: 'submit' }, 'Load'),
  );

  const element = page('dashboard', 'Dashboard');
  append(
    element,
    feedNote,
    h('dl', { class: 'stats' }, ...Object.values(stats).map((s) => s.el)),
    h('div', { class: 'toolbar chart-tools' }, field('Chart window', windowSelect)),
    h('div', { class: 'charts' }, ...Object.values(charts).map((c) => c.element)),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'admin-title' },
      h('h3', { id: 'admin-title' }, 'Listeners and clients'),
      h('div', { class: 'table-wrap' }, h('table', {}, h('caption', {}, 'Listeners'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Client URL'), h('th', { scope: 'col' }, 'Transport'))),
        listenersBody)),
      adminForm,
      adminMessage,
      h('div', { class: 'table-wrap' }, h('table', { class: 'clients' }, clientsCaption,
        h('thead', {}, h('tr', {}, ...['Client ID', 'Address', 'Protocol', 'Transport', 'Connected since', 'In flight', 'Queued'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        clientsBody)),
    ),
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
        void refresh();
      } else {
        window.clearTimeout(timer);
        timer = undefined;
      }
    },
  };
}
