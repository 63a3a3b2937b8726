// What the store keeps in memory about the packs of one kind (body packs, entry packs): how many of
// each pack's items, and of its bytes, are still live, so that a pack is deleted in the batch in
// which its last live item goes and the mostly-dead ones are found for rewriting; and the pack being
// written, with the items it holds. Rebuilt from the file at open, with the rest of the index.
import { corrupt, PACK_BYTES, type PackWriter } from './pack-format.js';

/** Something stored as an item of a pack: a body, an entry, a tombstone. */
export interface Packed {
  /** The pack holding it, once written; undefined while it waits to be, and once it is dead. */
  pack?: PackRef;
  /** Bytes its item takes in the pack. */
  size: number;
}

/** A pack row: how many of its items, and how many of its bytes, are still live. */
export interface PackRef {
  readonly n: number;
  readonly bytes: number;
  live: number;
  liveBytes: number;
  /** Set once the pack has left its set (forget): it is deleted with the batch, and its counts with it. */
  gone: boolean;
  /** Items in other packs that are live only while this pack is in the file (tombstones of its dead entries), and their bytes. */
  dependents?: Packed[];
  depBytes: number;
}

export class PackSet {
  /** By row key, in key order (oldest first); a pack none of whose items is live is not here. */
  readonly packs = new Map<number, PackRef>();
  next = 1;
  /** Bytes of every pack here, of their live items, and of the live items that depend on a pack here (depend). */
  bytes = 0;
  liveBytes = 0;
  depBytes = 0;
  /** Packs with no live item left, to delete at the end of the batch. */
  dead: number[] = [];

  /** `dies` hears of each dependent that dies because the pack it depends on went. */
  constructor(private readonly dies?: (dependent: Packed) => void) {}

  clear(): void {
    for (const p of this.packs.values()) p.gone = true;
    this.packs.clear();
    this.next = 1;
    this.bytes = 0;
    this.liveBytes = 0;
    this.depBytes = 0;
    this.dead = [];
  }

  /** Records a pack just written (or read at open); its items join it (join). */
  add(n: number, bytes: number): PackRef {
    const p: PackRef = { n, bytes, live: 0, liveBytes: 0, gone: false, dependents: undefined, depBytes: 0 };
    this.packs.set(n, p);
    this.bytes += bytes;
    if (n >= this.next) this.next = n + 1;
    return p;
  }

  has(p: PackRef): boolean {
    return p.gone === false;
  }

  /** An item written into (or read from) pack `p`, taking `item.size` of its bytes: live until leave. */
  join(item: Packed, p: PackRef): void {
    item.pack = p;
    p.live++;
    p.liveBytes += item.size;
    this.liveBytes += item.size;
  }

  /** `item` is dead: its pack loses it, and goes once it has none left. A pack already gone took its counts with it. */
  leave(item: Packed): void {
    const p = item.pack;
    if (p === undefined) return;
    item.pack = undefined;
    if (!this.has(p)) return;
    p.live--;
    p.liveBytes -= item.size;
    this.liveBytes -= item.size;
    if (p.live === 0) this.forget(p);
  }

  /** `dependent` (in another pack, taking `dependent.size` bytes there) is live only while `p` is here. */
  depend(dependent: Packed, p: PackRef): void {
    (p.dependents ??= []).push(dependent);
    p.depBytes += dependent.size;
    this.depBytes += dependent.size;
  }

  /** Drops a pack whatever it still holds (its live items have been copied to another): it is deleted with the batch, and what depended on it dies. */
  forget(p: PackRef): void {
    if (p.gone) return;
    p.gone = true;
    this.packs.delete(p.n);
    this.bytes -= p.bytes;
    this.liveBytes -= p.liveBytes;
    this.depBytes -= p.depBytes;
    this.dead.push(p.n);
    const dependents = p.dependents;
    if (dependents === undefined) return;
    p.dependents = undefined;
    for (let i = 0; i < dependents.length; i++) {
      this.dies?.(dependents[i]);
      this.leave(dependents[i]);
    }
  }

  /**
   * Whether the packs hold at least `min` bytes and, their dependents' bytes added, more than
   * `space` times their live bytes: then at least one pack is sparse (see rewrite).
   */
  overgrown(min: number, space: number): boolean {
    return this.bytes >= min && this.bytes + this.depBytes > space * this.liveBytes;
  }

  /**
   * Rewrites every sparse pack: one whose bytes and its dependents' (which die with it) are at least
   * `space` times its live bytes, so that a rewrite copies at most 1/(space - 1) of what it frees.
   * Counting dependents there (and not in their own packs) is what lets a pack full of tombstones
   * whose victims stay be left alone, while a pack whose dead entries keep tombstones alive is
   * rewritten. `copyLive(p, sparse)` copies the live items of `p` into `sink` (addRaw, then took)
   * and returns how many live items it found, copied or not (an item that dies with another sparse
   * pack is not copied). Every live item must be found: otherwise the pack's deletion would lose one,
   * so the batch is refused (rolled back).
   */
  rewrite<W extends PackWriter>(sink: PackSink<W>, space: number, where: (p: PackRef) => string, copyLive: (p: PackRef, sparse: ReadonlySet<PackRef>) => number): void {
    const sparse = new Set<PackRef>();
    for (const p of this.packs.values()) if (space * p.liveBytes <= p.bytes + p.depBytes) sparse.add(p);
    for (const p of sparse) {
      const found = copyLive(p, sparse);
      if (found !== p.live) throw corrupt(where(p), `it holds ${found} of its ${p.live} live items`);
    }
    sink.flush();
    for (const p of sparse) this.forget(p);
  }
}

/** The pack of one kind being written: its writer, the items in it, and where a full one goes. */
export class PackSink<W extends PackWriter> {
  private readonly members: Packed[] = [];

  constructor(
    readonly writer: W,
    private readonly set: PackSet,
    private readonly insert: (n: number, data: Buffer) => void,
  ) {}

  /** `item` was just appended to the writer, taking `size` bytes; a pack that is full is inserted. */
  took(item: Packed, size: number): void {
    item.size = size;
    this.members.push(item);
    if (this.writer.size >= PACK_BYTES) this.flush();
  }

  /** Inserts the pack being built, if it holds anything, and points its items at it. */
  flush(): void {
    const w = this.writer;
    if (w.count === 0) return;
    const n = this.set.next;
    this.insert(n, w.bytes());
    const p = this.set.add(n, w.size);
    const members = this.members;
    for (let i = 0; i < members.length; i++) this.set.join(members[i], p);
    members.length = 0;
    w.reset();
  }

  /** Drops what a failed batch had begun. */
  reset(): void {
    this.members.length = 0;
    this.writer.reset();
  }
}
