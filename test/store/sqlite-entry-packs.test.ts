// The SQLite store's queue entries packed many to a row (schema 5, store/sqlite/entry-packs.ts):
// what a batch writes, which items die by watermark and which by tombstone, when a pack goes, that a
// changed entry supersedes its old item and a session made again does not get its old items back,
// entries at the boundaries of the format, and the bound on the file that rewriting keeps with one
// slow session among fast ones that acknowledge out of order. State is always checked against
// MemoryStore, the reference model, and again after reopening the file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/sqlite-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { inspectStoreFile } from '../../src/store/sqlite/backup.js';
import type { StoreOp } from '../../src/store/ports.js';
import { canonical } from './contract.js';
import { deleteOps, entryOp, entryPacked, msgOp, packBytes, packed, rowCount, sessOp, storeFiles } from './sqlite-files.js';

const freshPath = storeFiles('starling-entries-');

interface Alongside {
  file: string;
  /** Applies `ops` to both stores. */
  apply(ops: StoreOp[]): Promise<void>;
  /** Compares the stores, and again after reopening the file. */
  check(what: string): Promise<void>;
}

/** Runs `body` with a SqliteStore and a MemoryStore given the same batches, and closes both. */
async function alongside(options: Omit<SqliteStoreOptions, 'path'>, body: (s: Alongside) => Promise<void>): Promise<void> {
  const file = freshPath();
  let sqlite = new SqliteStore({ path: file, ...options });
  const memory = new MemoryStore();
  try {
    await sqlite.open();
    await memory.open();
    await body({
      file,
      apply: async (ops) => {
        await memory.apply(ops);
        await sqlite.apply(ops);
      },
      check: async (what) => {
        const expected = canonical(await memory.open());
        assert.deepEqual(canonical(await sqlite.open()), expected, what);
        await sqlite.close();
        sqlite = new SqliteStore({ path: file, ...options });
        assert.deepEqual(canonical(await sqlite.open()), expected, `${what}, after reopening the file`);
      },
    });
  } finally {
    await sqlite.close();
    await memory.close();
  }
}

describe('SqliteStore entry packs', () => {
  it('writes nothing for an entry put, moved to inflight and acknowledged within one batch', async () => {
    await alongside({}, async (s) => {
      await s.apply([sessOp('c')]);
      await s.apply([msgOp('m'), entryOp('c', 0, 'm'), entryOp('c', 0, 'm', { state: 'inflight', packetId: 1 }), ...deleteOps('c', [0])]);
      assert.deepEqual(entryPacked(s.file), { packs: 0, entries: 0, tombstones: 0 });
      assert.deepEqual(packed(s.file), { packs: 0, bodies: 0 });
      // An entry written earlier and changed now is one live item, in its new state.
      await s.apply([msgOp('n'), entryOp('c', 1, 'n')]);
      await s.apply([entryOp('c', 1, 'n', { state: 'inflight', packetId: 7 })]);
      assert.equal(inspectStoreFile(s.file).queued, 1);
      assert.deepEqual(entryPacked(s.file), { packs: 1, entries: 1, tombstones: 0 }, 'the pack of the item it replaced went with it');
      await s.check('the changed entry');
    });
  });

  it('retires entries by watermark, or by tombstone when out of order, and deletes a pack in the batch its last live item goes', async () => {
    await alongside({}, async (s) => {
      await s.apply([sessOp('c'), sessOp('d')]);
      // Six batches, each one pack of two entries: c i and d i.
      for (let i = 0; i < 6; i++) await s.apply([msgOp(`m${i}`), entryOp('c', i, `m${i}`), entryOp('d', i, `m${i}`)]);
      await s.apply(deleteOps('c', [0, 1, 2]));
      assert.deepEqual(entryPacked(s.file), { packs: 6, entries: 12, tombstones: 0 }, 'in-order deletes only move the watermark');
      assert.equal(inspectStoreFile(s.file).queued, 9);
      // Out of order while its pack keeps c 4: a tombstone, in a pack of its own.
      await s.apply(deleteOps('d', [4]));
      assert.deepEqual(entryPacked(s.file), { packs: 7, entries: 12, tombstones: 1 });
      assert.equal(inspectStoreFile(s.file).queued, 8);
      await s.check('after the tombstone');
      // d's watermark passes keys 0–2: the first three packs have nothing live left.
      await s.apply(deleteOps('d', [0, 1, 2]));
      assert.deepEqual(entryPacked(s.file), { packs: 4, entries: 6, tombstones: 1 });
      // c 4, out of order too, is its pack's last live item: the pack goes, no tombstone is written,
      // and d 4's tombstone goes with its victim's pack (and its own pack with it).
      await s.apply(deleteOps('c', [4]));
      assert.deepEqual(entryPacked(s.file), { packs: 2, entries: 4, tombstones: 0 });
      await s.check('after the packs went');
      await s.apply([{ op: 'session.delete', clientId: 'd' }, ...deleteOps('c', [3, 5])]);
      assert.deepEqual(entryPacked(s.file), { packs: 0, entries: 0, tombstones: 0 });
      assert.deepEqual(packed(s.file), { packs: 0, bodies: 0 }, 'a body pack goes with its last live body');
      assert.equal(rowCount(s.file, 'retired'), 1, 'the watermark of a deleted session goes with it');
      await s.check('at the end');
    });
  });

  it('a changed entry supersedes its old item: QoS 2 from queued through inflight and released to gone, each step as MemoryStore has it', async () => {
    await alongside({}, async (s) => {
      const steps: Array<[string, StoreOp[]]> = [
        ['queued', [sessOp('c'), msgOp('a'), msgOp('b'), msgOp('x'), entryOp('c', 0, 'a', { qos: 2 }), entryOp('c', 1, 'b', { qos: 2 }), entryOp('c', 2, 'x')]],
        ['0 and 1 inflight (each the oldest: watermark)', [entryOp('c', 0, 'a', { qos: 2, state: 'inflight', packetId: 1 }), entryOp('c', 1, 'b', { qos: 2, state: 'inflight', packetId: 2 })]],
        ['0 released (not the oldest: tombstone)', [entryOp('c', 0, 'a', { qos: 2, state: 'released', packetId: 1 })]],
        ['1 released and 0 gone (their packs go instead)', [entryOp('c', 1, 'b', { qos: 2, state: 'released', packetId: 2 }), ...deleteOps('c', [0])]],
        ['1 gone', deleteOps('c', [1])],
        ['2 gone', deleteOps('c', [2])],
      ];
      const tombstones: number[] = [];
      for (const [what, ops] of steps) {
        await s.apply(ops);
        tombstones.push(entryPacked(s.file).tombstones);
        await s.check(what);
      }
      assert.deepEqual(tombstones, [0, 0, 1, 0, 0, 0]);
      assert.deepEqual(entryPacked(s.file), { packs: 0, entries: 0, tombstones: 0 });
    });
  });

  it('a session deleted and made again does not get back the entries its old items hold, while other sessions keep their packs alive', async () => {
    await alongside({}, async (s) => {
      // One pack holds g's items and keep's, so it outlives g.
      await s.apply([sessOp('g'), sessOp('keep'), msgOp('m'), entryOp('g', 0, 'm'), entryOp('g', 1, 'm'), entryOp('keep', 0, 'm')]);
      await s.apply(deleteOps('g', [1]));
      assert.equal(entryPacked(s.file).tombstones, 1);
      await s.apply([{ op: 'session.delete', clientId: 'g' }]);
      await s.check('g gone');
      await s.apply([sessOp('g')]);
      await s.check('g made again, empty');
      // The same seqs as the dead items: new items, with keys above g's new watermark.
      await s.apply([entryOp('g', 0, 'm', { qos: 2 }), entryOp('g', 1, 'm')]);
      await s.check('g with new entries of old seqs');
      await s.apply([{ op: 'session.delete', clientId: 'g' }, sessOp('g'), entryOp('g', 5, 'm')]);
      await s.check('g deleted and made again in one batch');
      assert.equal(entryPacked(s.file).packs > 0, true);
    });
  });

  it('keeps entries at the boundaries intact: 0 and 1,000 subscription ids, packet ids 1 and 65,535, every state, client ids of 1 and 65,535 bytes, a batch larger than a pack', async () => {
    const long = '日'.repeat(21_845); // 65,535 bytes of UTF-8
    const many = [...Array(1000).keys()].map((i) => (i === 999 ? 268_435_455 : i + 1));
    await alongside({}, async (s) => {
      const ops: StoreOp[] = [sessOp('c'), sessOp(long), msgOp('m')];
      ops.push(entryOp('c', 0, 'm', { subscriptionIds: [] }));
      ops.push(entryOp('c', 1, 'm', { qos: 2, state: 'inflight', packetId: 1, subscriptionIds: many }));
      ops.push(entryOp('c', 2, 'm', { qos: 2, retain: true, state: 'released', packetId: 65_535 }));
      ops.push(entryOp('c', Number.MAX_SAFE_INTEGER, 'm', { qos: 0, packetId: 7 }));
      // Five items of over 64 KiB each: more than one pack (256 KiB) holds.
      for (let seq = 0; seq < 5; seq++) ops.push(entryOp(long, seq, 'm', { subscriptionIds: [seq + 1] }));
      await s.apply(ops);
      assert.ok(entryPacked(s.file).packs >= 2, 'the batch filled more than one pack');
      await s.check('as written');
      // Changed and deleted, in order and out of it: items superseded, watermarks and tombstones.
      await s.apply([
        entryOp('c', 1, 'm', { qos: 2, state: 'released', packetId: 1, subscriptionIds: many }),
        entryOp(long, 0, 'm', { state: 'inflight', packetId: 65_535 }),
        ...deleteOps(long, [3]),
        ...deleteOps('c', [0]),
      ]);
      assert.ok(entryPacked(s.file).tombstones >= 1);
      await s.check('changed');
    });
  });

  // Each round, slow gets one entry and fast FAST in the same pack, and fast acknowledges its FAST out
  // of order (its seq 0 stays for good), leaving a tombstone for each while slow's entry keeps the
  // pack. Tombstones count as live in their own pack and as weight of their victim's: with 8 a
  // round the packs stay under the rewrite's trigger, about the most they ever hold for an entry
  // (13 times its bytes, tombstones included); with more, packs are rewritten.
  for (const FAST of [8, 20, 100]) {
    it(`rewrites entry packs so that one slow session among fast ones that acknowledge out of order keeps the file within a bound of its live entries (${FAST} fast entries to one slow)`, async () => {
      const ITEM = 38; // bytes of an entry item with a four-byte client id and no packet or subscription ids
      const round = (FAST + 1) * ITEM + 5 + FAST * 13 + 5; // an entry pack and a pack of tombstones
      await alongside({ packCompactMin: 0 }, async (s) => {
        await s.apply([sessOp('slow'), sessOp('fast'), msgOp('m'), entryOp('fast', 0, 'm')]);
        for (let i = 0; i < 60; i++) {
          const seqs = [...Array(FAST).keys()].map((j) => 1 + i * FAST + j);
          await s.apply([entryOp('slow', i, 'm'), ...seqs.map((seq) => entryOp('fast', seq, 'm'))]);
          await s.apply(deleteOps('fast', seqs));
          const total = packBytes(s.file, 'entry_packs');
          assert.ok(total <= 14 * (i + 2) * ITEM + round, `after round ${i}: ${total} bytes of entry packs for ${i + 2} live entries`);
        }
        if (FAST > 8) assert.ok(packBytes(s.file, 'entry_packs') * 4 < 60 * round, 'less than a quarter of what the packs would hold unrewritten');
        await s.check('after 60 rounds');
        // And everything goes once the entries do.
        await s.apply([...deleteOps('slow', [...Array(60).keys()]), ...deleteOps('fast', [0])]);
        assert.deepEqual(entryPacked(s.file), { packs: 0, entries: 0, tombstones: 0 });
      });
    });
  }
});
