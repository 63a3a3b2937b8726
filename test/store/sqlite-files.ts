// Shared by the SQLite store's tests: a temporary folder per test file, the ops they build, and
// what a store file holds, read with SQLite directly (never through the store under test).
import { before, after } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { QueueEntry, StoreOp } from '../../src/store/ports.js';
import { forEachEntryItem, ItemKind } from '../../src/store/sqlite/entry-packs.js';

/** Paths of new store files, each in a folder of its own, under one temporary folder that goes when the file's tests end. */
export function storeFiles(prefix: string): () => string {
  let root = '';
  let counter = 0;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });
  return () => path.join(root, `s${++counter}`, 'store.db');
}

export const msgOp = (id: string): StoreOp => ({ op: 'message.put', message: { id, topic: `t/${id}`, payload: Buffer.from(id), qos: 1, retain: false, createdAt: 1 } });
export const sessOp = (clientId: string): StoreOp => ({ op: 'session.put', session: { clientId, protocolVersion: 4, expiryInterval: 60 } });
export const entryOp = (clientId: string, seq: number, messageId: string, over: Partial<QueueEntry> = {}): StoreOp => ({
  op: 'queue.put',
  clientId,
  entry: { seq, messageId, qos: 1, retain: false, state: 'queued', ...over },
});
export const deleteOps = (clientId: string, seqs: number[]): StoreOp[] => seqs.map((seq): StoreOp => ({ op: 'queue.delete', clientId, seq }));

/** Runs `read` on the file, opened read-only. */
export function readFile<T>(file: string, read: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

export const rowCount = (file: string, table: string): number => readFile(file, (db) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number);

/** Bytes of the BLOBs of a pack table. */
export const packBytes = (file: string, table: 'packs' | 'entry_packs'): number =>
  readFile(file, (db) => (db.prepare(`SELECT coalesce(sum(length(data)), 0) FROM ${table}`).pluck().get() as number));

/** Body packs in the file and the bodies they hold, live or not (packs.ts: the count is the u32 after the format byte). */
export const packed = (file: string): { packs: number; bodies: number } =>
  readFile(file, (db) => {
    const data = db.prepare('SELECT data FROM packs').pluck().all() as Buffer[];
    return { packs: data.length, bodies: data.reduce((sum, d) => sum + d.readUInt32LE(1), 0) };
  });

/** Entry packs in the file and the items they hold, live or not. */
export const entryPacked = (file: string): { packs: number; entries: number; tombstones: number } =>
  readFile(file, (db) => {
    const data = db.prepare('SELECT data FROM entry_packs').pluck().all() as Buffer[];
    const out = { packs: data.length, entries: 0, tombstones: 0 };
    for (const d of data) forEachEntryItem(d, 'test', (item) => (item.kind === ItemKind.Tombstone ? out.tombstones++ : out.entries++));
    return out;
  });

/** Replaces the BLOB of pack `n` of `table` with `damage` of it, as a disk that lied or a hand that edited might. */
export function damagePack(file: string, table: 'packs' | 'entry_packs', n: number, damage: (data: Buffer) => Buffer): void {
  const db = new Database(file);
  try {
    const data = db.prepare(`SELECT data FROM ${table} WHERE n = ?`).pluck().get(n) as Buffer;
    db.prepare(`UPDATE ${table} SET data = ? WHERE n = ?`).run(damage(data), n);
  } finally {
    db.close();
  }
}
