// Named hook points where behaviour is decided from outside the broker core: who may connect,
// publish and subscribe. Each is one function, not a growing interface; the defaults allow all.
import type { ConnectPacket, PublishPacket, UserProperty } from '../protocol/packets.js';
import type { QoS } from '../protocol/constants.js';
import type { StoredMessage, SubscriptionRecord } from '../store/ports.js';
import type { PeerIdentity, ListenerInfo } from '../transport/transport.js';
import type { EnhancedAuthenticator } from './enhanced-auth.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

/**
 * Topic grants carried by the client's own credentials (e.g. a JWT's `acl` claim), set by
 * authentication and read by the authorize hooks. Entries are topic filters.
 */
export interface ClientGrants {
  /** Filters the client may publish to. */
  readonly publish: readonly string[];
  /** Filters the client may subscribe to (and so receive from). */
  readonly subscribe: readonly string[];
  /** Filters refused for both directions, whatever else grants them. */
  readonly deny: readonly string[];
}

export interface ClientInfo {
  clientId: string;
  /** The CONNECT user name, replaced by authentication with the verified identity when there is one. */
  username?: string;
  remoteAddress: string;
  listener: ListenerInfo;
  peer?: PeerIdentity;
  /** Set by authentication when the credentials carry their own topic grants. */
  grants?: ClientGrants;
  /** When the credentials stop being valid (ms since the epoch), e.g. a token's `exp`. */
  credentialsExpireAt?: number;
}

/** An MQTT 5 reason code: 0x00 allows; 0x86/0x87/0x8C… refuse. */
export type Decision = number;

/**
 * A decision with words for the client: the Reason String and User Properties go on the PUBACK,
 * PUBREC or SUBACK that carries the decision (MQTT 5 only; left out when the client asked for no
 * problem information or when they would make the packet larger than the client accepts).
 */
export interface Verdict {
  code: Decision;
  reasonString?: string;
  userProperties?: UserProperty[];
  /** authorizeSubscribe only: the QoS granted instead of the one asked for (never higher). */
  qos?: QoS;
}

/** Why a connection ended, as the broker tells the `disconnected` notification. */
export type DisconnectReason = 'normal' | 'abnormal' | 'takenOver';

/** Why a message did not reach a subscriber (or was not routed at all). */
export type DropReason = 'queueFull' | 'queueRefused' | 'queueBudget' | 'expired' | 'slowConsumer' | 'tooLarge' | 'notAuthorized' | 'retainedLimit' | 'intercepted' | 'backPressureTimeout' | 'sessionEnded';

/**
 * Notifications (the library's, src/api/hooks.ts): told after the fact, never asked. Each is absent
 * unless set, and every call site tests for it, so an unset one costs nothing on the paths it sits on.
 */
export interface BrokerNotifications {
  connected(client: ClientInfo): void;
  disconnected(client: ClientInfo, reason: DisconnectReason): void;
  subscribed(client: ClientInfo, subscriptions: readonly SubscriptionRecord[]): void;
  unsubscribed(client: ClientInfo, filters: readonly string[]): void;
  /** QoS 0: written to the client's connection; QoS 1/2: acknowledged by the client (PUBACK / PUBCOMP). */
  delivered(clientId: string, message: StoredMessage, qos: QoS): void;
  /** `clientId`: the subscriber that lost it, when there is one. */
  dropped(reason: DropReason, message: StoredMessage | undefined, clientId: string | undefined): void;
}

export interface BrokerHooks {
  /** Decides a CONNECT; may be async (password files, tokens). */
  authenticate(client: ClientInfo, packet: ConnectPacket): MaybePromise<Decision>;
  /**
   * Decides whether the client may publish to the topic (`packet`: the PUBLISH, absent for a will).
   * The configured ACL answers at once; a library hook may answer later (a Promise holds this
   * client's later packets until it settles, as a store write does).
   */
  authorizePublish(client: ClientInfo, topic: string, packet?: PublishPacket): MaybePromise<Decision | Verdict>;
  /**
   * Decides whether the client may subscribe to the filter (`qos`: the QoS asked for). A Verdict's
   * `qos` grants less. A Promise answer is awaited at SUBSCRIBE; when a session is re-checked
   * (src/broker/reauthorize.ts) only answers given at once count.
   */
  authorizeSubscribe(client: ClientInfo, filter: string, qos?: QoS): MaybePromise<Decision | Verdict>;
  /**
   * Sees each message a client publishes, after authorization and before routing: returns it (or a
   * changed copy) to route, null to drop it, or a reason code to refuse it with (0x83 when the
   * application's rule failed). Absent unless the library sets one.
   */
  interceptPublish?(client: ClientInfo, message: StoredMessage): MaybePromise<StoredMessage | null | Decision>;
  /** Notifications, absent unless set. */
  notify?: Partial<BrokerNotifications>;
  /**
   * Whether a message on `topic` may go to the client. Not asked per delivery (SUBSCRIBE is judged
   * whole): asked for what a session already holds when it changes hands or the rules change.
   */
  authorizeRead(client: ClientInfo, topic: string): Decision;
  /** MQTT 5 enhanced authentication methods offered, by Authentication Method name. */
  authenticators: readonly EnhancedAuthenticator[];
  /**
   * The client's connection ended, or an offline session's identity was used for a re-check: what
   * the hooks cache for it (the ACL's compiled rules and decisions) can go. The session registry
   * keeps an offline session's identity for later re-checks, so anything kept by identity would
   * otherwise live as long as the session.
   */
  release?(client: ClientInfo): void;
}

/**
 * `$SYS/#` belongs to the broker: dashboards and the console read it, so a client must not write it
 * unless an ACL rule names a `$SYS` topic explicitly (the ACL decides then). The broker's own $SYS
 * publisher does not pass through the hooks.
 */
export const isSysTopic = (topic: string): boolean => topic.startsWith('$SYS') && (topic.length === 4 || topic[4] === '/');

export const allowAll: BrokerHooks = {
  authenticate: () => 0,
  // 0x87 Not authorized: read-only for clients when no rules say otherwise.
  authorizePublish: (_client, topic) => (isSysTopic(topic) ? 0x87 : 0),
  authorizeSubscribe: () => 0,
  authorizeRead: () => 0,
  authenticators: [],
};

/** The reason code of a hook's answer, whichever form it took. */
export const codeOf = (d: Decision | Verdict): Decision => (typeof d === 'number' ? d : d.code);
