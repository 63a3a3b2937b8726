// DISCONNECT (3.14): empty in 3.x; MQTT 5 adds an optional reason code and optional properties.
import type { ProtocolVersion } from '../constants.js';
import { Reader, Writer, varintSize } from '../bytes.js';
import type { DisconnectPacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { checkFlags, checkReason, checkReasonByte, reasonSet, type PacketCodec } from './common.js';

/** MQTT 5 DISCONNECT reason codes (3.14.2.1). */
const V5_CODES = reasonSet(
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b,
  0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
);

export const disconnect: PacketCodec<DisconnectPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): DisconnectPacket {
    checkFlags(flags, 0, version, 'DISCONNECT');
    const r = new Reader(body);
    if (version !== 5) {
      r.expectEnd('DISCONNECT');
      return { type: 'disconnect' };
    }
    // Remaining Length 0 means Normal disconnection; under 2 means no properties (3.14.2.1, 3.14.2.2.1).
    const reasonCode = r.left > 0 ? checkReason(V5_CODES, r.u8(), 'DISCONNECT') : 0;
    const properties = r.left > 0 ? readProperties(r, 'disconnect') : undefined;
    r.expectEnd('DISCONNECT');
    const p: DisconnectPacket = { type: 'disconnect', reasonCode };
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  encode(p: DisconnectPacket, version: ProtocolVersion): Buffer {
    if (version !== 5) return Buffer.from([0xe0, 0x00]);
    const rc = checkReasonByte(p.reasonCode ?? 0, 'DISCONNECT');
    const ps = propertiesSize(p.properties, 'disconnect');
    if (rc === 0 && ps === 0) return Buffer.from([0xe0, 0x00]);
    // With a reason code the property length is written too, even when zero: the spec lets it be
    // left off, but MQTT.js (mqtt-packet) then reads past the packet.
    const w = Writer.packet(0xe0, 1 + varintSize(ps) + ps);
    w.u8(rc);
    writeProperties(w, p.properties, ps);
    return w.finish();
  },
};
