// The entry pack format of the SQLite store (store/sqlite/entry-packs.ts) on its own: entries and
// tombstones round-trip, and a damaged pack is refused with a StoreError naming it, never read as
// something else or failing with an error that names neither file nor pack.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEntry, EntryPackBuilder, forEachEntryItem, ItemKind, type DecodedEntry } from '../../src/store/sqlite/entry-packs.js';
import { damagedPacksRefused, refusedAs } from './pack-damage.js';
import type { QueueEntry } from '../../src/store/ports.js';

type Item = { tombstone: true; key: number } | { tombstone: false; key: number; clientId: string; body: number; entry: QueueEntry };

const entry: fc.Arbitrary<QueueEntry> = fc
  .record(
    {
      seq: fc.maxSafeNat(),
      messageId: fc.constant(''),
      qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
      retain: fc.boolean(),
      state: fc.constantFrom('queued', 'inflight', 'released') as fc.Arbitrary<QueueEntry['state']>,
      packetId: fc.integer({ min: 1, max: 65_535 }),
      subscriptionIds: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { maxLength: 20 }),
    },
    { requiredKeys: ['seq', 'messageId', 'qos', 'retain', 'state'], noNullPrototype: true },
  )
  .map((e) => e as QueueEntry);

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ tombstone: fc.constant(true as const), key: fc.maxSafeNat() }),
  fc.record({ tombstone: fc.constant(false as const), key: fc.maxSafeNat(), clientId: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), body: fc.maxSafeNat(), entry }),
);

function pack(items: Item[]): Buffer {
  const b = new EntryPackBuilder();
  for (const x of items) {
    if (x.tombstone) b.addTombstone(x.key);
    else b.addEntry(x.key, x.clientId, x.entry, x.body);
  }
  return Buffer.from(b.bytes());
}

function read(data: Buffer): Array<{ kind: ItemKind; key: number; decoded?: DecodedEntry }> {
  const out: Array<{ kind: ItemKind; key: number; decoded?: DecodedEntry }> = [];
  forEachEntryItem(data, 'entry pack 1', (x) => out.push({ kind: x.kind, key: x.key, ...(x.kind === ItemKind.Entry ? { decoded: decodeEntry(x.raw, 'entry pack 1') } : {}) }));
  return out;
}

const refused = refusedAs('entry pack 1');

describe('SQLite entry packs', () => {
  it('give back every entry and tombstone as it was put, with its key, for any items', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 8 }), (items) => {
        const back = read(pack(items));
        assert.deepEqual(
          back,
          items.map((x) =>
            x.tombstone ? { kind: ItemKind.Tombstone, key: x.key } : { kind: ItemKind.Entry, key: x.key, decoded: { clientId: x.clientId, body: x.body, entry: x.entry } },
          ),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('refuse a damaged pack with a StoreError naming it: bytes changed, cut off at any length, or grown', () => {
    damagedPacksRefused(fc.array(item, { minLength: 1, maxLength: 4 }), pack, read, 'entry pack 1');
  });

  it('refuse the boundary cases: a body pack, an item too short for any kind, of an unknown kind, a tombstone with a byte more, an entry with flags or a key out of range', () => {
    const one = (rest: number[] | Buffer): Buffer => {
      const r = Buffer.from(rest);
      const head = Buffer.alloc(9);
      head[0] = 2;
      head.writeUInt32LE(1, 1);
      head.writeUInt32LE(r.length, 5);
      return Buffer.concat([head, r]);
    };
    const good = pack([{ tombstone: false, key: 1, clientId: 'c', body: 2, entry: { seq: 3, messageId: '', qos: 1, retain: false, state: 'queued' } }]);
    const withByte = (at: number, byte: number): Buffer => {
      const b = Buffer.from(good);
      b[at] = byte;
      return b;
    };
    const withDouble = (at: number, v: number): Buffer => {
      const b = Buffer.from(good);
      b.writeDoubleLE(v, at);
      return b;
    };
    // Header 5, length 4, kind 1, key 8, seq 8, body key 8: the key is at byte 10, seq at 18, flags at 34.
    assert.deepEqual(read(Buffer.from([2, 0, 0, 0, 0])), [], 'a pack of no items is read as none');
    for (const [data, why] of [
      [Buffer.from([1, 0, 0, 0, 0]), /unknown pack format 1/],
      [one([]), /too short \(4 bytes\)/],
      [one([1, 0, 0, 0, 0, 0, 0, 0, 0]), /is 13 bytes, not what its kind takes/],
      [one([3, 0, 0, 0, 0, 0, 0, 0, 0]), /unknown kind 3/],
      [one([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /is 14 bytes, not what its kind takes/],
      [withByte(34, 0x80 | 1), /flags/],
      [withByte(34, (3 << 3) | 1), /flags/],
      [withByte(34, 3), /flags/],
      [withDouble(10, Number.NaN), /has key NaN/],
      [withDouble(10, 2 ** 53), /has key/],
      [withDouble(18, -1), /seq -1/],
      [withByte(34, 1 | 64), /cut off/],
    ] as const) {
      assert.throws(() => read(data), (err: Error) => refused(err) && why.test(err.message), `${data.toString('hex')}: ${why}`);
    }
  });
});
