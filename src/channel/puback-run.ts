// Plain PUBACKs (no properties) of one synchronous run, written as one Buffer: a client's read of
// 50 QoS 1 PUBLISHes is answered by one write of 50 PUBACKs rather than 50 packet objects, 50
// encodes and 50 Buffers handed one by one to the socket. The channel collects them in order and
// writes the run before anything else it writes, so the order on the wire is the order of the
// acknowledgements [MQTT-4.6.0-2].
import type { ProtocolVersion } from '../protocol/constants.js';
import { PacketTypeCode } from '../protocol/constants.js';
import { ReasonCode } from '../protocol/reason-codes.js';

const PUBACK_BYTE = PacketTypeCode.puback << 4;

/** A run longer than this is written at once (a chunk of tiny PUBLISHes, a backlog let go). */
export const PUBACK_RUN_MAX = 512;

/** The reason code of a PUBACK (or PUBREC) for a message routed to `matched` sessions: 0x10 for none. */
export function pubackCode(matched: number): number {
  return matched === 0 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success;
}

export class PubackRun {
  /** Packet id and reason code of each PUBACK, in order (two slots each); reused between runs. */
  private readonly acks: number[] = [];
  private bytes = 0;

  /** PUBACKs collected and not yet written. */
  get length(): number {
    return this.acks.length >> 1;
  }

  /**
   * Adds a PUBACK in its shortest form (3.4.2.1): `code` goes on the wire only in MQTT 5 and when not
   * Success [MQTT-3.4.2-1]; `size` is PubackRun.size of it (the caller checked it already).
   */
  add(packetId: number, code: number, size: number): void {
    this.acks.push(packetId, size === 5 ? code : -1);
    this.bytes += size;
  }

  /** The bytes a PUBACK with `code` takes (checked against the client's Maximum Packet Size). */
  static size(code: number, version: ProtocolVersion): number {
    return version === 5 && code !== ReasonCode.Success ? 5 : 4;
  }

  /** The collected PUBACKs as one Buffer, in order; the run is empty afterwards. */
  take(): Buffer {
    const acks = this.acks;
    const out = Buffer.allocUnsafe(this.bytes);
    let pos = 0;
    for (let i = 0; i < acks.length; i += 2) {
      const id = acks[i];
      const code = acks[i + 1];
      out[pos++] = PUBACK_BYTE;
      out[pos++] = code < 0 ? 2 : 3;
      out[pos++] = id >>> 8;
      out[pos++] = id & 0xff;
      if (code >= 0) out[pos++] = code;
    }
    acks.length = 0;
    this.bytes = 0;
    return out;
  }
}
