// SUBACK (3.9): one reason code (granted QoS or failure) per requested filter.
import type { ProtocolVersion } from '../constants.js';
import { Reader, Writer, varintSize } from '../bytes.js';
import { malformed } from '../errors.js';
import type { SubackPacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { checkFlags, checkPacketId, checkReason, checkReasonByte, readPacketId, reasonSet, type PacketCodec } from './common.js';

/** MQTT 5 SUBACK reason codes (3.9.3). */
const V5_CODES = reasonSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2);
/** 3.1.1 return codes; others are reserved [MQTT-3.9.3-2]. */
const V3_CODES = reasonSet(0x00, 0x01, 0x02, 0x80);

export const suback: PacketCodec<SubackPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): SubackPacket {
    checkFlags(flags, 0, version, 'SUBACK');
    const r = new Reader(body);
    const packetId = readPacketId(r, 'SUBACK');
    const properties = version === 5 ? readProperties(r, 'suback') : undefined;
    if (r.left === 0) throw malformed('SUBACK without reason codes');
    const set = version === 5 ? V5_CODES : V3_CODES;
    const reasonCodes: number[] = new Array(r.left);
    for (let i = 0; i < reasonCodes.length; i++) reasonCodes[i] = checkReason(set, r.u8(), 'SUBACK');
    const p: SubackPacket = { type: 'suback', packetId, reasonCodes };
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  /** For 3.x every failure code is written as 0x80, the only failure 3.1.1 knows (3.9.3). */
  encode(p: SubackPacket, version: ProtocolVersion): Buffer {
    const packetId = checkPacketId(p.packetId, 'SUBACK');
    const codes = p.reasonCodes;
    if (codes.length === 0) throw malformed('SUBACK without reason codes');
    const ps = version === 5 ? propertiesSize(p.properties, 'suback') : 0;
    const w = Writer.packet(0x90, 2 + (version === 5 ? varintSize(ps) + ps : 0) + codes.length);
    w.u16(packetId);
    if (version === 5) writeProperties(w, p.properties, ps);
    for (const c of codes) {
      checkReasonByte(c, 'SUBACK');
      w.u8(version !== 5 && c >= 0x80 ? 0x80 : c);
    }
    return w.finish();
  },
};
