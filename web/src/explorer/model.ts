// The topic explorer's tree, apart from the DOM: one node per topic level, per-branch counts and
// rates kept up to date as messages arrive (a few additions per level), children sorted naturally
// (dev2 before dev10) only when a branch is shown, and the rows to show computed from what is
// expanded or matches the search. Memory is bounded: a cap on nodes (further topics are counted,
// not kept) and on the message history of each topic and of all topics together.
import type { Message } from '../connection';

/** One message as the explorer keeps it. */
export interface Entry {
  at: number;
  payload: Uint8Array;
  qos: number;
  retain: boolean;
  properties?: Record<string, unknown>;
}

export interface TopicNode {
  name: string;
  path: string;
  depth: number;
  parent: TopicNode | undefined;
  children: Map<string, TopicNode>;
  /** Children in natural order; rebuilt when a child was added or removed. */
  sorted: TopicNode[] | undefined;
  expanded: boolean;
  /** The last messages on this exact topic, oldest first (empty = no value of its own). */
  history: Entry[];
  /** Messages on this topic since the console saw it. */
  own: number;
  /** Messages and topics with a value in this branch, this node included. */
  messages: number;
  topics: number;
  /** Rate of the branch: messages counted in the current window, and the last window's rate. */
  windowStart: number;
  windowCount: number;
  lastRate: number;
}

const RATE_WINDOW_MS = 5000;
export const HISTORY_PER_TOPIC = 100;
/** Beyond this many history entries over all topics, each topic keeps only its newest few. */
export const HISTORY_BUDGET = 300_000;
const HISTORY_WHEN_OVER_BUDGET = 2;
/** Payloads larger than this are kept for the latest message only. */
const HISTORY_PAYLOAD_MAX = 16 * 1024;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
/** Natural order: numbers within names compare by value (dev2 < dev10). */
export const naturalCompare = (a: string, b: string): number => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);

export interface Row {
  node: TopicNode;
  /** True when the row is shown because a descendant matches the search (not itself). */
  context: boolean;
}

function makeNode(name: string, parent: TopicNode | undefined): TopicNode {
  return {
    name,
    path: parent && parent.depth >= 0 ? `${parent.path}/${name}` : name,
    depth: parent ? parent.depth + 1 : -1,
    parent,
    children: new Map(),
    sorted: undefined,
    expanded: false,
    history: [],
    own: 0,
    messages: 0,
    topics: 0,
    windowStart: 0,
    windowCount: 0,
    lastRate: 0,
  };
}

/** A payload that does not pin a larger buffer (MQTT.js may hand out views of a whole frame). */
function own(payload: Uint8Array): Uint8Array {
  return payload.byteLength * 2 < payload.buffer.byteLength ? payload.slice() : payload;
}

export class TopicTree {
  readonly root: TopicNode = makeNode('', undefined);
  nodes = 0;
  /** Messages on topics not kept because the node cap was reached. */
  dropped = 0;
  historyEntries = 0;
  /** Set when the shape changed (a node added or removed): the rows must be recomputed. */
  shapeChanged = true;

  constructor(readonly maxNodes = 200_000, private readonly now: () => number = Date.now) {}

  find(path: string): TopicNode | undefined {
    let node: TopicNode | undefined = this.root;
    for (const level of path.split('/')) {
      node = node.children.get(level);
      if (!node) return undefined;
    }
    return node;
  }

  /** Takes one message; false when it was dropped (node cap). An empty retained payload clears the topic. */
  add(m: Message): boolean {
    const levels = m.topic.split('/');
    if (m.retain && m.payload.length === 0) {
      this.clear(m.topic);
      return true;
    }
    let node = this.root;
    for (const level of levels) {
      let child = node.children.get(level);
      if (!child) {
        if (this.nodes >= this.maxNodes) {
          this.dropped++;
          return false;
        }
        child = makeNode(level, node);
        node.children.set(level, child);
        node.sorted = undefined;
        this.nodes++;
        this.shapeChanged = true;
      }
      node = child;
    }
    const isNew = node.history.length === 0;
    const entry: Entry = { at: m.receivedAt, payload: own(m.payload), qos: m.qos, retain: m.retain };
    if (m.properties && Object.keys(m.properties).length > 0) entry.properties = m.properties;
    const last = node.history[node.history.length - 1];
    // Only the latest message keeps a large payload; older ones keep their size in `at`'s company.
    if (last && last.payload.length > HISTORY_PAYLOAD_MAX) last.payload = last.payload.subarray(0, 0);
    node.history.push(entry);
    this.historyEntries++;
    const cap = this.historyEntries > HISTORY_BUDGET ? HISTORY_WHEN_OVER_BUDGET : HISTORY_PER_TOPIC;
    while (node.history.length > cap) {
      node.history.shift();
      this.historyEntries--;
    }
    node.own++;
    const now = this.now();
    for (let n: TopicNode | undefined = node; n; n = n.parent) {
      n.messages++;
      if (isNew) n.topics++;
      if (now - n.windowStart >= RATE_WINDOW_MS) {
        n.lastRate = n.windowStart === 0 ? 0 : (n.windowCount * 1000) / (now - n.windowStart);
        n.windowStart = now;
        n.windowCount = 0;
      }
      n.windowCount++;
    }
    return true;
  }

  /** Messages per second in the branch over the last few seconds. */
  rate(n: TopicNode): number {
    const elapsed = this.now() - n.windowStart;
    if (n.windowStart === 0 || elapsed >= 2 * RATE_WINDOW_MS) return 0;
    if (elapsed >= RATE_WINDOW_MS) return (n.windowCount * 1000) / elapsed;
    return n.lastRate;
  }

  /** The topic's value is gone (an empty retained message): forget it, and the node when it is empty. */
  clear(topic: string): void {
    const node = this.find(topic);
    if (!node || node.history.length === 0) return;
    this.historyEntries -= node.history.length;
    node.history = [];
    for (let n: TopicNode | undefined = node; n; n = n.parent) n.topics--;
    let n: TopicNode | undefined = node;
    while (n && n.parent && n.children.size === 0 && n.history.length === 0) {
      // Ancestors keep counting the messages seen: the counts are history, not what is stored.
      const parent: TopicNode = n.parent;
      parent.children.delete(n.name);
      parent.sorted = undefined;
      this.nodes--;
      this.shapeChanged = true;
      n = parent;
    }
  }

  sortedChildren(n: TopicNode): TopicNode[] {
    return (n.sorted ??= [...n.children.values()].sort((a, b) => naturalCompare(a.name, b.name)));
  }

  setExpandedAll(expanded: boolean): void {
    const walk = (n: TopicNode): void => {
      for (const c of n.children.values()) {
        if (c.children.size > 0) {
          c.expanded = expanded;
          walk(c);
        }
      }
    };
    walk(this.root);
    this.shapeChanged = true;
  }

  /** Topics with a value in this branch whose last message was retained, deepest first. */
  retainedIn(n: TopicNode): string[] {
    const out: string[] = [];
    const walk = (x: TopicNode): void => {
      for (const c of x.children.values()) walk(c);
      if (x.history.length > 0 && x.history[x.history.length - 1].retain) out.push(x.path);
    };
    walk(n);
    return out;
  }

  /**
   * The rows to show: expanded branches, or, with a search, every node whose path contains it
   * (case-insensitive) and the branches leading to it.
   */
  rows(search = ''): Row[] {
    const out: Row[] = [];
    const q = search.trim().toLowerCase();
    if (!q) {
      const walk = (n: TopicNode): void => {
        for (const c of this.sortedChildren(n)) {
          out.push({ node: c, context: false });
          if (c.expanded) walk(c);
        }
      };
      walk(this.root);
      return out;
    }
    // With a search: a node is shown if it or any descendant matches; matching nodes' own
    // descendants are shown only when expanded.
    const matches = (n: TopicNode): boolean => n.path.toLowerCase().includes(q);
    const walk = (n: TopicNode, into: Row[]): boolean => {
      let any = false;
      for (const c of this.sortedChildren(n)) {
        const self = matches(c);
        const below: Row[] = [];
        const deeper = self && !c.expanded ? false : walk(c, below);
        if (self || deeper) {
          into.push({ node: c, context: !self }, ...(self && !c.expanded ? [] : below));
          any = true;
        }
      }
      return any;
    };
    walk(this.root, out);
    return out;
  }
}
