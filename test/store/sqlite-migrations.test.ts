// The SQLite store's migrations, each from a file an earlier schema's migrations built and filled
// as the store of that schema wrote it: what the store reads after migrating, and that it goes on
// from there. Never edit a shipped migration: files out there were built by it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { migrate, SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { PackBuilder } from '../../src/store/sqlite/packs.js';
import { inspectStoreFile } from '../../src/store/sqlite/backup.js';
import type { QueueEntry, StoreOp } from '../../src/store/ports.js';
import { canonical } from './contract.js';
import { deleteOps, entryPacked, packed, readFile, rowCount, sessOp, storeFiles } from './sqlite-files.js';

const freshPath = storeFiles('starling-migrate-');

/** A new file at `version`, built by the migrations up to it; `fill` writes into it as that schema's store did. */
function fileAt(version: number, fill: (db: Database.Database) => void): string {
  const file = freshPath();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    migrate(db, file, version);
    fill(db);
  } finally {
    db.close();
  }
  return file;
}

describe('SqliteStore migrations', () => {
  it('reads a store written by schema 1 (queue and messages tables) after migrating it', async () => {
    const file = fileAt(1, (db) =>
      db.exec(`
        INSERT INTO sessions VALUES ('c', 5, 60, NULL, NULL), ('d', 4, 60, 7, NULL);
        INSERT INTO messages VALUES ('m1', 'a', x'01', 1, 0, '{"contentType":"x"}', 1, NULL, 'p'), ('m2', 'b', x'02', 2, 1, NULL, 2, 99, NULL);
        INSERT INTO queue VALUES ('c', 3, 'm2', 2, 1, '[4,5]', 'released', 9), ('c', 1, 'm1', 1, 0, NULL, 'inflight', 8), ('d', 0, 'm1', 1, 1, NULL, 'queued', NULL);
      `),
    );
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
    assert.equal(readFile(file, (db) => db.prepare('SELECT version FROM schema_version').pluck().get()), SCHEMA_VERSION);
  });

  it('moves a schema 3 file’s body rows into packs (migration 4): live bodies past one page of rows, dead ones, watermarks', async () => {
    const file = fileAt(3, (db) => {
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
    });
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
    assert.equal(readFile(file, (db) => db.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'bodies'`).pluck().get()), 0, 'the bodies table is gone');
  });


  it('moves a schema 4 file’s entry rows into entry packs (migration 5): every state, retired rows, a session gone, more rows than a page and a pack hold', async () => {
    const D = 7_500; // d's rows: more than a page of rows (1,000) and more entries than one pack holds (256 KiB)
    const file = fileAt(4, (db) => {
      db.exec(`INSERT INTO sessions VALUES ('c', 5, 60, NULL, NULL), ('d', 4, 60, NULL, NULL)`);
      // Bodies as schema 4 wrote them, packed; body n is message m<n>.
      const bodies = new PackBuilder();
      for (let n = 1; n <= 4; n++) bodies.add(n, { id: `m${n}`, topic: `t/${n}`, payload: Buffer.from([n]), qos: 1, retain: false, createdAt: n });
      db.prepare('INSERT INTO packs (n, data) VALUES (1, ?)').run(bodies.bytes());
      const row = db.prepare('INSERT INTO entries (n, client_id, seq, body, flags, packet_id, subscription_ids) VALUES (?, ?, ?, ?, ?, ?, ?)');
      // c: keys 1 and 2 below its watermark (acknowledged, not yet deleted); 3–5 live, in every state
      // (flags: qos bits 0–1, retain bit 2, state bits 3–4).
      row.run(1, 'c', 0, 1, 1, null, null);
      row.run(2, 'c', 1, 1, 1, null, null);
      row.run(3, 'c', 2, 2, 1 | 4, null, '[]');
      row.run(4, 'c', 3, 3, 2 | (1 << 3), 65_535, '[1,268435455]');
      row.run(5, 'c', 4, 3, 2 | (2 << 3), 1, null);
      // g: a session deleted before its rows were: they and its watermark are still in the file.
      row.run(6, 'g', 0, 4, 1, null, null);
      for (let i = 0; i < D; i++) row.run(7 + i, 'd', i, 4, 1, null, null);
      db.exec(`INSERT INTO retired VALUES ('c', 3), ('g', 7)`);
    });
    const queueOf = (snap: Awaited<ReturnType<SqliteStore['open']>>, clientId: string): QueueEntry[] | undefined => snap.sessions.find((s) => s.session.clientId === clientId)?.queue;
    let store = new SqliteStore({ path: file });
    try {
      const snap = await store.open();
      assert.deepEqual(queueOf(snap, 'c'), [
        { seq: 2, messageId: 'm2', qos: 1, retain: true, state: 'queued', subscriptionIds: [] },
        { seq: 3, messageId: 'm3', qos: 2, retain: false, state: 'inflight', packetId: 65_535, subscriptionIds: [1, 268_435_455] },
        { seq: 4, messageId: 'm3', qos: 2, retain: false, state: 'released', packetId: 1 },
      ]);
      const d = queueOf(snap, 'd') ?? [];
      assert.equal(d.length, D);
      assert.ok(d.every((e, i) => e.seq === i && e.messageId === 'm4' && e.state === 'queued'), 'd’s entries in seq order');
      assert.deepEqual(canonical(snap).sessions.map((s) => s.session.clientId), ['c', 'd'], 'g is gone');
      assert.deepEqual([...snap.messages.keys()].sort(), ['m2', 'm3', 'm4'], 'm1 only had retired entries');
      assert.equal(inspectStoreFile(file).queued, 3 + D);
      // Every row moved, dead ones too, into more than one pack; g's watermark is not needed any more.
      const items = entryPacked(file);
      assert.ok(items.packs >= 2, `${items.packs} entry packs`);
      assert.deepEqual([items.entries, items.tombstones], [6 + D, 0]);
      assert.equal(readFile(file, (db) => db.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'entries'`).pluck().get()), 0, 'the entries table is gone');
      assert.deepEqual(readFile(file, (db) => db.prepare('SELECT client_id, below FROM retired').raw().all()), [['c', 3]]);

      // It goes on from there: g made again does not get its old entry back; c's oldest moves c's
      // watermark; d's seq 5 goes out of order (a tombstone).
      await store.apply([sessOp('g'), ...deleteOps('c', [2]), ...deleteOps('d', [5])]);
      await store.close();
      store = new SqliteStore({ path: file });
      const again = await store.open();
      assert.deepEqual(queueOf(again, 'g'), []);
      assert.deepEqual(queueOf(again, 'c')?.map((e) => e.seq), [3, 4]);
      assert.deepEqual(queueOf(again, 'd')?.length, D - 1);
      assert.equal(queueOf(again, 'd')?.find((e) => e.seq === 5), undefined);
      assert.equal(entryPacked(file).tombstones, 1);
      // And everything goes, packs and all, once no entry is left.
      const rest: StoreOp[] = [...deleteOps('c', [3, 4]), ...deleteOps('d', [...Array(D).keys()].filter((i) => i !== 5))];
      await store.apply(rest);
      assert.deepEqual(entryPacked(file), { packs: 0, entries: 0, tombstones: 0 });
      assert.deepEqual(packed(file), { packs: 0, bodies: 0 });
      assert.equal(rowCount(file, 'retired'), 3, 'the watermarks of c, d and g, which still have sessions');
    } finally {
      await store.close();
    }
  });
});
