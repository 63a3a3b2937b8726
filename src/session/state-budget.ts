// What every session holds besides its queue, against one broker-wide budget
// (maxSessionBytesTotal): its client id, its subscriptions' filters, its will (topic, payload,
// properties) and its inbound QoS 2 packet ids awaiting PUBREL. A client chooses all of it, and it outlives the connection in an offline session,
// so without a budget a population of clients could leave behind `maxSessions` ×
// `maxSubscriptionsPerClient` × `maxTopicLength` of filters alone. Each session keeps its own
// count (Session.joinStateBudget); what would go past the budget is refused where it is asked for
// (CONNECT, SUBSCRIBE), never taken from a session that holds it.
import type { WillRecord } from '../store/ports.js';
import type { UserProperty } from '../protocol/packets.js';

/**
 * What one inbound QoS 2 id awaiting PUBREL is counted as: about what it takes in the session's Set
 * (an MQTT 3.1.1 client, which has no Receive Maximum, can leave 65,535 of them per session).
 */
export const INBOUND_ID_BYTES = 20;

export class StateBudget {
  private held = 0;

  /** `max`: most bytes all sessions may hold together; 0 = no limit. */
  constructor(readonly max: number) {}

  /** Bytes held now over all registered sessions. */
  get total(): number {
    return this.held;
  }

  /** Whether `bytes` more would take the total past the budget. */
  full(bytes: number): boolean {
    return this.max > 0 && bytes > 0 && this.held + bytes > this.max;
  }

  /** @internal Session's bookkeeping: `bytes` may be negative. */
  change(bytes: number): void {
    this.held += bytes;
  }
}

/**
 * What a will holds, counted as its topic's and text properties' UTF-16 length, its payload's and
 * correlation data's bytes (close to what it takes in memory; exact byte counts would cost an
 * encoding pass per CONNECT for no better bound).
 */
export function willBytes(will: WillRecord | undefined): number {
  if (will === undefined) return 0;
  const m = will.message;
  let n = m.topic.length + m.payload.length;
  const p = m.properties;
  if (p !== undefined) {
    if (p.contentType !== undefined) n += p.contentType.length;
    if (p.responseTopic !== undefined) n += p.responseTopic.length;
    if (p.correlationData !== undefined) n += p.correlationData.length;
    const users = p.userProperties as readonly UserProperty[] | undefined;
    if (users !== undefined) for (const [k, v] of users) n += k.length + v.length;
  }
  return n;
}
