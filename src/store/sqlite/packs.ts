// Message bodies packed many to a row (schema 4). A SQLite row costs about a microsecond to insert
// whatever it holds (docs/benchmarks.md, "What a SQLite row costs"), so a batch's bodies are
// serialised one after another into one BLOB — a pack — and inserted as one row; a pack is deleted
// once none of its bodies is referenced any more, and packs that are mostly dead are rewritten
// (compaction, sqlite-store.ts), so the packs hold at most about four times their live bodies.
//
// A pack: format byte (PACK_FORMAT), u32 item count, then the items. An item: u32 length of the
// rest, then
//   f64 body key (`n`, what entries point at), f64 createdAt, u8 flags (qos in bits 0–1, retain
//   bit 2, properties bit 3, expiresAt bit 4, publisherId bit 5), [f64 expiresAt],
//   u32 + UTF-8 id, u32 + UTF-8 topic, [u32 + UTF-8 publisherId], [u32 + UTF-8 JSON properties],
//   u32 + payload.
// Numbers are f64 so that any value the store validates (safe integers) round-trips. Little-endian.
import type { Properties } from '../../protocol/packets.js';
import type { StoredMessage } from '../ports.js';
import { decodeJson, encodeJson } from '../json.js';
import { StoreError } from '../errors.js';
import { withRoom, writeUtf8 } from '../../protocol/bytes.js';

export const PACK_FORMAT = 1;
const HEADER = 5;

/** A pack is closed once it holds this many bytes; a batch writes as many packs as its bodies fill. */
export const PACK_BYTES = 256 * 1024;

const enum Flag {
  Retain = 4,
  Properties = 8,
  Expires = 16,
  Publisher = 32,
}

/** Builds one pack at a time in a buffer it reuses (SQLite copies a bound BLOB, so the bytes need not outlive the insert). */
export class PackBuilder {
  private buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  private at = HEADER;
  private items = 0;

  /** Bytes of the pack so far, header included. */
  get size(): number {
    return this.at;
  }

  get count(): number {
    return this.items;
  }

  /** Appends a body; returns the bytes its item takes. */
  add(n: number, m: StoredMessage): number {
    const props = m.properties === undefined ? undefined : encodeJson(m.properties);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: room enough before any string is written.
    const bound =
      4 + 8 + 8 + 1 + 8 + 4 * 5 + 3 * (m.id.length + m.topic.length + (m.publisherId?.length ?? 0) + (props?.length ?? 0)) + m.payload.length;
    this.reserve(bound);
    const b = this.buf;
    const start = this.at;
    let at = start + 4;
    at = b.writeDoubleLE(n, at);
    at = b.writeDoubleLE(m.createdAt, at);
    const flags = m.qos | (m.retain ? Flag.Retain : 0) | (props !== undefined ? Flag.Properties : 0) | (m.expiresAt !== undefined ? Flag.Expires : 0) | (m.publisherId !== undefined ? Flag.Publisher : 0);
    b[at++] = flags;
    if (m.expiresAt !== undefined) at = b.writeDoubleLE(m.expiresAt, at);
    at = writeString(b, at, m.id);
    at = writeString(b, at, m.topic);
    if (m.publisherId !== undefined) at = writeString(b, at, m.publisherId);
    if (props !== undefined) at = writeString(b, at, props);
    at = b.writeUInt32LE(m.payload.length, at);
    at += m.payload.copy(b, at);
    b.writeUInt32LE(at - start - 4, start);
    this.at = at;
    this.items++;
    return at - start;
  }

  /** Appends an item as another pack holds it (compaction: a live body moved on, not decoded). */
  addRaw(item: Buffer): void {
    this.reserve(item.length);
    this.at += item.copy(this.buf, this.at);
    this.items++;
  }

  /** The pack's bytes: a view of the builder's buffer, good until the next add or reset. */
  bytes(): Buffer {
    this.buf[0] = PACK_FORMAT;
    this.buf.writeUInt32LE(this.items, 1);
    return this.buf.subarray(0, this.at);
  }

  /** Starts a new pack; gives back a buffer a batch of large bodies grew. */
  reset(): void {
    this.at = HEADER;
    this.items = 0;
    if (this.buf.length > 4 * PACK_BYTES) this.buf = Buffer.allocUnsafe(64 * 1024);
  }

  private reserve(bytes: number): void {
    this.buf = withRoom(this.buf, this.at, bytes);
  }
}

/** Writes `s` with its u32 length at `at`; `b` has room for 4 + 3 × its length bytes. */
function writeString(b: Buffer, at: number, s: string): number {
  const len = writeUtf8(b, at + 4, s);
  b.writeUInt32LE(len, at);
  return at + 4 + len;
}

/** One item of a pack, as `forEachItem` finds it. */
export interface PackItem {
  n: number;
  id: string;
  /** The item's bytes, length prefix included (what addRaw takes); a view of the pack. */
  raw: Buffer;
}

/** Walks a pack's items reading only their key and id (compaction, recovery). Throws on a malformed pack. */
export function forEachItem(pack: Buffer, where: string, visit: (item: PackItem) => void): void {
  if (pack.length < HEADER || pack[0] !== PACK_FORMAT) throw corrupt(where, `unknown pack format ${pack[0]}`);
  const count = pack.readUInt32LE(1);
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    if (at + 4 > pack.length) throw corrupt(where, `item ${i} of ${count} is cut off`);
    const end = at + 4 + pack.readUInt32LE(at);
    // Key, createdAt, flags, optional expiry, then the id's length: all inside the item.
    const flags = pack[at + 20];
    const idAt = at + 21 + (flags & Flag.Expires ? 8 : 0);
    if (end > pack.length || idAt + 4 > end) throw corrupt(where, `item ${i} of ${count} overruns the pack`);
    const idEnd = idAt + 4 + pack.readUInt32LE(idAt);
    if (idEnd > end) throw corrupt(where, `item ${i} of ${count}: its id overruns it`);
    visit({ n: pack.readDoubleLE(at + 4), id: pack.toString('utf8', idAt + 4, idEnd), raw: pack.subarray(at, end) });
    at = end;
  }
  if (at !== pack.length) throw corrupt(where, `${pack.length - at} bytes after its last item`);
}

/** Decodes one item (`raw`, as forEachItem gives it). The payload is copied: it must not keep the whole pack alive. */
export function decodeItem(raw: Buffer, where: string): StoredMessage {
  const end = raw.length;
  let at = 12;
  const createdAt = raw.readDoubleLE(at);
  at += 8;
  const flags = raw[at++];
  if ((flags & 3) === 3 || flags & 0xc0) throw corrupt(where, `an item has flags ${flags} (qos 3, or bits this format does not use)`);
  let expiresAt: number | undefined;
  if (flags & Flag.Expires) {
    expiresAt = raw.readDoubleLE(at);
    at += 8;
  }
  const field = (): Buffer => {
    if (at + 4 > end) throw corrupt(where, 'an item is cut off');
    const len = raw.readUInt32LE(at);
    if (at + 4 + len > end) throw corrupt(where, 'a field overruns its item');
    const v = raw.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return v;
  };
  const id = field().toString('utf8');
  const topic = field().toString('utf8');
  const m: StoredMessage = { id, topic, payload: Buffer.alloc(0), qos: (flags & 3) as StoredMessage['qos'], retain: (flags & Flag.Retain) !== 0, createdAt };
  if (flags & Flag.Publisher) m.publisherId = field().toString('utf8');
  if (flags & Flag.Properties) {
    const text = field().toString('utf8');
    try {
      m.properties = decodeJson<Properties>(text);
    } catch (err) {
      throw corrupt(where, `an item's properties are not JSON (${(err as Error).message})`);
    }
  }
  m.payload = Buffer.from(field());
  if (expiresAt !== undefined) m.expiresAt = expiresAt;
  if (at !== end) throw corrupt(where, `${end - at} bytes after an item's payload`);
  return m;
}

const corrupt = (where: string, why: string): StoreError => new StoreError(`${where} is corrupt: ${why}`);
