// Message bodies packed many to a row (schema 4), in the container of pack-format.ts: a batch's
// bodies are serialised one after another into one BLOB — a pack — and inserted as one row; a pack
// is deleted once none of its bodies is referenced any more, and packs that are mostly dead are
// rewritten (compaction, sqlite-store.ts), so the packs hold at most about four times their live bodies.
//
// A body pack has format byte PACK_FORMAT. An item, after its u32 length:
//   f64 body key (`n`, what entries point at), f64 createdAt, u8 flags (qos in bits 0–1, retain
//   bit 2, properties bit 3, expiresAt bit 4, publisherId bit 5), [f64 expiresAt],
//   u32 + UTF-8 id, u32 + UTF-8 topic, [u32 + UTF-8 publisherId], [u32 + UTF-8 JSON properties],
//   u32 + payload.
// Numbers are f64 so that any value the store validates (safe integers) round-trips. Little-endian.
import type { Properties } from '../../protocol/packets.js';
import type { StoredMessage } from '../ports.js';
import { decodeJson, encodeJson } from '../json.js';
import { corrupt, PackWriter, walkPack, writeString, type RawItem } from './pack-format.js';

export { PACK_BYTES } from './pack-format.js';

export const PACK_FORMAT = 1;

const enum Flag {
  Retain = 4,
  Properties = 8,
  Expires = 16,
  Publisher = 32,
}

/** Builds one body pack at a time. */
export class PackBuilder extends PackWriter {
  constructor() {
    super(PACK_FORMAT);
  }

  /** Appends a body; returns the bytes its item takes. */
  add(n: number, m: StoredMessage): number {
    const props = m.properties === undefined ? undefined : encodeJson(m.properties);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: room enough before any string is written.
    const bound =
      4 + 8 + 8 + 1 + 8 + 4 * 5 + 3 * (m.id.length + m.topic.length + (m.publisherId?.length ?? 0) + (props?.length ?? 0)) + m.payload.length;
    const start = this.begin(bound);
    const b = this.buf;
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
    return this.end(start, at);
  }
}

/** One item of a pack, as `forEachItem` finds it. */
export interface PackItem extends RawItem {
  n: number;
  id: string;
}

/** Walks a body pack's items reading only their key and id (compaction, recovery). Throws on a malformed pack. */
export function forEachItem(pack: Buffer, where: string, visit: (item: PackItem) => void): void {
  walkPack(pack, PACK_FORMAT, where, (at, end, i, count) => {
    // Key, createdAt, flags, optional expiry, then the id's length: all inside the item.
    const flags = pack[at + 20];
    const idAt = at + 21 + (flags & Flag.Expires ? 8 : 0);
    if (idAt + 4 > end) throw corrupt(where, `item ${i} of ${count} overruns the pack`);
    const idEnd = idAt + 4 + pack.readUInt32LE(idAt);
    if (idEnd > end) throw corrupt(where, `item ${i} of ${count}: its id overruns it`);
    visit({ n: pack.readDoubleLE(at + 4), id: pack.toString('utf8', idAt + 4, idEnd), raw: pack.subarray(at, end) });
  });
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
