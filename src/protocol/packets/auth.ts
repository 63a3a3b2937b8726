// AUTH (3.15): MQTT 5 only; type 15 is reserved in 3.x and so malformed there.
import type { ProtocolVersion } from '../constants.js';
import { Reader, Writer, varintSize } from '../bytes.js';
import { malformed, protocolError } from '../errors.js';
import type { AuthPacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { checkFlags, checkReason, checkReasonByte, reasonSet, type PacketCodec } from './common.js';

/** AUTH reason codes (3.15.2.1): Success, Continue authentication, Re-authenticate. */
const CODES = reasonSet(0x00, 0x18, 0x19);

export const auth: PacketCodec<AuthPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): AuthPacket {
    if (version !== 5) throw malformed('packet type 15 is reserved before MQTT 5');
    checkFlags(flags, 0, version, 'AUTH');
    const r = new Reader(body);
    // Remaining Length 0 means Success with no properties (3.15.2.1); under 2, no properties (3.15.2.2.1).
    const reasonCode = r.left > 0 ? checkReason(CODES, r.u8(), 'AUTH') : 0;
    const properties = r.left > 0 ? readProperties(r, 'auth') : undefined;
    r.expectEnd('AUTH');
    const p: AuthPacket = { type: 'auth', reasonCode };
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  encode(p: AuthPacket, version: ProtocolVersion): Buffer {
    if (version !== 5) throw protocolError('AUTH exists only in MQTT 5');
    const rc = checkReasonByte(p.reasonCode, 'AUTH');
    const ps = propertiesSize(p.properties, 'auth');
    // Always the full form: the spec lets a Success AUTH without properties be empty, but MQTT.js
    // (mqtt-packet) cannot parse that form.
    const w = Writer.packet(0xf0, 1 + varintSize(ps) + ps);
    w.u8(rc);
    writeProperties(w, p.properties, ps);
    return w.finish();
  },
};
