// UNSUBACK (3.11): in 3.x only the packet identifier; MQTT 5 adds properties and a reason code per filter.
import type { ProtocolVersion } from '../constants.js';
import { Reader, Writer, varintSize } from '../bytes.js';
import { malformed } from '../errors.js';
import type { UnsubackPacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { checkFlags, checkPacketId, checkReason, checkReasonByte, readPacketId, reasonSet, type PacketCodec } from './common.js';

/** MQTT 5 UNSUBACK reason codes (3.11.3). */
const V5_CODES = reasonSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91);

export const unsuback: PacketCodec<UnsubackPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): UnsubackPacket {
    checkFlags(flags, 0, version, 'UNSUBACK');
    const r = new Reader(body);
    const packetId = readPacketId(r, 'UNSUBACK');
    if (version !== 5) {
      r.expectEnd('UNSUBACK');
      return { type: 'unsuback', packetId };
    }
    const properties = readProperties(r, 'unsuback');
    if (r.left === 0) throw malformed('UNSUBACK without reason codes');
    const reasonCodes: number[] = new Array(r.left);
    for (let i = 0; i < reasonCodes.length; i++) reasonCodes[i] = checkReason(V5_CODES, r.u8(), 'UNSUBACK');
    const p: UnsubackPacket = { type: 'unsuback', packetId, reasonCodes };
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  encode(p: UnsubackPacket, version: ProtocolVersion): Buffer {
    const packetId = checkPacketId(p.packetId, 'UNSUBACK');
    if (version !== 5) {
      const w = Writer.packet(0xb0, 2);
      w.u16(packetId);
      return w.finish();
    }
    const codes = p.reasonCodes;
    if (codes === undefined || codes.length === 0) throw malformed('an MQTT 5 UNSUBACK needs one reason code per filter');
    const ps = propertiesSize(p.properties, 'unsuback');
    const w = Writer.packet(0xb0, 2 + varintSize(ps) + ps + codes.length);
    w.u16(packetId);
    writeProperties(w, p.properties, ps);
    for (const c of codes) w.u8(checkReasonByte(c, 'UNSUBACK'));
    return w.finish();
  },
};
