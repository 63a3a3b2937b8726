// The Starling console: one MQTT-over-WebSocket connection shared by every page, hash routing,
// and the wiring between incoming messages and the views that show them.
import './style.css';
import { Connection, type Message } from './connection';
import { SysFeed, SYS_PREFIX } from './sys-feed';
import { topicMatches } from './topics';
import { defaultUrl, setWebSocketPath } from './profiles';
import { connectPage } from './pages/connect';
import { Subscriptions, subscribePage } from './pages/subscribe';
import { publishPage } from './pages/publish';
import { messagesPage } from './pages/messages';
import { topicsPage } from './pages/topics';
import { dashboardPage } from './pages/dashboard';
import { adminPage } from './pages/admin';
import { tracePage } from './pages/trace';

const conn = new Connection();
const subs = new Subscriptions();
const feed = new SysFeed(conn.own);

const messages = messagesPage();
const topics = topicsPage(conn);
const dashboard = dashboardPage(conn, feed);
const connect = connectPage(conn);
const admin = adminPage(conn);
const pages: Record<string, HTMLElement> = {
  connect: connect.element,
  subscribe: subscribePage(conn, subs),
  publish: publishPage(conn),
  messages: messages.element,
  topics: topics.element,
  dashboard: dashboard.element,
  admin: admin.element,
  trace: tracePage(() => admin.api()).element,
};

const main = document.getElementById('main')!;
main.append(...Object.values(pages));

const utf8 = new TextDecoder();
// The console's own subscriptions: `$SYS/broker/#` for the dashboard and `#` for the explorer.
// Starling sends one copy per message however many of a client's subscriptions match.
conn.onMessage((m: Message) => {
  if (m.topic.startsWith(SYS_PREFIX)) feed.accept(m.topic, utf8.decode(m.payload), m.retain);
  else if (!m.topic.startsWith('$')) topics.add(m);
  // The log shows what the user subscribed to.
  for (const f of subs.list.keys()) {
    if (topicMatches(f, m.topic)) {
      messages.add(m);
      break;
    }
  }
});

// The dashboard's feed rides on the same WebSocket: $SYS is subscribed on every new connection.
const statusEl = document.getElementById('connection-status')!;
conn.onStatus(() => {
  const labels = { connected: 'Connected', connecting: 'Connecting…', reconnecting: 'Reconnecting…', disconnected: 'Not connected' };
  const who = conn.profile ? ` as ${conn.profile.clientId}` : '';
  statusEl.textContent = conn.status === 'connected' ? `Connected to ${conn.detail}${who}` : `${labels[conn.status]}${conn.detail && conn.status !== 'connecting' ? ` — ${conn.detail}` : ''}`;
  statusEl.dataset.status = conn.status;
  if (conn.status === 'connected') {
    feed.connected(conn.sessionPresent);
    conn.subscribe(SYS_PREFIX + '#', { qos: 0 }).catch(() => {
      // A broker may refuse $SYS to this user; the dashboard then says it has no data.
    });
  }
});

// The broker says where its MQTT endpoint lives on this listener (webSocketPath may not be /mqtt).
fetch('console.json', { cache: 'no-store' })
  .then((r) => (r.ok ? r.json() : undefined))
  .then((info: { webSocketPath?: unknown } | undefined) => {
    if (typeof info?.webSocketPath !== 'string') return;
    const before = defaultUrl();
    setWebSocketPath(info.webSocketPath);
    connect.defaultUrlChanged(before);
  })
  .catch(() => {
    // Served by something else (e.g. the Vite dev server): /mqtt it is.
  });

// ---- routing ----
const links = [...document.querySelectorAll<HTMLAnchorElement>('nav a[data-page]')];
function route(focus: boolean): void {
  const name = location.hash.replace(/^#\/?/, '') || 'connect';
  const current = name in pages ? name : 'connect';
  for (const [key, el] of Object.entries(pages)) el.hidden = key !== current;
  for (const a of links) {
    if (a.dataset.page === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  dashboard.shown(current === 'dashboard');
  topics.shown(current === 'topics');
  messages.shown(current === 'messages');
  admin.shown(current === 'admin');
  document.title = `${pages[current].querySelector('h2')?.textContent ?? ''} · Starling console`;
  // Moving focus to the new page's heading tells keyboard and screen-reader users where they are.
  if (focus) pages[current].querySelector<HTMLElement>('h2')?.focus();
}
window.addEventListener('hashchange', () => route(true));
route(false);
