// The SQLite store's packed bodies and its in-memory index (schemas 2–5): keys assigned in
// ascending order, a batch's net effect written at its end, bodies many to a pack. Checked against
// MemoryStore (the reference model) on random op sequences, with packs rewritten never, when sparse
// and after every batch, and at the boundaries of the body pack format. Entry packs have tests of
// their own (sqlite-entry-packs.test.ts), as do the migrations (sqlite-migrations.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/sqlite-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { QueueEntry, StoreOp } from '../../src/store/ports.js';
import { canonical } from './contract.js';
import { damagePack, entryOp, entryPacked, msgOp, packBytes, packed, sessOp, storeFiles } from './sqlite-files.js';

const freshPath = storeFiles('starling-rows-');

/** How often packs are rewritten: by default; as soon as any is over three quarters dead; every pack holding anything dead, after every batch. */
const REWRITES: Array<[string, Omit<SqliteStoreOptions, 'path'>]> = [
  ['packs rewritten by default', {}],
  ['packs rewritten once sparse', { packCompactMin: 0 }],
  ['every pack rewritten after every batch', { packCompactMin: 0, packSpace: 1 }],
];

describe('SqliteStore compact rows and body packs', () => {
  it('rewrites packs once over three quarters of their bytes are dead, so one slow session among fast ones keeps the packs within four times its live bodies', async () => {
    const file = freshPath();
    // packCompactMin 0: no floor, the rewrite runs whenever the packs hold over four times their live bytes.
    let store = new SqliteStore({ path: file, packCompactMin: 0 });
    const body = (id: string): StoreOp => ({ op: 'message.put', message: { id, topic: 't', payload: Buffer.alloc(1000, id), qos: 1, retain: false, createdAt: 1 } });
    try {
      await store.open();
      await store.apply([sessOp('slow'), sessOp('fast')]);
      // Each batch: one body for slow, nine for fast; fast acknowledges its nine at once.
      for (let i = 0; i < 60; i++) {
        const ops: StoreOp[] = [body(`s${i}`), entryOp('slow', i, `s${i}`)];
        for (let j = 0; j < 9; j++) ops.push(body(`f${i}.${j}`), entryOp('fast', i * 9 + j, `f${i}.${j}`));
        await store.apply(ops);
        await store.apply([...Array(9).keys()].map((j): StoreOp => ({ op: 'queue.delete', clientId: 'fast', seq: i * 9 + j })));
        // Live: i + 1 slow bodies of about 1 KiB each. Without the rewrite the file would hold 10 per slow body.
        const total = packBytes(file, 'packs');
        assert.ok(total <= 4 * (i + 1) * 1040 + 4 * 1040, `after batch ${i}: ${total} bytes of packs for ${i + 1} live bodies`);
      }
      const left = packed(file).bodies;
      assert.ok(left >= 60 && left <= 240, `${left} bodies left in the packs for 60 live ones`);
      await store.close();
      store = new SqliteStore({ path: file, packCompactMin: 0 });
      const snap = await store.open();
      assert.deepEqual([...snap.messages.keys()].sort(), [...Array(60).keys()].map((i) => `s${i}`).sort());
      assert.ok([...snap.messages.values()].every((m) => m.payload.length === 1000 && m.payload[0] === m.id.charCodeAt(0)), 'bodies moved intact');
      // And a moved body still goes with its last entry.
      await store.apply([...Array(60).keys()].map((seq): StoreOp => ({ op: 'queue.delete', clientId: 'slow', seq })));
      assert.deepEqual(packed(file), { packs: 0, bodies: 0 });
    } finally {
      await store.close();
    }
  });

  it('keeps bodies at the boundaries intact through packs: empty and 65,535/65,536-byte payloads and topics, non-ASCII text, every optional field, a batch larger than a pack', async () => {
    const file = freshPath();
    let sqlite = new SqliteStore({ path: file });
    const memory = new MemoryStore();
    const big = 300 * 1024; // over PACK_BYTES: the batch's bodies fill more than one pack
    const bodies: StoreOp[] = [
      { op: 'message.put', message: { id: 'empty', topic: '', payload: Buffer.alloc(0), qos: 0, retain: false, createdAt: 0 } },
      { op: 'message.put', message: { id: 'one', topic: 'a', payload: Buffer.from([0]), qos: 1, retain: true, createdAt: 1 } },
      { op: 'message.put', message: { id: 'p65535', topic: 't'.repeat(65_535), payload: Buffer.alloc(65_535, 1), qos: 2, retain: false, createdAt: 2 } },
      { op: 'message.put', message: { id: 'p65536', topic: 'u', payload: Buffer.alloc(65_536, 2), qos: 1, retain: false, createdAt: Number.MAX_SAFE_INTEGER } },
      {
        op: 'message.put',
        message: {
          id: 'ünï/😀',
          topic: 'καλημέρα/😀/日本',
          payload: Buffer.from('x'),
          qos: 1,
          retain: true,
          createdAt: 5,
          expiresAt: Number.MAX_SAFE_INTEGER,
          publisherId: 'pub/ü',
          properties: { contentType: 'ü', correlationData: Buffer.from([0, 255]), userProperties: [['k', 'v']] },
        },
      },
      { op: 'message.put', message: { id: 'large', topic: 'l', payload: Buffer.alloc(big, 3), qos: 1, retain: false, createdAt: 6, expiresAt: -1 } },
      { op: 'message.put', message: { id: 'large2', topic: 'l', payload: Buffer.alloc(big, 4), qos: 1, retain: false, createdAt: 7 } },
    ];
    const ops: StoreOp[] = [sessOp('c'), ...bodies];
    bodies.forEach((b, i) => ops.push(entryOp('c', i, (b as Extract<StoreOp, { op: 'message.put' }>).message.id)));
    try {
      await sqlite.open();
      await memory.open();
      await sqlite.apply(ops);
      await memory.apply(ops);
      assert.ok(packed(file).packs >= 2, 'the batch filled more than one pack');
      await sqlite.close();
      sqlite = new SqliteStore({ path: file });
      assert.deepEqual(canonical(await sqlite.open()), canonical(await memory.open()));
    } finally {
      await sqlite.close();
      await memory.close();
    }
  });

  for (const [table, name] of [['packs', 'pack'], ['entry_packs', 'entry pack']] as const) {
    it(`refuses a file whose ${name} is cut off, of an unknown format or has bytes after its last item, naming the file and the ${name}`, async () => {
      for (const [damage, why] of [
        [(d: Buffer) => d.subarray(0, d.length - 3), /(overruns|cut off)/],
        [(d: Buffer) => Buffer.concat([Buffer.from([9]), d.subarray(1)]), /unknown pack format 9/],
        [(d: Buffer) => Buffer.concat([d, Buffer.from([0, 0])]), /2 bytes after its last item/],
      ] as const) {
        const file = freshPath();
        const store = new SqliteStore({ path: file });
        await store.open();
        await store.apply([sessOp('c'), msgOp('m'), entryOp('c', 0, 'm')]);
        await store.close();
        damagePack(file, table, 1, damage);
        const again = new SqliteStore({ path: file });
        try {
          await assert.rejects(again.open(), (err: Error) => err.message.includes(`store ${file}: ${name} 1 is corrupt: `) && why.test(err.message));
        } finally {
          await again.close();
        }
      }
    });
  }

  it('after a batch rejected midway, later batches see the store as it was before it', async () => {
    const store = new SqliteStore({ path: freshPath() });
    try {
      await store.open();
      await store.apply([sessOp('c'), msgOp('m'), entryOp('c', 0, 'm')]);
      // Drops entry 0 (and so message m), then fails on an unknown message: all of it rolls back.
      await assert.rejects(store.apply([{ op: 'queue.delete', clientId: 'c', seq: 0 }, msgOp('x'), entryOp('c', 1, 'nope')]), /invalid store op #2/);
      await store.apply([entryOp('c', 2, 'm')]);
      const snap = await store.open();
      assert.deepEqual(snap.sessions[0].queue.map((e) => e.seq), [0, 2]);
      assert.deepEqual([...snap.messages.keys()], ['m']);
    } finally {
      await store.close();
    }
  });

  for (const [rewrites, options] of REWRITES) {
    it(`ends every random op sequence in the state MemoryStore ends in, also after a reopen (${rewrites})`, async () => {
      const clients = ['a', 'b', 'c'];
      const ids = ['m0', 'm1', 'm2', 'm3'];
      const opArb: fc.Arbitrary<StoreOp> = fc.oneof(
        fc.constantFrom(...clients).map(sessOp),
        fc.constantFrom(...clients).map((clientId): StoreOp => ({ op: 'session.delete', clientId })),
        fc.constantFrom(...ids).map(msgOp),
        fc
          .record({ c: fc.constantFrom(...clients), seq: fc.nat(5), id: fc.constantFrom(...ids), state: fc.constantFrom('queued', 'inflight', 'released') as fc.Arbitrary<QueueEntry['state']> })
          .map(({ c, seq, id, state }) => entryOp(c, seq, id, state === 'queued' ? {} : { state, packetId: seq + 1 })),
        fc.record({ c: fc.constantFrom(...clients), seq: fc.nat(5) }).map(({ c, seq }): StoreOp => ({ op: 'queue.delete', clientId: c, seq })),
      );
      const everyBatch = options.packSpace === 1;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 10 }), fc.nat(10), async (batches, reopenAt) => {
          const file = freshPath();
          let sqlite = new SqliteStore({ path: file, ...options });
          const memory = new MemoryStore();
          const reopen = async (): Promise<void> => {
            await sqlite.close();
            sqlite = new SqliteStore({ path: file, ...options });
            await sqlite.open();
          };
          try {
            await sqlite.open();
            await memory.open();
            for (const [i, ops] of batches.entries()) {
              // Once midway, the index is rebuilt from the file and the batches go on from it.
              if (i === reopenAt) await reopen();
              const [m, s] = await Promise.allSettled([memory.apply(ops), sqlite.apply(ops)]);
              assert.equal(s.status, m.status, 'both accept or both refuse a batch');
              if (everyBatch && s.status === 'fulfilled') {
                // Every pack was rewritten: the file holds the live bodies and entries and nothing else.
                const model = await memory.open();
                const live = model.sessions.reduce((n, x) => n + x.queue.length, 0);
                assert.deepEqual(entryPacked(file), { packs: live === 0 ? 0 : 1, entries: live, tombstones: 0 }, `after batch ${i}`);
                assert.equal(packed(file).bodies, model.messages.size, `after batch ${i}`);
              }
            }
            assert.deepEqual(canonical(await sqlite.open()), canonical(await memory.open()));
            await reopen();
            assert.deepEqual(canonical(await sqlite.open()), canonical(await memory.open()), 'after reopening the file');
            // And it goes on from there: one more batch on the reopened file, then once more from the file.
            const more: StoreOp[] = [sessOp('a'), msgOp('m9'), entryOp('a', 9, 'm9'), { op: 'queue.delete', clientId: 'a', seq: 0 }];
            await Promise.all([memory.apply(more), sqlite.apply(more)]);
            await reopen();
            assert.deepEqual(canonical(await sqlite.open()), canonical(await memory.open()), 'after a batch on the reopened file');
          } finally {
            await sqlite.close();
            await memory.close();
            fs.rmSync(path.dirname(file), { recursive: true, force: true });
          }
        }),
        { numRuns: 100 },
      );
    });
  }

  it('finds a session’s oldest row through long churn behind an entry that stays (row order kept apart from the Map), as MemoryStore ends', async () => {
    const file = freshPath();
    let sqlite = new SqliteStore({ path: file });
    const memory = new MemoryStore();
    const both = async (ops: StoreOp[]): Promise<void> => {
      await memory.apply(ops);
      await sqlite.apply(ops);
    };
    try {
      await sqlite.open();
      await memory.open();
      await both([sessOp('c'), sessOp('d'), msgOp('m'), entryOp('c', 0, 'm')]);
      // Entry 0 stays the oldest while 600 entries behind it are put, moved to inflight (a new row
      // each) and acknowledged, most out of order: thousands of dead slots pile up behind it.
      for (let i = 1; i <= 600; i += 3) {
        await both([entryOp('c', i, 'm'), entryOp('c', i + 1, 'm'), entryOp('c', i + 2, 'm'), entryOp('d', i, 'm')]);
        await both([entryOp('c', i + 1, 'm', { state: 'inflight', packetId: 1 }), { op: 'queue.delete', clientId: 'c', seq: i }, { op: 'queue.delete', clientId: 'd', seq: i }]);
        await both([{ op: 'queue.delete', clientId: 'c', seq: i + 1 }]);
      }
      // Left of c: 0, 3, 6, ... 600. Now the oldest goes, then the next ones in order: each moves the watermark.
      await both([{ op: 'queue.delete', clientId: 'c', seq: 0 }]);
      for (let i = 3; i <= 300; i += 3) await both([{ op: 'queue.delete', clientId: 'c', seq: i }]);
      assert.deepEqual(canonical(await sqlite.open()), canonical(await memory.open()));
      await sqlite.close();
      sqlite = new SqliteStore({ path: file });
      const snap = await sqlite.open();
      assert.deepEqual(canonical(snap), canonical(await memory.open()), 'after reopening the file');
      assert.equal(snap.sessions.find((x) => x.session.clientId === 'c')?.queue[0]?.seq, 303, 'the first left is the oldest');
    } finally {
      await sqlite.close();
      await memory.close();
    }
  });
});
