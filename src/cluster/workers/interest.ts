// Which workers want a message (workers=N): each worker's plain filters and shared-group
// memberships, in two topic tries, and the round-robin turn of every shared group. The hub's
// routing table, with nothing of the hub's other duties (claims, restarts, retained copies).
import type { StoredMessage } from '../../store/ports.js';
import { TopicTrie } from '../../topics/trie.js';

interface Interest {
  plain: Set<string>;
  /** `group\0filter` */
  shared: Set<string>;
}

const NO_GROUPS: ReadonlyMap<string, number> = new Map();

export class InterestRoutes {
  private readonly plain = new TopicTrie<number>();
  /** Shared interest by filter; values are `worker\0group`. */
  private readonly shared = new TopicTrie<string>();
  private readonly interests = new Map<number, Interest>();
  /** Which workers a match has reported already: `seen[w] === tick` (see eachPlain). */
  private readonly seen: number[] = [];
  private tick = 0;
  /** Next turn of each shared group (`group\0filter`). */
  private readonly turns = new Map<string, number>();

  private interestOf(worker: number): Interest {
    let i = this.interests.get(worker);
    if (!i) this.interests.set(worker, (i = { plain: new Set(), shared: new Set() }));
    return i;
  }

  /** A worker's plain filter (no group) or shared-group membership appears or goes. */
  set(worker: number, filter: string, group: string | undefined, present: boolean): void {
    const mine = this.interestOf(worker);
    if (group === undefined) {
      if (present) {
        mine.plain.add(filter);
        this.plain.add(filter, worker);
      } else {
        mine.plain.delete(filter);
        this.plain.remove(filter, worker);
      }
      return;
    }
    const key = `${group}\0${filter}`;
    if (present) {
      mine.shared.add(key);
      this.shared.add(filter, `${worker}\0${group}`);
    } else {
      mine.shared.delete(key);
      this.shared.remove(filter, `${worker}\0${group}`);
      // The group's members changed: its turn starts afresh, so the table holds live groups only.
      this.turns.delete(key);
    }
  }

  /** Drops everything a worker was interested in. */
  forget(worker: number): void {
    const interest = this.interests.get(worker);
    if (!interest) return;
    for (const filter of interest.plain) this.plain.remove(filter, worker);
    for (const key of interest.shared) {
      const [group, filter] = key.split('\0') as [string, string];
      this.shared.remove(filter, `${worker}\0${group}`);
      this.turns.delete(key);
    }
    this.interests.delete(worker);
  }

  /** Keeps only the interest a restarted worker announced again (plain filters, `group\0filter`). */
  keepOnly(worker: number, announced: ReadonlySet<string>): void {
    const mine = this.interestOf(worker);
    for (const filter of [...mine.plain]) if (!announced.has(filter)) this.set(worker, filter, undefined, false);
    for (const key of [...mine.shared]) {
      if (announced.has(key)) continue;
      const [group, filter] = key.split('\0') as [string, string];
      this.set(worker, filter, group, false);
    }
  }

  /**
   * The workers other than `origin` that get a message as plain subscribers: those with a matching
   * filter, or, for a retained message, every live worker (each keeps its own retained index).
   */
  plainFor(m: StoredMessage, origin: number, live: ReadonlySet<number>): Set<number> {
    const out = new Set<number>();
    if (m.retain) {
      for (const w of live) if (w !== origin) out.add(w);
    } else {
      this.eachPlain(m.topic, origin, (w) => out.add(w));
    }
    return out;
  }

  /**
   * Calls `out` once for each worker other than `origin` with a plain filter matching `topic`, in
   * the order they first match, with no allocation per call (the hot path of every forward).
   */
  eachPlain(topic: string, origin: number, out: (worker: number) => void): void {
    const tick = ++this.tick;
    this.plain.match(topic, (w) => {
      if (w === origin || this.seen[w] === tick) return;
      this.seen[w] = tick;
      out(w);
    });
  }

  /** The workers with a member of shared group `key` (`group\0filter`) whose filter matches `topic`. */
  membersOf(topic: string, key: string): number[] {
    const out: number[] = [];
    this.shared.match(topic, (value, filter) => {
      const [w, group] = value.split('\0') as [string, string];
      if (`${group}\0${filter}` === key) out.push(Number(w));
    });
    return out.sort((a, b) => a - b);
  }

  /** For each shared group matching `topic` (`group\0filter`), the one worker whose turn it is. */
  sharedFor(topic: string): ReadonlyMap<string, number> {
    // Most clusters have no shared group: no allocation per message then.
    if (this.shared.size === 0) return NO_GROUPS;
    const groups = new Map<string, number[]>();
    this.shared.match(topic, (value, filter) => {
      const [w, group] = value.split('\0') as [string, string];
      const key = `${group}\0${filter}`;
      const members = groups.get(key);
      if (members) members.push(Number(w));
      else groups.set(key, [Number(w)]);
    });
    const out = new Map<string, number>();
    for (const [key, members] of groups) {
      const turn = this.turns.get(key) ?? 0;
      this.turns.set(key, turn + 1);
      members.sort((a, b) => a - b);
      out.set(key, members[turn % members.length]!);
    }
    return out;
  }
}
