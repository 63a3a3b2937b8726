// The container both kinds of pack share (bodies, packs.ts; queue entries, entry-packs.ts): many
// items serialised one after another into one BLOB row, since a SQLite row costs about as much to
// insert whatever it holds (docs/benchmarks.md, "What a SQLite row costs").
//
// A pack: format byte (which kind of items it holds), u32 item count, then the items, each a u32
// length of the rest and then bytes its kind defines. Little-endian.
import { StoreError } from '../errors.js';
import { withRoom, writeUtf8 } from '../../protocol/bytes.js';

const HEADER = 5;

/** A pack is closed once it holds this many bytes; a batch writes as many packs as its items fill. */
export const PACK_BYTES = 256 * 1024;

/** Builds one pack at a time in a buffer it reuses (SQLite copies a bound BLOB, so the bytes need not outlive the insert). */
export class PackWriter {
  protected buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  private at = HEADER;
  private items = 0;

  constructor(private readonly format: number) {}

  /** Bytes of the pack so far, header included. */
  get size(): number {
    return this.at;
  }

  get count(): number {
    return this.items;
  }

  /** Makes room for an item of at most `bound` bytes, length prefix included; returns where it starts. */
  protected begin(bound: number): number {
    this.buf = withRoom(this.buf, this.at, bound);
    return this.at;
  }

  /** Ends the item begun at `start` (begin) whose bytes run to `end`; returns the bytes it takes. */
  protected end(start: number, end: number): number {
    this.buf.writeUInt32LE(end - start - 4, start);
    this.at = end;
    this.items++;
    return end - start;
  }

  /** Appends an item as another pack holds it (a rewrite: a live item moved on, not decoded). */
  addRaw(item: Buffer): void {
    const start = this.begin(item.length);
    this.at = start + item.copy(this.buf, start);
    this.items++;
  }

  /** The pack's bytes: a view of the writer's buffer, good until the next add or reset. */
  bytes(): Buffer {
    this.buf[0] = this.format;
    this.buf.writeUInt32LE(this.items, 1);
    return this.buf.subarray(0, this.at);
  }

  /** Starts a new pack; gives back a buffer a batch of large items grew. */
  reset(): void {
    this.at = HEADER;
    this.items = 0;
    if (this.buf.length > 4 * PACK_BYTES) this.buf = Buffer.allocUnsafe(64 * 1024);
  }
}

/** An item of a pack as a walk finds it. */
export interface RawItem {
  /** The item's bytes, length prefix included (what addRaw takes); a view of the pack. */
  raw: Buffer;
}

/** Writes `s` with its u32 length at `at`; `b` has room for 4 + 3 × its length bytes. */
export function writeString(b: Buffer, at: number, s: string): number {
  const len = writeUtf8(b, at + 4, s);
  b.writeUInt32LE(len, at);
  return at + 4 + len;
}

/**
 * Walks the items of a pack of `format`: `visit` gets each item's first byte (its length prefix)
 * and the end of its bytes, both inside the pack. Throws on a header, count or length that does not
 * fit the pack, and on bytes after the last item.
 */
export function walkPack(pack: Buffer, format: number, where: string, visit: (at: number, end: number, i: number, count: number) => void): void {
  if (pack.length < HEADER || pack[0] !== format) throw corrupt(where, `unknown pack format ${pack[0]}`);
  const count = pack.readUInt32LE(1);
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    if (at + 4 > pack.length) throw corrupt(where, `item ${i} of ${count} is cut off`);
    const end = at + 4 + pack.readUInt32LE(at);
    if (end > pack.length) throw corrupt(where, `item ${i} of ${count} overruns the pack`);
    visit(at, end, i, count);
    at = end;
  }
  if (at !== pack.length) throw corrupt(where, `${pack.length - at} bytes after its last item`);
}

export const corrupt = (where: string, why: string): StoreError => new StoreError(`${where} is corrupt: ${why}`);
