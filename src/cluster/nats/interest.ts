// Which nodes want a message: every node tells the others its MQTT interest (plain filters and
// shared-group memberships), and each node keeps the others' in one routing table
// (workers/interest.ts, the table the workers' hub uses too). The sender then matches a topic once
// and sends it only to the nodes that want it, and picks the node of each shared group itself.
//
//   <p>.int.<node>        a node's interest changes of one turn, numbered (version v, per start:
//                         `instance`); every node applies them in order and acknowledges on
//   <p>.iack.<node>       `{node, v}`: "I know your interest up to v"; a SUBACK waits for every
//                         member's acknowledgement (bounded), so a publish on another node right after
//                         it is not missed
//   <p>.isync.<node>      request → the node's whole interest now, with its version, in pages: asked by
//                         a node that missed a change (a gap in versions), saw a new instance, or whose
//                         known version is behind the one a heartbeat carries
//   <p>.ihello            the first page of that answer, from every node, to a node that starts
// Control traffic only (JSON): messages themselves go as binary batches (../batch-frame.ts). A node's
// filters are the clients' to choose (many, and up to 64 KiB each), so a turn's changes go in as many
// numbered pieces, and the whole interest in as many pages, as keep each message below PIECE_BYTES.
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { InterestRoutes } from '../workers/interest.js';
import { ROUTE_CACHE_TOPIC_MAX } from '../../router/subscriptions.js';
import { isSubscribable } from '../peer-fields.js';
import { isNodeId } from './subjects.js';
import { isInstance } from './wire.js';
import { MAX_NODES } from './members.js';
import type { MalformedMessages } from './malformed.js';

export type Callback = (err: Error | null, msg: Msg) => void;

export interface InterestSubjects {
  changes(node: string): string;
  readonly allChanges: string;
  ack(node: string): string;
  sync(node: string): string;
  readonly hello: string;
}

interface Delta {
  node: string;
  instance: string;
  v: number;
  /** [filter, group or null, present] */
  changes: Array<[string, string | null, boolean]>;
}

/** One page of a node's whole interest at version v: items from index `from`; `next` if more follow. */
interface Snapshot {
  node: string;
  instance: string;
  v: number;
  from: number;
  /** [filter, group or null] */
  items: Array<[string, string | null]>;
  next?: number;
}

/** Bound on one interest message (a piece of changes, a page), well below NATS's 1 MiB max_payload. */
const PIECE_BYTES = 256 * 1024;
/** JSON bytes an interest item may take at most (every character escaped as \uXXXX), plus framing. */
const itemBytes = (filter: string, group: string | null): number => 6 * (filter.length + (group?.length ?? 0)) + 16;

interface Remote {
  index: number;
  instance: string;
  v: number;
  syncing: boolean;
  /** Its interest has been read (a whole snapshot, or changes from its first). */
  known: boolean;
  /** Changes that arrived while a sync was under way (or after a gap), applied after it. */
  held: Delta[];
  /** Bytes of the messages in `held` (all nodes' together bounded by MAX_HELD_BYTES). */
  heldBytes: number;
}

/**
 * Changes held for one node at most, in messages, and for all nodes together, in bytes: past either,
 * what is held for that node is dropped and its whole interest read again (its next heartbeat shows
 * it behind), so a node whose sync does not finish (it never answers) cannot make this one hold its
 * every change.
 */
const MAX_HELD = 1024;
const MAX_HELD_BYTES = 16 * 1024 * 1024;

interface Waiter {
  v: number;
  nodes: Set<string>;
  resolve: () => void;
}

export interface InterestExchangeOptions {
  nodeId: string;
  instance: string;
  /** Live members (this node included). */
  members: () => string[];
  /**
   * A node that speaks another version of the cluster protocol: its interest is never applied (it
   * reads none of this node's frames, so nothing may be routed to it), whichever way it comes.
   */
  speaksOther: (node: string) => boolean;
  /** Whether a node is a member now (heard from): only another node's record may make room for a new one. */
  known: (node: string) => boolean;
  timeoutMs: number;
  log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  malformed: Pick<MalformedMessages, 'dropped'>;
}

const json = (data: Uint8Array): unknown => JSON.parse(Buffer.from(data).toString('utf8'));
const encode = (x: unknown): Uint8Array => Buffer.from(JSON.stringify(x), 'utf8');

// Every field of another node's message is checked before use: node ids and instances as this
// version makes them, counts as non-negative integers, filters and share names as a client's SUBSCRIBE
// could carry them (peer-fields.ts), so nothing a peer sends makes this node hold a filter no client
// could have made.
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isFrom = (x: { node?: unknown; instance?: unknown }): boolean => isNodeId(x.node) && isInstance(x.instance);

function isDelta(d: unknown): d is Delta {
  const x = d as Delta;
  return typeof x === 'object' && x !== null && isFrom(x) && isCount(x.v) && Array.isArray(x.changes) &&
    x.changes.every((c) => Array.isArray(c) && isSubscribable(c[0], c[1]) && typeof c[2] === 'boolean');
}

function isSnapshot(d: unknown): d is Snapshot {
  const x = d as Snapshot;
  return typeof x === 'object' && x !== null && isFrom(x) && isCount(x.v) && isCount(x.from) && Array.isArray(x.items) &&
    (x.next === undefined || (Number.isSafeInteger(x.next) && x.next > x.from)) &&
    x.items.every((c) => Array.isArray(c) && isSubscribable(c[0], c[1]));
}

const isAck = (x: unknown): x is { node: string; instance: string; v: number } =>
  typeof x === 'object' && x !== null && isFrom(x) && isCount((x as { v?: unknown }).v);

const isAsker = (x: unknown): x is { node: string; from?: number } =>
  typeof x === 'object' && x !== null && isNodeId((x as { node?: unknown }).node) && ((x as { from?: unknown }).from === undefined || isCount((x as { from?: unknown }).from));

const NOBODY: readonly string[] = [];
/** Topics whose destinations are remembered at most (then forgotten all at once)... */
const MAX_REMEMBERED = 50_000;
/**
 * ...and the characters of their topics together. A publisher chooses its topics: a topic longer
 * than the route cache's bound (router/subscriptions.ts) is matched every time instead (50,000 topics
 * of 64 KiB had let one publisher make this cache hold over 3 GiB), so it holds at most 8 MiB of
 * topics (two-byte characters) besides the node lists.
 */
const MAX_REMEMBERED_CHARS = 4 * 1024 * 1024;

export class InterestExchange {
  /** Node indexes in `routes`: this node is 0. */
  private readonly routes = new InterestRoutes();
  /** Round-robin over the other members when a shared-group message is handed on. */
  private handOnTurn = 0;
  private readonly remotes = new Map<string, Remote>();
  private readonly nodes: string[] = [];
  private nextIndex = 1;
  /** Indexes of forgotten nodes, taken again before a new one: `nodes` never grows past MAX_NODES + 1. */
  private readonly freeIndexes: number[] = [];
  /** Bytes of the changes held for all nodes (Remote.heldBytes summed). */
  private heldBytes = 0;
  /** This node's own interest and its version. */
  private readonly plain = new Set<string>();
  private readonly shared = new Map<string, [string, string]>();
  private v = 0;
  private changes: Delta['changes'] = [];
  private scheduled = false;
  /** Resolved with the version that carries this turn's changes once they are sent. */
  private turn?: { sent: Promise<number>; resolve: (v: number) => void };
  private readonly acked = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private readonly subs: Subscription[] = [];
  /** Destinations of plain messages by topic (plainFor), until a plain filter changes anywhere. */
  private readonly destinations = new Map<string, readonly string[]>();
  /** Characters of the topics in `destinations` (bounded by MAX_REMEMBERED_CHARS). */
  private rememberedChars = 0;
  /** The topic plainFor answered last and its answer: a run of one publisher's messages is one lookup. */
  private lastTopic: string | undefined;
  private lastNodes: readonly string[] = NOBODY;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: InterestSubjects,
    private readonly opts: InterestExchangeOptions,
  ) {
    this.nodes[0] = opts.nodeId;
  }

  /** Listens to the others' changes and questions, and asks every running node for its interest. */
  async start(): Promise<void> {
    const { nc, subjects } = this;
    this.subs.push(nc.subscribe(subjects.allChanges, { callback: (err, m) => void (err || this.onChanges(m)) }));
    this.subs.push(nc.subscribe(subjects.ack(this.opts.nodeId), { callback: (err, m) => void (err || this.onAck(m)) }));
    const answer = (err: Error | null, m: Msg): void => void (err || this.onSyncRequest(m));
    this.subs.push(nc.subscribe(subjects.sync(this.opts.nodeId), { callback: answer }));
    this.subs.push(nc.subscribe(subjects.hello, { callback: answer }));
    await nc.flush();
    // Every node up now answers; gather the answers for a moment (bounded), so a node that starts
    // knows where to send before it serves its first client. Later gaps are found by the heartbeats.
    const inbox = nc.subscribe(createInbox(), { callback: (err, m) => void (err || this.onHello(m)) });
    nc.publish(subjects.hello, encode({ node: this.opts.nodeId }), { reply: inbox.getSubject() });
    await nc.flush();
    await new Promise((r) => setTimeout(r, Math.min(250, this.opts.timeoutMs)).unref());
    inbox.unsubscribe();
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
  }

  // ---- this node's interest ------------------------------------------------------------------

  /**
   * This node's interest in `filter` (with a share `group`) started or ended: told to the others at
   * the end of the turn. For new interest, resolves once every member acknowledged it (bounded).
   */
  set(filter: string, group: string | undefined, present: boolean): Promise<void> | undefined {
    if (group === undefined) {
      if (present === this.plain.has(filter)) return undefined;
      if (present) this.plain.add(filter);
      else this.plain.delete(filter);
    } else {
      const key = `${group}\0${filter}`;
      if (present === this.shared.has(key)) return undefined;
      if (present) this.shared.set(key, [group, filter]);
      else this.shared.delete(key);
      // This node takes its own turn in its shared groups.
      this.change(0, filter, group, present);
    }
    this.changes.push([filter, group ?? null, present]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.publishChanges());
    }
    if (!present) return undefined;
    if (!this.turn) {
      let resolve!: (v: number) => void;
      const sent = new Promise<number>((r) => (resolve = r));
      this.turn = { sent, resolve };
    }
    return this.turn.sent.then((v) => this.acknowledged(v));
  }

  /** Sends this turn's changes now and resolves once every member acknowledged them (bounded). */
  settle(): Promise<void> {
    this.publishChanges();
    return this.acknowledged(this.v);
  }

  private publishChanges(): void {
    this.scheduled = false;
    const turn = this.turn;
    this.turn = undefined;
    if (this.changes.length > 0) {
      const changes = this.changes;
      this.changes = [];
      for (let i = 0; i < changes.length; ) {
        const piece: Delta['changes'] = [];
        for (let bytes = 0; i < changes.length && (piece.length === 0 || bytes + itemBytes(changes[i]![0], changes[i]![1]) <= PIECE_BYTES); i++) {
          bytes += itemBytes(changes[i]![0], changes[i]![1]);
          piece.push(changes[i]!);
        }
        const delta: Delta = { node: this.opts.nodeId, instance: this.opts.instance, v: ++this.v, changes: piece };
        try {
          this.nc.publish(this.subjects.changes(this.opts.nodeId), encode(delta));
        } catch (err) {
          // The heartbeats carry the version: the others ask for the whole interest when they see it.
          this.opts.log.warn({ err }, 'cluster: interest change not sent');
        }
      }
    }
    turn?.resolve(this.v);
  }

  /** Resolves when every other member knows version `v` of this node's interest, or after the timeout. */
  private acknowledged(v: number): Promise<void> {
    const nodes = new Set<string>();
    for (const n of this.opts.members()) if (n !== this.opts.nodeId && (this.acked.get(n) ?? 0) < v) nodes.add(n);
    for (const n of this.remotes.keys()) if ((this.acked.get(n) ?? 0) < v) nodes.add(n);
    if (nodes.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const w: Waiter = { v, nodes, resolve: () => {} };
      const timer = setTimeout(() => w.resolve(), this.opts.timeoutMs);
      w.resolve = () => {
        clearTimeout(timer);
        this.waiters.delete(w);
        resolve();
      };
      this.waiters.add(w);
    });
  }

  private onAck(m: Msg): void {
    const a = this.read(m, isAck);
    // Only a node this one knows is waited for: another's acknowledgement is not kept.
    if (a && a.instance === this.opts.instance && (this.remotes.has(a.node) || this.opts.known(a.node))) this.ackedBy(a.node, a.v);
  }

  private ackedBy(node: string, v: number): void {
    if ((this.acked.get(node) ?? 0) >= v) return;
    this.acked.set(node, v);
    for (const w of this.waiters) if (w.v <= v && w.nodes.delete(node) && w.nodes.size === 0) w.resolve();
  }

  /** Who this node is waiting on is gone: nobody waits for it any more. */
  private gone(node: string): void {
    this.acked.delete(node);
    for (const w of this.waiters) if (w.nodes.delete(node) && w.nodes.size === 0) w.resolve();
  }

  /** The page of this node's whole interest that starts at item `from` (the order is stable while v is). */
  private page(from: number): Snapshot {
    const items: Snapshot['items'] = [];
    let i = 0;
    let bytes = 0;
    let next: number | undefined;
    const take = (filter: string, group: string | null): boolean => {
      if (i++ < from) return true;
      const b = itemBytes(filter, group);
      if (items.length > 0 && bytes + b > PIECE_BYTES) {
        next = i - 1;
        return false;
      }
      bytes += b;
      items.push([filter, group]);
      return true;
    };
    let more = true;
    for (const f of this.plain) if (!(more = take(f, null))) break;
    if (more) for (const [group, filter] of this.shared.values()) if (!take(filter, group)) break;
    const snap: Snapshot = { node: this.opts.nodeId, instance: this.opts.instance, v: this.v, from, items };
    if (next !== undefined) snap.next = next;
    return snap;
  }

  private onSyncRequest(m: Msg): void {
    if (!m.reply) return;
    const ask = this.read(m, isAsker);
    if (!ask || ask.node === this.opts.nodeId) return;
    // Changes of this turn not yet sent go with the answer, so it is complete.
    this.publishChanges();
    // The asker acknowledges once it has applied the last page.
    this.nc.publish(m.reply, encode(this.page(ask.from ?? 0)));
  }

  // ---- the others' interest ------------------------------------------------------------------

  /**
   * The record of `node`'s interest (a new one for a new instance), or none for a node that speaks
   * another cluster protocol version: nothing it says is applied, so nothing is routed to a node
   * that cannot read our frames. Every path that takes in interest comes through here.
   */
  private remote(node: string, instance: string): Remote | undefined {
    if (this.opts.speaksOther(node)) return undefined;
    let r = this.remotes.get(node);
    if (r && r.instance === instance) return r;
    if (r) this.forgetRoutes(r.index);
    // A new instance knows nothing of this node's interest yet: its acknowledgements start again.
    if (r) {
      this.acked.delete(node);
      this.dropHeld(r);
    } else if (!this.roomForNode()) {
      this.opts.malformed.dropped('interest', `interest of a node beyond ${MAX_NODES} others`, { node });
      return undefined;
    }
    const index = r?.index ?? this.freeIndexes.pop() ?? this.nextIndex++;
    this.nodes[index] = node;
    r = { index, instance, v: 0, syncing: false, known: false, held: [], heldBytes: 0 };
    this.remotes.set(node, r);
    return r;
  }

  /**
   * Whether the record of one more node may be made: below MAX_NODES, or once the record of a node
   * that is not a member (its interest came, its heartbeats never did, or stopped) is forgotten.
   */
  private roomForNode(): boolean {
    if (this.remotes.size < MAX_NODES) return true;
    for (const node of this.remotes.keys()) {
      if (this.opts.known(node)) continue;
      this.forget(node);
      return true;
    }
    return false;
  }

  /** Holds a change to apply after the sync under way (bounded: past it, all held is dropped). */
  private hold(r: Remote, d: Delta, bytes: number): void {
    if (r.held.length >= MAX_HELD || this.heldBytes + bytes > MAX_HELD_BYTES) {
      // The sync's answer, or the next heartbeat's, brings what is dropped.
      this.dropHeld(r);
      this.opts.log.debug({ node: d.node }, 'cluster: too many interest changes held for a node; they are read again whole');
      return;
    }
    r.held.push(d);
    r.heldBytes += bytes;
    this.heldBytes += bytes;
  }

  private dropHeld(r: Remote): void {
    r.held = [];
    this.heldBytes -= r.heldBytes;
    r.heldBytes = 0;
  }

  /** The JSON body of `m` if it has the shape `is` checks; counted as malformed otherwise. */
  private read<T>(m: Msg, is: (x: unknown) => x is T): T | undefined {
    try {
      const x = json(m.data);
      if (is(x)) return x;
    } catch {
      // counted below
    }
    this.opts.malformed.dropped('interest', 'not the shape of its subject\'s messages', { subject: m.subject });
    return undefined;
  }

  private onChanges(m: Msg): void {
    const d = this.read(m, isDelta);
    if (!d || d.node === this.opts.nodeId) return;
    // A node announces on its own subject: with NATS permissions per node, no other can speak for it.
    if (m.subject !== this.subjects.changes(d.node)) return void this.opts.malformed.dropped('interest', 'changes on another node\'s subject', { subject: m.subject });
    const r = this.remote(d.node, d.instance);
    if (!r) return;
    if (r.syncing) return void this.hold(r, d, m.data.length);
    if (d.v <= r.v) return;
    if (d.v !== r.v + 1) {
      this.hold(r, d, m.data.length);
      return void this.sync(d.node);
    }
    this.apply(r, d);
    this.ack(d.node, r);
  }

  private apply(r: Remote, d: Delta): void {
    for (const [filter, group, present] of d.changes) this.change(r.index, filter, group ?? undefined, present);
    r.v = d.v;
    if (d.v === 1) r.known = true;
  }

  private ack(node: string, r: Remote): void {
    try {
      this.nc.publish(this.subjects.ack(node), encode({ node: this.opts.nodeId, instance: r.instance, v: r.v }));
    } catch (err) {
      this.opts.log.debug({ err }, 'cluster: interest acknowledgement not sent');
    }
  }

  /** A heartbeat from `node`, carrying its instance and interest version: ask for it if behind. */
  heard(node: string, instance: string, v: number | undefined): void {
    if (node === this.opts.nodeId || v === undefined) return;
    const r = this.remotes.get(node);
    if (r && r.instance === instance && (r.v >= v || r.syncing)) return;
    if (this.remote(node, instance)) this.sync(node);
  }

  /** A node left or was lost: its interest goes. */
  forget(node: string): void {
    const r = this.remotes.get(node);
    if (r) {
      this.forgetRoutes(r.index);
      this.remotes.delete(node);
      this.dropHeld(r);
      this.freeIndexes.push(r.index);
    }
    this.gone(node);
  }

  /** A node's first page, answering this node's hello: applied if it is the whole interest, else asked for in full. */
  private onHello(m: Msg): void {
    const s = this.read(m, isSnapshot);
    if (!s || s.node === this.opts.nodeId || s.from !== 0) return;
    const r = this.remote(s.node, s.instance);
    if (!r) return;
    if (s.next === undefined) return this.applySnapshot(r, s.node, s.v, s.items);
    this.sync(s.node);
  }

  /** Reads a node's whole interest, page by page (again from the start if it changed meanwhile). */
  private sync(node: string): void {
    const r = this.remotes.get(node);
    if (!r || r.syncing) return;
    r.syncing = true;
    void (async () => {
      try {
        for (let attempt = 0; attempt < 3; attempt++) {
          const items: Snapshot['items'] = [];
          let first: Snapshot | undefined;
          let from: number | undefined = 0;
          while (from !== undefined) {
            const m = await this.nc.request(this.subjects.sync(node), encode({ node: this.opts.nodeId, from }), { timeout: this.opts.timeoutMs });
            const page = this.read(m, isSnapshot);
            if (!page || page.node !== node || page.from !== from) throw new Error('malformed interest page');
            first ??= page;
            if (page.instance !== first.instance || page.v !== first.v) break;
            items.push(...page.items);
            from = page.next;
          }
          if (from !== undefined || !first) continue;
          r.syncing = false;
          // Gone meanwhile, or found to speak another version: nothing to apply. Restarted
          // meanwhile: this is the new instance's.
          if (!this.remotes.has(node)) return;
          const now = this.remote(node, first.instance);
          if (now) this.applySnapshot(now, node, first.v, items);
          return;
        }
      } catch (err) {
        // Asked again at its next heartbeat.
        this.opts.log.debug({ err, node }, 'cluster: interest of a node not read');
      }
      r.syncing = false;
    })();
  }

  private applySnapshot(r: Remote, node: string, v: number, items: Snapshot['items']): void {
    if (v < r.v) return;
    this.forgetRoutes(r.index);
    for (const [filter, group] of items) this.change(r.index, filter, group ?? undefined, true);
    r.v = v;
    r.known = true;
    // Changes held meanwhile, in order; a gap left is closed by the next heartbeat's sync.
    const held = r.held.filter((d) => d.instance === r.instance && d.v > r.v).sort((a, b) => a.v - b.v);
    this.dropHeld(r);
    for (const d of held) {
      if (d.v !== r.v + 1) break;
      this.apply(r, d);
    }
    this.ack(node, r);
  }

  // ---- routing -------------------------------------------------------------------------------

  private change(index: number, filter: string, group: string | undefined, present: boolean): void {
    this.routes.set(index, filter, group, present);
    if (group === undefined) this.forgetDestinations();
  }

  private forgetRoutes(index: number): void {
    this.routes.forget(index);
    this.forgetDestinations();
  }

  private forgetDestinations(): void {
    this.destinations.clear();
    this.rememberedChars = 0;
    this.lastTopic = undefined;
  }

  /**
   * The other nodes with a plain filter matching `topic` (not for retained messages, which go to
   * all). Remembered per topic until any node's plain interest changes: a topic is matched once, not
   * at every message (a topic of up to ROUTE_CACHE_TOPIC_MAX characters; a longer one every time).
   */
  plainFor(topic: string): readonly string[] {
    if (topic === this.lastTopic) return this.lastNodes;
    let nodes = this.destinations.get(topic);
    if (!nodes) {
      const found: string[] = [];
      this.routes.eachPlain(topic, 0, (i) => found.push(this.nodes[i]!));
      nodes = found.length === 0 ? NOBODY : found;
      if (topic.length <= ROUTE_CACHE_TOPIC_MAX) {
        if (this.destinations.size >= MAX_REMEMBERED || this.rememberedChars + topic.length > MAX_REMEMBERED_CHARS) this.forgetDestinations();
        this.destinations.set(topic, nodes);
        this.rememberedChars += topic.length;
      }
    }
    this.lastTopic = topic;
    return (this.lastNodes = nodes);
  }

  /** For each shared group matching `topic` (`group\0filter`), the node whose turn it is (this one included). */
  sharedFor(topic: string, out: (key: string, node: string, local: boolean) => void): void {
    for (const [key, i] of this.routes.sharedFor(topic)) out(key, this.nodes[i]!, i === 0);
  }

  /** Another node (not this one) with a member of shared group `key` (`group\0filter`) for `topic`, in turn. */
  otherMember(topic: string, key: string): string | undefined {
    const members = this.routes.membersOf(topic, key).filter((i) => i !== 0);
    if (members.length === 0) return undefined;
    return this.nodes[members[this.handOnTurn++ % members.length]!];
  }

  /** Version of this node's interest, for the heartbeat. */
  get version(): number {
    return this.v;
  }

  /** This node's plain filters and shared groups, and how many other nodes' interest it has read. */
  get state(): { plainFilters: number; sharedGroups: number; nodes: number } {
    let known = 0;
    for (const r of this.remotes.values()) if (r.known) known++;
    return { plainFilters: this.plain.size, sharedGroups: this.shared.size, nodes: known };
  }
}
