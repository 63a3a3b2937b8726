// A tiny DOM builder: enough to write the console's views as plain functions, no framework.

type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined | ((ev: Event) => void);

let nextId = 0;
/** A document-unique id for label/control pairs. */
export const uid = (prefix = 'f'): string => `${prefix}-${++nextId}`;

/**
 * Creates an element. Attributes named `on<event>` with a function become listeners; `true`
 * sets a boolean attribute, `false`/null/undefined leave it out; everything else is an attribute.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(key.slice(2), value as EventListener);
    else if (value === true) el.setAttribute(key, '');
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces all children. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

/** A labelled form field; the control gets an id if it has none, and a hint is linked by aria-describedby. */
export function field(label: string, control: Control, hint?: string): HTMLDivElement {
  if (!control.id) control.id = uid();
  const wrap = h('div', { class: control instanceof HTMLInputElement && control.type === 'checkbox' ? 'field check' : 'field' });
  const lab = h('label', { for: control.id }, label);
  if (control instanceof HTMLInputElement && control.type === 'checkbox') append(wrap, control, lab);
  else append(wrap, lab, control);
  if (hint) {
    const hintEl = h('small', { id: uid('hint'), class: 'hint' }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
    append(wrap, hintEl);
  }
  return wrap;
}

export function input(attrs: Record<string, AttrValue> = {}): HTMLInputElement {
  return h('input', { type: 'text', ...attrs });
}

export function checkbox(checked = false, attrs: Record<string, AttrValue> = {}): HTMLInputElement {
  const el = h('input', { type: 'checkbox', ...attrs });
  el.checked = checked;
  return el;
}

export function select(options: Array<[value: string, label: string]>, value?: string, attrs: Record<string, AttrValue> = {}): HTMLSelectElement {
  const el = h('select', attrs, ...options.map(([v, l]) => h('option', { value: v }, l)));
  if (value !== undefined) el.value = value;
  return el;
}

/** A page section with a heading the router focuses when the page is shown. */
export function page(id: string, title: string, ...children: Child[]): HTMLElement {
  const heading = h('h2', { id: `${id}-title`, tabindex: -1 }, title);
  return h('section', { id: `page-${id}`, class: 'page', 'aria-labelledby': heading.id, hidden: true }, heading, ...children);
}

/** Formats a byte count for people. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) ((v /= 1024), i++);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function timeOfDay(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Seconds as people say a duration: `3 d 4 h`, `2 h 5 min`, `4 min 10 s`, `12 s`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${hr} h`;
  if (hr > 0) return `${hr} h ${min} min`;
  if (min > 0) return `${min} min ${sec} s`;
  return `${sec} s`;
}

/** A count with k/M for thousands and millions: 950, 12.5k, 3.2M. */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${+(n / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${+(n / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (Number.isInteger(n)) return String(n);
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
