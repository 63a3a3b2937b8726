// One topic trie for both directions of MQTT matching [MQTT-4.7]:
//  - subscriptions: keys are filters (may hold `+` / `#`), `match(topic)` finds the filters a
//    published topic name satisfies;
//  - retained messages: keys are topic names, `matchFilter(filter)` finds the names a new
//    subscription's filter covers.
// Keeping one structure means there is one set of level rules (empty levels are real levels, `#`
// also matches its parent level, `$`-topics are hidden from leading wildcards) instead of two
// matchers that must agree.
//
// Hot path: `match` runs on every publish. It walks the topic string by index (no split, no regex),
// uses an explicit stack instead of recursion (a 64 KiB topic of slashes must not overflow the call
// stack), and allocates only the level substrings used as map keys plus one small stack per call.
//
// Memory: most nodes of a large index have one literal child and most keys one value (a device's
// own `devices/<id>/commands`, a retained topic), so a node keeps a lone child and a lone value in
// fields of its own and makes a Map or Set only for the second: about 300 bytes less per such key
// (measured with 20,000 sessions: docs/security.md, maxSessions). A lone child is also matched by
// comparing in place, without cutting the level out of the topic.

const PLUS = 0x2b; // '+'
const HASH = 0x23; // '#'
const DOLLAR = 0x24; // '$'
/** No lone value (values are any T, `undefined` and `null` included). */
const NONE: unique symbol = Symbol('none');

class Node<T> {
  /** The literal child level when there is exactly one (then `children` is null). */
  only: Node<T> | null = null;
  /** Literal child levels when there are two or more; `+` and `#` children live in their own fields so matching needs no lookup. */
  children: Map<string, Node<T>> | null = null;
  plus: Node<T> | null = null;
  hash: Node<T> | null = null;
  /** The value stored under exactly the key ending at this node when it is the only one (then `values` is null). */
  one: T | typeof NONE = NONE;
  /** Values stored under exactly that key when there are two or more; insertion-ordered, identity-compared. */
  values: Set<T> | null = null;
  /** The full key of this node, kept once it holds values so callbacks get it without rebuilding. */
  key: string | null = null;

  constructor(
    readonly parent: Node<T> | null,
    readonly segment: string,
  ) {}

  child(segment: string): Node<T> | undefined {
    if (segment === '+') return this.plus ?? undefined;
    if (segment === '#') return this.hash ?? undefined;
    const only = this.only;
    if (only !== null) return only.segment === segment ? only : undefined;
    return this.children?.get(segment);
  }

  /** Links `node` as a literal child level. */
  addChild(node: Node<T>): void {
    if (this.children !== null) this.children.set(node.segment, node);
    else if (this.only === null) this.only = node;
    else {
      this.children = new Map([[this.only.segment, this.only], [node.segment, node]]);
      this.only = null;
    }
  }

  /** Unlinks the literal child level `node`; a lone one left is kept in `only` again. */
  removeChild(node: Node<T>): void {
    if (this.only === node) {
      this.only = null;
      return;
    }
    const children = this.children;
    if (children === null) return;
    children.delete(node.segment);
    if (children.size === 1) {
      this.only = children.values().next().value as Node<T>;
      this.children = null;
    }
  }

  /** Whether any value is stored under this node's key. */
  holds(): boolean {
    return this.one !== NONE || this.values !== null;
  }

  /** Adds `value`; false when it was there already. */
  addValue(value: T): boolean {
    if (this.values !== null) {
      if (this.values.has(value)) return false;
      this.values.add(value);
      return true;
    }
    if (this.one === NONE) {
      this.one = value;
      return true;
    }
    if (this.one === value) return false;
    this.values = new Set([this.one, value]);
    this.one = NONE;
    return true;
  }

  /** Removes `value`; false when it was not there. A lone value left is kept in `one` again. */
  removeValue(value: T): boolean {
    const values = this.values;
    if (values === null) {
      if (this.one !== value) return false;
      this.one = NONE;
      return true;
    }
    if (!values.delete(value)) return false;
    if (values.size === 1) {
      this.one = values.values().next().value as T;
      this.values = null;
    }
    return true;
  }

  /** True when the node holds nothing and leads nowhere, so it can be unlinked. */
  isEmpty(): boolean {
    // A map of children never holds fewer than two (removeChild keeps a lone one in `only`).
    return !this.holds() && this.only === null && this.plus === null && this.hash === null && this.children === null;
  }
}

function emit<T>(node: Node<T>, cb: (value: T, key: string) => void): void {
  const one = node.one;
  if (one !== NONE) return cb(one, node.key as string);
  const values = node.values;
  if (values === null) return;
  const key = node.key as string;
  for (const v of values) cb(v, key);
}

const ALWAYS = (): boolean => true;

export class TopicTrie<T> {
  private readonly root = new Node<T>(null, '');
  private count = 0;

  /** Number of stored values (not keys). */
  get size(): number {
    return this.count;
  }

  /** Number of trie nodes below the root: lets tests (and metrics) see that removal prunes. */
  countNodes(): number {
    let n = 0;
    const stack: Node<T>[] = [this.root];
    while (stack.length > 0) {
      const node = stack.pop() as Node<T>;
      this.eachChild(node, false, (child) => {
        n++;
        stack.push(child);
      });
    }
    return n;
  }

  /** Stores `value` under `key`. Adding a value already stored under that key changes nothing. */
  add(key: string, value: T): void {
    let node = this.root;
    let pos = 0;
    const len = key.length;
    for (;;) {
      let end = key.indexOf('/', pos);
      if (end < 0) end = len;
      const segment = key.slice(pos, end);
      let next = node.child(segment);
      if (next === undefined) {
        next = new Node<T>(node, segment);
        if (segment === '+') node.plus = next;
        else if (segment === '#') node.hash = next;
        else node.addChild(next);
      }
      node = next;
      if (end === len) break;
      pos = end + 1;
    }
    if (!node.holds()) node.key = key;
    if (node.addValue(value)) this.count++;
  }

  /** Removes `value` from `key`; prunes nodes left empty. Returns false when it was not there. */
  remove(key: string, value: T): boolean {
    const node = this.find(key);
    if (node === undefined || !node.removeValue(value)) return false;
    this.count--;
    if (!node.holds()) {
      node.key = null;
      this.prune(node);
    }
    return true;
  }

  /** Values stored under exactly `key` (no wildcard interpretation), in insertion order. */
  get(key: string): readonly T[] {
    const node = this.find(key);
    if (node === undefined) return [];
    if (node.one !== NONE) return [node.one];
    return node.values ? [...node.values] : [];
  }

  /**
   * Calls `cb` for every value whose stored filter matches the topic name `topic`: `+` matches one
   * level, `#` any number of levels including none (so `a/#` matches `a`) [MQTT-4.7.1-2], and a topic
   * starting with `$` is not matched by a filter starting with `+` or `#` [MQTT-4.7.2-1].
   */
  match(topic: string, cb: (value: T, key: string) => void): void {
    const len = topic.length;
    const dollar = len > 0 && topic.charCodeAt(0) === DOLLAR;
    // Parallel stacks of (node, start index of the level still to match); start > len = all consumed.
    const nodes: Node<T>[] = [this.root];
    const starts: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop() as Node<T>;
      const pos = starts.pop() as number;
      if (pos > len) {
        emit(node, cb);
        // `#` also matches the parent level: "sport/#" matches "sport" [MQTT-4.7.1-2].
        if (node.hash !== null) emit(node.hash, cb);
        continue;
      }
      const wild = !(pos === 0 && dollar);
      if (wild && node.hash !== null) emit(node.hash, cb);
      let end = topic.indexOf('/', pos);
      if (end < 0) end = len;
      if (wild && node.plus !== null) {
        nodes.push(node.plus);
        starts.push(end + 1);
      }
      const only = node.only;
      if (only !== null) {
        // The lone child level, compared in place: no substring is cut for it.
        const segment = only.segment;
        if (segment.length === end - pos && topic.startsWith(segment, pos)) {
          nodes.push(only);
          starts.push(end + 1);
        }
      } else if (node.children !== null) {
        const next = node.children.get(topic.slice(pos, end));
        if (next !== undefined) {
          nodes.push(next);
          starts.push(end + 1);
        }
      }
    }
  }

  /**
   * The reverse of `match`: calls `cb` for every value whose stored key, read as a topic name, is
   * matched by `filter` (used for retained messages on SUBSCRIBE [MQTT-3.3.1-9]). Same rules: `+` one
   * level, `#` the rest including the parent level, and names starting with `$` are not matched by a
   * leading `+` or `#` [MQTT-4.7.2-1]. A `#` that is not last is treated as last (filters are
   * validated before they get here). `more` is asked before each node's values: once it says no,
   * the walk stops (a caller that can use only so many matches does not pay for the rest).
   */
  matchFilter(filter: string, cb: (value: T, key: string) => void, more: () => boolean = ALWAYS): void {
    const len = filter.length;
    const nodes: Node<T>[] = [this.root];
    const starts: number[] = [0];
    while (nodes.length > 0 && more()) {
      const node = nodes.pop() as Node<T>;
      const pos = starts.pop() as number;
      if (pos > len) {
        emit(node, cb);
        continue;
      }
      let end = filter.indexOf('/', pos);
      if (end < 0) end = len;
      const single = end - pos === 1 ? filter.charCodeAt(pos) : -1;
      if (single === HASH) {
        // The parent level itself, then everything below it.
        emit(node, cb);
        this.eachBelow(node, pos === 0, cb, more);
      } else if (single === PLUS) {
        const next = end + 1;
        this.eachChild(node, pos === 0, (child) => {
          nodes.push(child);
          starts.push(next);
        });
      } else {
        const child = node.child(filter.slice(pos, end));
        if (child !== undefined) {
          nodes.push(child);
          starts.push(end + 1);
        }
      }
    }
  }

  /** Every value stored in the subtree below `node` (not `node` itself). */
  private eachBelow(node: Node<T>, atRoot: boolean, cb: (value: T, key: string) => void, more: () => boolean): void {
    const stack: Node<T>[] = [];
    this.eachChild(node, atRoot, (child) => stack.push(child));
    while (stack.length > 0 && more()) {
      const n = stack.pop() as Node<T>;
      emit(n, cb);
      this.eachChild(n, false, (child) => stack.push(child));
    }
  }

  /** Children of `node`; at the root, levels starting with `$` are skipped (wildcard rule). */
  private eachChild(node: Node<T>, atRoot: boolean, visit: (child: Node<T>) => void): void {
    const only = node.only;
    if (only !== null && !(atRoot && only.segment.charCodeAt(0) === DOLLAR)) visit(only);
    if (node.children !== null) {
      for (const child of node.children.values()) {
        if (atRoot && child.segment.charCodeAt(0) === DOLLAR) continue;
        visit(child);
      }
    }
    if (node.plus !== null) visit(node.plus);
    if (node.hash !== null) visit(node.hash);
  }

  private find(key: string): Node<T> | undefined {
    let node: Node<T> | undefined = this.root;
    let pos = 0;
    const len = key.length;
    for (;;) {
      let end = key.indexOf('/', pos);
      if (end < 0) end = len;
      node = node.child(key.slice(pos, end));
      if (node === undefined || end === len) return node;
      pos = end + 1;
    }
  }

  /** Unlinks `node` and any ancestors it leaves empty, so the tree shrinks back with its keys. */
  private prune(start: Node<T>): void {
    let node = start;
    while (node.parent !== null && node.isEmpty()) {
      const parent: Node<T> = node.parent;
      if (parent.plus === node) parent.plus = null;
      else if (parent.hash === node) parent.hash = null;
      else parent.removeChild(node);
      node = parent;
    }
  }
}
