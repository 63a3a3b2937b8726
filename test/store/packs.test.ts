// The pack format of the SQLite store (store/sqlite/packs.ts) on its own: bodies round-trip, and a
// damaged pack (a file edited, a disk that lied) is refused with a StoreError, never read as
// something else or failing with an error that names neither file nor pack.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeItem, forEachItem, PackBuilder } from '../../src/store/sqlite/packs.js';
import { StoreError } from '../../src/store/errors.js';
import { damagedPacksRefused } from './pack-damage.js';
import type { StoredMessage } from '../../src/store/ports.js';

const text = fc.string({ unit: 'binary', maxLength: 40 });
const message: fc.Arbitrary<StoredMessage> = fc
  .record(
    {
      id: text.filter((s) => s.length > 0),
      topic: text,
      payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
      retain: fc.boolean(),
      createdAt: fc.maxSafeInteger(),
      expiresAt: fc.maxSafeInteger(),
      publisherId: text,
      properties: fc.record({ contentType: text, correlationData: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)) }, { requiredKeys: [], noNullPrototype: true }),
    },
    { requiredKeys: ['id', 'topic', 'payload', 'qos', 'retain', 'createdAt'], noNullPrototype: true },
  )
  .map((m) => m as StoredMessage);

function pack(messages: StoredMessage[]): Buffer {
  const b = new PackBuilder();
  messages.forEach((m, i) => b.add(i * 7 + 1, m));
  return Buffer.from(b.bytes());
}

function read(data: Buffer): Array<{ n: number; m: StoredMessage }> {
  const out: Array<{ n: number; m: StoredMessage }> = [];
  forEachItem(data, 'pack 1', (item) => out.push({ n: item.n, m: decodeItem(item.raw, 'pack 1') }));
  return out;
}

describe('SQLite body packs', () => {
  it('give back every body as it was put, with its key, for any bodies', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), (messages) => {
        const back = read(pack(messages));
        assert.deepEqual(back.map((x) => x.n), messages.map((_, i) => i * 7 + 1));
        assert.deepEqual(back.map((x) => x.m), messages);
      }),
      { numRuns: 300 },
    );
  });

  it('refuse a damaged pack with a StoreError naming it: bytes changed, cut off at any length, or grown', () => {
    damagedPacksRefused(fc.array(message, { minLength: 1, maxLength: 4 }), pack, read, 'pack 1');
  });

  it('refuse the boundary cases: an empty pack, a header alone that promises items, an item length of 0, 1 and 2^32 - 1', () => {
    const header = (count: number): Buffer => Buffer.from([1, count, 0, 0, 0]);
    const withItemLength = (len: number): Buffer => Buffer.concat([header(1), Buffer.from(new Uint32Array([len]).buffer)]);
    assert.deepEqual(read(header(0)), [], 'a pack of no items is read as none');
    for (const [data, why] of [
      [Buffer.alloc(0), /unknown pack format/],
      [header(1), /cut off/],
      [withItemLength(0), /overruns/],
      [Buffer.concat([withItemLength(1), Buffer.alloc(1)]), /overruns/],
      [withItemLength(0xffffffff), /overruns/],
    ] as const) {
      assert.throws(() => read(data), (err: Error) => err instanceof StoreError && why.test(err.message), `${data.toString('hex')}`);
    }
  });
});
