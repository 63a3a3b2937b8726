// The SQLite store's compact rows (schema 2): bodies and entries keyed by an ascending integer, the
// batch's net effect written with multi-row statements, and the in-memory index of rows. Checked
// against MemoryStore (the reference model) on random op sequences, on a file made by schema 1,
// and on what a batch that cancels itself out leaves in the file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { migrate, SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { inspectStoreFile } from '../../src/store/sqlite/backup.js';
import type { QueueEntry, StoreOp } from '../../src/store/ports.js';
import { canonical } from './contract.js';

let root = '';
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'starling-rows-'));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});
let counter = 0;
const freshPath = (): string => path.join(root, `r${++counter}`, 'store.db');


const msgOp = (id: string): StoreOp => ({ op: 'message.put', message: { id, topic: `t/${id}`, payload: Buffer.from(id), qos: 1, retain: false, createdAt: 1 } });
const sessOp = (clientId: string): StoreOp => ({ op: 'session.put', session: { clientId, protocolVersion: 4, expiryInterval: 60 } });
const entryOp = (clientId: string, seq: number, messageId: string, over: Partial<QueueEntry> = {}): StoreOp => ({
  op: 'queue.put',
  clientId,
  entry: { seq, messageId, qos: 1, retain: false, state: 'queued', ...over },
});
/** Packs in the file and the bodies they hold, live or not (packs.ts: the count is the u32 after the format byte). */
const packed = (file: string): { packs: number; bodies: number } => {
  const db = new Database(file, { readonly: true });
  try {
    const data = db.prepare('SELECT data FROM packs').pluck().all() as Buffer[];
    return { packs: data.length, bodies: data.reduce((sum, d) => sum + d.readUInt32LE(1), 0) };
  } finally {
    db.close();
  }
};
const rowCount = (file: string, table: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
  } finally {
    db.close();
  }
};

describe('SqliteStore compact rows', () => {
  it('reads a store written by schema 1 (queue and messages tables) after migrating it', async () => {
    const file = freshPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    migrate(db, file, 1);
    db.exec(`
      INSERT INTO sessions VALUES ('c', 5, 60, NULL, NULL), ('d', 4, 60, 7, NULL);
      INSERT INTO messages VALUES ('m1', 'a', x'01', 1, 0, '{"contentType":"x"}', 1, NULL, 'p'), ('m2', 'b', x'02', 2, 1, NULL, 2, 99, NULL);
      INSERT INTO queue VALUES ('c', 3, 'm2', 2, 1, '[4,5]', 'released', 9), ('c', 1, 'm1', 1, 0, NULL, 'inflight', 8), ('d', 0, 'm1', 1, 1, NULL, 'queued', NULL);
    `);
    db.close();
    const store = new SqliteStore({ path: file });
    try {
      const snap = canonical(await store.open());
      assert.deepEqual(
        snap.sessions.map((s) => [s.session.clientId, s.queue]),
        [
          ['c', [{ seq: 1, messageId: 'm1', qos: 1, retain: false, state: 'inflight', packetId: 8 }, { seq: 3, messageId: 'm2', qos: 2, retain: true, state: 'released', packetId: 9, subscriptionIds: [4, 5] }]],
          ['d', [{ seq: 0, messageId: 'm1', qos: 1, retain: true, state: 'queued' }]],
        ],
      );
      assert.deepEqual(snap.messages, [
        ['m1', { id: 'm1', topic: 'a', payload: Buffer.from([1]), qos: 1, retain: false, properties: { contentType: 'x' }, createdAt: 1, publisherId: 'p' }],
        ['m2', { id: 'm2', topic: 'b', payload: Buffer.from([2]), qos: 2, retain: true, createdAt: 2, expiresAt: 99 }],
      ]);
      // The migrated rows are live: deleting the last entry of m1 drops its body.
      await store.apply([{ op: 'queue.delete', clientId: 'c', seq: 1 }, { op: 'queue.delete', clientId: 'd', seq: 0 }]);
      assert.deepEqual([...(await store.open()).messages.keys()], ['m2']);
    } finally {
      await store.close();
    }
    const check = new Database(file, { readonly: true });
    assert.equal(check.prepare('SELECT version FROM schema_version').pluck().get(), SCHEMA_VERSION);
    check.close();
  });

  it('moves a schema 3 file’s body rows into packs (migration 4): live bodies past one page of rows, dead ones, watermarks', async () => {
    const file = freshPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    migrate(db, file, 3);
    db.exec(`INSERT INTO sessions VALUES ('c', 5, 60, NULL, NULL)`);
    const body = db.prepare('INSERT INTO bodies (n, id, topic, payload, qos, retain, properties, created_at, expires_at, publisher_id) VALUES (?, ?, ?, ?, 1, 0, ?, ?, NULL, ?)');
    const row = db.prepare('INSERT INTO entries (n, client_id, seq, body, flags, packet_id, subscription_ids) VALUES (?, ?, ?, ?, 1, NULL, NULL)');
    // 2,500 bodies (the migration reads 1,000 rows at a time); entry i points at body i. Entries
    // 1–10 are below c's watermark (acknowledged, not yet deleted); bodies 2,401–2,500 have no entry.
    for (let i = 1; i <= 2500; i++) {
      body.run(i, `m${i}`, `t/ü/${i}`, Buffer.alloc(i % 50, i & 0xff), i % 3 === 0 ? '{"contentType":"ü"}' : null, i, i % 5 === 0 ? 'pub' : null);
      if (i <= 2400) row.run(i, 'c', i, i);
    }
    db.exec(`INSERT INTO retired VALUES ('c', 11)`);
    db.close();
    const store = new SqliteStore({ path: file });
    try {
      const snap = await store.open();
      const queue = snap.sessions[0].queue;
      assert.equal(queue.length, 2390, 'entries 11–2,400 are live');
      assert.deepEqual([queue[0].seq, queue[2389].seq], [11, 2400]);
      assert.equal(snap.messages.size, 2390, 'the bodies of live entries, no other');
      const m = snap.messages.get('m15');
      assert.deepEqual(m, { id: 'm15', topic: 't/ü/15', payload: Buffer.alloc(15, 15), qos: 1, retain: false, createdAt: 15, properties: { contentType: 'ü' }, publisherId: 'pub' });
      // The next batch deletes the packs left with no live body: bodies 1–10 shared them with live ones, 2,401–2,500 may not.
      await store.apply([{ op: 'queue.delete', clientId: 'c', seq: 11 }]);
      assert.equal(rowCount(file, 'schema_version'), 1);
      const left = packed(file);
      assert.ok(left.bodies >= 2389 && left.bodies <= 2500, `${left.bodies} bodies in ${left.packs} packs`);
    } finally {
      await store.close();
    }
    const check = new Database(file, { readonly: true });
    assert.equal(check.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'bodies'`).pluck().get(), 0, 'the bodies table is gone');
    check.close();
  });

  it('writes nothing for an entry put, moved to inflight and acknowledged within one batch', async () => {
    const file = freshPath();
    const store = new SqliteStore({ path: file });
    try {
      await store.open();
      await store.apply([sessOp('c')]);
      await store.apply([msgOp('m'), entryOp('c', 0, 'm'), entryOp('c', 0, 'm', { state: 'inflight', packetId: 1 }), { op: 'queue.delete', clientId: 'c', seq: 0 }]);
      assert.equal(rowCount(file, 'entries'), 0);
      assert.deepEqual(packed(file), { packs: 0, bodies: 0 });
      // An entry written earlier and changed now is one row, in its new state.
      await store.apply([msgOp('n'), entryOp('c', 1, 'n')]);
      await store.apply([entryOp('c', 1, 'n', { state: 'inflight', packetId: 7 })]);
      assert.equal(inspectStoreFile(file).queued, 1, 'one live row; the one it replaced is below the watermark');
      assert.deepEqual((await store.open()).sessions[0].queue, [{ seq: 1, messageId: 'n', qos: 1, retain: false, state: 'inflight', packetId: 7 }]);
    } finally {
      await store.close();
    }
  });

  it('retires acknowledged entries by watermark and deletes the retired rows in bulk, later', async () => {
    const file = freshPath();
    let store = new SqliteStore({ path: file, compactMin: 8 });
    try {
      await store.open();
      await store.apply([sessOp('c'), sessOp('d')]);
      for (let i = 0; i < 6; i++) await store.apply([msgOp(`m${i}`), entryOp('c', i, `m${i}`), entryOp('d', i, `m${i}`)]);
      await store.apply([0, 1, 2].map((seq): StoreOp => ({ op: 'queue.delete', clientId: 'c', seq })));
      assert.equal(rowCount(file, 'entries'), 12, 'in-order deletes only move the watermark');
      assert.equal(inspectStoreFile(file).queued, 9);
      // Out of order: deleted at once (no watermark covers it).
      await store.apply([{ op: 'queue.delete', clientId: 'd', seq: 4 }]);
      assert.equal(rowCount(file, 'entries'), 11);
      await store.close();
      store = new SqliteStore({ path: file, compactMin: 8 });
      const snap = await store.open();
      assert.deepEqual(
        snap.sessions.map((x) => [x.session.clientId, x.queue.map((e) => e.seq)]),
        [['c', [3, 4, 5]], ['d', [0, 1, 2, 3, 5]]],
        'the watermark holds across a reopen',
      );
      // Once the retired rows are as many as the live ones (and at least compactMin), they go.
      await store.apply([{ op: 'session.delete', clientId: 'd' }, ...[3, 4, 5].map((seq): StoreOp => ({ op: 'queue.delete', clientId: 'c', seq }))]);
      assert.equal(rowCount(file, 'entries'), 0);
      assert.deepEqual(packed(file), { packs: 0, bodies: 0 }, 'a pack goes with its last live body');
      assert.equal(rowCount(file, 'retired'), 1, 'the watermark of a deleted session goes with its rows');
    } finally {
      await store.close();
    }
  });

  it('compaction removes retired rows below the lowest live row by range and the others by key, and no live row', async () => {
    const file = freshPath();
    let store = new SqliteStore({ path: file, compactMin: 8 });
    try {
      await store.open();
      await store.apply([sessOp('slow'), sessOp('fast')]);
      // Rows in arrival order: slow 0, fast 0, slow 1, fast 1, ... (each with a body of its own).
      for (let i = 0; i < 8; i++) await store.apply([msgOp(`s${i}`), entryOp('slow', i, `s${i}`), msgOp(`f${i}`), entryOp('fast', i, `f${i}`)]);
      // slow acknowledges 2, fast all 8: retired rows lie below slow's oldest live row and above it.
      await store.apply([0, 1].map((seq): StoreOp => ({ op: 'queue.delete', clientId: 'slow', seq })));
      await store.apply([...Array(8).keys()].map((seq): StoreOp => ({ op: 'queue.delete', clientId: 'fast', seq })));
      assert.equal(rowCount(file, 'entries'), 6, 'compacted: only the live rows are left');
      // A batch's bodies share a pack (s_i with f_i): the packs of s0 and s1 are gone, the others
      // stay for their slow body (rewriting them waits for packCompactMin bytes).
      assert.deepEqual(packed(file), { packs: 6, bodies: 12 });
      await store.close();
      store = new SqliteStore({ path: file, compactMin: 6 }); // the six rows left are retired together below
      const snap = await store.open();
      assert.deepEqual(
        snap.sessions.map((x) => [x.session.clientId, x.queue.map((e) => [e.seq, e.messageId])]),
        [['fast', []], ['slow', [2, 3, 4, 5, 6, 7].map((i) => [i, `s${i}`])]],
      );
      assert.deepEqual([...snap.messages.keys()].sort(), ['s2', 's3', 's4', 's5', 's6', 's7']);
      // The rest goes: no live row is left, and the tables are emptied whole.
      await store.apply([2, 3, 4, 5, 6, 7].map((seq): StoreOp => ({ op: 'queue.delete', clientId: 'slow', seq })));
      assert.equal(rowCount(file, 'entries'), 0);
      assert.deepEqual(packed(file), { packs: 0, bodies: 0 });
      const after = await store.open();
      assert.deepEqual(after.sessions.map((x) => x.queue.length), [0, 0]);
    } finally {
      await store.close();
    }
  });

  it('compaction deletes a run of retired rows above the lowest live row by range, without crossing a live row', async () => {
    const file = freshPath();
    let store = new SqliteStore({ path: file, compactMin: 8 });
    try {
      await store.open();
      await store.apply([sessOp('slow'), sessOp('fast')]);
      // Rows: slow 0 | fast 0..19 (a run of 20) | slow 1 | fast 20..22 (a run of 3) | slow 2.
      const put = (clientId: string, seqs: number[]): StoreOp[] => seqs.flatMap((i) => [msgOp(`${clientId}${i}`), entryOp(clientId, i, `${clientId}${i}`)]);
      await store.apply(put('slow', [0]));
      await store.apply(put('fast', [...Array(20).keys()]));
      await store.apply(put('slow', [1]));
      await store.apply(put('fast', [20, 21, 22]));
      await store.apply(put('slow', [2]));
      // fast acknowledges everything: its rows all lie above slow's oldest, in two runs split by slow 1.
      await store.apply([...Array(23).keys()].map((seq): StoreOp => ({ op: 'queue.delete', clientId: 'fast', seq })));
      assert.equal(rowCount(file, 'entries'), 3, 'compacted: only the live rows are left');
      assert.deepEqual(packed(file), { packs: 3, bodies: 3 }, 'one pack per batch of slow; the fast batches’ packs are gone');
      await store.close();
      store = new SqliteStore({ path: file, compactMin: 8 });
      const snap = await store.open();
      assert.deepEqual(
        snap.sessions.map((x) => [x.session.clientId, x.queue.map((e) => [e.seq, e.messageId])]),
        [['fast', []], ['slow', [0, 1, 2].map((i) => [i, `slow${i}`])]],
      );
      assert.deepEqual([...snap.messages.keys()].sort(), ['slow0', 'slow1', 'slow2']);
    } finally {
      await store.close();
    }
  });

  it('rewrites packs once over three quarters of their bytes are dead, so one slow session among fast ones keeps the packs within four times its live bodies', async () => {
    const file = freshPath();
    // packCompactMin 0: no floor, the rewrite runs whenever the packs hold over four times their live bytes.
    let store = new SqliteStore({ path: file, compactMin: 8, packCompactMin: 0 });
    const body = (id: string): StoreOp => ({ op: 'message.put', message: { id, topic: 't', payload: Buffer.alloc(1000, id), qos: 1, retain: false, createdAt: 1 } });
    const fileBytes = (): { total: number } => {
      const db = new Database(file, { readonly: true });
      try {
        return { total: db.prepare('SELECT sum(length(data)) FROM packs').pluck().get() as number };
      } finally {
        db.close();
      }
    };
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
        const { total } = fileBytes();
        assert.ok(total <= 4 * (i + 1) * 1040 + 4 * 1040, `after batch ${i}: ${total} bytes of packs for ${i + 1} live bodies`);
      }
      const left = packed(file).bodies;
      assert.ok(left >= 60 && left <= 240, `${left} bodies left in the packs for 60 live ones`);
      await store.close();
      store = new SqliteStore({ path: file, compactMin: 8, packCompactMin: 0 });
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

  it('refuses a file whose pack is cut off, of an unknown format or has bytes after its last item, naming the file and the pack', async () => {
    for (const [damage, why] of [
      [(d: Buffer) => d.subarray(0, d.length - 3), /pack 1 is corrupt: .*(overruns|cut off)/],
      [(d: Buffer) => Buffer.concat([Buffer.from([9]), d.subarray(1)]), /pack 1 is corrupt: unknown pack format 9/],
      [(d: Buffer) => Buffer.concat([d, Buffer.from([0, 0])]), /pack 1 is corrupt: 2 bytes after its last item/],
    ] as const) {
      const file = freshPath();
      const store = new SqliteStore({ path: file });
      await store.open();
      await store.apply([sessOp('c'), msgOp('m'), entryOp('c', 0, 'm')]);
      await store.close();
      const db = new Database(file);
      const data = db.prepare('SELECT data FROM packs WHERE n = 1').pluck().get() as Buffer;
      db.prepare('UPDATE packs SET data = ? WHERE n = 1').run(damage(data));
      db.close();
      const again = new SqliteStore({ path: file });
      try {
        await assert.rejects(again.open(), (err: Error) => err.message.includes(file) && why.test(err.message));
      } finally {
        await again.close();
      }
    }
  });

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

  it('ends every random op sequence in the state MemoryStore ends in, also after a reopen', async () => {
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
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 8 }), fc.constantFrom(1, 3, 2048), fc.boolean(), async (batches, compactMin, rewrite) => {
        const file = freshPath();
        // packCompactMin 0: packs are rewritten as soon as they are over three quarters dead.
        const packCompactMin = rewrite ? 0 : undefined;
        let sqlite = new SqliteStore({ path: file, compactMin, packCompactMin });
        const memory = new MemoryStore();
        try {
          await sqlite.open();
          await memory.open();
          for (const ops of batches) {
            const [m, s] = await Promise.allSettled([memory.apply(ops), sqlite.apply(ops)]);
            assert.equal(s.status, m.status, 'both accept or both refuse a batch');
          }
          assert.deepEqual(canonical(await sqlite.open()), canonical(await memory.open()));
          await sqlite.close();
          sqlite = new SqliteStore({ path: file, compactMin, packCompactMin });
          assert.deepEqual(canonical(await sqlite.open()), canonical(await memory.open()), 'after reopening the file');
          // And it goes on from there: one more batch on the reopened file, then once more from the file.
          const more: StoreOp[] = [sessOp('a'), msgOp('m9'), entryOp('a', 9, 'm9'), { op: 'queue.delete', clientId: 'a', seq: 0 }];
          await Promise.all([memory.apply(more), sqlite.apply(more)]);
          await sqlite.close();
          sqlite = new SqliteStore({ path: file, compactMin, packCompactMin });
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

  it('finds a session’s oldest row through long churn behind an entry that stays (row order kept apart from the Map), as MemoryStore ends', async () => {
    const file = freshPath();
    let sqlite = new SqliteStore({ path: file, compactMin: 64 });
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
      sqlite = new SqliteStore({ path: file, compactMin: 64 });
      const snap = await sqlite.open();
      assert.deepEqual(canonical(snap), canonical(await memory.open()), 'after reopening the file');
      assert.equal(snap.sessions.find((x) => x.session.clientId === 'c')?.queue[0]?.seq, 303, 'the first left is the oldest');
    } finally {
      await sqlite.close();
      await memory.close();
    }
  });
});
