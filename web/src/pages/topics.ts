// Topics: the explorer. The console subscribes to `#` on every connection (retained topics arrive
// at once, as in MQTT Explorer); this page shows them as a searchable virtual tree with per-branch
// counts and rates, and the selected topic in detail.
import { append, checkbox, compact, field, h, input, page } from '../dom';
import type { Connection, Message } from '../connection';
import { TopicTree } from '../explorer/model';
import { TreeView } from '../explorer/tree-view';
import { TopicDetail } from '../explorer/detail';

const REPAINT_MS = 250;
const DELETE_BATCH = 200;
const WATCH_KEY = 'starling.console.explorer.watchAll';

function storedWatch(): boolean {
  try {
    return localStorage.getItem(WATCH_KEY) !== 'false';
  } catch {
    return true;
  }
}

export function topicsPage(conn: Connection, maxTopics?: number): { element: HTMLElement; add(m: Message): void; shown(visible: boolean): void } {
  const tree = new TopicTree(maxTopics);
  const removeRetained = async (topics: string[]): Promise<void> => {
    // An empty retained message clears a retained topic [MQTT-3.3.1-10]; QoS 1 so a refusal
    // (e.g. by the ACL) comes back as an error instead of passing silently.
    const empty = new Uint8Array(0);
    for (let i = 0; i < topics.length; i += DELETE_BATCH) {
      const batch = topics.slice(i, i + DELETE_BATCH);
      await Promise.all(batch.map((t) => conn.publish(t, empty, 1, true)));
      // No Local keeps the console's own publishes from the explorer: clear them here.
      for (const t of batch) tree.clear(t);
      schedule();
    }
  };
  const detail = new TopicDetail(tree, removeRetained);
  const view = new TreeView(tree, (node) => detail.show(node));
  const search = input({ name: 'topicSearch', type: 'search', spellcheck: 'false', autocomplete: 'off', placeholder: 'sensors/kitchen' });
  const summary = h('p', { class: 'muted explorer-summary', 'aria-live': 'polite' }, 'Connect to a broker: the explorer subscribes to # and shows every topic.');
  const notice = h('p', { class: 'notice', role: 'status', hidden: true });
  const refused = h('p', { class: 'notice', role: 'status', hidden: true });
  let searchTimer: number | undefined;
  search.addEventListener('input', () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => view.setSearch(search.value), 200);
  });
  // On by default; off for a console pointed at a broker too busy to send it everything.
  const watchAll = checkbox(storedWatch(), { name: 'watchAll' });
  const subscribeAll = (): void => {
    // Retain As Published keeps the retain flag on live messages, so the explorer knows which
    // topics hold a retained message (and can delete them). No Local: the console's own publishes
    // come back only through the user's subscriptions, as their options say.
    conn.subscribe('#', { qos: 0, retainAsPublished: true, noLocal: true }).catch((err: Error) => {
      refused.hidden = false;
      refused.textContent = `The broker refused the explorer's subscription to #: ${err.message}. It shows what your own subscriptions bring.`;
    });
  };
  conn.onStatus(() => {
    if (conn.status === 'connected' && watchAll.checked) subscribeAll();
    if (conn.status === 'connecting') refused.hidden = true;
  });
  watchAll.addEventListener('change', () => {
    try {
      localStorage.setItem(WATCH_KEY, String(watchAll.checked));
    } catch {
      // storage disabled: the choice lasts for this page
    }
    if (conn.status !== 'connected') return;
    if (watchAll.checked) subscribeAll();
    else conn.unsubscribe('#').catch(() => undefined);
  });
  const expandAll = h('button', { type: 'button', onclick: () => (tree.setExpandedAll(true), view.reshape()) }, 'Expand all');
  const collapseAll = h('button', { type: 'button', onclick: () => (tree.setExpandedAll(false), view.reshape()) }, 'Collapse all');

  let visible = false;
  let timer: number | undefined;
  // Rates fall as time passes without messages: repaint now and then even when nothing came.
  let ticker: number | undefined;
  let changed = true;
  const repaint = (): void => {
    timer = undefined;
    if (!visible || !changed) return;
    changed = false;
    view.refresh();
    detail.refresh();
    const r = tree.root;
    summary.textContent = `${r.topics.toLocaleString('en')} topic${r.topics === 1 ? '' : 's'} with a value, ${r.messages.toLocaleString('en')} message${r.messages === 1 ? '' : 's'} seen, ${compact(tree.rate(r))}/s.`;
    notice.hidden = tree.dropped === 0;
    notice.textContent = `The explorer keeps at most ${compact(tree.maxNodes)} topic levels: ${tree.dropped} message${tree.dropped === 1 ? '' : 's'} on further topics were not kept.`;
  };
  const schedule = (): void => {
    changed = true;
    if (visible) timer ??= window.setTimeout(repaint, REPAINT_MS);
  };

  const element = page('topics', 'Topics');
  append(
    element,
    summary,
    notice,
    refused,
    h('div', { class: 'toolbar explorer-tools' }, field('Search topics', search, 'Shows topics whose path contains this.'), expandAll, collapseAll,
      field('Subscribe to all topics (#)', watchAll)),
    h('div', { class: 'explorer' }, h('div', { class: 'card tree-card' }, view.element), detail.element),
  );
  return {
    element,
    add(m: Message) {
      tree.add(m);
      schedule();
    },
    shown(v: boolean) {
      visible = v;
      window.clearInterval(ticker);
      if (v) {
        changed = true;
        repaint();
        ticker = window.setInterval(schedule, 1000);
      } else {
        window.clearTimeout(timer);
        timer = undefined;
      }
    },
  };
}
