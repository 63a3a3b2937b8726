// The messages between the benchmark's parent process and its load-generator workers (IPC over
// child_process.fork). Every command carries an id; the worker answers each with a Reply.
import type { QoS } from '../../src/protocol/constants.js';
import type { Target } from './conn.js';
import type { HistogramData } from './histogram.js';

/** A range of clients a worker owns: clients `first .. first+count-1` (global numbering). */
export interface GroupSpec {
  target: Target;
  first: number;
  count: number;
  /** Client id = prefix + global index. */
  clientIdPrefix: string;
  clean: boolean;
  keepalive: number;
  /** 4 (MQTT 3.1.1, the default) or 5; a persistent MQTT 5 client asks for a session that never expires. */
  protocolVersion?: 4 | 5;
  /** `{i}` in a filter or topic is replaced by the client's global index. */
  subscribe?: { filter: string; qos: QoS };
  publish?: { topic: string; qos: QoS; payloadSize: number };
  /** Source addresses to spread connections over (127.0.0.x), so no one address runs out of ports. */
  localAddresses?: string[];
  /** Handshakes (TCP/WS connect + CONNECT/CONNACK + SUBSCRIBE/SUBACK) in progress at once. */
  concurrency: number;
}

export interface PublishPlan {
  /** max: as fast as the transport takes it; rate: `rate` msgs/s from this worker; count: `count` per client, then stop. */
  mode: 'max' | 'rate' | 'count';
  rate?: number;
  count?: number;
  /** QoS 1: unacknowledged PUBLISHes allowed per client. */
  window: number;
  /** Messages per write (one syscall / one WebSocket frame). */
  batch: number;
  /**
   * max mode, closed loop: deliveries sent but not yet received by this worker's own subscribers
   * that may be outstanding at once. Unset: no limit (the subscribers are elsewhere or offline).
   */
  outstanding?: number;
  /** Deliveries per message that this worker's subscribers receive (fan-out: its subscriber count). */
  copies?: number;
}

export type Command =
  | { op: 'connect'; group: GroupSpec }
  | { op: 'publish'; plan: PublishPlan }
  /** Starts a measurement window: zeroes the window counters and the latency histogram. */
  | { op: 'reset' }
  /** Ends a measurement window. */
  | { op: 'snapshot' }
  /** Stops publishing (in-flight QoS 1 messages still complete). */
  | { op: 'stop' }
  | { op: 'counts' }
  /** Sends DISCONNECT and closes every client, or those whose id starts with `prefix` (their state stays, for a reconnect). */
  | { op: 'disconnect'; prefix?: string }
  | { op: 'exit' };

export type Request = Command & { id: number };

export interface ConnectResult {
  connected: number;
  failed: number;
  firstError?: string;
  sessionPresent: number;
  ms: number;
}

export interface Snapshot {
  elapsedMs: number;
  received: number;
  sent: number;
  acked: number;
  latency: { buckets: HistogramData; max: number; sum: number };
}

export interface Counts {
  sent: number;
  acked: number;
  inflight: number;
  received: number;
  /** Received messages that repeated or went back in a publisher's sequence. */
  duplicates: number;
  /** Sequence numbers skipped: messages lost (for QoS 0 after overload, a drop). */
  gaps: number;
  /** Deliveries the closed loop wrote off after they stopped arriving (dropped by the broker). */
  forgiven: number;
  /** Connections the broker closed. */
  dropped: number;
  /** Clients with a subscription. */
  subscribers: number;
  /** Fewest distinct messages any subscribing client has received (meaningful when subscribers > 0). */
  minPerSubscriber: number;
  connected: number;
  /** count mode: every client has sent its count and (QoS 1) had it acknowledged. */
  done: boolean;
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
