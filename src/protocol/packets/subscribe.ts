// SUBSCRIBE (3.8): packet identifier, MQTT 5 properties, then one or more filter/options pairs.
import type { ProtocolVersion, QoS } from '../constants.js';
import { Reader, Writer, stringSize, varintSize } from '../bytes.js';
import { malformed, protocolError } from '../errors.js';
import type { SubscribePacket, SubscriptionRequest } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { parseSharedFilter, validateTopicFilter } from '../topic.js';
import { checkFlags, emptyPayload, checkPacketId, readPacketId, type PacketCodec } from './common.js';

const NO_LOCAL = 0x04;
const RETAIN_AS_PUBLISHED = 0x08;
const RH_SHIFT = 4;

/** Validates a filter's syntax, including the `$share/{name}/` form; throws 0x8F. */
export function checkFilter(filter: string): boolean {
  validateTopicFilter(filter);
  return parseSharedFilter(filter) !== undefined;
}

function readOptions(filter: string, o: number, version: ProtocolVersion, shared: boolean): SubscriptionRequest {
  const qos = o & 3;
  // 3.1.1 calls it malformed [MQTT-3-8.3-4]; 5.0 a Protocol Error (3.8.3.1).
  if (qos === 3) throw version === 5 ? protocolError('subscription Maximum QoS 3 (3.8.3.1)') : malformed('subscription QoS 3 [MQTT-3-8.3-4]');
  if (version === 3) {
    // 3.1 named only the QoS bits; the rest were ignored by receivers.
    return { filter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 };
  }
  if (version === 4) {
    if (o & 0xfc) throw malformed('SUBSCRIBE reserved option bits must be 0 [MQTT-3-8.3-4]');
    return { filter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 };
  }
  if (o & 0xc0) throw malformed('SUBSCRIBE reserved option bits 7-6 must be 0 [MQTT-3.8.3-5]');
  const retainHandling = (o >> RH_SHIFT) & 3;
  if (retainHandling === 3) throw protocolError('retain handling 3 is a protocol error (3.8.3.1)');
  const noLocal = (o & NO_LOCAL) !== 0;
  if (noLocal && shared) throw protocolError('No Local on a shared subscription [MQTT-3.8.3-4]');
  return { filter, qos: qos as QoS, noLocal, retainAsPublished: (o & RETAIN_AS_PUBLISHED) !== 0, retainHandling: retainHandling as 0 | 1 | 2 };
}

export const subscribe: PacketCodec<SubscribePacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): SubscribePacket {
    checkFlags(flags, 0b0010, version, 'SUBSCRIBE');
    const r = new Reader(body);
    const packetId = readPacketId(r, 'SUBSCRIBE');
    const properties = version === 5 ? readProperties(r, 'subscribe') : undefined;
    const subscriptions: SubscriptionRequest[] = [];
    while (r.left > 0) {
      const filter = r.utf8();
      const shared = checkFilter(filter);
      subscriptions.push(readOptions(filter, r.u8(), version, shared));
    }
    if (subscriptions.length === 0) throw emptyPayload(version, 'SUBSCRIBE without a topic filter [MQTT-3.8.3-3]');
    const p: SubscribePacket = { type: 'subscribe', packetId, subscriptions };
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  encode(p: SubscribePacket, version: ProtocolVersion): Buffer {
    const packetId = checkPacketId(p.packetId, 'SUBSCRIBE');
    if (p.subscriptions.length === 0) throw malformed('SUBSCRIBE without a topic filter [MQTT-3.8.3-3]');
    const ps = version === 5 ? propertiesSize(p.properties, 'subscribe') : 0;
    let size = 2 + (version === 5 ? varintSize(ps) + ps : 0);
    for (const s of p.subscriptions) {
      if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw malformed(`subscription QoS ${s.qos}`);
      if (s.retainHandling !== 0 && s.retainHandling !== 1 && s.retainHandling !== 2) throw malformed(`retain handling ${s.retainHandling}`);
      size += stringSize(s.filter) + 1;
    }
    const w = Writer.packet(0x82, size);
    w.u16(packetId);
    if (version === 5) writeProperties(w, p.properties, ps);
    for (const s of p.subscriptions) {
      w.utf8(s.filter);
      let o: number = s.qos;
      if (version === 5) {
        if (s.noLocal) o |= NO_LOCAL;
        if (s.retainAsPublished) o |= RETAIN_AS_PUBLISHED;
        o |= s.retainHandling << RH_SHIFT;
      }
      w.u8(o);
    }
    return w.finish();
  },
};
