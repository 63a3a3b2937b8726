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
    sessionExists: p('SELECT 1 FROM sessions WHERE client_id = ?').pluck(),
    sessionMessageIds: p('SELECT DISTINCT message_id FROM queue WHERE client_id = ?').pluck(),
    upsertSubscription: p(
      `INSERT INTO subscriptions (client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id)
       VALUES (@client_id, @filter, @qos, @no_local, @retain_as_published, @retain_handling, @subscription_id)
       ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, no_local = excluded.no_local,
         retain_as_published = excluded.retain_as_published, retain_handling = excluded.retain_handling,
         subscription_id = excluded.subscription_id`,
    ),
    deleteSubscription: p('DELETE FROM subscriptions WHERE client_id = ? AND filter = ?'),
    insertMessage: p(`INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (${MESSAGE_VALUES}) ON CONFLICT (id) DO NOTHING`),
    messageExists: p('SELECT 1 FROM messages WHERE id = ?').pluck(),
    deleteMessageIfUnused: p('DELETE FROM messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = ?)'),
    entryMessageId: p('SELECT message_id FROM queue WHERE client_id = ? AND seq = ?').pluck(),
    upsertEntry: p(
      `INSERT INTO queue (client_id, seq, message_id, qos, retain, subscription_ids, state, packet_id)
       VALUES (@client_id, @seq, @message_id, @qos, @retain, @subscription_ids, @state, @packet_id)
       ON CONFLICT (client_id, seq) DO UPDATE SET message_id = excluded.message_id, qos = excluded.qos,
         retain = excluded.retain, subscription_ids = excluded.subscription_ids, state = excluded.state,
         packet_id = excluded.packet_id`,
    ),
    deleteEntry: p('DELETE FROM queue WHERE client_id = ? AND seq = ? RETURNING message_id').pluck(),
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
    allEntries: p('SELECT * FROM queue ORDER BY client_id, seq'),
    allInbound: p('SELECT client_id, packet_id FROM inbound ORDER BY client_id, packet_id'),
    allMessages: p(`SELECT ${MESSAGE_COLUMNS} FROM messages`),
    allRetained: p(`SELECT ${MESSAGE_COLUMNS} FROM retained ORDER BY topic`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
