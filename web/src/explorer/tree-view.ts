// The topic tree on screen: a virtual list (@tanstack/virtual-core) that creates elements only for
// the rows in view, so 100,000 topics cost the same to draw as 30. It is an ARIA tree: arrows move
// the selection, Right/Left open and close a branch, and the focused row is the active descendant.
import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from '@tanstack/virtual-core';
import { compact, h } from '../dom';
import { decodePayload } from '../payload';
import type { Row, TopicNode, TopicTree } from './model';

const ROW_HEIGHT = 30;
/** Exact below 100,000, then 123k: the row has little room. */
const count = (n: number): string => (n < 100_000 ? n.toLocaleString('en') : compact(n));
const PREVIEW_CHARS = 80;

export class TreeView {
  readonly element: HTMLElement;
  private readonly space: HTMLElement;
  private rows: Row[] = [];
  private search = '';
  private rowsStale = true;
  private readonly virtualizer: Virtualizer<HTMLElement, HTMLElement>;
  selected: TopicNode | undefined;

  constructor(
    private readonly tree: TopicTree,
    private readonly onSelect: (node: TopicNode | undefined) => void,
  ) {
    this.space = h('div', { class: 'tree-space' });
    this.element = h('div', { class: 'tree-scroll', role: 'tree', tabindex: 0, 'aria-label': 'Topic tree' }, this.space);
    this.virtualizer = new Virtualizer<HTMLElement, HTMLElement>({
      count: 0,
      getScrollElement: () => this.element,
      estimateSize: () => ROW_HEIGHT,
      observeElementRect,
      observeElementOffset,
      scrollToFn: elementScroll,
      overscan: 8,
      onChange: () => this.paint(),
    });
    this.virtualizer._didMount();
    this.element.addEventListener('click', (ev) => this.clicked(ev));
    this.element.addEventListener('keydown', (ev) => this.key(ev));
  }

  /** Number of rows the tree has now (shown or scrolled away). */
  get rowCount(): number {
    return this.rows.length;
  }

  setSearch(q: string): void {
    this.search = q;
    this.rowsStale = true;
    this.refresh();
  }

  /** Marks the rows to be recomputed (expansion changed) and redraws. */
  reshape(): void {
    this.rowsStale = true;
    this.refresh();
  }

  /** Redraws what is in view, recomputing the rows first if the tree's shape changed. */
  refresh(): void {
    if (this.rowsStale || this.tree.shapeChanged) {
      this.rows = this.tree.rows(this.search);
      this.rowsStale = false;
      this.tree.shapeChanged = false;
      this.virtualizer.setOptions({ ...this.virtualizer.options, count: this.rows.length });
      this.virtualizer._willUpdate();
    }
    this.paint();
  }

  select(node: TopicNode | undefined, scroll = true): void {
    this.selected = node;
    if (node && scroll) {
      const i = this.rows.findIndex((r) => r.node === node);
      if (i >= 0) this.virtualizer.scrollToIndex(i, { align: 'auto' });
    }
    this.paint();
    this.onSelect(node);
  }

  private toggle(node: TopicNode): void {
    if (node.children.size === 0) return;
    node.expanded = !node.expanded;
    this.reshape();
  }

  private clicked(ev: Event): void {
    const rowEl = (ev.target as HTMLElement).closest<HTMLElement>('.tree-row');
    if (!rowEl) return;
    const row = this.rows[Number(rowEl.dataset.index)];
    if (!row) return;
    if ((ev.target as HTMLElement).closest('.tree-toggle')) this.toggle(row.node);
    else this.select(row.node, false);
  }

  private key(ev: KeyboardEvent): void {
    const i = this.selected ? this.rows.findIndex((r) => r.node === this.selected) : -1;
    const go = (j: number) => {
      ev.preventDefault();
      const r = this.rows[Math.max(0, Math.min(this.rows.length - 1, j))];
      if (r) this.select(r.node);
    };
    const node = this.selected;
    switch (ev.key) {
      case 'ArrowDown': return go(i + 1);
      case 'ArrowUp': return go(i - 1);
      case 'Home': return go(0);
      case 'End': return go(this.rows.length - 1);
      case 'PageDown': return go(i + 15);
      case 'PageUp': return go(i - 15);
      case 'ArrowRight':
        ev.preventDefault();
        if (node && node.children.size > 0 && !node.expanded) this.toggle(node);
        else if (node?.expanded) go(i + 1);
        return;
      case 'ArrowLeft':
        ev.preventDefault();
        if (node?.expanded) this.toggle(node);
        else if (node?.parent && node.parent.depth >= 0) this.select(node.parent);
        return;
      case 'Enter':
      case ' ':
        ev.preventDefault();
        if (node) this.toggle(node);
        return;
    }
  }

  private paint(): void {
    const items = this.virtualizer.getVirtualItems();
    this.space.style.height = `${this.virtualizer.getTotalSize()}px`;
    const els: HTMLElement[] = [];
    for (const item of items) {
      const row = this.rows[item.index];
      if (!row) continue;
      const el = this.rowElement(row, item.index);
      el.style.transform = `translateY(${item.start}px)`;
      els.push(el);
    }
    this.space.replaceChildren(...els);
    const i = this.selected ? this.rows.findIndex((r) => r.node === this.selected) : -1;
    if (i >= 0) this.element.setAttribute('aria-activedescendant', `tree-row-${i}`);
    else this.element.removeAttribute('aria-activedescendant');
  }

  private rowElement(row: Row, index: number): HTMLElement {
    const n = row.node;
    const branch = n.children.size > 0;
    const last = n.history[n.history.length - 1];
    let preview = '';
    if (last) {
      const d = decodePayload(last.payload.subarray(0, 400), 400);
      const text = d.kind === 'empty' ? '(empty)' : d.kind === 'json' ? d.display.replace(/\s+/g, ' ') : d.display;
      preview = text.length > PREVIEW_CHARS ? text.slice(0, PREVIEW_CHARS) + '…' : text;
    }
    const rate = this.tree.rate(n);
    const counts = branch
      ? `${count(n.topics)} topic${n.topics === 1 ? '' : 's'} · ${count(n.messages)} msg${n.messages === 1 ? '' : 's'}`
      : `${count(n.messages)} msg${n.messages === 1 ? '' : 's'}`;
    const el = h(
      'div',
      {
        class: `tree-row${row.context ? ' context' : ''}${n === this.selected ? ' selected' : ''}`,
        role: 'treeitem',
        id: `tree-row-${index}`,
        'data-index': index,
        'data-topic': n.path,
        'aria-level': n.depth + 1,
        'aria-selected': n === this.selected ? 'true' : 'false',
        ...(branch ? { 'aria-expanded': n.expanded ? 'true' : 'false' } : {}),
      },
      h('span', { class: 'tree-toggle', 'aria-hidden': 'true' }, branch ? (n.expanded ? '▾' : '▸') : ''),
      h('span', { class: 'tree-name mono' }, n.name === '' ? '(empty level)' : n.name),
      last ? h('span', { class: 'tree-value mono' }, preview) : null,
      last?.retain ? h('span', { class: 'badge retained' }, 'retained') : null,
      h('span', { class: 'tree-meta muted' }, counts, rate >= 0.05 ? ` · ${compact(rate)}/s` : ''),
    );
    el.style.paddingLeft = `${n.depth * 18 + 4}px`;
    return el;
  }
}
