// MQTT 5 enhanced authentication [MQTT-4.12]: a named method (e.g. SCRAM-SHA-256) runs a
// challenge/response conversation carried by CONNECT, AUTH and CONNACK packets.
import type { ClientGrants, ClientInfo } from './hooks.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

export type AuthStep =
  /** Send AUTH 0x18 (Continue authentication) with this data and wait for the client. */
  | { kind: 'continue'; data?: Buffer }
  /** Authenticated; `data` goes back in CONNACK (or AUTH 0x00 on re-authentication). */
  | {
      kind: 'success';
      data?: Buffer;
      username?: string;
      /**
       * When these credentials stop being valid (ms since the epoch); the connection is closed then
       * unless a re-authentication renews them. Absent: they do not expire.
       */
      expiresAt?: number;
      /** Topic grants the credentials carry (a token's `acl` claim); absent: none. */
      grants?: ClientGrants;
    }
  /** Refused with this reason code (default 0x87 Not authorized). */
  | { kind: 'failure'; reasonCode?: number; reason?: string };

/** One authentication exchange with one client. */
export interface AuthConversation {
  /** Called with CONNECT's (or AUTH's) Authentication Data, then with each AUTH's data. */
  step(data: Buffer | undefined): MaybePromise<AuthStep>;
  /**
   * The user name the client claims, once a step has read it (unverified): failures are counted
   * against it as well as against the address.
   */
  readonly user?: string;
}

export interface EnhancedAuthenticator {
  /** The Authentication Method this authenticator answers to. */
  readonly method: string;
  start(client: ClientInfo): AuthConversation;
}
