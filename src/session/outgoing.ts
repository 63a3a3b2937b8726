// One message owed to a session: queued, in flight, or released (QoS 2 after PUBREC).
import type { QoS } from '../protocol/constants.js';
import type { QueueEntry, StoredMessage } from '../store/ports.js';

export interface Outgoing {
  /** Order within the session; also the store key of the queue entry. */
  seq: number;
  message: StoredMessage;
  /** QoS it is delivered at: the lower of the published and the granted QoS. */
  qos: QoS;
  retain: boolean;
  subscriptionIds?: number[];
  state: QueueEntry['state'];
  packetId?: number;
  /** False while a store write of this entry is pending: an entry is never sent before it is durable. */
  written: boolean;
  /** The PUBLISH went out on the current connection (a resend then carries DUP). */
  sent: boolean;
  /** It went out on an earlier connection and waits for room in the window: it goes with DUP [MQTT-3.3.1-1]. */
  dup?: boolean;
  /** Size counted against the session's queue byte limit. */
  bytes: number;
}

export function toQueueEntry(o: Outgoing): QueueEntry {
  const entry: QueueEntry = { seq: o.seq, messageId: o.message.id, qos: o.qos, retain: o.retain, state: o.state };
  if (o.subscriptionIds) entry.subscriptionIds = o.subscriptionIds;
  if (o.packetId !== undefined) entry.packetId = o.packetId;
  return entry;
}
