// Every SQL statement the store runs, prepared once when the store opens.
import type Database from 'better-sqlite3';
import { MESSAGE_COLUMNS } from './rows.js';

const MESSAGE_COLUMN_SQL = MESSAGE_COLUMNS.join(', ');

/**
 * What the store uses of a prepared statement. Our own name: better-sqlite3's resolves to a type the
 * emitted declarations (tsconfig `declaration`) cannot name.
 */
export interface Statement {
  run(...params: unknown[]): Database.RunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  pluck(toggle?: boolean): Statement;
}

export function prepareStatements(db: Database.Database) {
  const p = (sql: string): Statement => db.prepare(sql);
  return {
    // Upserts, never INSERT OR REPLACE: a replace deletes the row first and would cascade.
    upsertSession: p(
      `INSERT INTO sessions (client_id, protocol_version, expiry_interval, disconnected_at, will)
       VALUES (@client_id, @protocol_version, @expiry_interval, @disconnected_at, @will)
       ON CONFLICT (client_id) DO UPDATE SET protocol_version = excluded.protocol_version,
         expiry_interval = excluded.expiry_interval, disconnected_at = excluded.disconnected_at, will = excluded.will`,
    ),
    deleteSession: p('DELETE FROM sessions WHERE client_id = ?'),
    upsertSubscription: p(
      `INSERT INTO subscriptions (client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id)
       VALUES (@client_id, @filter, @qos, @no_local, @retain_as_published, @retain_handling, @subscription_id)
       ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, no_local = excluded.no_local,
         retain_as_published = excluded.retain_as_published, retain_handling = excluded.retain_handling,
         subscription_id = excluded.subscription_id`,
    ),
    deleteSubscription: p('DELETE FROM subscriptions WHERE client_id = ? AND filter = ?'),
    // Bodies and entries are written many to a pack (packs.ts, entry-packs.ts); dead packs are deleted by BulkWriter (bulk.ts).
    insertPack: p('INSERT INTO packs (n, data) VALUES (?, ?)'),
    packData: p('SELECT data FROM packs WHERE n = ?').pluck(),
    insertEntryPack: p('INSERT INTO entry_packs (n, data) VALUES (?, ?)'),
    entryPackData: p('SELECT data FROM entry_packs WHERE n = ?').pluck(),
    // The items of a session that is gone are dead whatever its watermark says (a session made again
    // under its id gets a watermark above them), so its watermark goes with it.
    deleteRetired: p('DELETE FROM retired WHERE client_id = ?'),
    allRetired: p('SELECT client_id, below FROM retired'),
    insertInbound: p('INSERT INTO inbound (client_id, packet_id) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    deleteInbound: p('DELETE FROM inbound WHERE client_id = ? AND packet_id = ?'),
    upsertRetained: p(
      `INSERT INTO retained (${MESSAGE_COLUMN_SQL}) VALUES (${MESSAGE_COLUMNS.map(() => '?').join(', ')})
       ON CONFLICT (topic) DO UPDATE SET ${MESSAGE_COLUMNS.filter((c) => c !== 'topic').map((c) => `${c} = excluded.${c}`).join(', ')}`,
    ),
    deleteRetained: p('DELETE FROM retained WHERE topic = ?'),
    allSessions: p('SELECT * FROM sessions ORDER BY client_id'),
    allSubscriptions: p('SELECT * FROM subscriptions ORDER BY client_id, filter'),
    allInbound: p('SELECT client_id, packet_id FROM inbound ORDER BY client_id, packet_id'),
    allPacks: p('SELECT n, data FROM packs ORDER BY n'),
    allEntryPacks: p('SELECT n, data FROM entry_packs ORDER BY n'),
    allRetained: p(`SELECT ${MESSAGE_COLUMN_SQL} FROM retained ORDER BY topic`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
