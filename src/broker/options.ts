// What the broker layer is configured with; the server maps the user's Config onto this.
import type { Logger } from 'pino';
import type { QueueLimits } from '../session/session.js';
import type { Store } from '../store/ports.js';
import type { BrokerHooks } from '../hooks/hooks.js';
import type { RetainedSweepOptions } from './retained-sweep.js';

export interface BrokerOptions {
  store: Store;
  log: Logger;
  hooks?: Partial<BrokerHooks>;
  /** In-flight window towards a client (capped further by its Receive Maximum). */
  maxInflightMessages: number;
  /** Our Receive Maximum: unacknowledged QoS 1/2 PUBLISH an MQTT 5 client may have towards us. */
  receiveMaximum: number;
  queue: QueueLimits;
  /** backPressure: longest a publisher is held for one subscriber's full queue, ms (then its oldest are dropped). */
  backPressureTimeoutMs?: number;
  /** Most bytes all sessions' queues and in-flight windows hold together; 0 = no limit. */
  maxQueuedBytesTotal: number;
  /** Most sessions held at once, connected or not; a CONNECT that would add one is refused; 0 = no limit. */
  maxSessions: number;
  /** Most bytes of client ids, subscription filters and wills all sessions hold together; 0 = no limit. */
  maxSessionBytesTotal: number;
  /** Largest packet accepted from a client, bytes. */
  maxPacketSize: number;
  /** Largest keepalive granted, seconds; 0 = no cap. */
  maxKeepAlive: number;
  /** Most retained messages kept; a new topic beyond it is refused. */
  maxRetainedMessages: number;
  /** Most bytes of retained messages kept (topic + payload + properties); growth beyond it is refused; 0 = no limit. */
  maxRetainedBytes: number;
  /** Longest topic name or filter accepted, in characters. */
  maxTopicLength: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
  /** Most subscriptions one session may hold; 0 = no limit. */
  maxSubscriptionsPerClient: number;
  /** Bytes a client may have waiting in its outgoing buffer before QoS 0 is dropped and QoS 1/2 waits. */
  maxOutgoingBytes: number;
  /** Topic Alias Maximum granted to MQTT 5 clients (aliases they may set towards us); 0 = none. */
  topicAliasMaximum: number;
  /** Most topic aliases assigned towards one MQTT 5 client. */
  maxOutgoingTopicAliases: number;
  /** Most User Properties in one packet from a client, and most bytes of their names and values. */
  maxUserProperties: number;
  maxUserPropertyBytes: number;
  /** Memory budget of one connection, bytes (aliases, a partly received packet, the backlog). */
  maxClientMemory: number;
  /** Response Information for MQTT 5 clients that request it; `%c` = client id; empty = none. */
  responseInformation: string;
  /** How often, and how much at a time, expired retained messages are removed; tests shorten it. */
  retainedSweep?: RetainedSweepOptions;
  /** Milliseconds clock, injectable for tests. */
  now?: () => number;
}

export const defaultBrokerLimits = {
  maxInflightMessages: 100,
  receiveMaximum: 32,
  queue: { maxQueuedMessages: 1000, maxQueuedBytes: 64 * 1024 * 1024, overflow: 'backPressure' },
  backPressureTimeoutMs: 10_000,
  maxQueuedBytesTotal: 1024 * 1024 * 1024,
  maxSessions: 100_000,
  maxSessionBytesTotal: 256 * 1024 * 1024,
  maxPacketSize: 1024 * 1024,
  maxKeepAlive: 0,
  maxRetainedMessages: 1_000_000,
  maxRetainedBytes: 256 * 1024 * 1024,
  maxTopicLength: 65_535,
  maxTopicLevels: 128,
  maxSubscriptionsPerClient: 1000,
  maxOutgoingBytes: 8 * 1024 * 1024,
  topicAliasMaximum: 10,
  maxOutgoingTopicAliases: 10,
  maxUserProperties: 32,
  maxUserPropertyBytes: 8 * 1024,
  maxClientMemory: 8 * 1024 * 1024,
  responseInformation: '',
} satisfies Omit<BrokerOptions, 'store' | 'log'>;
