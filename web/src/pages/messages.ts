// Messages: the log of received messages, newest first, filterable by topic filter, JSON pretty-printed.
import { append, bytes, checkbox, field, h, input, page, replace, timeOfDay } from '../dom';
import type { Message } from '../connection';
import { decodePayload } from '../payload';
import { filterProblem, topicMatches } from '../topics';

const KEEP = 1000;
const SHOW = 300;
/** However fast messages come, the log is redrawn at most this often, and only while shown. */
const REPAINT_MS = 250;
/** New cards drawn per redraw at most: under a flood, the newest of each burst (no one reads more). */
const PER_REPAINT = 100;

function describeProperties(p: Record<string, unknown> | undefined): string {
  if (!p) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined || k === 'topicAlias') continue;
    let text: string;
    if (v instanceof Uint8Array) text = new TextDecoder().decode(v);
    else if (typeof v === 'object') text = JSON.stringify(v);
    else text = String(v);
    parts.push(`${k}: ${text}`);
  }
  return parts.join(' · ');
}

function entry(m: Message): HTMLLIElement {
  const d = decodePayload(m.payload);
  const props = describeProperties(m.properties);
  return h(
    'li',
    { class: 'msg' },
    h(
      'div',
      { class: 'msg-head' },
      h('time', { datetime: new Date(m.receivedAt).toISOString() }, timeOfDay(m.receivedAt)),
      h('span', { class: 'topic mono' }, m.topic),
      h('span', { class: 'badge' }, `QoS ${m.qos}`),
      m.retain && h('span', { class: 'badge retained' }, 'retained'),
      h('span', { class: 'muted' }, bytes(m.payload.length)),
    ),
    props && h('div', { class: 'msg-props muted' }, props),
    d.kind === 'empty' ? h('p', { class: 'muted payload-empty' }, '(empty payload)') : h('pre', { class: `payload ${d.kind}`, tabindex: 0 }, d.display),
  );
}

export function messagesPage(): { element: HTMLElement; add(m: Message): void; shown(visible: boolean): void } {
  let buffer: Message[] = [];
  let pending: Message[] = [];
  let scheduled = false;
  let visibleNow = false;
  let filterValue = '';

  const list = h('ol', { class: 'log', 'aria-label': 'Received messages, newest first' });
  const count = h('span', { class: 'muted', 'aria-live': 'polite' }, '0 messages');
  const filter = input({ name: 'logFilter', spellcheck: 'false', autocomplete: 'off', placeholder: 'e.g. sensors/+/temperature' });
  const paused = checkbox(false, { name: 'paused' });
  const problem = h('small', { class: 'form-message', role: 'alert' });

  const visible = (m: Message): boolean => filterValue === '' || topicMatches(filterValue, m.topic);

  const renderAll = (): void => {
    if (buffer.length > KEEP) buffer = buffer.slice(-KEEP);
    const shown = buffer.filter(visible).slice(-SHOW).reverse();
    replace(list, ...shown.map(entry));
    updateCount();
  };
  const updateCount = (): void => {
    count.textContent = `${Math.min(KEEP, buffer.length)} message${buffer.length === 1 ? '' : 's'} kept${filterValue ? `, ${list.children.length} shown` : ''}`;
  };

  const flush = (): void => {
    scheduled = false;
    if (paused.checked || !visibleNow) return;
    const fresh = pending.filter(visible).slice(-PER_REPAINT);
    pending = [];
    const frag = document.createDocumentFragment();
    for (let i = fresh.length - 1; i >= 0; i--) frag.appendChild(entry(fresh[i]));
    list.insertBefore(frag, list.firstChild);
    while (list.children.length > SHOW) list.lastElementChild!.remove();
    updateCount();
  };

  filter.addEventListener('input', () => {
    const v = filter.value.trim();
    const why = v ? filterProblem(v) : null;
    problem.textContent = why ?? '';
    if (why) return;
    filterValue = v;
    renderAll();
  });
  paused.addEventListener('change', () => {
    if (!paused.checked) {
      pending = [];
      renderAll();
    }
  });

  const element = page('messages', 'Messages');
  append(
    element,
    h(
      'div',
      { class: 'card toolbar' },
      field('Show topics matching', filter),
      field('Pause', paused),
      h('button', {
        type: 'button',
        onclick: () => {
          buffer = [];
          pending = [];
          renderAll();
        },
      }, 'Clear'),
      count,
      problem,
    ),
    list,
  );
  renderAll();

  return {
    element,
    add(m: Message) {
      buffer.push(m);
      // Trimmed in bulk: splicing one off the front per message costs KEEP moves each time.
      if (buffer.length >= 2 * KEEP) buffer = buffer.slice(-KEEP);
      pending.push(m);
      if (pending.length >= 2 * SHOW) pending = pending.slice(-SHOW);
      if (!scheduled && visibleNow) {
        scheduled = true;
        window.setTimeout(flush, REPAINT_MS);
      }
    },
    shown(v: boolean) {
      visibleNow = v;
      if (v) {
        pending = [];
        renderAll();
      }
    },
  };
}
