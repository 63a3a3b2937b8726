// Queue entries packed many to a row (schema 5), in the container of pack-format.ts. An entry row
// cost about half a microsecond to insert and as much again to delete (docs/benchmarks.md, "What a
// SQLite row costs"); a batch's new and changed entries are now serialised into one entry pack
// instead. An item is never changed in place: a changed entry is a new item under a new key, and an
// item is dead once
//   - its session is gone, or its key is below its session's watermark (`retired.below`), or
//   - a tombstone names its key: an entry that goes out of order (not its session's oldest, so no
//     watermark covers it) while its pack stays gets one, in a later pack; the tombstone is needed
//     only as long as the pack holding its victim is in the file.
// The store keeps how many items of each pack are live (pack-set.ts) and deletes a pack in the batch
// in which its last live item goes.
//
// An entry pack has format byte ENTRY_PACK_FORMAT. An item, after its u32 length, is a u8 kind and then
//   entry (kind 1):     f64 key, f64 seq, f64 body key, u8 flags (qos bits 0–1, retain bit 2, state
//                       bits 3–4 as rows.ts entryFlags; packet id bit 5, subscription ids bit 6),
//                       [u16 packet id], u32 + UTF-8 client id, [u32 count, u32 × count subscription ids]
//   tombstone (kind 2): f64 key of the item it kills.
// Numbers the store validates as safe integers are f64, as in body packs. Little-endian.
import type { QueueEntry } from '../ports.js';
import { corrupt, PackWriter, walkPack, writeString, type RawItem } from './pack-format.js';
import { entryFlags, STATES } from './rows.js';

export const ENTRY_PACK_FORMAT = 2;

export const enum ItemKind {
  Entry = 1,
  Tombstone = 2,
}

const enum Flag {
  PacketId = 32,
  SubscriptionIds = 64,
}

/** Kind and key of an item; an entry's fixed fields follow, then its variable ones. */
const KEY_AT = 5;
const TOMBSTONE_BYTES = 4 + 1 + 8;
/** Length prefix, kind, key, seq, body key, flags. */
const ENTRY_FIXED = 4 + 1 + 8 + 8 + 8 + 1;

/** Builds one entry pack at a time. */
export class EntryPackBuilder extends PackWriter {
  constructor() {
    super(ENTRY_PACK_FORMAT);
  }

  /** Appends entry `e` of `clientId` under `key`, pointing at body `body`; returns the bytes its item takes. */
  addEntry(key: number, clientId: string, e: QueueEntry, body: number): number {
    const ids = e.subscriptionIds;
    const start = this.begin(ENTRY_FIXED + 2 + 4 + 3 * clientId.length + (ids === undefined ? 0 : 4 + 4 * ids.length));
    const b = this.buf;
    let at = start + 4;
    b[at++] = ItemKind.Entry;
    at = b.writeDoubleLE(key, at);
    at = b.writeDoubleLE(e.seq, at);
    at = b.writeDoubleLE(body, at);
    b[at++] = entryFlags(e) | (e.packetId !== undefined ? Flag.PacketId : 0) | (ids !== undefined ? Flag.SubscriptionIds : 0);
    if (e.packetId !== undefined) at = b.writeUInt16LE(e.packetId, at);
    at = writeString(b, at, clientId);
    if (ids !== undefined) {
      at = b.writeUInt32LE(ids.length, at);
      for (let i = 0; i < ids.length; i++) at = b.writeUInt32LE(ids[i], at);
    }
    return this.end(start, at);
  }

  /** Appends a tombstone for the item under `key`; returns the bytes it takes. */
  addTombstone(key: number): number {
    const start = this.begin(TOMBSTONE_BYTES);
    this.buf[start + 4] = ItemKind.Tombstone;
    this.buf.writeDoubleLE(key, start + KEY_AT);
    return this.end(start, start + TOMBSTONE_BYTES);
  }
}

/** One item of an entry pack as `forEachEntryItem` finds it: an entry's key, or the key a tombstone kills. */
export interface EntryPackItem extends RawItem {
  kind: ItemKind;
  key: number;
}

/** Walks an entry pack's items reading only their kind and key (compaction, recovery). Throws on a malformed pack. */
export function forEachEntryItem(pack: Buffer, where: string, visit: (item: EntryPackItem) => void): void {
  walkPack(pack, ENTRY_PACK_FORMAT, where, (at, end, i, count) => {
    const bytes = end - at;
    if (bytes < TOMBSTONE_BYTES) throw corrupt(where, `item ${i} of ${count} is too short (${bytes} bytes)`);
    const kind = pack[at + 4];
    if (kind !== ItemKind.Entry && kind !== ItemKind.Tombstone) throw corrupt(where, `item ${i} of ${count} is of unknown kind ${kind}`);
    if (kind === ItemKind.Entry ? bytes < ENTRY_FIXED : bytes !== TOMBSTONE_BYTES) throw corrupt(where, `item ${i} of ${count} is ${bytes} bytes, not what its kind takes`);
    const key = pack.readDoubleLE(at + KEY_AT);
    if (!Number.isSafeInteger(key)) throw corrupt(where, `item ${i} of ${count} has key ${key}`);
    visit({ kind, key, raw: pack.subarray(at, end) });
  });
}

/**
 * Whether the entry item under `key` of `clientId` is live, by the rules above: its session is
 * there, its key is not below the session's watermark, and no tombstone names it (`killed`).
 */
export function isLiveItem(key: number, clientId: string, sessions: ReadonlySet<string>, below: ReadonlyMap<string, number>, killed: ReadonlySet<number>): boolean {
  return sessions.has(clientId) && key >= (below.get(clientId) ?? 0) && !killed.has(key);
}

/** An entry item decoded: the entry (its messageId left empty: the caller knows the body), whose it is, and the body it points at. */
export interface DecodedEntry {
  clientId: string;
  body: number;
  entry: QueueEntry;
}

/** Decodes an entry item (`raw`, as forEachEntryItem gives it with kind Entry). */
export function decodeEntry(raw: Buffer, where: string): DecodedEntry {
  const end = raw.length;
  const seq = raw.readDoubleLE(13);
  const body = raw.readDoubleLE(21);
  const flags = raw[29];
  if (!Number.isSafeInteger(seq) || seq < 0 || !Number.isSafeInteger(body)) throw corrupt(where, `an entry has seq ${seq} and body key ${body}`);
  if ((flags & 3) === 3 || ((flags >> 3) & 3) === 3 || flags & 0x80) throw corrupt(where, `an entry has flags ${flags} (qos 3, state 3, or bits this format does not use)`);
  let at = ENTRY_FIXED;
  const need = (bytes: number): void => {
    if (at + bytes > end) throw corrupt(where, 'an entry is cut off');
  };
  const entry: QueueEntry = { seq, messageId: '', qos: (flags & 3) as QueueEntry['qos'], retain: (flags & 4) !== 0, state: STATES[(flags >> 3) & 3] };
  if (flags & Flag.PacketId) {
    need(2);
    entry.packetId = raw.readUInt16LE(at);
    at += 2;
  }
  need(4);
  const idEnd = at + 4 + raw.readUInt32LE(at);
  if (idEnd > end) throw corrupt(where, 'an entry’s client id overruns it');
  const clientId = raw.toString('utf8', at + 4, idEnd);
  at = idEnd;
  if (flags & Flag.SubscriptionIds) {
    need(4);
    const count = raw.readUInt32LE(at);
    at += 4;
    need(4 * count);
    const ids = new Array<number>(count);
    for (let i = 0; i < count; i++) ids[i] = raw.readUInt32LE(at + 4 * i);
    at += 4 * count;
    entry.subscriptionIds = ids;
  }
  if (at !== end) throw corrupt(where, `${end - at} bytes after an entry’s fields`);
  return { clientId, body, entry };
}
