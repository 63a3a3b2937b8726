// Credentials with an end (a token's `exp`, or whatever an authentication method sets as
// ClientInfo.credentialsExpireAt): the connection ends when they expire, unless an MQTT 5
// re-authentication (AUTH 0x19) renewed them first, which moves the deadline. One timer per
// connection, unref'd, cleared when the connection ends.
//
// Reason code: DISCONNECT 0x87 Not authorized. 0xA0 Maximum connect time would say the server
// limits how long any connection may last, so a client would just reconnect with the same
// credentials; 0x87 says what happened: what authorized this connection no longer does, and the
// client needs new credentials (a Reason String says they expired).
import { MqttError } from '../protocol/errors.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { Channel } from './channel.js';

/** The longest delay setTimeout takes; a later deadline is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** (Re)starts the connection's expiry timer from ClientInfo.credentialsExpireAt; none without one. */
export function armCredentialsExpiry(ch: Channel): void {
  clearCredentialsExpiry(ch);
  const at = ch.info?.credentialsExpireAt;
  if (at === undefined || ch.state !== 'connected') return;
  // Expiry times are wall-clock times (a token's exp), so the wall clock measures them.
  const ms = at - Date.now();
  if (ms <= 0) return expire(ch, at);
  const timer = setTimeout(() => (at - Date.now() <= 0 ? expire(ch, at) : armCredentialsExpiry(ch)), Math.min(ms, MAX_TIMER_MS));
  timer.unref();
  ch.credentialsTimer = timer;
}

export function clearCredentialsExpiry(ch: Channel): void {
  if (ch.credentialsTimer === undefined) return;
  clearTimeout(ch.credentialsTimer);
  ch.credentialsTimer = undefined;
}

function expire(ch: Channel, at: number): void {
  ch.credentialsTimer = undefined;
  if (ch.state === 'closed') return;
  // fail() logs the reason ("closing connection") and sends MQTT 5 clients DISCONNECT with it.
  ch.fail(new MqttError(ReasonCode.NotAuthorized, `credentials expired at ${new Date(at).toISOString()}`));
}
