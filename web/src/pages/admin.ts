// Admin: the broker's listeners, clients, subscriptions and retained messages through the admin
// API (/api/v1 on this origin), with the admin token or an admin user's password. Lists refresh
// while the page is shown; every destructive action takes two clicks.
import { append, checkbox, field, h, input, page, replace, select } from '../dom';
import type { Connection } from '../connection';
import { naturalCompare } from '../explorer/model';
import { AdminApi, publicListeners, storeToken, storedToken, type AdminClient, type AdminCredentials, type AdminRetained, type AdminSubscription } from '../admin';

const REFRESH_MS = 5000;
const PAGE_SIZE = 50;
const TRANSPORTS: Record<string, string> = { 'mqtt:': 'MQTT over TCP', 'mqtts:': 'MQTT over TLS', 'ws:': 'WebSocket', 'wss:': 'secure WebSocket' };

/** A button that asks for a second click (within 5 s) before it acts. */
function confirmButton(label: string, aria: string, act: () => Promise<void>): HTMLButtonElement {
  const b = h('button', { type: 'button', class: 'small danger', 'aria-label': aria }, label);
  let armed: number | undefined;
  const disarm = () => {
    window.clearTimeout(armed);
    armed = undefined;
    b.textContent = label;
    b.setAttribute('aria-label', aria);
  };
  b.addEventListener('click', () => {
    if (armed === undefined) {
      b.textContent = `Confirm ${label.toLowerCase()}`;
      b.setAttribute('aria-label', `Confirm: ${aria.charAt(0).toLowerCase()}${aria.slice(1)}`);
      armed = window.setTimeout(disarm, 5000);
      return;
    }
    disarm();
    void act();
  });
  return b;
}

/** Previous/next paging for a list the API serves by offset. */
class Pager {
  offset = 0;
  readonly element: HTMLElement;
  private readonly label = h('span', { class: 'muted' });
  private readonly prev = h('button', { type: 'button', class: 'small' }, 'Previous');
  private readonly next = h('button', { type: 'button', class: 'small' }, 'Next');
  constructor(what: string, reload: () => void) {
    this.element = h('div', { class: 'pager', role: 'group', 'aria-label': `${what} pages` }, this.prev, this.label, this.next);
    this.prev.setAttribute('aria-label', `Previous page of ${what}`);
    this.next.setAttribute('aria-label', `Next page of ${what}`);
    this.prev.addEventListener('click', () => ((this.offset = Math.max(0, this.offset - PAGE_SIZE)), reload()));
    this.next.addEventListener('click', () => ((this.offset += PAGE_SIZE), reload()));
  }
  show(total: number, shown: number): void {
    if (this.offset >= total && total > 0) this.offset = Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE;
    this.label.textContent = total === 0 ? 'none' : `${this.offset + 1}–${this.offset + shown} of ${total}`;
    this.prev.disabled = this.offset === 0;
    this.next.disabled = this.offset + shown >= total;
  }
}

const cell = (text: string | number, cls?: string) => h('td', cls ? { class: cls } : {}, text);
/**
 * A URL or address with places to break at its seams (before `:port` and the path, after `://`), so
 * a narrow column wraps `ws://broker.example.com` / `:8083/mqtt` rather than mid-word.
 */
function seams(text: string): Node {
  const out = document.createDocumentFragment();
  for (const part of text.split(/(?<=:\/\/)|(?=:\d+(?:\/|$))|(?=\/(?!\/))(?<!\/)/)) {
    if (out.childNodes.length) out.append(h('wbr'));
    out.append(part);
  }
  return out;
}
/** Date and time as two unbreakable pieces, one line each (the clients table stacks them). */
function when(iso: string): HTMLElement {
  const d = new Date(iso);
  return h('time', { datetime: iso, title: d.toLocaleString() }, h('span', { class: 'nowrap' }, d.toLocaleDateString()), ' ', h('span', { class: 'nowrap' }, d.toLocaleTimeString()));
}
const empty = (cols: number, text: string) => h('tr', {}, h('td', { colspan: cols, class: 'muted' }, text));
const headCells = (...titles: string[]) => h('tr', {}, ...titles.map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'visually-hidden' }, 'Actions'))));
const headRow = (...titles: string[]) => h('thead', {}, headCells(...titles));

function subscriptionOptions(s: AdminSubscription): string {
  return [s.noLocal && 'no local', s.retainAsPublished && 'retain as published', s.retainHandling ? `retain handling ${s.retainHandling}` : '', s.subscriptionId ? `id ${s.subscriptionId}` : ''].filter(Boolean).join(', ') || '—';
}

export function adminPage(conn: Connection): { element: HTMLElement; shown(visible: boolean): void; api(): AdminApi | undefined } {
  // ---- sign-in ----
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
  const api = (): AdminApi | undefined => (credentials ? new AdminApi(credentials) : undefined);
  const message = h('p', { class: 'form-message', role: 'alert' });
  const say = (text: string) => (message.textContent = text);

  // ---- listeners ----
  const listenersBody = h('tbody');
  // The public list (/console.json) has each listener's client URL, path included; no token needed.
  async function loadListeners(): Promise<void> {
    try {
      const rows = await publicListeners();
      if (rows.length === 0) return replace(listenersBody, empty(2, 'The broker lists no listeners.'));
      replace(listenersBody, ...rows.map((l) => h('tr', {}, cell(l.url, 'mono'), cell(TRANSPORTS[new URL(l.url).protocol] ?? ''))));
    } catch (err) {
      replace(listenersBody, empty(2, `Listeners unavailable: ${(err as Error).message}`));
    }
  }

  // ---- clients ----
  const clientSearch = input({ name: 'clientSearch', type: 'search', spellcheck: 'false', autocomplete: 'off' });
  const clientsBody = h('tbody');
  const clientsCaption = h('caption', {}, 'Clients');
  const clientPager = new Pager('clients', () => void loadClients());
  const clientRow = (c: AdminClient): HTMLTableRowElement => {
    const self = conn.status === 'connected' && c.clientId === conn.profile?.clientId;
    const action = self
      ? h('span', { class: 'muted' }, 'this console')
      : confirmButton('Kick', `Disconnect client ${c.clientId}`, async () => {
          try {
            await api()!.kick(c.clientId);
            say(`Disconnected ${c.clientId}.`);
          } catch (err) {
            say(`Kick failed: ${(err as Error).message}`);
          }
          void loadClients();
        });
    return h(
      'tr',
      { 'data-client-id': c.clientId },
      cell(c.clientId, 'mono wraps'),
      cell(c.username ?? '—'),
      // The URL a client dials, as in the Listeners table (not the listener as configured).
      h('td', { class: 'mono wraps' }, seams(c.listenerUrl)),
      cell(`${c.protocol} ${c.transport}`),
      cell(c.address + (c.remotePort ? `:${c.remotePort}` : ''), 'mono'),
      h('td', {}, when(c.connectedAt)),
      cell(c.inflight, 'num'),
      cell(c.queued, 'num'),
      cell(c.subscriptions, 'num'),
      h('td', {}, action),
    );
  };
  async function loadClients(): Promise<void> {
    const a = api();
    if (!a) return replace(clientsBody, empty(10, 'Enter the admin token, or an admin user and password, to list clients.'));
    try {
      const r = await a.clients({ search: clientSearch.value.trim(), offset: clientPager.offset, limit: PAGE_SIZE });
      clientsCaption.textContent = `Clients (${r.total}${clientSearch.value.trim() ? ' matching' : ''})`;
      clientPager.show(r.total, r.clients.length);
      replace(clientsBody, ...(r.clients.length ? r.clients.map(clientRow) : [empty(10, 'No clients match.')]));
    } catch (err) {
      say(`Admin API: ${(err as Error).message}`);
    }
  }
  let searchTimer: number | undefined;
  clientSearch.addEventListener('input', () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => ((clientPager.offset = 0), void loadClients()), 250);
  });

  // ---- subscriptions ----
  const subsView = select([['client', 'Per client'], ['filter', 'Per filter']], 'client', { name: 'subscriptionView' });
  const subsClient = input({ name: 'subscriptionClient', spellcheck: 'false', autocomplete: 'off' });
  const subsHead = h('thead');
  const subsBody = h('tbody');
  const subsCaption = h('caption', {}, 'Subscriptions');
  async function loadSubscriptions(): Promise<void> {
    const a = api();
    if (!a) return replace(subsBody, empty(5, 'Sign in to list subscriptions.'));
    try {
      const r = await a.subscriptions({ clientId: subsClient.value.trim() || undefined, limit: 10_000 });
      const byFilter = subsView.value === 'filter';
      subsCaption.textContent = `Subscriptions (${r.total})`;
      if (byFilter) {
        const groups = new Map<string, AdminSubscription[]>();
        for (const s of r.subscriptions) groups.set(s.filter, [...(groups.get(s.filter) ?? []), s]);
        replace(subsHead, headCells('Filter', 'Subscribers', 'Clients'));
        const rows = [...groups].sort((x, y) => y[1].length - x[1].length || (x[0] < y[0] ? -1 : 1));
        replace(subsBody, ...(rows.length ? rows.map(([f, list]) => h('tr', { 'data-filter': f }, cell(f, 'mono'), cell(list.length, 'num'),
          cell(list.map((s) => s.clientId).sort(naturalCompare).slice(0, 8).join(', ') + (list.length > 8 ? ` and ${list.length - 8} more` : ''), 'mono'))) : [empty(3, 'No subscriptions.')]));
      } else {
        replace(subsHead, headCells('Client ID', 'Filter', 'QoS', 'Options', 'Session'));
        replace(subsBody, ...(r.subscriptions.length ? r.subscriptions.slice(0, 500).map((s) => h('tr', {}, cell(s.clientId, 'mono'), cell(s.filter, 'mono'), cell(s.qos, 'num'),
          cell(subscriptionOptions(s)), cell(s.online ? 'online' : 'offline'))) : [empty(5, 'No subscriptions.')]));
      }
    } catch (err) {
      say(`Admin API: ${(err as Error).message}`);
    }
  }
  subsView.addEventListener('change', () => void loadSubscriptions());
  subsClient.addEventListener('change', () => void loadSubscriptions());

  // ---- retained ----
  const retainedFilter = input({ name: 'retainedFilter', spellcheck: 'false', autocomplete: 'off', value: '#' });
  const retainedBody = h('tbody');
  const retainedCaption = h('caption', {}, 'Retained messages');
  const retainedPager = new Pager('retained messages', () => void loadRetained());
  const retainedRow = (m: AdminRetained): HTMLTableRowElement =>
    h('tr', { 'data-topic': m.topic },
      cell(m.topic, 'mono'),
      cell(m.payloadText === undefined ? `(${m.size} bytes, binary)` : m.payloadText + (m.truncated ? '…' : ''), 'mono preview'),
      cell(m.qos, 'num'),
      h('td', {}, h('time', { datetime: m.createdAt }, new Date(m.createdAt).toLocaleString())),
      h('td', {}, m.topic.startsWith('$') ? h('span', { class: 'muted' }, 'broker') : confirmButton('Delete', `Delete retained message ${m.topic}`, async () => {
        try {
          await api()!.deleteRetained(m.topic);
          say(`Deleted the retained message on ${m.topic}.`);
        } catch (err) {
          say(`Delete failed: ${(err as Error).message}`);
        }
        void loadRetained();
      })));
  async function loadRetained(): Promise<void> {
    const a = api();
    if (!a) return replace(retainedBody, empty(5, 'Sign in to browse retained messages.'));
    try {
      const r = await a.retained({ filter: retainedFilter.value.trim() || '#', offset: retainedPager.offset, limit: PAGE_SIZE });
      retainedCaption.textContent = `Retained messages (${r.total} under ${retainedFilter.value.trim() || '#'})`;
      retainedPager.show(r.total, r.messages.length);
      replace(retainedBody, ...(r.messages.length ? r.messages.map(retainedRow) : [empty(5, 'No retained messages there.')]));
    } catch (err) {
      say(`Retained: ${(err as Error).message}`);
    }
  }
  retainedFilter.addEventListener('change', () => ((retainedPager.offset = 0), void loadRetained()));

  let visible = false;
  let timer: number | undefined;
  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    timer = undefined;
    await Promise.all([loadListeners(), loadClients(), loadSubscriptions(), loadRetained()]);
    if (visible) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
  }

  const signIn = h(
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
        say('');
        void refresh();
      },
    },
    field('Sign in with', method),
    ...tokenFields,
    ...userFields,
    h('button', { type: 'submit' }, 'Load'),
  );

  const section = (id: string, title: string, ...children: Array<Node | null>) =>
    h('section', { class: 'card', 'aria-labelledby': `${id}-title` }, h('h3', { id: `${id}-title` }, title), ...children);
  const element = page('admin', 'Admin');
  append(
    element,
    h('section', { class: 'card', 'aria-label': 'Sign in to the admin API' }, signIn, message),
    section('listeners', 'Listeners', h('div', { class: 'table-wrap' }, h('table', {}, h('caption', { class: 'visually-hidden' }, 'Listeners'), headRow('Client URL', 'Transport'), listenersBody))),
    section('clients', 'Clients',
      h('div', { class: 'toolbar' }, field('Search clients', clientSearch, 'Client id, user name, address or listener.'), clientPager.element),
      h('div', { class: 'table-wrap' }, h('table', { class: 'clients' }, clientsCaption,
        headRow('Client ID', 'User', 'Listener', 'Protocol', 'Address', 'Connected since', 'In flight', 'Queued', 'Subscriptions', ''), clientsBody))),
    section('subscriptions', 'Subscriptions',
      h('div', { class: 'toolbar' }, field('Group subscriptions', subsView), field('Subscriptions of client', subsClient, 'Only this client’s subscriptions; empty for all.')),
      h('div', { class: 'table-wrap' }, h('table', { class: 'subscriptions' }, subsCaption, subsHead, subsBody))),
    section('retained', 'Retained messages',
      h('div', { class: 'toolbar' }, field('Retained under', retainedFilter, 'e.g. sensors/# or sensors/+/temperature'), retainedPager.element),
      h('div', { class: 'table-wrap' }, h('table', { class: 'retained' }, retainedCaption, headRow('Topic', 'Value', 'QoS', 'Stored', ''), retainedBody))),
  );
  void loadListeners();

  return {
    element,
    api,
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
