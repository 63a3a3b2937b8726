// The storage port: what the broker persists and how it reads it back at start-up.
// The broker keeps live state in memory and describes every durable change as a StoreOp; a store
// applies a batch of ops atomically and resolves only once they are durable, so an acknowledgement
// sent after `apply` resolves is never lost. QoS 0 traffic and clean sessions produce no ops.
import type { ProtocolVersion, QoS } from '../protocol/constants.js';
import type { Properties } from '../protocol/packets.js';

/** An application message as stored: kept once, referenced by any number of queue entries. */
export interface StoredMessage {
  /** Unique within the broker (or cluster); assigned by the broker. */
  id: string;
  topic: string;
  payload: Buffer;
  /** QoS the message was published with. */
  qos: QoS;
  retain: boolean;
  /** MQTT 5 properties to forward (never topicAlias or subscriptionIdentifiers). */
  properties?: Properties;
  /** Milliseconds since the epoch when the broker received it. */
  createdAt: number;
  /** Milliseconds since the epoch after which it must not be delivered (Message Expiry Interval). */
  expiresAt?: number;
  /** Client id of the publisher, for No Local. */
  publisherId?: string;
}

export interface WillRecord {
  message: StoredMessage;
  /** Will Delay Interval in seconds (MQTT 5), 0 otherwise. */
  delayInterval: number;
}

export interface SessionRecord {
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** Session Expiry Interval in seconds; 0xFFFFFFFF never expires. */
  expiryInterval: number;
  /** Milliseconds since the epoch when the client went away; absent while connected. */
  disconnectedAt?: number;
  /** The will, kept while it may still have to be published. */
  will?: WillRecord;
  /**
   * Cluster durable mode: the highest sequence of the cluster's message stream routed to this
   * session, so a message the stream gives again (after a node loss or a move) is not queued twice.
   */
  streamSeq?: number;
}

export interface SubscriptionRecord {
  /** The filter as the client sent it, including any `$share/group/` prefix. */
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

/**
 * One delivery owed to a session, in order of `seq`.
 * queued: not yet sent; inflight: PUBLISH sent, awaiting PUBACK/PUBREC;
 * released: PUBREC received and PUBREL sent, awaiting PUBCOMP (the payload is no longer needed).
 */
export interface QueueEntry {
  seq: number;
  messageId: string;
  qos: QoS;
  /** The RETAIN flag as it is to be delivered. */
  retain: boolean;
  subscriptionIds?: number[];
  state: 'queued' | 'inflight' | 'released';
  packetId?: number;
}

export type StoreOp =
  | { op: 'session.put'; session: SessionRecord }
  /** Removes the session with its subscriptions, queue entries and inbound packet ids. */
  | { op: 'session.delete'; clientId: string }
  | { op: 'subscription.put'; clientId: string; subscription: SubscriptionRecord }
  | { op: 'subscription.delete'; clientId: string; filter: string }
  /** A message body; removed by the store once no queue entry refers to it. */
  | { op: 'message.put'; message: StoredMessage }
  /** Insert or replace the entry with this seq. */
  | { op: 'queue.put'; clientId: string; entry: QueueEntry }
  | { op: 'queue.delete'; clientId: string; seq: number }
  /** Inbound QoS 2: PUBREC sent, awaiting PUBREL; guards exactly-once across restarts. */
  | { op: 'inbound.put'; clientId: string; packetId: number }
  | { op: 'inbound.delete'; clientId: string; packetId: number }
  | { op: 'retained.put'; message: StoredMessage }
  | { op: 'retained.delete'; topic: string };

export type StoreOpName = StoreOp['op'];

export interface StoredSessionState {
  session: SessionRecord;
  subscriptions: SubscriptionRecord[];
  /** Ordered by seq. */
  queue: QueueEntry[];
  inbound: number[];
}

export interface StoreSnapshot {
  sessions: StoredSessionState[];
  /** Every message some queue entry refers to, by id. */
  messages: Map<string, StoredMessage>;
  retained: StoredMessage[];
}

export interface Store {
  /** True when state survives a process restart. */
  readonly durable: boolean;
  /**
   * True when the store keeps nothing at all (persistence=memory: VolatileStore), so the broker need
   * not describe queued messages to it: its own memory is the only copy.
   */
  readonly keepsNothing?: boolean;
  /** Opens the store and returns everything needed to recover; throws on a corrupt store. */
  open(): Promise<StoreSnapshot>;
  /** Applies the ops in order, atomically; resolves once they are durable. */
  apply(ops: readonly StoreOp[]): Promise<void>;
  close(): Promise<void>;
}
