// Named hook points where behaviour is decided from outside the broker core: who may connect,
// publish and subscribe. Each is one function, not a growing interface; the defaults allow all.
import type { ConnectPacket } from '../protocol/packets.js';
import type { PeerIdentity, ListenerInfo } from '../transport/transport.js';
import type { EnhancedAuthenticator } from './enhanced-auth.js';

export interface ClientInfo {
  clientId: string;
  username?: string;
  remoteAddress: string;
  listener: ListenerInfo;
  peer?: PeerIdentity;
}

/** An MQTT 5 reason code: 0x00 allows; 0x86/0x87/0x8C… refuse. */
export type Decision = number;

export interface BrokerHooks {
  /** Decides a CONNECT; may be async (password files, tokens). */
  authenticate(client: ClientInfo, packet: ConnectPacket): Decision | Promise<Decision>;
  /** Decides whether the client may publish to the topic. Synchronous: on the publish hot path. */
  authorizePublish(client: ClientInfo, topic: string): Decision;
  /** Decides whether the client may subscribe to the filter. */
  authorizeSubscribe(client: ClientInfo, filter: string): Decision;
  /** MQTT 5 enhanced authentication methods offered, by Authentication Method name. */
  authenticators: readonly EnhancedAuthenticator[];
}

export const allowAll: BrokerHooks = {
  authenticate: () => 0,
  authorizePublish: () => 0,
  authorizeSubscribe: () => 0,
  authenticators: [],
};
