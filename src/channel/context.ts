// What the channel needs from the rest of the broker. The broker implements it; the channel
// never imports the broker, so the protocol state machine can be driven by any implementation.
import type { Logger } from 'pino';
import type { ConnectPacket } from '../protocol/packets.js';
import type { Session, SessionOutlet } from '../session/session.js';
import type { MessageIds } from '../session/message.js';
import type { StoredMessage, StoreOp, SubscriptionRecord, WillRecord } from '../store/ports.js';
import type { BrokerHooks, ClientInfo } from '../hooks/hooks.js';
import type { Outgoing } from '../session/outgoing.js';
import type { PublishCache } from './publish-cache.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

/** A connection as the broker sees it. */
export interface BrokerClient {
  readonly clientId: string;
  session?: Session;
  /**
   * Close this connection because another one connected with the same client id [MQTT-3.1.4-2].
   * `elsewhere`: the new connection is on another cluster node, so the session here goes offline.
   */
  takenOver(elsewhere?: boolean): void;
}

export interface ConnectRequest {
  clientId: string;
  protocolVersion: Session['protocolVersion'];
  /** Clean Session (3.x) / Clean Start (5.0). */
  clean: boolean;
  /** Session Expiry Interval in seconds. */
  expiryInterval: number;
  will?: WillRecord;
  /**
   * Who is connecting, as authenticated. A resumed session is re-authorized against it: the session
   * is found by client id alone, and what it holds was granted to whoever held it before.
   */
  identity?: ClientInfo;
}

export type DisconnectKind =
  /** DISCONNECT 0x00: the will is discarded [MQTT-3.1.2-10]. */
  | 'normal'
  /** DISCONNECT 0x04, network failure, keepalive timeout, protocol error: the will is published. */
  | 'abnormal'
  /** Another connection took the client id; the session lives on in the new connection. */
  | 'takenOver';

/** Counters the channel moves. */
export interface ChannelStats {
  publishReceived: number;
  publishSent: number;
  /** Packets of any type sent. */
  messagesSent: number;
  bytesSent: number;
  connectionsTotal: number;
  authFailures: number;
  /** Connections ended by the fault barrier: something threw while serving them. */
  connectionFaults: number;
  dropped(reason: 'tooLarge' | 'notAuthorized' | 'slowConsumer' | 'topicLimit'): void;
  /** A configured limit refused something of this client (counted for /metrics). */
  limitHit(
    reason:
      | 'maxSubscriptions'
      | 'maxSessionBytesTotal'
      | 'subscribeTopicLimit'
      | 'receiveMaximum'
      | 'maxInflightMessages'
      | 'connackTooLarge'
      | 'topicAliasMaximum'
      | 'maxUserProperties'
      | 'maxClientMemory',
  ): void;
}

/** Limits the channel enforces and advertises. */
export interface ChannelLimits {
  maxPacketSize: number;
  /** Receive Maximum advertised in CONNACK and enforced on inbound QoS 1/2 (0x93). */
  receiveMaximum: number;
  maxKeepAlive: number;
  maxTopicLength: number;
  maxTopicLevels: number;
  maxSubscriptionsPerClient: number;
  maxOutgoingBytes: number;
  /** Topic Alias Maximum granted in CONNACK: aliases the client may set towards us (0 = none). */
  topicAliasMaximum: number;
  /** Most aliases we assign towards one client (also capped by its own Topic Alias Maximum). */
  maxOutgoingTopicAliases: number;
  /** Most User Properties, and most bytes of them, in one packet from a client (0x97 beyond). */
  maxUserProperties: number;
  maxUserPropertyBytes: number;
  /** Memory budget of one connection: aliases both ways, a partial packet, the backlog (0x97 beyond). */
  maxClientMemory: number;
  responseInformation: string;
}

/** What a client's PUBLISH adds to routing its message (wills, $SYS and the admin API pass none). */
export interface RouteOptions {
  /** Store ops written in the message's batch (the inbound QoS 2 id). */
  extraOps?: StoreOp[];
  /** A client's QoS 1/2 PUBLISH: it can wait, so a subscriber's full queue may hold its acknowledgement. */
  holdPublisher?: boolean;
}

export interface ChannelContext {
  readonly log: Logger;
  readonly hooks: BrokerHooks;
  readonly stats: ChannelStats;
  readonly options: ChannelLimits;
  readonly ids: MessageIds;
  /** Shared encodings of the message being fanned out. */
  readonly publishCache: PublishCache;
  now(): number;

  connect(client: BrokerClient, req: ConnectRequest): Promise<{ session: Session; sessionPresent: boolean }>;
  attach(session: Session, outlet: SessionOutlet, receiveMaximum: number): void;
  disconnected(client: BrokerClient, kind: DisconnectKind): void;
  setExpiry(session: Session, seconds: number): void;
  willFor(clientId: string, will: NonNullable<ConnectPacket['will']>): WillRecord;

  /**
   * Routes a message; a Promise when a durable write gates the acknowledgement, or (`holdPublisher`)
   * when a subscriber's full queue holds the publisher (backPressure).
   */
  route(message: StoredMessage, options?: RouteOptions): MaybePromise<number>;
  /** A full queue holds some publisher now (backPressure): PUBLISHes are then handled one at a time. */
  readonly publishersHeld?: boolean;
  subscribe(session: Session, subs: SubscriptionRecord[]): MaybePromise<boolean[]>;
  deliverRetained(session: Session, sub: SubscriptionRecord, isNew: boolean): void;
  unsubscribe(session: Session, filters: string[]): MaybePromise<boolean[]>;

  completed(session: Session, packetId: number, kind: 'puback' | 'pubcomp'): boolean;
  received(session: Session, packetId: number): MaybePromise<Outgoing | undefined>;
  discard(session: Session, packetId: number): void;
  inboundCompleted(session: Session, packetId: number): MaybePromise<boolean>;
}
