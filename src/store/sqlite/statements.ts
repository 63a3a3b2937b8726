// Every SQL statement the store runs, prepared once when the store opens.
import type Database from 'better-sqlite3';

const MESSAGE_COLUMNS = 'id, topic, payload, qos, retain, properties, created_at, expires_at, publisher_id';
const MESSAGE_VALUES = '@id, @topic, @payload, @qos, @retain, @properties, @created_at, @expires_at, @publisher_id';

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
    // Bodies and entries are written by integer key with positional parameters: these run once per
    // message and per delivery, and binding by position is the cheapest better-sqlite3 offers.
    insertBody: p(`INSERT INTO bodies (n, ${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    deleteBody: p('DELETE FROM bodies WHERE n = ?'),
    insertEntry: p('INSERT INTO entries (n, client_id, seq, body, flags, packet_id, subscription_ids) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    updateEntry: p('UPDATE entries SET body = ?, flags = ?, packet_id = ?, subscription_ids = ? WHERE n = ?'),
    deleteEntry: p('DELETE FROM entries WHERE n = ?'),
    // After a compaction no row of a session that is gone is left, so neither is its watermark needed.
    deleteRetiredOfGone: p('DELETE FROM retired WHERE client_id NOT IN (SELECT client_id FROM sessions)'),
    allRetired: p('SELECT client_id, below FROM retired'),
    insertInbound: p('INSERT INTO inbound (client_id, packet_id) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    deleteInbound: p('DELETE FROM inbound WHERE client_id = ? AND packet_id = ?'),
    upsertRetained: p(
      `INSERT INTO retained (topic, ${MESSAGE_COLUMNS.replace('topic, ', '')})
       VALUES (@topic, ${MESSAGE_VALUES.replace('@topic, ', '')})
       ON CONFLICT (topic) DO UPDATE SET id = excluded.id, payload = excluded.payload, qos = excluded.qos,
         retain = excluded.retain, properties = excluded.properties, created_at = excluded.created_at,
         expires_at = excluded.expires_at, publisher_id = excluded.publisher_id`,
    ),
    deleteRetained: p('DELETE FROM retained WHERE topic = ?'),
    allSessions: p('SELECT * FROM sessions ORDER BY client_id'),
    allSubscriptions: p('SELECT * FROM subscriptions ORDER BY client_id, filter'),
    allEntries: p('SELECT n, client_id, seq, body, flags, packet_id, subscription_ids FROM entries ORDER BY n'),
    allInbound: p('SELECT client_id, packet_id FROM inbound ORDER BY client_id, packet_id'),
    allBodies: p(`SELECT n, ${MESSAGE_COLUMNS} FROM bodies ORDER BY n`),
    allRetained: p(`SELECT ${MESSAGE_COLUMNS} FROM retained ORDER BY topic`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
