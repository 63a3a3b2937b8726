// Online backup and offline restore of the SQLite store. A backup reads the live database through
// SQLite's backup API from a connection of its own (the broker's lock is on `<db>.lock`, see
// store-lock.ts), so it is a consistent snapshot taken while the broker keeps writing; copying the
// file is not one (in WAL mode recent commits live in `-wal` until a checkpoint).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from './schema.js';
import { lockStore } from './store-lock.js';
import { decodeEntry, forEachEntryItem, isLiveItem, ItemKind } from './entry-packs.js';

export interface StoreSummary {
  schemaVersion: number;
  sessions: number;
  retained: number;
  queued: number;
}

/** Queue entries not yet retired (schemas 3–4: rows below their client's watermark are gone). */
const liveRows = (db: Database.Database): number =>
  db.prepare('SELECT count(*) FROM entries e LEFT JOIN retired r ON r.client_id = e.client_id WHERE e.n >= coalesce(r.below, 0)').pluck().get() as number;

/** Queue entries live in the entry packs (schema 5; entry-packs.ts says which items are). */
function liveItems(db: Database.Database, file: string): number {
  const sessions = new Set(db.prepare('SELECT client_id FROM sessions').pluck().all() as string[]);
  const below = new Map(db.prepare('SELECT client_id, below FROM retired').raw().all() as Array<[string, number]>);
  const killed = new Set<number>();
  const entries: Array<{ key: number; clientId: string; seq: number }> = [];
  for (const { n, data } of db.prepare('SELECT n, data FROM entry_packs').all() as Array<{ n: number; data: Buffer }>) {
    const where = `${file}: entry pack ${n}`;
    forEachEntryItem(data, where, (item) => {
      if (item.kind === ItemKind.Tombstone) killed.add(item.key);
      else {
        const { clientId, entry } = decodeEntry(item.raw, where);
        entries.push({ key: item.key, clientId, seq: entry.seq });
      }
    });
  }
  // One per (client, seq): the store never leaves two live items for one entry, and open would keep one.
  const live = new Set<string>();
  for (const e of entries) if (isLiveItem(e.key, e.clientId, sessions, below, killed)) live.add(`${e.seq} ${e.clientId}`);
  return live.size;
}

function queuedEntries(db: Database.Database, file: string, version: number): number {
  if (version >= 5) return liveItems(db, file);
  if (version >= 3) return liveRows(db);
  return db.prepare(`SELECT count(*) FROM ${version >= 2 ? 'entries' : 'queue'}`).pluck().get() as number;
}

/** Checks that `file` is a sound Starling store this version can open, and counts what it holds. */
export function inspectStoreFile(file: string): StoreSummary {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`${file}: cannot be opened: ${(err as Error).message}`);
  }
  try {
    const check = db.pragma('quick_check') as Array<{ quick_check: string }>;
    if (check.length !== 1 || check[0].quick_check !== 'ok') throw new Error(`${file}: damaged: ${check.map((r) => r.quick_check).slice(0, 3).join('; ')}`);
    const version = db.prepare('SELECT version FROM schema_version').pluck().get() as number;
    if (version > SCHEMA_VERSION) throw new Error(`${file}: schema version ${version} is newer than this Starling understands (${SCHEMA_VERSION})`);
    const count = (table: string): number => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return { schemaVersion: version, sessions: count('sessions'), retained: count('retained'), queued: queuedEntries(db, file, version) };
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_ERROR') throw new Error(`${file}: not a Starling store (${(err as Error).message})`);
    throw err;
  } finally {
    db.close();
  }
}

/**
 * Copies the store at `dbPath` into `outPath` (which must not exist) with SQLite's backup API and
 * checks the copy. Safe while a broker runs on `dbPath`.
 */
export async function backupStore(dbPath: string, outPath: string): Promise<StoreSummary> {
  if (!fs.existsSync(dbPath)) throw new Error(`${dbPath}: no such store (is dataDir right? start resolves a relative dataDir against its working directory)`);
  if (fs.existsSync(outPath)) throw new Error(`${outPath} already exists; give a new file name`);
  const src = new Database(dbPath, { fileMustExist: true, timeout: 5000 });
  try {
    // All remaining pages in one step: a step that sees the broker's writes since the last one
    // would start over, so with many small steps a busy broker could keep the backup from ending.
    await src.backup(outPath, { progress: () => 1 << 30 });
  } catch (err) {
    fs.rmSync(outPath, { force: true });
    throw err;
  } finally {
    src.close();
  }
  return inspectStoreFile(outPath);
}

export interface RestoreResult extends StoreSummary {
  /** Where the store that was replaced went, if there was one. */
  previous?: string;
}

/**
 * Puts the backup `from` in place of the store at `dbPath`, keeping the old files beside it as
 * `starling.db.before-restore-<time>`. Refuses while a broker holds the store (its lock).
 */
export function restoreStore(dbPath: string, from: string): RestoreResult {
  const summary = inspectStoreFile(from);
  fs.mkdirSync(path.dirname(path.resolve(dbPath)), { recursive: true });
  let lock: Database.Database;
  try {
    lock = lockStore(dbPath);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new Error(`${dbPath} is in use: stop the broker (or other process) using it first`);
    throw err;
  }
  try {
    let previous: string | undefined;
    if (fs.existsSync(dbPath)) {
      previous = `${dbPath}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      fs.renameSync(dbPath, previous);
      // The old -wal belongs to the old database: applied to the restored one it would corrupt it.
      for (const ext of ['-wal', '-shm']) if (fs.existsSync(dbPath + ext)) fs.renameSync(dbPath + ext, previous + ext);
    }
    const tmp = `${dbPath}.restoring`;
    fs.copyFileSync(from, tmp);
    fs.renameSync(tmp, dbPath);
    return { ...summary, ...(previous ? { previous } : {}) };
  } finally {
    lock.close();
  }
}
