// CONNACK (3.2). For 3.x the reason code is the 3.x return code, written as given: the broker maps
// an MQTT 5 code with connackCodeForV3 before encoding.
import type { ProtocolVersion } from '../constants.js';
import { Reader, Writer, varintSize } from '../bytes.js';
import { malformed, protocolError } from '../errors.js';
import type { ConnackPacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { checkFlags, checkReason, checkReasonByte, reasonSet, type PacketCodec } from './common.js';

/** MQTT 5 CONNACK reason codes (3.2.2.2). */
const V5_CODES = reasonSet(
  0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
);
/** 3.1.1 return codes 0..5; 6..255 are reserved (3.2.2.3). */
const V3_CODES = reasonSet(0, 1, 2, 3, 4, 5);

export const connack: PacketCodec<ConnackPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): ConnackPacket {
    checkFlags(flags, 0, version, 'CONNACK');
    const r = new Reader(body);
    const ackFlags = r.u8();
    // 3.1 had no Session Present flag: the byte was unused, so it is ignored there.
    if (version !== 3 && (ackFlags & 0xfe) !== 0) throw malformed('CONNACK acknowledge flags bits 7-1 must be 0 [MQTT-3.2.2-1]');
    const sessionPresent = version !== 3 && (ackFlags & 1) === 1;
    const reasonCode = checkReason(version === 5 ? V5_CODES : V3_CODES, r.u8(), 'CONNACK');
    // A refused connection never has a session [MQTT-3.2.2-4] (MQTT 5: [MQTT-3.2.2-6]).
    if (sessionPresent && reasonCode !== 0) throw protocolError('CONNACK with an error code must not set Session Present [MQTT-3.2.2-4]');
    const properties = version === 5 ? readProperties(r, 'connack') : undefined;
    r.expectEnd('CONNACK');
    const p: ConnackPacket = { type: 'connack', sessionPresent, reasonCode };
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  encode(p: ConnackPacket, version: ProtocolVersion): Buffer {
    const rc = checkReasonByte(p.reasonCode, 'CONNACK');
    const ackFlags = p.sessionPresent && version !== 3 ? 1 : 0;
    if (version !== 5) {
      const w = Writer.packet(0x20, 2);
      w.u8(ackFlags);
      w.u8(rc);
      return w.finish();
    }
    const ps = propertiesSize(p.properties, 'connack');
    const w = Writer.packet(0x20, 2 + varintSize(ps) + ps);
    w.u8(ackFlags);
    w.u8(rc);
    writeProperties(w, p.properties, ps);
    return w.finish();
  },
};
