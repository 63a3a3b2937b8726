// Trace: the packets of one client id, or those about one topic filter, live, as decoded rows
// (admins only: the broker streams them from /api/v1/trace with the Admin page's credentials).
// The broker limits and counts what it drops; the page keeps the newest rows only and repaints a
// few times a second however fast rows arrive.
import { append, field, h, input, page, replace, timeOfDay } from '../dom';
import { reasonText } from '../connection';
import type { AdminApi } from '../admin';

const MAX_ROWS = 1000;
const REPAINT_MS = 200;

type Row = Record<string, unknown> & { at: number; dir: 'in' | 'out'; clientId: string; type: string };

const code = (n: unknown): string => (typeof n === 'number' ? (n === 0 ? 'success (0x0)' : reasonText(n)) : '');
const props = (p: unknown): string => (p && typeof p === 'object' ? ` · ${Object.entries(p).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')}` : '');

/** One line saying what the packet carries. */
export function describe(r: Row): string {
  const id = typeof r.packetId === 'number' ? `id ${r.packetId}` : '';
  switch (r.type) {
    case 'connect': {
      const will = r.will as { topic: string; qos: number } | undefined;
      return [`MQTT ${r.protocolVersion === 5 ? '5.0' : r.protocolVersion === 4 ? '3.1.1' : '3.1'}`, r.clean ? 'clean start' : 'resume session', `keepalive ${r.keepalive}`,
        r.username !== undefined ? `user ${r.username}` : '', will ? `will on ${will.topic} QoS ${will.qos}` : ''].filter(Boolean).join(' · ') + props(r.properties);
    }
    case 'connack':
      return `${code(r.reasonCode)}${r.sessionPresent ? ' · session present' : ''}${props(r.properties)}`;
    case 'publish': {
      const body = typeof r.text === 'string' ? `“${r.text}”` : typeof r.hex === 'string' ? `hex ${r.hex}` : '';
      return [r.topic, `QoS ${r.qos}`, id, r.retain ? 'retain' : '', r.dup ? 'dup' : '', `${r.size} B`, body].filter(Boolean).join(' · ') + props(r.properties);
    }
    case 'subscribe':
      return [id, ...((r.subscriptions as Array<{ filter: string; qos: number; noLocal: boolean; retainAsPublished: boolean; retainHandling: number }>) ?? [])
        .map((s) => `${s.filter} QoS ${s.qos}${s.noLocal ? ' nl' : ''}${s.retainAsPublished ? ' rap' : ''}${s.retainHandling ? ` rh ${s.retainHandling}` : ''}`)].join(' · ') + props(r.properties);
    case 'suback':
    case 'unsuback':
      return [id, ...((r.reasonCodes as number[] | undefined) ?? []).map((c) => (c < 0x80 && r.type === 'suback' ? `granted QoS ${c}` : code(c)))].join(' · ') + props(r.properties);
    case 'unsubscribe':
      return [id, ...((r.filters as string[]) ?? [])].join(' · ');
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return `${id} · ${code(r.reasonCode)}${props(r.properties)}`;
    case 'disconnect':
    case 'auth':
      return `${code(r.reasonCode)}${props(r.properties)}`;
    default:
      return '';
  }
}

export function tracePage(api: () => AdminApi | undefined): { element: HTMLElement } {
  const clientId = input({ name: 'traceClientId', spellcheck: 'false', autocomplete: 'off', placeholder: 'sensor-17' });
  const filter = input({ name: 'traceFilter', spellcheck: 'false', autocomplete: 'off', placeholder: 'sensors/#' });
  const start = h('button', { type: 'submit', class: 'primary' }, 'Start trace');
  const stop = h('button', { type: 'button', disabled: true }, 'Stop');
  const clear = h('button', { type: 'button' }, 'Clear');
  const status = h('p', { class: 'muted trace-status', role: 'status' }, 'Sign in on the Admin page, then trace a client id or a topic filter.');
  const body = h('tbody');
  let rows: Row[] = [];
  let received = 0;
  let browserDropped = 0;
  let brokerDrops = { rateLimited: 0, bufferFull: 0, slowReader: 0 };
  let what = '';
  let running: AbortController | undefined;
  let timer: number | undefined;

  const paint = (): void => {
    timer = undefined;
    const d = brokerDrops;
    const dropped = d.rateLimited + d.bufferFull + d.slowReader;
    status.textContent = `${running ? 'Tracing' : 'Stopped tracing'} ${what}: ${received} packet${received === 1 ? '' : 's'}` +
      (dropped ? `; the broker dropped ${dropped} (rate limit ${d.rateLimited}, buffer ${d.bufferFull}, slow reader ${d.slowReader})` : '') +
      (browserDropped ? `; the oldest ${browserDropped} left the table` : '') + '.';
    replace(body, ...rows.slice(-MAX_ROWS).reverse().map((r) =>
      h('tr', { class: `trace-${r.dir}`, 'data-type': r.type },
        h('td', { class: 'mono' }, timeOfDay(r.at)),
        h('td', {}, r.dir === 'in' ? '→ in' : '← out'),
        h('td', { class: 'mono' }, r.clientId),
        h('td', { class: 'mono trace-type' }, r.type.toUpperCase()),
        h('td', { class: 'mono trace-detail' }, describe(r)))));
  };
  const schedule = (): void => {
    timer ??= window.setTimeout(paint, REPAINT_MS);
  };

  const run = async (a: AdminApi, watch: { clientId?: string; filter?: string }, ac: AbortController): Promise<void> => {
    const reader = (await a.trace(watch, ac.signal)).getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const lines = text.split('\n');
      text = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        const r = JSON.parse(line) as Row & { type: string };
        if (r.type === 'drops') brokerDrops = { rateLimited: Number(r.rateLimited), bufferFull: Number(r.bufferFull), slowReader: Number(r.slowReader) };
        else if (r.type !== 'start' && r.type !== 'end') {
          received++;
          rows.push(r);
        }
      }
      if (rows.length > 2 * MAX_ROWS) {
        browserDropped += rows.length - MAX_ROWS;
        rows = rows.slice(-MAX_ROWS);
      }
      schedule();
    }
  };

  const stopTrace = (): void => {
    running?.abort();
    running = undefined;
    start.disabled = false;
    stop.disabled = true;
    paint();
  };
  stop.addEventListener('click', stopTrace);
  clear.addEventListener('click', () => {
    rows = [];
    received = 0;
    browserDropped = 0;
    paint();
  });

  const form = h('form', {
    class: 'toolbar trace-form',
    'aria-label': 'Trace settings',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      const a = api();
      const watch = { clientId: clientId.value.trim() || undefined, filter: filter.value.trim() || undefined };
      if (!a) {
        status.textContent = 'The trace needs the admin API: sign in on the Admin page first.';
        return;
      }
      if (!watch.clientId && !watch.filter) {
        status.textContent = 'Enter a client id, a topic filter, or both.';
        return;
      }
      running?.abort();
      const ac = new AbortController();
      running = ac;
      what = [watch.clientId && `client ${watch.clientId}`, watch.filter && `topic filter ${watch.filter}`].filter(Boolean).join(' and ');
      brokerDrops = { rateLimited: 0, bufferFull: 0, slowReader: 0 };
      start.disabled = true;
      stop.disabled = false;
      paint();
      run(a, watch, ac).then(
        () => {
          if (running === ac) stopTrace();
        },
        (err: unknown) => {
          if (running !== ac) return;
          stopTrace();
          status.textContent = `Trace failed: ${(err as Error).message}`;
        },
      );
    },
  },
  field('Trace client', clientId, 'Every packet of this client, both ways.'),
  field('Trace topics matching', filter, 'PUBLISH on matching topics, (UN)SUBSCRIBE of overlapping filters, any client.'),
  start, stop, clear);

  const element = page('trace', 'Trace');
  append(element,
    h('section', { class: 'card' }, form, status),
    h('div', { class: 'table-wrap card' }, h('table', { class: 'trace' },
      h('caption', { class: 'visually-hidden' }, 'Traced packets, newest first'),
      h('thead', {}, h('tr', {}, ...['Time', 'Direction', 'Client', 'Packet', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
      body)));
  return { element };
}
