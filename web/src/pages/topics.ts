// Topics: a live tree of every topic seen, with its last value and a sparkline for numeric payloads.
import { append, bytes, h, page, timeOfDay } from '../dom';
import { sparkline } from '../charts';
import type { Message } from '../connection';
import { decodePayload } from '../payload';

const SPARK_POINTS = 40;
const PREVIEW_CHARS = 80;
/** Beyond this many tree nodes new topics are counted but not drawn, to keep the page responsive. */
const MAX_NODES = 5000;

interface TopicNode {
  name: string;
  path: string;
  children: Map<string, TopicNode>;
  details: HTMLDetailsElement;
  childList: HTMLUListElement;
  value: HTMLSpanElement;
  spark: HTMLSpanElement;
  meta: HTMLSpanElement;
  count: number;
  last?: Message;
  numbers: number[];
  dirty: boolean;
}

function makeNode(name: string, path: string, depth: number): TopicNode {
  const value = h('span', { class: 'tree-value mono' });
  const spark = h('span', { class: 'tree-spark' });
  const meta = h('span', { class: 'tree-meta muted' });
  const childList = h('ul', { class: 'tree-children' });
  const details = h('details', { class: 'tree-node', 'data-topic': path },
    h('summary', {}, h('span', { class: 'tree-name mono' }, name === '' ? '(empty level)' : name), value, spark, meta),
    childList);
  // The first levels start open; deeper ones are opened as needed.
  details.open = depth < 2;
  return { name, path, children: new Map(), details, childList, value, spark, meta, count: 0, numbers: [], dirty: false };
}

export function topicsPage(): { element: HTMLElement; add(m: Message): void } {
  const rootList = h('ul', { class: 'tree', 'aria-label': 'Topic tree' });
  const root = { children: new Map<string, TopicNode>(), childList: rootList };
  const dirty = new Set<TopicNode>();
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' }, 'No topics yet: subscribe to something, e.g. #.');
  let topics = 0;
  let nodes = 0;
  let skipped = 0;
  let timer: number | undefined;

  const insertSorted = (list: HTMLUListElement, node: TopicNode, siblings: Map<string, TopicNode>): void => {
    const li = h('li', {}, node.details);
    let after: TopicNode | undefined;
    for (const s of siblings.values()) if (s !== node && s.name > node.name && (!after || s.name < after.name)) after = s;
    list.insertBefore(li, after ? after.details.parentElement : null);
  };

  const nodeFor = (topic: string): TopicNode | undefined => {
    const levels = topic.split('/');
    let parent: { children: Map<string, TopicNode>; childList: HTMLUListElement } = root;
    let node: TopicNode | undefined;
    for (const [i, level] of levels.entries()) {
      node = parent.children.get(level);
      if (!node) {
        if (nodes >= MAX_NODES) return undefined;
        nodes++;
        node = makeNode(level, levels.slice(0, i + 1).join('/'), i);
        parent.children.set(level, node);
        insertSorted(parent.childList, node, parent.children);
        if (parent !== root) (parent as TopicNode).details.classList.add('has-children');
      }
      parent = node;
    }
    return node;
  };

  const render = (): void => {
    timer = undefined;
    for (const node of dirty) {
      node.dirty = false;
      const m = node.last!;
      const d = decodePayload(m.payload, 2000);
      const text = d.kind === 'json' && d.number === undefined ? d.display.replace(/\s+/g, ' ') : d.display;
      node.value.textContent = d.kind === 'empty' ? '(empty)' : text.length > PREVIEW_CHARS ? text.slice(0, PREVIEW_CHARS) + '…' : text;
      node.value.title = text.slice(0, 2000);
      if (node.numbers.length >= 2) node.spark.replaceChildren(sparkline(node.numbers, `Recent values of ${node.path}`));
      node.meta.textContent = `${node.count}× · ${bytes(m.payload.length)} · ${timeOfDay(m.receivedAt)}`;
    }
    dirty.clear();
    summary.textContent = `${topics} topic${topics === 1 ? '' : 's'} with a value.` +
      (skipped ? ` ${skipped} messages on further topics were not drawn (the tree shows at most ${MAX_NODES} levels).` : '');
  };

  const element = page('topics', 'Topics');
  append(element, summary, h('div', { class: 'card' }, rootList));
  return {
    element,
    add(m: Message) {
      const node = nodeFor(m.topic);
      if (!node) {
        skipped++;
        timer ??= window.setTimeout(render, 250);
        return;
      }
      if (!node.last) topics++;
      node.last = m;
      node.count++;
      const n = decodePayload(m.payload, 64).number;
      if (n !== undefined && Number.isFinite(n)) {
        node.numbers.push(n);
        if (node.numbers.length > SPARK_POINTS) node.numbers.shift();
      }
      dirty.add(node);
      // Repaint at most a few times a second however fast messages come.
      timer ??= window.setTimeout(render, 250);
    },
  };
}
