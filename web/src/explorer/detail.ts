// The selected topic: its last value (auto, JSON, text or hex), QoS, retain flag, MQTT 5
// properties, a chart of its numeric history or of a numeric JSON field, the diff between its two
// latest values, and deleting it or its whole retained branch (two clicks, like Kick).
import { bytes, field, h, replace, select, timeOfDay } from '../dom';
import { TimeChart } from '../charts';
import { decodePayload, toHex } from '../payload';
import { diffLines, fieldAt, numericFields } from './diff';
import type { Entry, TopicNode, TopicTree } from './model';

const utf8 = new TextDecoder();

function parseJson(payload: Uint8Array): unknown {
  if (payload.length === 0 || payload.length > 256 * 1024) return undefined;
  const c = payload[0];
  // Only what can start a JSON number, object or array is worth a parse.
  if (!(c === 0x7b || c === 0x5b || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x20)) return undefined;
  try {
    return JSON.parse(utf8.decode(payload));
  } catch {
    return undefined;
  }
}

function show(e: Entry, format: string): string {
  if (format === 'hex') return toHex(e.payload, 16_384);
  if (format === 'text') return utf8.decode(e.payload.subarray(0, 100_000));
  if (format === 'json') {
    const v = parseJson(e.payload);
    return v === undefined ? '(not JSON)' : JSON.stringify(v, null, 2);
  }
  const d = decodePayload(e.payload);
  return d.kind === 'empty' ? '(empty)' : d.display;
}

function propertyRows(p: Record<string, unknown>): HTMLElement[] {
  return Object.entries(p).map(([k, v]) => {
    let text: string;
    if (v instanceof Uint8Array) text = toHex(v, 256);
    else if (k === 'userProperties' && v && typeof v === 'object') {
      text = Object.entries(v as Record<string, unknown>).map(([uk, uv]) => `${uk}=${Array.isArray(uv) ? uv.join(', ') : String(uv)}`).join('\n');
    } else text = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'mono' }, text));
  });
}

export class TopicDetail {
  readonly element: HTMLElement;
  private node: TopicNode | undefined;
  private readonly title = h('h3', { class: 'mono detail-topic' });
  private readonly meta = h('p', { class: 'detail-meta' });
  private readonly format = select([['auto', 'Auto'], ['json', 'JSON'], ['text', 'Text'], ['hex', 'Hex']], 'auto', { name: 'valueFormat' });
  private readonly value = h('pre', { class: 'payload detail-value', tabindex: 0 });
  private readonly props = h('tbody');
  private readonly propsTable = h('table', { class: 'props' }, h('caption', {}, 'MQTT 5 properties'), this.props);
  private readonly chartField = select([['', 'The value itself']], '', { name: 'chartField' });
  private readonly chart = new TimeChart('History', [{ name: 'value', color: '--s1' }], (v) => String(+v.toPrecision(6)), false, 150, false);
  private readonly chartNote = h('p', { class: 'muted' });
  private readonly diff = h('pre', { class: 'payload diff', 'aria-label': 'Difference between the last two values' });
  private readonly deleteOne = h('button', { type: 'button', class: 'small danger' }, 'Delete retained');
  private readonly deleteBranch = h('button', { type: 'button', class: 'small danger' }, 'Delete retained branch');
  private readonly message = h('p', { class: 'form-message', role: 'alert' });
  private confirming: 'one' | 'branch' | undefined;
  private confirmTimer: number | undefined;

  constructor(
    private readonly tree: TopicTree,
    private readonly remove: (topics: string[]) => Promise<void>,
  ) {
    this.element = h(
      'section',
      { class: 'card detail', 'aria-labelledby': 'detail-title', hidden: true },
      h('h3', { id: 'detail-title', class: 'visually-hidden' }, 'Selected topic'),
      this.title,
      this.meta,
      h('div', { class: 'actions' }, this.deleteOne, this.deleteBranch),
      this.message,
      h('div', { class: 'toolbar' }, field('Show value as', this.format)),
      this.value,
      this.propsTable,
      h('div', { class: 'toolbar' }, field('Chart field', this.chartField)),
      this.chartNote,
      this.chart.element,
      h('h4', {}, 'Change from the previous value'),
      this.diff,
    );
    this.format.addEventListener('change', () => this.refresh());
    this.chartField.addEventListener('change', () => this.refresh());
    this.deleteOne.addEventListener('click', () => void this.confirmThen('one'));
    this.deleteBranch.addEventListener('click', () => void this.confirmThen('branch'));
  }

  show(node: TopicNode | undefined): void {
    if (node !== this.node) {
      this.node = node;
      this.chartField.value = '';
      this.message.textContent = '';
      this.resetConfirm();
    }
    this.refresh();
  }

  private resetConfirm(): void {
    this.confirming = undefined;
    window.clearTimeout(this.confirmTimer);
  }

  private async confirmThen(what: 'one' | 'branch'): Promise<void> {
    const node = this.node;
    if (!node) return;
    const topics = what === 'one' ? [node.path] : this.tree.retainedIn(node);
    if (this.confirming !== what) {
      // Two steps so one stray click does not wipe retained state other clients rely on.
      this.confirming = what;
      window.clearTimeout(this.confirmTimer);
      this.confirmTimer = window.setTimeout(() => {
        this.confirming = undefined;
        this.refresh();
      }, 8000);
      this.refresh();
      return;
    }
    this.resetConfirm();
    this.message.textContent = `Deleting ${topics.length} retained message${topics.length === 1 ? '' : 's'}…`;
    try {
      await this.remove(topics);
      this.message.textContent = `Deleted ${topics.length} retained message${topics.length === 1 ? '' : 's'}.`;
    } catch (err) {
      this.message.textContent = `Delete failed: ${(err as Error).message}`;
    }
    this.refresh();
  }

  /** Redraws from the node's current state (called on selection and a few times a second). */
  refresh(): void {
    const n = this.node;
    this.element.hidden = !n;
    if (!n) return;
    this.title.textContent = n.path;
    const last = n.history[n.history.length - 1];
    const retainedBelow = n.children.size > 0 ? this.tree.retainedIn(n).length : 0;
    this.deleteOne.hidden = !last?.retain;
    this.deleteBranch.hidden = retainedBelow === 0;
    this.deleteOne.textContent = this.confirming === 'one' ? 'Confirm: delete this retained message' : 'Delete retained';
    this.deleteBranch.textContent = this.confirming === 'branch'
      ? `Confirm: delete ${retainedBelow} retained message${retainedBelow === 1 ? '' : 's'} under ${n.path}`
      : `Delete retained branch (${retainedBelow})`;
    if (!last) {
      this.meta.textContent = `No value of its own · ${n.topics} topics and ${n.messages} messages below.`;
      this.value.textContent = '';
      this.propsTable.hidden = true;
      this.diff.textContent = '';
      this.chartNote.textContent = '';
      this.chart.element.hidden = true;
      return;
    }
    // The explorer subscribes at QoS 0 (so it never holds up the broker's queues): this is the
    // QoS it was delivered with, not necessarily the publisher's.
    this.meta.textContent = `delivered at QoS ${last.qos} · ${last.retain ? 'retained' : 'not retained'} · ${bytes(last.payload.length)} · ` +
      `${n.own} message${n.own === 1 ? '' : 's'} · last at ${timeOfDay(last.at)}`;
    this.value.textContent = show(last, this.format.value);
    this.propsTable.hidden = !last.properties;
    if (last.properties) replace(this.props, ...propertyRows(last.properties));
    this.renderChart(n, last);
    const prev = n.history[n.history.length - 2];
    if (!prev) this.diff.textContent = 'Only one value so far.';
    else {
      const lines = diffLines(show(prev, this.format.value === 'hex' ? 'hex' : 'auto'), show(last, this.format.value === 'hex' ? 'hex' : 'auto'));
      replace(this.diff, ...lines.map((l) => h('span', { class: `diff-${l.kind}` }, `${l.kind === 'added' ? '+ ' : l.kind === 'removed' ? '- ' : '  '}${l.text}\n`)));
    }
  }

  private renderChart(n: TopicNode, last: Entry): void {
    const lastJson = parseJson(last.payload);
    const fields = lastJson !== null && typeof lastJson === 'object' ? numericFields(lastJson) : [];
    const wanted = this.chartField.value;
    const options: Array<[string, string]> = [['', 'The value itself'], ...fields.map((f): [string, string] => [f, `JSON field ${f}`])];
    if (options.length !== this.chartField.options.length || options.some(([v], i) => this.chartField.options[i]?.value !== v)) {
      replace(this.chartField, ...options.map(([v, l]) => h('option', { value: v }, l)));
      this.chartField.value = options.some(([v]) => v === wanted) ? wanted : '';
    }
    const field = this.chartField.value;
    const at: number[] = [];
    const values: number[] = [];
    for (const e of n.history) {
      const json = parseJson(e.payload);
      const v = field ? fieldAt(json, field) : typeof json === 'number' ? json : undefined;
      if (v === undefined) continue;
      at.push(e.at);
      values.push(v);
    }
    this.chart.element.hidden = values.length === 0;
    this.chartNote.textContent = values.length === 0
      ? (fields.length ? 'Pick a numeric JSON field to chart it.' : 'The value is not a number: nothing to chart.')
      : `${values.length} value${values.length === 1 ? '' : 's'} of the last ${n.history.length} messages kept.`;
    if (values.length === 0) return;
    const span = Math.max(10_000, at[at.length - 1] - at[0]);
    this.chart.update(at, [values], at[at.length - 1] - span * 1.02, at[at.length - 1] + span * 0.02);
  }
}
