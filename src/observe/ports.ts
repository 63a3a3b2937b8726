// What observation ($SYS, /metrics, the admin API) reads from the rest of the server. These are
// adapters, not imports: the Broker of src/broker/broker.ts satisfies BrokerView as it is, and the
// server implements ConnectionsView over its open connections. Keeping observe/ on interfaces lets
// it be tested with plain objects and keeps it out of the broker's dependency graph.
import type { StoredMessage, SubscriptionRecord } from '../store/ports.js';
import type { ListenerInfo, TransportKind } from '../transport/transport.js';
import type { TopicLimits } from '../channel/topic-rules.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

/** The counters of src/broker/stats.ts that observation reads. All are totals since start. */
export interface StatsView {
  /** Milliseconds since the epoch when the broker started. */
  readonly startedAt: number;
  /** Packets of any type received from clients (Mosquitto's messages/received). */
  readonly messagesReceived: number;
  readonly messagesSent: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** PUBLISH packets received from clients. */
  readonly publishReceived: number;
  /** PUBLISH packets sent to clients. */
  readonly publishSent: number;
  readonly willsPublished: number;
  /** Connections that completed CONNECT. */
  readonly connectionsTotal: number;
  readonly authFailures: number;
  /** Connections refused at accept time (maxConnections, per-address limits), when counted. */
  readonly connectionsRefused?: number;
  /** Connections closed because their outgoing buffer stayed full, when counted. */
  readonly slowConsumersDisconnected?: number;
  /** Connections ended because something threw while serving them, when counted. */
  readonly connectionFaults?: number;
  /** Times each configured limit acted (src/broker/stats.ts LimitReason), when counted. */
  readonly limits?: Readonly<Record<string, number>>;
  /** Messages dropped, by reason (queueFull, expired, retainedLimit, tooLarge, ...). */
  readonly drops: Readonly<Record<string, number>>;
}

/** What observation reads from one session (src/session/session.ts Session). */
export interface SessionView {
  readonly clientId: string;
  readonly online: boolean;
  readonly protocolVersion: number;
  /** Entries waiting for room in the in-flight window. */
  readonly queuedCount: number;
  /** Entries sent and not yet acknowledged. */
  readonly inflight: { readonly size: number };
  readonly subscriptions: ReadonlyMap<string, SubscriptionRecord>;
}

/** The retained messages (src/router/retained.ts RetainedIndex). */
export interface RetainedView {
  /** Bytes held, counted against maxRetainedBytes (topic + payload + properties). */
  readonly bytes: number;
  readonly size: number;
  get(topic: string): StoredMessage | undefined;
  /** Unexpired retained messages matching a topic filter. */
  match(filter: string, now: number): StoredMessage[];
}

/** A node's view of its cluster (src/cluster/nats/link.ts NatsClusterLink satisfies it). */
export interface ClusterView {
  readonly nodeId: string;
  /** Live node ids, this one included, sorted. */
  members(): string[];
  /** Live nodes of another cluster protocol version (another Starling version), sorted. */
  incompatible?(): string[];
  /** Totals since start: forwarded, received, duplicates, publishErrors, ... (LinkCounters). */
  readonly counters: object;
  /** Retained writes to the cluster's JetStream bucket that failed for good or were dropped waiting. */
  readonly state?: { readonly retainedWriteFailures: number };
}

/** The broker as observation sees it. src/broker/broker.ts `Broker` satisfies this unchanged. */
export interface BrokerView {
  /** Set when the node is part of a cluster. */
  readonly cluster?: ClusterView;
  /**
   * workers=N only: the counters of the hub in the primary (cluster/workers/ipc-hub.ts HubCounters),
   * as this worker last heard them. Every worker has the same copy, so /metrics takes them from the
   * primary instead.
   */
  readonly workersHub?: () => Readonly<Record<string, number>>;
  readonly stats: StatsView;
  /** Connections that own a client id. */
  readonly clients: { readonly size: number };
  /** Every session, connected or not. */
  readonly sessions: ReadonlyMap<string, SessionView>;
  readonly retained: RetainedView;
  /** Bytes all sessions' queues and in-flight windows hold together (against maxQueuedBytesTotal), when counted. */
  readonly queuedBytes?: () => number;
  /** Bytes of client ids, filters and wills all sessions hold (against maxSessionBytesTotal), when counted. */
  readonly sessionStateBytes?: () => number;
  readonly ids: { next(): string };
  now(): number;
  /**
   * Routes a message exactly like one received from a client: retain, match, enqueue, persist.
   * A Promise when a durable write must finish first.
   */
  route(message: StoredMessage): MaybePromise<number>;
}

/** The $SYS publisher needs only the broker view. */
export type SysSource = BrokerView;

/** One connected client, as the admin API and /metrics show it. */
export interface ClientView {
  clientId: string;
  username?: string;
  /** Remote address (X-Forwarded-For when the listener trusts it). */
  address: string;
  remotePort?: number;
  /** 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
  protocolVersion: 3 | 4 | 5;
  transport: TransportKind;
  /** The listener URL as configured, e.g. `ws://0.0.0.0:8083` (the /metrics label). */
  listener: string;
  /**
   * The URL a client dials to reach that listener, as /console.json and the startup lines list it,
   * e.g. `ws://127.0.0.1:8083/mqtt`; the configured URL for a stream the application handed over.
   */
  listenerUrl: string;
  /** Milliseconds since the epoch when CONNACK was sent. */
  connectedAt: number;
}

/** What the server knows about connections; implemented by the server over its Connection set. */
export interface ConnectionsView {
  /** Connections whose CONNECT completed (channel state `connected`). */
  connectedClients(): Iterable<ClientView>;
  /**
   * Closes the connection that owns `clientId`: an MQTT 5 client is first sent DISCONNECT 0x98
   * (Administrative action); the will is published as for any server-side close [MQTT-3.1.2-8].
   * False when no connected client has that id.
   */
  kick(clientId: string): boolean;
  /** The open listeners. */
  listeners(): readonly ListenerInfo[];
}

/** The admin API reads and acts on both. */
export type AdminSource = BrokerView &
  ConnectionsView & {
    /** The limits a PUBLISH meets, which the admin API's publish and delete meet too. */
    readonly options: TopicLimits & { readonly maxPacketSize: number };
  };

/** /metrics reads the broker and, for connections by listener and protocol, the connections. */
export type MetricsSource = Omit<BrokerView, 'route' | 'ids'> & Partial<Pick<ConnectionsView, 'connectedClients'>>;

/** The subset of a pino logger observation writes to. */
export interface LogView {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Human name of a protocol level, as used in labels and JSON. */
export function protocolName(version: number): string {
  return version === 5 ? '5.0' : version === 4 ? '3.1.1' : version === 3 ? '3.1' : String(version);
}

/** Admin users of the admin API (src/auth/admin-users.ts): checks a password from HTTP Basic. */
export interface AdminUserCheck {
  /**
   * Whether the password is right and, if so, whether the user may administer. `remoteAddress`
   * lets the check slow down guessing from one address (the MQTT login throttle's budget).
   */
  check(user: string, password: string, remoteAddress?: string): Promise<'admin' | 'not-admin' | 'bad-credentials' | 'busy'>;
}
