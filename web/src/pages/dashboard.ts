// Dashboard: live charts from $SYS over the console's own MQTT connection, the listener list from
// the public /console.json (URLs are no secret: clients are given them), and the client table from
// the admin API (with a kick action), which needs the admin token or an admin user's password.
import { append, bytes, checkbox, field, h, input, page, replace, select } from '../dom';
import { LineChart } from '../charts';
import type { Connection } from '../connection';
import type { SysFeed } from '../sys-feed';
import { AdminApi, publicListeners, storeToken, storedToken, type AdminClient, type AdminCredentials } from '../admin';

const REFRESH_MS = 5000;
const TRANSPORTS: Record<string, string> = { 'mqtt:': 'MQTT over TCP', 'mqtts:': 'MQTT over TLS', 'ws:': 'WebSocket', 'wss:': 'secure WebSocket' };

const perSec = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '/s';
const count = (v: number): string => String(Math.round(v));

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
    connections: new LineChart('Connections', [{ name: 'clients', className: 's1' }], count),
    subs: new LineChart('Subscriptions and retained', [{ name: 'subscriptions', className: 's1' }, { name: 'retained', className: 's2' }], count),
    messages: new LineChart('Messages per second', [{ name: 'in', className: 's1' }, { name: 'out', className: 's2' }], perSec),
    bytes: new LineChart('Bytes per second', [{ name: 'in', className: 's1' }, { name: 'out', className: 's2' }], (v) => bytes(Math.round(v)) + '/s'),
  };
  const feedNote = h('p', { class: 'muted', 'aria-live': 'polite' }, 'Connect to a broker to see its $SYS statistics.');

  const renderFeed = (): void => {
    const s = feed.samples;
    const last = s[s.length - 1];
    const get = (k: string) => feed.latest.get(k);
    stats.version.value.textContent = get('version') ?? '–';
    stats.uptime.value.textContent = get('uptime') ?? '–';
    stats.connected.value.textContent = get('clients/connected') ?? '–';
    stats.subscriptions.value.textContent = get('subscriptions/count') ?? '–';
    stats.retained.value.textContent = get('retained messages/count') ?? '–';
    stats.msgIn.value.textContent = last?.msgInPerSec != null ? perSec(last.msgInPerSec) : '–';
    stats.msgOut.value.textContent = last?.msgOutPerSec != null ? perSec(last.msgOutPerSec) : '–';
    stats.bytesIn.value.textContent = last?.bytesInPerSec != null ? bytes(Math.round(last.bytesInPerSec)) + '/s' : '–';
    stats.bytesOut.value.textContent = last?.bytesOutPerSec != null ? bytes(Math.round(last.bytesOutPerSec)) + '/s' : '–';
    charts.connections.update([s.map((x) => x.connected)]);
    charts.subs.update([s.map((x) => x.subscriptions), s.map((x) => x.retained)]);
    charts.messages.update([s.map((x) => x.msgInPerSec), s.map((x) => x.msgOutPerSec)]);
    charts.bytes.update([s.map((x) => x.bytesInPerSec), s.map((x) => x.bytesOutPerSec)]);
    if (s.length > 0) feedNote.textContent = `${s.length} sample${s.length === 1 ? '' : 's'} from $SYS, latest at uptime ${last.uptime} s.`;
    else if (conn.status === 'connected') feedNote.textContent = 'Waiting for $SYS/broker/# data (the broker publishes it every few seconds).';
  };
  feed.onSample(renderFeed);
  conn.onStatus(renderFeed);

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
  let visible = false;
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
      if (v) void refresh();
      else {
        window.clearTimeout(timer);
        timer = undefined;
      }
    },
  };
}
