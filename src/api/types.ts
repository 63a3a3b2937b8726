// The public types of the library (exported from src/index.ts). This surface follows semver; the
// internal types it is mapped from (src/hooks/hooks.ts, src/store/ports.ts) may change freely.
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ListenerScheme } from '../transport/kinds.js';
import type { ClientRow, SessionRow, SubscriptionRow } from '../observe/introspect.js';

export type QoS = 0 | 1 | 2;

/** A value, or a Promise of it: every hook may be async. */
export type Awaitable<T> = T | Promise<T>;

/** MQTT 5 message properties a publisher sets and subscribers receive. */
export interface MessageProperties {
  /** 1: the payload is UTF-8 text (checked, as for MQTT clients). */
  payloadFormatIndicator?: 0 | 1;
  /** Seconds the message may wait for a subscriber before it is dropped. */
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Array<[key: string, value: string]>;
}

/** A message as hooks, handlers and introspection see it. */
export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: MessageProperties;
}

/** A connected (or connecting) MQTT client. */
export interface Client {
  clientId: string;
  /** The CONNECT user name, or the identity a configured authentication verified. */
  username?: string;
  /** Remote address (X-Forwarded-For where the listener trusts it). */
  remoteAddress: string;
  /** URL of the listener or attached endpoint the client came through (`stream:` for `handle`). */
  listener: string;
}

/** What a client presented at CONNECT. */
export interface Credentials {
  username?: string;
  password?: Buffer;
  /** 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
  protocolVersion: 3 | 4 | 5;
  /** Clean Session (3.x) / Clean Start (5.0). */
  clean: boolean;
}

/** Refuses with an MQTT 5 reason code (0x80 or above); 3.x clients get the nearest 3.x code. */
export interface Refusal {
  reasonCode: number;
  /** Sent to MQTT 5 clients that accept problem information (authorize hooks only). */
  reasonString?: string;
}

/** `true` allows; `false` refuses with 0x86 Bad user name or password. */
export type AuthenticateResult = boolean | Pick<Refusal, 'reasonCode'>;
/** `true` allows; `false` refuses with 0x87 Not authorized. */
export type AuthorizePublishResult = boolean | Refusal;
/** As AuthorizePublishResult; `{ qos }` allows with that QoS granted (never more than asked). */
export type AuthorizeSubscribeResult = boolean | Refusal | { qos: QoS };

export interface Subscription {
  filter: string;
  qos: QoS;
}

/** Why a connection ended. */
export type DisconnectReason =
  /** The client sent DISCONNECT (its will is discarded). */
  | 'normal'
  /** Network loss, keep-alive timeout, protocol error, a refused operation, the broker closing or a kick. */
  | 'abnormal'
  /** Another connection took over the client id. */
  | 'takenOver';

/** Why a message was dropped. */
export type DropReason = 'queueFull' | 'queueRefused' | 'queueBudget' | 'expired' | 'slowConsumer' | 'tooLarge' | 'notAuthorized' | 'retainedLimit' | 'intercepted' | 'backPressureTimeout' | 'sessionEnded';

export interface DroppedMessage {
  reason: DropReason;
  message?: Message;
  /** The subscriber that lost it; absent when the message was not routed at all. */
  clientId?: string;
}

/**
 * Hooks: async functions the broker calls, each only when set. A hook that throws, rejects or takes
 * longer than `hookTimeoutMs` refuses that operation with 0x83 Implementation specific error (a
 * connection refused at CONNECT, a publish or subscription refused) and is logged; notifications
 * that fail are only logged.
 */
export interface Hooks {
  /** Decides a CONNECT, after any configured authentication allowed it. */
  authenticate?(client: Client, credentials: Credentials): Awaitable<AuthenticateResult>;
  /** Decides each PUBLISH from a client (and its will at CONNECT), after any configured ACL allowed it. */
  authorizePublish?(client: Client, message: Message): Awaitable<AuthorizePublishResult>;
  /** Decides each filter of a SUBSCRIBE, after any configured ACL allowed it. */
  authorizeSubscribe?(client: Client, subscription: Subscription): Awaitable<AuthorizeSubscribeResult>;
  /**
   * Sees each message a client publishes, once authorized, before it is routed: return it unchanged
   * (or nothing), a changed message to route instead, or `null` to drop it. The publisher's
   * acknowledgement waits for it.
   */
  interceptPublish?(client: Client, message: Message): Awaitable<Message | null | undefined | void>;
  clientConnected?(client: Client): Awaitable<void>;
  clientDisconnected?(client: Client, reason: DisconnectReason): Awaitable<void>;
  subscribed?(client: Client, subscriptions: Subscription[]): Awaitable<void>;
  unsubscribed?(client: Client, filters: string[]): Awaitable<void>;
  /** QoS 0: written to the subscriber's connection; QoS 1/2: acknowledged by the subscriber. */
  messageDelivered?(clientId: string, message: Message): Awaitable<void>;
  messageDropped?(dropped: DroppedMessage): Awaitable<void>;
}

/**
 * A configuration setting as createBroker takes it: its typed value (`maxQueuedMessages: 500`,
 * `mqttListeners: ['mqtt://127.0.0.1:0']`), or the text the configuration file would hold.
 */
export type Settings = { [K in keyof Config]?: Config[K] | string };

export interface BrokerOptions extends Settings {
  hooks?: Hooks;
  /** Milliseconds a hook may take before its operation is refused with 0x83; default 5000. */
  hookTimeoutMs?: number;
  /** A pino logger; default one made from logLevel and logFormat, as `starling start` makes it. */
  logger?: Logger;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  properties?: MessageProperties;
}

export type MessageHandler = (message: Message) => void | Promise<void>;

/** An endpoint the broker accepts clients on. */
export interface Listener {
  /** e.g. `ws://127.0.0.1:8083`; port 0 is replaced by the bound port. */
  url: string;
  scheme: ListenerScheme;
  host: string;
  port: number;
  /** WebSocket listeners: the HTTP path of the MQTT endpoint. */
  path?: string;
}

export interface AttachOptions {
  /** HTTP path of the MQTT endpoint; default the configured webSocketPath (`/mqtt`). */
  path?: string;
}

/**
 * A connected client, as GET /api/v1/clients shows it: clientId, username?, address, remotePort?,
 * protocolVersion, protocol ('3.1' | '3.1.1' | '5.0'), transport, listener, connectedAt (ISO 8601),
 * inflight, queued, subscriptions. One definition for both (src/observe/introspect.ts).
 */
export type ClientSummary = ClientRow;

/** A session, connected or not: clientId, online, protocolVersion, inflight, queued, subscriptions. */
export type SessionSummary = SessionRow;

/**
 * A subscription, as GET /api/v1/subscriptions shows it: clientId, online, filter, qos, noLocal,
 * retainAsPublished, retainHandling, subscriptionId?.
 */
export type SubscriptionSummary = SubscriptionRow;

/** A retained message. */
export interface RetainedMessage extends Message {
  /** When the broker received it. */
  receivedAt: Date;
  /** When it expires, if it does. */
  expiresAt?: Date;
}

/** Where a connection handed to `handle` came from, for logs, limits and introspection. */
export interface StreamInfo {
  remoteAddress?: string;
  remotePort?: number;
}

/** A running broker, made by createBroker. */
export interface Broker {
  /** The open listeners (empty before `listen()`). */
  readonly listeners: Listener[];
  /** Opens the configured listeners (mqttListeners; none when it is empty); resolves when all are bound. */
  listen(): Promise<Listener[]>;
  /**
   * Serves MQTT over WebSocket at `path` on the application's HTTP(S) server, beside its routes.
   * Upgrades for other paths are left to the application. Returns a function that removes the
   * endpoint (connections made through it stay open until they end or the broker closes).
   */
  attachWebSocket(server: HttpServer | HttpsServer, options?: AttachOptions): () => void;
  /** Serves one MQTT connection over any Duplex stream (the connection limits apply). */
  handle(stream: Duplex, info?: StreamInfo): void;
  /**
   * Publishes as a trusted local client (no ACL, no authorize hook, no interceptor); the topic is
   * checked as an MQTT PUBLISH's would be (a TypeError says what is wrong). Resolves once routed,
   * and stored where QoS and sessions make that necessary (when a client's PUBACK would be sent).
   */
  publish(topic: string, payload: Buffer | Uint8Array | string, options?: PublishOptions): Promise<void>;
  /**
   * Subscribes a handler as a trusted local client (no ACL, no authorize hook): called for each
   * matching message, in order, after the matching retained messages; the message's QoS is capped
   * by `qos` (default 2). Returns the function that ends the subscription.
   */
  subscribe(filter: string, handler: MessageHandler, options?: { qos?: QoS }): () => void;
  /**
   * Closes the connection of `clientId`, as the admin API's kick does: an MQTT 5 client is told
   * DISCONNECT 0x98 Administrative action, and its will is published. False when it is not connected.
   */
  disconnect(clientId: string): boolean;
  /** Connected clients, as GET /api/v1/clients lists them (by client id). */
  clients(): ClientSummary[];
  /** Every session, connected or not (by client id). */
  sessions(): SessionSummary[];
  /** Subscriptions of every session, or of one client, as GET /api/v1/subscriptions lists them. */
  subscriptions(clientId?: string): SubscriptionSummary[];
  /** Unexpired retained messages matching `filter` (default `#`), by topic. */
  retained(filter?: string): RetainedMessage[];
  /**
   * Stops: no new connections, attached endpoints removed, in-process subscriptions ended, MQTT 5
   * clients told (DISCONNECT 0x8B Server shutting down), every store write finished, store closed.
   */
  close(): Promise<void>;
}
