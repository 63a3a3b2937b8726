// What one authentication method (basic, token, mtls) says about a CONNECT, and how a list of them,
// tried in the configured order, becomes one decision.
import type { ClientGrants, ClientInfo, Decision } from '../hooks/hooks.js';
import type { ConnectPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

export type MethodOutcome =
  /**
   * The client is who it says. `username`: the verified identity to put on ClientInfo (a string),
   * `null` to remove the CONNECT user name (unverified, so it must not select ACL rules), or
   * undefined to keep it.
   */
  | { kind: 'pass'; username?: string | null; grants?: ClientGrants; expiresAt?: number }
  /** The CONNECT carries nothing this method can judge (e.g. no password, no certificate). */
  | { kind: 'skip' }
  /** Refused with an MQTT 5 reason code: 0x86 bad credentials, 0x87 not allowed, 0x8C misconfigured. */
  | { kind: 'fail'; code: number; reason: string };

export interface AuthMethod {
  readonly name: string;
  /** The method judges the CONNECT user name (basic), so its refusals count against that name. */
  readonly checksUsername?: boolean;
  check(client: ClientInfo, packet: ConnectPacket): MaybePromise<MethodOutcome>;
}

export const skip: MethodOutcome = { kind: 'skip' };
export const fail = (code: number, reason: string): MethodOutcome => ({ kind: 'fail', code, reason });

/**
 * Which refusal to report when no method passed: the most specific one. Credentials that were
 * checked and found wrong (0x86) say more than a method that could not run (0x8C), which says more
 * than nothing usable presented (0x87).
 */
const PRIORITY = [ReasonCode.BadUserNameOrPassword, ReasonCode.BadAuthenticationMethod, ReasonCode.NotAuthorized];

export function combineFailures(codes: readonly number[]): Decision {
  for (const code of PRIORITY) if (codes.includes(code)) return code;
  return codes[0] ?? ReasonCode.NotAuthorized;
}

/** Writes a passing outcome's identity onto the ClientInfo the authorize hooks will see. */
export function applyPass(client: ClientInfo, outcome: Extract<MethodOutcome, { kind: 'pass' }>): void {
  if (outcome.username === null) delete client.username;
  else if (outcome.username !== undefined) client.username = outcome.username;
  if (outcome.grants !== undefined) client.grants = outcome.grants;
  else delete client.grants;
  if (outcome.expiresAt !== undefined) client.credentialsExpireAt = outcome.expiresAt;
  else delete client.credentialsExpireAt;
}
