// Conversions between stored records and SQLite rows. Optional fields are NULL in a row and absent
// (not undefined-valued) in a record, so a record read back deep-equals the one written.
import type { QueueEntry, SessionRecord, StoredMessage, SubscriptionRecord, WillRecord } from '../ports.js';
import type { Properties } from '../../protocol/packets.js';
import { decodeJson, encodeJson } from '../json.js';

export interface MessageRow {
  id: string;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: number;
  properties: string | null;
  created_at: number;
  expires_at: number | null;
  publisher_id: string | null;
}

export interface SessionRow {
  client_id: string;
  protocol_version: number;
  expiry_interval: number;
  disconnected_at: number | null;
  will: string | null;
}

export interface SubscriptionRow {
  client_id: string;
  filter: string;
  qos: number;
  no_local: number;
  retain_as_published: number;
  retain_handling: number;
  subscription_id: number | null;
}

/** A row of `entries` (schema 2): qos, retain and state packed into `flags` (see entryFlags). */
export interface EntryRow {
  n: number;
  client_id: string;
  seq: number;
  body: number;
  flags: number;
  packet_id: number | null;
  subscription_ids: string | null;
}

export const STATES: ReadonlyArray<QueueEntry['state']> = ['queued', 'inflight', 'released'];
const STATE_CODE: Readonly<Record<QueueEntry['state'], number>> = { queued: 0, inflight: 1, released: 2 };

/** qos in bits 0–1, retain in bit 2, state (0 queued, 1 inflight, 2 released) in bits 3–4. */
export const entryFlags = (e: QueueEntry): number => e.qos | (e.retain ? 4 : 0) | (STATE_CODE[e.state] << 3);

export function rowToEntry(r: EntryRow, messageId: string): QueueEntry {
  const e: QueueEntry = { seq: r.seq, messageId, qos: (r.flags & 3) as QueueEntry['qos'], retain: (r.flags & 4) !== 0, state: STATES[(r.flags >> 3) & 3] };
  if (r.subscription_ids !== null) e.subscriptionIds = JSON.parse(r.subscription_ids) as number[];
  if (r.packet_id !== null) e.packetId = r.packet_id;
  return e;
}

/** A stored message's columns (a retained message's row; schema 3's body rows after their `n`), in messageValues' order. */
export const MESSAGE_COLUMNS = ['id', 'topic', 'payload', 'qos', 'retain', 'properties', 'created_at', 'expires_at', 'publisher_id'] as const;

/** `m`'s values in MESSAGE_COLUMNS order (positional parameters: the cheapest binding). */
export const messageValues = (m: StoredMessage): unknown[] => [
  m.id,
  m.topic,
  m.payload,
  m.qos,
  m.retain ? 1 : 0,
  m.properties === undefined ? null : encodeJson(m.properties),
  m.createdAt,
  m.expiresAt ?? null,
  m.publisherId ?? null,
];

export function rowToMessage(r: MessageRow): StoredMessage {
  const m: StoredMessage = { id: r.id, topic: r.topic, payload: r.payload, qos: r.qos as StoredMessage['qos'], retain: r.retain === 1, createdAt: r.created_at };
  if (r.properties !== null) m.properties = decodeJson<Properties>(r.properties);
  if (r.expires_at !== null) m.expiresAt = r.expires_at;
  if (r.publisher_id !== null) m.publisherId = r.publisher_id;
  return m;
}

export const sessionToRow = (s: SessionRecord): SessionRow => ({
  client_id: s.clientId,
  protocol_version: s.protocolVersion,
  expiry_interval: s.expiryInterval,
  disconnected_at: s.disconnectedAt ?? null,
  will: s.will === undefined ? null : encodeJson(s.will),
});

export function rowToSession(r: SessionRow): SessionRecord {
  const s: SessionRecord = { clientId: r.client_id, protocolVersion: r.protocol_version as SessionRecord['protocolVersion'], expiryInterval: r.expiry_interval };
  if (r.disconnected_at !== null) s.disconnectedAt = r.disconnected_at;
  if (r.will !== null) s.will = decodeJson<WillRecord>(r.will);
  return s;
}

export const subscriptionToRow = (clientId: string, s: SubscriptionRecord): SubscriptionRow => ({
  client_id: clientId,
  filter: s.filter,
  qos: s.qos,
  no_local: s.noLocal ? 1 : 0,
  retain_as_published: s.retainAsPublished ? 1 : 0,
  retain_handling: s.retainHandling,
  subscription_id: s.subscriptionId ?? null,
});

export function rowToSubscription(r: SubscriptionRow): SubscriptionRecord {
  const s: SubscriptionRecord = {
    filter: r.filter,
    qos: r.qos as SubscriptionRecord['qos'],
    noLocal: r.no_local === 1,
    retainAsPublished: r.retain_as_published === 1,
    retainHandling: r.retain_handling as SubscriptionRecord['retainHandling'],
  };
  if (r.subscription_id !== null) s.subscriptionId = r.subscription_id;
  return s;
}
