// What the SQLite store keeps in memory about its own rows, so that a queue write is one statement
// on an integer key: which sessions exist, each message body's row and how many entries point at
// it, each session's entries by seq, and the rows already retired but not yet deleted. Rebuilt from
// the file at open (and after a failed batch, whose transaction rolled back changes this index had
// already taken in).
//
// A session's entries are kept in row order (`n` ascending): a new entry gets the next n, and an
// entry written again gets a new n and moves to the end. So the first entry of a session is its
// oldest row, which is what its watermark (`retired.below`) is set to.
import type { QueueEntry, StoredMessage } from '../ports.js';

export interface BodyRef {
  readonly id: string;
  /** The body's key, what entry rows point at; unique among the bodies of the file. */
  readonly n: number;
  /** Queue entries pointing at this body. */
  refs: number;
  /** The message while the batch that made it has not written it yet. */
  write?: StoredMessage;
  /** The pack holding it, once written (packs.ts), and the bytes its item takes there. */
  pack?: PackRef;
  size: number;
}

/** A row of `packs`: how many of its bodies, and how many of its bytes, are still live. */
export interface PackRef {
  readonly n: number;
  readonly bytes: number;
  live: number;
  liveBytes: number;
}

export interface EntryRef {
  readonly clientId: string;
  readonly seq: number;
  /** Row key in `entries`: a changed entry is written as a new row (appended) in place of its old one. */
  n: number;
  body: BodyRef;
  /** The entry while the batch that made or changed it has not written its row yet. */
  write?: QueueEntry;
}

/**
 * A session's entries in row order, so its oldest is found without iterating its Map from the front
 * (V8 skips every slot deleted since the Map was last rehashed: a drain, deleting from the front,
 * made each look-up cost as many steps as entries went before). A slot is live while its entry is
 * still in the Map with the row key it had when pushed; dead slots are passed over once.
 */
interface RowOrder {
  refs: EntryRef[];
  ns: number[];
  head: number;
}

export class QueueIndex {
  readonly sessions = new Set<string>();
  readonly bodies = new Map<string, BodyRef>();
  readonly entries = new Map<string, Map<number, EntryRef>>();
  private readonly order = new Map<string, RowOrder>();
  /** Next row keys: ascending, so new rows are appended to the end of their table. */
  nextBody = 1;
  nextEntry = 1;
  /** Live entries, all sessions. */
  entryCount = 0;
  /** Entry rows retired by watermark and still in the file, to delete in bulk. */
  deadEntries: number[] = [];
  /** Packs by row key, in key order (oldest first); a pack none of whose bodies is live is not here. */
  readonly packs = new Map<number, PackRef>();
  nextPack = 1;
  /** Bytes of every pack in `packs`, and of their live bodies. */
  packBytes = 0;
  livePackBytes = 0;
  /** Packs with no live body left, to delete at the end of the batch. */
  deadPacks: number[] = [];

  clear(): void {
    this.sessions.clear();
    this.bodies.clear();
    this.entries.clear();
    this.order.clear();
    this.nextBody = 1;
    this.nextEntry = 1;
    this.entryCount = 0;
    this.deadEntries = [];
    this.packs.clear();
    this.nextPack = 1;
    this.packBytes = 0;
    this.livePackBytes = 0;
    this.deadPacks = [];
  }

  /** Records a pack just written (or read at open); its bodies join it (joinPack). */
  addPack(n: number, bytes: number): PackRef {
    const p: PackRef = { n, bytes, live: 0, liveBytes: 0 };
    this.packs.set(n, p);
    this.packBytes += bytes;
    if (n >= this.nextPack) this.nextPack = n + 1;
    return p;
  }

  /** A body written into (or read from) pack `p`, taking `body.size` of its bytes: live until leavePack. */
  joinPack(body: BodyRef, p: PackRef): void {
    body.pack = p;
    p.live++;
    p.liveBytes += body.size;
    this.livePackBytes += body.size;
  }

  /** A written body is no longer referenced: its pack loses it, and goes once it has none left. */
  leavePack(body: BodyRef): void {
    const p = body.pack;
    if (p === undefined) return;
    body.pack = undefined;
    p.live--;
    p.liveBytes -= body.size;
    this.livePackBytes -= body.size;
    if (p.live === 0) this.forgetPack(p);
  }

  /** Drops a pack whatever it still holds (its live bodies have been copied to another): it is deleted with the batch. */
  forgetPack(p: PackRef): void {
    if (this.packs.get(p.n) !== p) return;
    this.packs.delete(p.n);
    this.packBytes -= p.bytes;
    this.livePackBytes -= p.liveBytes;
    this.deadPacks.push(p.n);
  }

  /** The watermark of a session: its oldest live row, or every row so far when it has none. */
  below(clientId: string): number {
    return this.oldest(clientId)?.n ?? this.nextEntry;
  }

  /** The lowest row key of a live entry, all sessions; Infinity when there is none. */
  lowestLiveEntry(): number {
    let low = Infinity;
    for (const clientId of this.entries.keys()) {
      const n = this.oldest(clientId)?.n;
      if (n !== undefined && n < low) low = n;
    }
    return low;
  }

  /** Whether `seq` is the session's oldest row (a delete of it moves the watermark). */
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

  /** Appends an entry's row key to its session's row order; drops dead slots once they dominate. */
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

  /** Gives an entry a new row key and moves it to the end of its session's row order. */
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
    const e: EntryRef = { clientId, seq, n, body, write: undefined };
    queue.set(seq, e);
    this.ordered(clientId, queue, e);
    body.refs++;
    this.entryCount++;
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
    this.entryCount--;
    return e;
  }
}

/**
 * Whether a slot of a session's row order still names a live row: the entry still has the row key
 * the slot recorded (it was not rewritten under a new key) and is still its session's entry for its seq.
 */
function live(r: EntryRef, n: number, queue: Map<number, EntryRef>): boolean {
  return r.n === n && queue.get(r.seq) === r;
}
