// What the SQLite store keeps in memory about what its file holds, so that a queue write needs no
// read: which sessions exist, each message body's key and how many entries point at it, each
// session's entries by seq, the packs holding bodies and entries (pack-set.ts) and the tombstones
// still needed (entry-packs.ts). Rebuilt from the file at open (and after a failed batch, whose
// transaction rolled back changes this index had already taken in).
//
// A session's entries are kept in key order (`n` ascending): a new entry gets the next n, and an
// entry written again gets a new n and moves to the end. So the first entry of a session is its
// oldest item, which is what its watermark (`retired.below`) is set to.
import type { QueueEntry, StoredMessage } from '../ports.js';
import { PackSet, type Packed, type PackRef } from './pack-set.js';

/** A message body; `pack` is the body pack holding it (packs.ts), once written. */
export interface BodyRef extends Packed {
  readonly id: string;
  /** The body's key, what entries point at; unique among the bodies of the file. */
  readonly n: number;
  /** Queue entries pointing at this body. */
  refs: number;
  /** The message while the batch that made it has not written it yet. */
  write?: StoredMessage;
}

/** A queue entry; `pack` is the entry pack holding its item (entry-packs.ts), once written. */
export interface EntryRef extends Packed {
  readonly clientId: string;
  readonly seq: number;
  /** Its item's key: a changed entry is written as a new item under a new key in place of its old one. */
  n: number;
  body: BodyRef;
  /** The entry while the batch that made or changed it has not written its item yet. */
  write?: QueueEntry;
}

/** A tombstone: the item under key `victim`, in `victimPack`, is dead; needed while that pack is in the file. */
export interface Tombstone extends Packed {
  readonly victim: number;
  readonly victimPack: PackRef;
}

/**
 * A session's entries in key order, so its oldest is found without iterating its Map from the front
 * (V8 skips every slot deleted since the Map was last rehashed: a drain, deleting from the front,
 * made each look-up cost as many steps as entries went before). A slot is live while its entry is
 * still in the Map with the key it had when pushed; dead slots are passed over once.
 */
interface KeyOrder {
  refs: EntryRef[];
  ns: number[];
  head: number;
}

export class QueueIndex {
  readonly sessions = new Set<string>();
  readonly bodies = new Map<string, BodyRef>();
  readonly entries = new Map<string, Map<number, EntryRef>>();
  private readonly order = new Map<string, KeyOrder>();
  /** Next keys: ascending, so that a session's entries in key order are its items in write order. */
  nextBody = 1;
  nextEntry = 1;
  readonly bodyPacks = new PackSet();
  /** A tombstone dies with its victim's pack (leaving its own pack, through PackSet). */
  readonly entryPacks = new PackSet((t) => {
    const victim = (t as Tombstone).victim;
    if (this.tombstones.get(victim) === t) this.tombstones.delete(victim);
  });
  /** Live tombstones by the key they kill. */
  readonly tombstones = new Map<number, Tombstone>();

  clear(): void {
    this.sessions.clear();
    this.bodies.clear();
    this.entries.clear();
    this.order.clear();
    this.nextBody = 1;
    this.nextEntry = 1;
    this.bodyPacks.clear();
    this.entryPacks.clear();
    this.tombstones.clear();
  }

  /** A tombstone of `size` bytes for the dead item `victim` of live pack `victimPack` (its own pack is set once it is written). */
  addTombstone(victim: number, victimPack: PackRef, size: number): Tombstone {
    const t: Tombstone = { victim, victimPack, pack: undefined, size };
    this.tombstones.set(victim, t);
    this.entryPacks.depend(t, victimPack);
    return t;
  }

  /** The watermark of a session: its oldest live item, or every item so far when it has none. */
  below(clientId: string): number {
    return this.oldest(clientId)?.n ?? this.nextEntry;
  }

  /** Whether `seq` is the session's oldest item (a delete of it moves the watermark). */
  isOldest(clientId: string, seq: number): boolean {
    return this.oldest(clientId)?.seq === seq;
  }

  private oldest(clientId: string): EntryRef | undefined {
    const queue = this.entries.get(clientId);
    const o = this.order.get(clientId);
    if (queue === undefined || o === undefined) return undefined;
    const { refs, ns } = o;
    while (o.head < refs.length) {
      const r = refs[o.head];
      if (live(r, ns[o.head], queue)) return r;
      o.head++;
    }
    return undefined; // not reached: the Map's entries all have a live slot
  }

  /** Appends an entry's key to its session's key order; drops dead slots once they dominate. */
  private ordered(clientId: string, queue: Map<number, EntryRef>, e: EntryRef): void {
    let o = this.order.get(clientId);
    if (o === undefined) this.order.set(clientId, (o = { refs: [], ns: [], head: 0 }));
    o.refs.push(e);
    o.ns.push(e.n);
    if (o.refs.length - o.head <= 2 * queue.size + 64) return;
    const refs: EntryRef[] = [];
    const ns: number[] = [];
    for (let i = o.head; i < o.refs.length; i++) {
      const r = o.refs[i];
      if (live(r, o.ns[i], queue)) {
        refs.push(r);
        ns.push(r.n);
      }
    }
    o.refs = refs;
    o.ns = ns;
    o.head = 0;
  }

  /** Gives an entry a new key and moves it to the end of its session's key order. */
  renumber(clientId: string, seq: number, e: EntryRef): void {
    const queue = this.entries.get(clientId)!;
    queue.delete(seq);
    e.n = this.nextEntry++;
    queue.set(seq, e);
    this.ordered(clientId, queue, e);
  }

  addBody(id: string, n = this.nextBody): BodyRef {
    const b: BodyRef = { id, n, refs: 0, write: undefined, pack: undefined, size: 0 };
    this.bodies.set(id, b);
    if (n >= this.nextBody) this.nextBody = n + 1;
    return b;
  }

  addEntry(clientId: string, seq: number, body: BodyRef, n = this.nextEntry): EntryRef {
    let queue = this.entries.get(clientId);
    if (queue === undefined) this.entries.set(clientId, (queue = new Map()));
    const e: EntryRef = { clientId, seq, n, body, write: undefined, pack: undefined, size: 0 };
    queue.set(seq, e);
    this.ordered(clientId, queue, e);
    body.refs++;
    if (n >= this.nextEntry) this.nextEntry = n + 1;
    return e;
  }

  entry(clientId: string, seq: number): EntryRef | undefined {
    return this.entries.get(clientId)?.get(seq);
  }

  /** Forgets an entry; returns it (its body's count already lowered) or undefined. */
  removeEntry(clientId: string, seq: number): EntryRef | undefined {
    const queue = this.entries.get(clientId);
    const e = queue?.get(seq);
    if (e === undefined) return undefined;
    queue!.delete(seq);
    if (queue!.size === 0) {
      this.entries.delete(clientId);
      this.order.delete(clientId);
    }
    e.body.refs--;
    return e;
  }
}

/**
 * Whether a slot of a session's key order still names a live item: the entry still has the key
 * the slot recorded (it was not rewritten under a new key) and is still its session's entry for its seq.
 */
function live(r: EntryRef, n: number, queue: Map<number, EntryRef>): boolean {
  return r.n === n && queue.get(r.seq) === r;
}
