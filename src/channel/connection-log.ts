// The info lines an operator follows clients by: who connected (and how), who left and why. One
// line each, with structured fields so they can be queried (clientId, username, remote, listener,
// reason, reasonCode). Client-chosen strings are clipped: a 64 KiB client id is not logged whole.
import { ReasonCode } from '../protocol/reason-codes.js';
import { SESSION_NEVER_EXPIRES } from '../protocol/constants.js';
import type { Channel } from './channel.js';
import { clip } from '../protocol/reason-string.js';

/** Why a connection ended: `reason` in words, plus what is worth querying (codes, the broken rule). */
export interface CloseWhy {
  reason: string;
  [field: string]: unknown;
}

const MAX_LOGGED = 128;

/** The name of a reason code (DISCONNECT 0x00 is Normal disconnection, not Success). */
export function reasonName(code: number): string {
  if (code === 0) return 'NormalDisconnection';
  return Object.entries(ReasonCode).find(([, v]) => v === code)?.[0] ?? `0x${code.toString(16).padStart(2, '0')}`;
}

/** Who the client is, for every line about it. */
export function clientFields(ch: Channel): Record<string, unknown> {
  return {
    clientId: clip(ch.clientId, MAX_LOGGED),
    ...(ch.username !== undefined ? { username: clip(ch.username, MAX_LOGGED) } : {}),
    remote: ch.io.remoteAddress,
    listener: ch.io.listener.url,
  };
}

export function logConnected(ch: Channel, how: { keepalive: number; cleanStart: boolean; sessionExpiry: number; sessionPresent: boolean }): void {
  // Off (logLevel=warn and up): not even the fields are built, on every CONNECT.
  if (!ch.log.isLevelEnabled('info')) return;
  ch.log.info(
    {
      ...clientFields(ch),
      version: ch.version,
      keepalive: how.keepalive,
      cleanStart: how.cleanStart,
      sessionExpiry: how.sessionExpiry === SESSION_NEVER_EXPIRES ? 'never' : how.sessionExpiry,
      sessionPresent: how.sessionPresent,
    },
    'client connected',
  );
}

export function logDisconnected(ch: Channel, why: CloseWhy): void {
  if (!ch.log.isLevelEnabled('info')) return;
  const { reason, ...details } = why;
  ch.log.info({ ...clientFields(ch), reason, ...details, connectedSec: Math.round((ch.broker.now() - ch.connectedAt) / 1000) }, `client disconnected: ${reason}`);
}

/** A client's DISCONNECT, with its reason code where the protocol has one (MQTT 5). */
export function clientDisconnect(version: number, reasonCode: number | undefined): CloseWhy {
  if (version !== 5) return { reason: 'client sent DISCONNECT' };
  const code = reasonCode ?? 0;
  return { reason: `client sent DISCONNECT ${reasonName(code)}`, reasonCode: code };
}
