// Subscriptions → deliveries. One topic trie holds plain subscribers and shared-subscription
// groups; a publish is matched once and folded into at most one delivery per session.
import type { QoS } from '../protocol/constants.js';
import { parseSharedFilter } from '../protocol/topic.js';
import type { SubscriptionRecord } from '../store/ports.js';
import { TopicTrie } from '../topics/trie.js';
import type { Session } from '../session/session.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

export interface Subscriber {
  readonly session: Session;
  readonly sub: SubscriptionRecord;
}

interface SharedGroup {
  readonly name: string;
  readonly members: Subscriber[];
  /** Round-robin cursor. */
  next: number;
}

type IndexEntry = { kind: 'plain'; subscriber: Subscriber } | { kind: 'shared'; key: string; group: SharedGroup };

/** A session a message matched, with what its matching subscriptions grant (one Delivery is made from it). */
export interface Match {
  session: Session;
  /** Highest granted QoS among the session's matching subscriptions [MQTT-3.3.5-1]. */
  qos: QoS;
  retainAsPublished: boolean;
  subscriptionIds?: number[];
}

/** Told when this node's interest in a filter starts or ends (cluster routing subscribes by it). */
export interface InterestListener {
  /**
   * `group` is the share name for `$share/{group}/{filter}` subscriptions. A Promise says when the
   * new interest is in effect elsewhere (the SUBACK waits for it, so a publish on another node
   * right after the SUBACK is not missed).
   */
  interest(filter: string, group: string | undefined, present: boolean): MaybePromise<void>;
}

/** Which kinds of subscription a match considers. */
export interface MatchScope {
  plain: boolean;
  /** Only this shared group (`group\0filter` key), or all groups when true. */
  shared: boolean | string;
}

const ALL: MatchScope = { plain: true, shared: true };

/** Topics whose matching entries are remembered (see `entriesFor`). */
const ROUTE_CACHE_MAX = 4096;
/**
 * A publisher chooses its topics, so what the cache holds is bounded in size, not only in count:
 * topics longer than this are routed by the trie walk every time (4,096 topics of 64 KiB had let
 * one client make it hold 256 MiB)...
 */
export const ROUTE_CACHE_TOPIC_MAX = 1024;
/** ...and all cached entry lists together hold at most this many entries (8 MiB of references). */
const ROUTE_CACHE_ENTRIES_MAX = 1 << 20;
/** Where `collect` appends while no trie walk is running; never read. */
const NO_ENTRIES: IndexEntry[] = [];

export class SubscriptionIndex {
  private readonly trie = new TopicTrie<IndexEntry>();
  /**
   * Matching entries by topic. Publishers repeat their topics, so most messages are routed with one
   * Map lookup instead of a trie walk. Any subscription change clears it (entries are the index's
   * own objects, so shared groups' round-robin state stays live); when full, its older half goes.
   */
  private readonly routes = new Map<string, IndexEntry[]>();
  private readonly routeCacheMax: number;
  /** Entries in all cached lists together (bounded by ROUTE_CACHE_ENTRIES_MAX). */
  private cachedEntries = 0;
  /** The array a cache miss fills, and the one callback that fills it: no closure per miss. */
  private found: IndexEntry[] = NO_ENTRIES;
  private readonly collect = (entry: IndexEntry): void => void this.found.push(entry);
  /** Deliveries by session while one match folds several entries; empty between matches. */
  private readonly bySession = new Map<Session, Match>();
  /** Plain subscribers per filter, to report when a filter gains its first / loses its last. */
  private readonly plainCount = new Map<string, number>();
  listener?: InterestListener;
  /** Plain entries by session and filter, so removal finds its value. */
  private readonly plain = new Map<Session, Map<string, IndexEntry>>();
  /** Shared groups by `group\0filter`. */
  private readonly groups = new Map<string, { filter: string; entry: IndexEntry & { kind: 'shared' } }>();

  /** `routeCacheMax`: topics the route cache holds (tests use a small one to exercise eviction). */
  constructor(opts: { routeCacheMax?: number } = {}) {
    this.routeCacheMax = Math.max(2, opts.routeCacheMax ?? ROUTE_CACHE_MAX);
  }

  get size(): number {
    return this.trie.size;
  }

  /**
   * Adds or replaces the session's subscription with this filter (as sent, `$share/...` included).
   * Returns a Promise when the interest listener needs time to make the new interest effective.
   */
  add(session: Session, sub: SubscriptionRecord): MaybePromise<void> {
    this.remove(session, sub.filter);
    this.clearRoutes();
    const shared = parseSharedFilter(sub.filter);
    const subscriber: Subscriber = { session, sub };
    if (shared) {
      const key = `${shared.group}\0${shared.filter}`;
      let g = this.groups.get(key);
      if (!g) {
        g = { filter: shared.filter, entry: { kind: 'shared', key, group: { name: shared.group, members: [], next: 0 } } };
        this.groups.set(key, g);
        this.trie.add(shared.filter, g.entry);
        g.entry.group.members.push(subscriber);
        return this.listener?.interest(shared.filter, shared.group, true);
      }
      g.entry.group.members.push(subscriber);
      return;
    }
    const entry: IndexEntry = { kind: 'plain', subscriber };
    let mine = this.plain.get(session);
    if (!mine) this.plain.set(session, (mine = new Map()));
    mine.set(sub.filter, entry);
    this.trie.add(sub.filter, entry);
    const n = (this.plainCount.get(sub.filter) ?? 0) + 1;
    this.plainCount.set(sub.filter, n);
    if (n === 1) return this.listener?.interest(sub.filter, undefined, true);
  }

  remove(session: Session, filter: string): boolean {
    this.clearRoutes();
    const shared = parseSharedFilter(filter);
    if (shared) {
      const key = `${shared.group}\0${shared.filter}`;
      const g = this.groups.get(key);
      if (!g) return false;
      const members = g.entry.group.members;
      const i = members.findIndex((m) => m.session === session);
      if (i < 0) return false;
      members.splice(i, 1);
      if (members.length === 0) {
        this.trie.remove(shared.filter, g.entry);
        this.groups.delete(key);
        void this.listener?.interest(shared.filter, shared.group, false);
      }
      return true;
    }
    const mine = this.plain.get(session);
    const entry = mine?.get(filter);
    if (!mine || !entry) return false;
    mine.delete(filter);
    if (mine.size === 0) this.plain.delete(session);
    this.trie.remove(filter, entry);
    const n = (this.plainCount.get(filter) ?? 1) - 1;
    if (n > 0) this.plainCount.set(filter, n);
    else {
      this.plainCount.delete(filter);
      void this.listener?.interest(filter, undefined, false);
    }
    return true;
  }

  /** Filters (and share groups) this node has subscribers for, e.g. to resubscribe after a reconnect. */
  interests(): Array<{ filter: string; group: string | undefined }> {
    const out: Array<{ filter: string; group: string | undefined }> = [];
    for (const filter of this.plainCount.keys()) out.push({ filter, group: undefined });
    for (const g of this.groups.values()) out.push({ filter: g.filter, group: g.entry.group.name });
    return out;
  }

  removeAll(session: Session): void {
    for (const filter of [...session.subscriptions.keys()]) this.remove(session, filter);
  }

  /**
   * Sessions that should receive a message on `topic`. No Local subscriptions skip the publisher
   * [MQTT-3.8.3-3]; each shared group picks one member, preferring a connected one.
   */
  match(topic: string, publisherId: string | undefined, scope: MatchScope = ALL): Match[] {
    const entries = this.entriesFor(topic);
    if (entries.length === 0) return [];
    const only = entries.length === 1 ? entries[0] : undefined;
    if (only?.kind === 'plain') {
      // The common case, one subscription: no per-message Map.
      const s = only.subscriber;
      if (!scope.plain || (s.sub.noLocal && publisherId !== undefined && s.session.clientId === publisherId)) return [];
      const d: Match = { session: s.session, qos: s.sub.qos, retainAsPublished: s.sub.retainAsPublished };
      if (s.sub.subscriptionId !== undefined) d.subscriptionIds = [s.sub.subscriptionId];
      return [d];
    }
    // Several entries: fold them into one delivery per session. The Map is the index's own,
    // reused; nothing below calls out of this file, so no second match can start while it is in use.
    const bySession = this.bySession;
    const out: Match[] = [];
    for (const entry of entries) {
      let s: Subscriber | undefined;
      if (entry.kind === 'plain') {
        if (!scope.plain) continue;
        s = entry.subscriber;
        if (s.sub.noLocal && publisherId !== undefined && s.session.clientId === publisherId) continue;
      } else {
        if (scope.shared !== true && scope.shared !== entry.key) continue;
        s = pickMember(entry.group);
        if (!s) continue;
      }
      const id = s.sub.subscriptionId;
      const d = bySession.get(s.session);
      if (!d) {
        const nd: Match = { session: s.session, qos: s.sub.qos, retainAsPublished: s.sub.retainAsPublished };
        if (id !== undefined) nd.subscriptionIds = [id];
        bySession.set(s.session, nd);
        out.push(nd);
        continue;
      }
      if (s.sub.qos > d.qos) d.qos = s.sub.qos;
      d.retainAsPublished ||= s.sub.retainAsPublished;
      if (id !== undefined) (d.subscriptionIds ??= []).push(id);
    }
    // Cleared here, not at the next call, so it holds no session after the match.
    bySession.clear();
    return out;
  }

  /** Route-cache entries held now (for tests and metrics). */
  get cachedRoutes(): number {
    return this.routes.size;
  }

  /** The index entries whose filters match `topic`, from the route cache or the trie. */
  private entriesFor(topic: string): IndexEntry[] {
    let entries = this.routes.get(topic);
    if (entries === undefined) {
      entries = [];
      this.found = entries;
      this.trie.match(topic, this.collect);
      this.found = NO_ENTRIES;
      if (topic.length > ROUTE_CACHE_TOPIC_MAX || entries.length > ROUTE_CACHE_ENTRIES_MAX >> 1) return entries;
      if (this.routes.size >= this.routeCacheMax || this.cachedEntries + entries.length > ROUTE_CACHE_ENTRIES_MAX) this.evictOldest();
      this.routes.set(topic, entries);
      this.cachedEntries += entries.length;
    }
    return entries;
  }

  private clearRoutes(): void {
    this.routes.clear();
    this.cachedEntries = 0;
  }

  /**
   * Drops the older half of the cache (a Map iterates in insertion order), so topics cached since
   * keep hitting; clearing it all would send every hot topic back to the trie at once.
   */
  private evictOldest(): void {
    let drop = this.routes.size - (this.routeCacheMax >> 1);
    for (const [topic, entries] of this.routes) {
      // The older half by count, and as many more as it takes to be within half the entry budget.
      if (drop-- <= 0 && this.cachedEntries <= ROUTE_CACHE_ENTRIES_MAX >> 1) break;
      this.routes.delete(topic);
      this.cachedEntries -= entries.length;
    }
  }
}

/** Round-robin over the group, skipping offline members while any member is online. */
function pickMember(group: SharedGroup): Subscriber | undefined {
  const n = group.members.length;
  if (n === 0) return undefined;
  for (let i = 0; i < n; i++) {
    const m = group.members[(group.next + i) % n];
    if (m.session.online) {
      group.next = (group.next + i + 1) % n;
      return m;
    }
  }
  const m = group.members[group.next % n];
  group.next = (group.next + 1) % n;
  return m;
}
