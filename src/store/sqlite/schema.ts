// The SQLite schema and its migrations. `schema_version` holds one row; migration N (1-based) takes
// a database from version N-1 to N. Add a migration at the end to change the schema; never edit
// one that has shipped, since files out there were built by it.
import type Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import { PackBuilder, PACK_BYTES } from './packs.js';
import { EntryPackBuilder } from './entry-packs.js';
import { MESSAGE_COLUMNS, rowToEntry, rowToMessage, type EntryRow, type MessageRow } from './rows.js';

const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  // 1: sessions with their subscriptions, queue and inbound ids; message bodies stored once and
  // pointed to by queue rows; retained messages by topic (a retained copy is its own row, since it
  // outlives every queue entry and is replaced per topic).
  (db) =>
    db.exec(`
      CREATE TABLE sessions (
        client_id TEXT PRIMARY KEY,
        protocol_version INTEGER NOT NULL,
        expiry_interval INTEGER NOT NULL,
        disconnected_at INTEGER,
        will TEXT
      ) WITHOUT ROWID;
      CREATE TABLE subscriptions (
        client_id TEXT NOT NULL REFERENCES sessions(client_id) ON DELETE CASCADE,
        filter TEXT NOT NULL,
        qos INTEGER NOT NULL,
        no_local INTEGER NOT NULL,
        retain_as_published INTEGER NOT NULL,
        retain_handling INTEGER NOT NULL,
        subscription_id INTEGER,
        PRIMARY KEY (client_id, filter)
      ) WITHOUT ROWID;
      CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        properties TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        publisher_id TEXT
      );
      CREATE TABLE queue (
        client_id TEXT NOT NULL REFERENCES sessions(client_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        message_id TEXT NOT NULL REFERENCES messages(id),
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        subscription_ids TEXT,
        state TEXT NOT NULL CHECK (state IN ('queued', 'inflight', 'released')),
        packet_id INTEGER,
        PRIMARY KEY (client_id, seq)
      ) WITHOUT ROWID;
      CREATE INDEX queue_by_message ON queue(message_id);
      CREATE TABLE inbound (
        client_id TEXT NOT NULL REFERENCES sessions(client_id) ON DELETE CASCADE,
        packet_id INTEGER NOT NULL,
        PRIMARY KEY (client_id, packet_id)
      ) WITHOUT ROWID;
      CREATE TABLE retained (
        topic TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        payload BLOB NOT NULL,
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        properties TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        publisher_id TEXT
      );
    `),
  // 2: compact, append-ordered message bodies and queue entries. Both are keyed by an integer the
  // store assigns in ascending order (`n`), so a batch's new rows land on the last pages of each
  // table instead of one page per session, and there is no secondary index to maintain: the store
  // keeps (client, seq) → row and message id → row, with reference counts, in memory (rebuilt at
  // open). An entry's qos, retain flag and state are one integer (see rows.ts).
  (db) =>
    db.exec(`
      CREATE TABLE bodies (
        n INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        properties TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        publisher_id TEXT
      );
      CREATE TABLE entries (
        n INTEGER PRIMARY KEY,
        client_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        body INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        packet_id INTEGER,
        subscription_ids TEXT
      );
      INSERT INTO bodies (id, topic, payload, qos, retain, properties, created_at, expires_at, publisher_id)
        SELECT id, topic, payload, qos, retain, properties, created_at, expires_at, publisher_id FROM messages ORDER BY rowid;
      INSERT INTO entries (client_id, seq, body, flags, packet_id, subscription_ids)
        SELECT q.client_id, q.seq, b.n,
               q.qos | (q.retain << 2) | ((CASE q.state WHEN 'queued' THEN 0 WHEN 'inflight' THEN 1 ELSE 2 END) << 3),
               q.packet_id, q.subscription_ids
        FROM queue q JOIN bodies b ON b.id = q.message_id ORDER BY q.client_id, q.seq;
      DROP TABLE queue;
      DROP TABLE messages;
    `),
  // 3: retiring queue entries by watermark. Every entry row of a client with n < below is gone
  // (acknowledged, or its session deleted), and a body no live entry points at is gone; the rows
  // themselves are deleted later, many at once and in key order (sqlite-store.ts: compaction).
  (db) => db.exec('CREATE TABLE retired (client_id TEXT PRIMARY KEY, below INTEGER NOT NULL) WITHOUT ROWID'),
  // 4: message bodies packed many to a row (packs.ts), each keeping the key entries point at.
  // A row costs about as much to insert whatever it holds: one per body was most of a queued
  // message's store cost. Every body row moves into packs, dead ones too (the first open finds
  // them unreferenced and drops their packs as it would any other).
  (db) => {
    db.exec('CREATE TABLE packs (n INTEGER PRIMARY KEY, data BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO packs (n, data) VALUES (?, ?)');
    // A page of rows at a time: better-sqlite3 runs no other statement while an iterator is open.
    const page = db.prepare(`SELECT n, ${MESSAGE_COLUMNS.join(', ')} FROM bodies WHERE n > ? ORDER BY n LIMIT 1000`);
    const builder = new PackBuilder();
    let pack = 0;
    const flush = (): void => {
      insert.run(++pack, builder.bytes());
      builder.reset();
    };
    for (let after = Number.MIN_SAFE_INTEGER; ; ) {
      const rows = page.all(after) as Array<MessageRow & { n: number }>;
      if (rows.length === 0) break;
      for (const row of rows) {
        builder.add(row.n, rowToMessage(row));
        if (builder.size >= PACK_BYTES) flush();
      }
      after = rows[rows.length - 1].n;
    }
    if (builder.count > 0) flush();
    db.exec('DROP TABLE bodies');
  },
  // 5: queue entries packed many to a row (entry-packs.ts), as bodies are since 4: an entry row cost
  // about half a microsecond to insert and as much to delete. Every entry row moves into packs under
  // its key, retired ones too (the first open finds them dead and drops their packs as it would any
  // other). A session now gets its watermark when it is made, so one whose session is gone is no
  // longer needed: those are deleted.
  (db) => {
    db.exec('CREATE TABLE entry_packs (n INTEGER PRIMARY KEY, data BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO entry_packs (n, data) VALUES (?, ?)');
    const builder = new EntryPackBuilder();
    let packs = 0;
    pageThrough<EntryRow>(db, 'SELECT n, client_id, seq, body, flags, packet_id, subscription_ids FROM entries', (row) => {
      builder.addEntry(row.n, row.client_id, rowToEntry(row, ''), row.body);
      if (builder.size < PACK_BYTES) return;
      insert.run(++packs, builder.bytes());
      builder.reset();
    });
    if (builder.count > 0) insert.run(++packs, builder.bytes());
    db.exec(`DROP TABLE entries; DELETE FROM retired WHERE client_id NOT IN (SELECT client_id FROM sessions)`);
  },
];

/**
 * Calls `visit` for every row of `select` (which has an integer key `n`) in key order, a page of
 * rows at a time: better-sqlite3 runs no other statement while an iterator is open.
 */
function pageThrough<R extends { n: number }>(db: Database.Database, select: string, visit: (row: R) => void): void {
  const page = db.prepare(`${select} WHERE n > ? ORDER BY n LIMIT 1000`);
  for (let after = Number.MIN_SAFE_INTEGER; ; ) {
    const rows = page.all(after) as R[];
    if (rows.length === 0) return;
    for (const row of rows) visit(row);
    after = rows[rows.length - 1].n;
  }
}

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to SCHEMA_VERSION. A brand-new (empty) database is initialised; one that has
 * tables but no version table is someone else's file; one newer than this code is refused.
 * `target` (tests only) stops at an older version, to build a file as an earlier release left it.
 */
export function migrate(db: Database.Database, path: string, target = SCHEMA_VERSION): void {
  const tables = db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[];
  let version = 0;
  if (tables.includes('schema_version')) {
    const rows = db.prepare('SELECT version FROM schema_version').pluck().all() as unknown[];
    if (rows.length !== 1 || !Number.isSafeInteger(rows[0])) {
      throw new StoreError(`store ${path}: schema_version table is damaged (expected one integer row, found ${rows.length} rows)`);
    }
    version = rows[0] as number;
  } else if (tables.length > 0) {
    throw new StoreError(`store ${path}: not a Starling store (it has tables ${tables.join(', ')} but no schema_version)`);
  }
  if (version > SCHEMA_VERSION) {
    throw new StoreError(`store ${path}: schema version ${version} is newer than this Starling understands (${SCHEMA_VERSION}); upgrade Starling`);
  }
  if (version >= target) return;
  db.transaction(() => {
    if (version === 0) db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL)');
    for (let v = version; v < target; v++) MIGRATIONS[v](db);
    db.prepare('DELETE FROM schema_version').run();
    db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(target);
  }).immediate();
}
