// UNSUBSCRIBE (3.10): packet identifier, MQTT 5 properties, then one or more topic filters.
import type { ProtocolVersion } from '../constants.js';
import { Reader, Writer, stringSize, varintSize } from '../bytes.js';
import { malformed } from '../errors.js';
import type { UnsubscribePacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { checkFlags, emptyPayload, checkPacketId, readPacketId, type PacketCodec } from './common.js';
import { checkFilter } from './subscribe.js';

export const unsubscribe: PacketCodec<UnsubscribePacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): UnsubscribePacket {
    checkFlags(flags, 0b0010, version, 'UNSUBSCRIBE');
    const r = new Reader(body);
    const packetId = readPacketId(r, 'UNSUBSCRIBE');
    const properties = version === 5 ? readProperties(r, 'unsubscribe') : undefined;
    const filters: string[] = [];
    while (r.left > 0) {
      const filter = r.utf8();
      checkFilter(filter);
      filters.push(filter);
    }
    if (filters.length === 0) throw emptyPayload(version, 'UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]');
    const p: UnsubscribePacket = { type: 'unsubscribe', packetId, filters };
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  encode(p: UnsubscribePacket, version: ProtocolVersion): Buffer {
    const packetId = checkPacketId(p.packetId, 'UNSUBSCRIBE');
    if (p.filters.length === 0) throw malformed('UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]');
    const ps = version === 5 ? propertiesSize(p.properties, 'unsubscribe') : 0;
    let size = 2 + (version === 5 ? varintSize(ps) + ps : 0);
    for (const f of p.filters) size += stringSize(f);
    const w = Writer.packet(0xa2, size);
    w.u16(packetId);
    if (version === 5) writeProperties(w, p.properties, ps);
    for (const f of p.filters) w.utf8(f);
    return w.finish();
  },
};
