// What every session holds besides its queue, against one broker-wide budget
// (maxSessionBytesTotal): its client id, its subscriptions' filters, its will (topic, payload,
// properties) and its inbound QoS 2 packet ids awaiting PUBREL. A client chooses all of it, and it outlives the connection in an offline session,
// so without a budget a population of clients could leave behind `maxSessions` ×
// `maxSubscriptionsPerClient` × `maxTopicLength` of filters alone. Each session keeps its own
// count (Session.joinStateBudget); what would go past the budget is refused where it is asked for
// (CONNECT, SUBSCRIBE), never taken from a session that holds it.
import type { WillRecord } from '../store/ports.js';
import { messageBytes } from './message.js';
import { QueueBudget } from './queue-budget.js';

/**
 * What one inbound QoS 2 id awaiting PUBREL is counted as: about what it takes in the session's Set
 * (an MQTT 3.1.1 client, which has no Receive Maximum, can leave 65,535 of them per session).
 */
export const INBOUND_ID_BYTES = 20;

/** The queue budget's bookkeeping (total, full, change), for what sessions hold besides their queues. */
export class StateBudget extends QueueBudget {}

/**
 * What a client id or a filter holds: its UTF-8 bytes, as the figure (starling_session_state_bytes,
 * $SYS sessions/state/bytes) and maxSessionBytesTotal say. Until 2026-12-08 these were counted in
 * UTF-16 units (`.length`), short by one for every 'é' of a client id or filter.
 */
export const textBytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** What a will holds: its message as retained messages are counted (messageBytes). */
export const willBytes = (will: WillRecord | undefined): number => (will === undefined ? 0 : messageBytes(will.message));
