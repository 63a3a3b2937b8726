// Refusing a connection over a connection limit with a CONNACK the client can read, so it learns
// why instead of seeing a bare close (and retrying at once). Refusal must not become the resource
// a flood uses up: it reads only the CONNECT's first bytes (the rest is discarded as it arrives),
// a socket gets at most `deadlineMs` (then it is destroyed, answered or not), and at most
// `maxPending` sockets are being refused at once; beyond that they are destroyed at accept.
import { encode } from '../protocol/codec.js';
import { peekConnectVersion } from '../protocol/packets/connect.js';
import { ConnackReturnCode, ReasonCode } from '../protocol/reason-codes.js';
import type { ProtocolVersion } from '../protocol/constants.js';
import type { Transport } from '../transport/transport.js';

export type ConnectionLimit = 'maxConnections' | 'maxConnectionsPerAddress';

/** Sockets over a limit that may wait for their CONNACK at once, and how long each may take. */
export const REFUSALS_AT_ONCE = 16;
export const REFUSAL_DEADLINE_MS = 1000;

export interface RefusalOptions {
  /** Sockets being refused at once; more are destroyed without a CONNACK. */
  maxPending: number;
  /** Longest a refused socket is kept, from accept to destroy. */
  deadlineMs: number;
}

/** Enough of a CONNECT for its protocol level: fixed header (≤ 5), name length and "MQIsdp", level. */
const HEAD_BYTES = 16;
const CONNECT = 1;

/**
 * MQTT 5: the server as a whole is full, which is what 0x89 says ("busy, try again later");
 * the per-address limit is a quota on this client's share, 0x97 (3.2.2.2). MQTT 3.1/3.1.1 have
 * one code for both: 3, Server unavailable (3.2.2.3).
 */
export function refusalCode(limit: ConnectionLimit, version: ProtocolVersion): number {
  if (version !== 5) return ConnackReturnCode.ServerUnavailable;
  return limit === 'maxConnections' ? ReasonCode.ServerBusy : ReasonCode.QuotaExceeded;
}

/**
 * The protocol version of the CONNECT at the start of `head`, 'unknown' when it cannot be one
 * (not a CONNECT, a bad length, a protocol this server does not speak), undefined while more
 * bytes are needed. `end` is where the CONNECT ends, once its Remaining Length is read.
 */
export function connectHead(head: Buffer): { version: ProtocolVersion | 'unknown' | undefined; end?: number } {
  if (head.length === 0) return { version: undefined };
  if (head[0] !== CONNECT << 4) return { version: 'unknown' };
  let length = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= head.length) return { version: undefined };
    length += (head[i] & 0x7f) * 128 ** (i - 1);
    if ((head[i] & 0x80) === 0) {
      const end = i + 1 + length;
      const version = peekConnectVersion(head, i + 1);
      // Enough bytes and still no known version: not one we could answer.
      if (version === undefined && head.length >= Math.min(HEAD_BYTES, end)) return { version: 'unknown', end };
      return { version, end };
    }
  }
  return { version: 'unknown' };
}

export class Refusals {
  private readonly pending = new Set<Transport>();

  constructor(private readonly opts: RefusalOptions) {}

  /** Sockets being refused now. */
  get size(): number {
    return this.pending.size;
  }

  refuse(t: Transport, limit: ConnectionLimit): void {
    if (this.pending.size >= this.opts.maxPending) {
      t.destroy();
      return;
    }
    this.pending.add(t);
    let head = Buffer.alloc(0);
    let seen = 0;
    let answered = false;
    const gone = (): void => {
      clearTimeout(deadline);
      if (this.pending.delete(t)) t.destroy();
    };
    const deadline = setTimeout(gone, this.opts.deadlineMs);
    deadline.unref();
    const answer = (version: ProtocolVersion): void => {
      answered = true;
      const reasonCode = refusalCode(limit, version);
      t.write(encode({ type: 'connack', sessionPresent: false, reasonCode }, version));
      // end() flushes the CONNACK; the deadline still destroys a peer that never closes its side.
      t.end();
    };
    t.start({
      data: (chunk) => {
        if (answered) return;
        seen += chunk.length;
        if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
        const { version, end } = connectHead(head);
        if (version === 'unknown') return gone();
        // Answered once the whole CONNECT is read: closing with unread bytes would reset the
        // connection, and the client might lose the CONNACK.
        if (version !== undefined && end !== undefined && seen >= end) answer(version);
      },
      drain: () => {},
      close: gone,
    });
  }

  /** Server shutdown: every refusal in progress ends now. */
  close(): void {
    for (const t of [...this.pending]) {
      this.pending.delete(t);
      t.destroy();
    }
  }
}
