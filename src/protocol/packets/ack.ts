// PUBACK, PUBREC, PUBREL and PUBCOMP (3.4-3.7) share one layout: packet identifier, then in MQTT 5 an
// optional reason code and optional properties. Each type has its own file built from this factory.
import type { ProtocolVersion } from '../constants.js';
import { PacketTypeCode } from '../constants.js';
import { Reader, Writer, varintSize } from '../bytes.js';
import type { AckPacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { checkFlags, checkPacketId, checkReason, checkReasonByte, readPacketId, type PacketCodec } from './common.js';

type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

/**
 * Builds the codec for one acknowledgement type. `flags` is its required fixed-header nibble (0b0010
 * for PUBREL, else 0) and `reasons` the MQTT 5 reason codes it may carry.
 */
export function ackCodec<T extends AckType>(type: T, flags: number, reasons: Uint8Array): PacketCodec<AckPacket<T>> {
  const name = type.toUpperCase();
  const firstByte = (PacketTypeCode[type] << 4) | flags;
  return {
    decode(f: number, body: Buffer, version: ProtocolVersion): AckPacket<T> {
      checkFlags(f, flags, version, name);
      const r = new Reader(body);
      const packetId = readPacketId(r, name);
      if (version !== 5) {
        r.expectEnd(name);
        return { type, packetId };
      }
      // Reason code and property length may be left off: a missing reason code means Success
      // (3.4.2.1) and a missing property length means none (3.4.2.2.1).
      const reasonCode = r.left > 0 ? checkReason(reasons, r.u8(), name) : 0;
      const properties = r.left > 0 ? readProperties(r, type) : undefined;
      r.expectEnd(name);
      const p: AckPacket<T> = { type, packetId, reasonCode };
      if (properties !== undefined) p.properties = properties;
      return p;
    },

    encode(p: AckPacket<T>, version: ProtocolVersion): Buffer {
      const packetId = checkPacketId(p.packetId, name);
      const rc = version === 5 ? checkReasonByte(p.reasonCode ?? 0, name) : 0;
      const ps = version === 5 ? propertiesSize(p.properties, type) : 0;
      // The shortest legal form: 2 bytes for plain Success, 3 when only the reason code is needed.
      const size = ps > 0 ? 3 + varintSize(ps) + ps : rc !== 0 ? 3 : 2;
      const w = Writer.packet(firstByte, size);
      w.u16(packetId);
      if (size > 2) w.u8(rc);
      if (ps > 0) writeProperties(w, p.properties, ps);
      return w.finish();
    },
  };
}
