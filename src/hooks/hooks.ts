// Named hook points where behaviour is decided from outside the broker core: who may connect,
// publish and subscribe. Each is one function, not a growing interface; the defaults allow all.
import type { ConnectPacket, UserProperty } from '../protocol/packets.js';
import type { PeerIdentity, ListenerInfo } from '../transport/transport.js';
import type { EnhancedAuthenticator } from './enhanced-auth.js';

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
}

export interface BrokerHooks {
  /** Decides a CONNECT; may be async (password files, tokens). */
  authenticate(client: ClientInfo, packet: ConnectPacket): Decision | Promise<Decision>;
  /** Decides whether the client may publish to the topic. Synchronous: on the publish hot path. */
  authorizePublish(client: ClientInfo, topic: string): Decision | Verdict;
  /** Decides whether the client may subscribe to the filter. */
  authorizeSubscribe(client: ClientInfo, filter: string): Decision | Verdict;
  /**
   * Whether a message on `topic` may go to the client. Not asked per delivery (SUBSCRIBE is judged
   * whole): asked for what a session already holds when it changes hands or the rules change.
   */
  authorizeRead(client: ClientInfo, topic: string): Decision;
  /** MQTT 5 enhanced authentication methods offered, by Authentication Method name. */
  authenticators: readonly EnhancedAuthenticator[];
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
