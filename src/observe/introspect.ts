// What the broker holds, as rows: connected clients, sessions, subscriptions, retained messages.
// One set of functions for the admin API (JSON) and the library's introspection (src/api/), so the
// two always show the same thing.
import type { StoredMessage, SubscriptionRecord } from '../store/ports.js';
import type { TransportKind } from '../transport/transport.js';
import { validateTopicFilter } from '../protocol/topic.js';
import { protocolName, type AdminSource, type ClientView } from './ports.js';

/** A connected client. */
export interface ClientRow {
  clientId: string;
  username?: string;
  address: string;
  remotePort?: number;
  /** 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
  protocolVersion: number;
  /** '3.1', '3.1.1' or '5.0'. */
  protocol: string;
  transport: TransportKind;
  /** The listener as configured (the /metrics label). */
  listener: string;
  /** The URL a client dials to reach that listener (the WebSocket path included). */
  listenerUrl: string;
  /** ISO 8601 time of CONNACK. */
  connectedAt: string;
  inflight: number;
  queued: number;
  subscriptions: number;
}

/** A session, connected or not. */
export interface SessionRow {
  clientId: string;
  online: boolean;
  protocolVersion: number;
  inflight: number;
  queued: number;
  subscriptions: number;
}

/** A subscription and whose it is. */
export type SubscriptionRow = SubscriptionRecord & { clientId: string; online: boolean };

/** The order the admin API lists clients in (and the library, which lists the same rows). */
export const byClientId = (a: { clientId: string }, b: { clientId: string }): number => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0);

/** Subscriptions by client id, then filter. */
export const bySubscription = (a: SubscriptionRow, b: SubscriptionRow): number => byClientId(a, b) || (a.filter < b.filter ? -1 : a.filter > b.filter ? 1 : 0);

export function clientRow(source: Pick<AdminSource, 'sessions'>, c: ClientView): ClientRow {
  const s = source.sessions.get(c.clientId);
  return {
    clientId: c.clientId,
    ...(c.username !== undefined ? { username: c.username } : {}),
    address: c.address,
    ...(c.remotePort !== undefined ? { remotePort: c.remotePort } : {}),
    protocolVersion: c.protocolVersion,
    protocol: protocolName(c.protocolVersion),
    transport: c.transport,
    listener: c.listener,
    listenerUrl: c.listenerUrl,
    connectedAt: new Date(c.connectedAt).toISOString(),
    inflight: s?.inflight.size ?? 0,
    queued: s?.queuedCount ?? 0,
    subscriptions: s?.subscriptions.size ?? 0,
  };
}

/** This process's connected clients. */
export const clientRows = (source: Pick<AdminSource, 'sessions' | 'connectedClients'>): ClientRow[] =>
  [...source.connectedClients()].map((c) => clientRow(source, c));

export function sessionRows(source: Pick<AdminSource, 'sessions'>): SessionRow[] {
  const out: SessionRow[] = [];
  for (const s of source.sessions.values()) {
    out.push({ clientId: s.clientId, online: s.online, protocolVersion: s.protocolVersion, inflight: s.inflight.size, queued: s.queuedCount, subscriptions: s.subscriptions.size });
  }
  return out;
}

/** Every subscription, or only those of client `only`. */
export function subscriptionRows(source: Pick<AdminSource, 'sessions'>, only: string | null): SubscriptionRow[] {
  const out: SubscriptionRow[] = [];
  for (const s of source.sessions.values()) {
    if (only !== null && s.clientId !== only) continue;
    for (const sub of s.subscriptions.values()) out.push({ clientId: s.clientId, online: s.online, ...sub });
  }
  return out;
}

/** Unexpired retained messages matching `filter`, by topic; throws on a malformed filter. */
export function retainedMessages(source: Pick<AdminSource, 'retained' | 'now'>, filter: string): StoredMessage[] {
  validateTopicFilter(filter);
  return source.retained.match(filter, source.now()).sort((a, b) => (a.topic < b.topic ? -1 : 1));
}

/** The retained message on `topic`, unless there is none or it has expired. */
export function retainedMessage(source: Pick<AdminSource, 'retained' | 'now'>, topic: string): StoredMessage | undefined {
  const m = source.retained.get(topic);
  return !m || (m.expiresAt !== undefined && m.expiresAt <= source.now()) ? undefined : m;
}
