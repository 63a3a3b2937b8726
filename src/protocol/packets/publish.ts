// PUBLISH (3.3). The hot path: decode keeps the payload as a view into the received bytes, and encode
// sizes once and fills one buffer.
import type { ProtocolVersion, QoS } from '../constants.js';
import { Reader, Writer, stringSize, varintSize } from '../bytes.js';
import { malformed, protocolError } from '../errors.js';
import type { Properties, PublishPacket } from '../packets.js';
import { propertiesSize, readProperties, writeProperties } from '../properties.js';
import { validateTopicName } from '../topic.js';
import { checkPacketId, readPacketId, type PacketCodec } from './common.js';

const DUP = 0x08;
const RETAIN = 0x01;

export const publish: PacketCodec<PublishPacket> = {
  decode(flags: number, body: Buffer, version: ProtocolVersion): PublishPacket {
    const qos = (flags >> 1) & 3;
    if (qos === 3) throw malformed('PUBLISH with QoS 3 [MQTT-3.3.1-4]');
    const dup = (flags & DUP) !== 0;
    // 3.1 did not forbid DUP on QoS 0; 3.1.1 and 5.0 do.
    if (dup && qos === 0 && version !== 3) throw malformed('DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]');
    const r = new Reader(body);
    const topic = r.utf8();
    const packetId = qos > 0 ? readPacketId(r, 'PUBLISH') : 0;
    const properties = version === 5 ? readProperties(r, 'publish') : undefined;
    if (topic.length === 0 && version === 5) {
      // An empty name is legal only when a Topic Alias stands for it (3.3.2.3.4); the broker resolves it.
      if (properties?.topicAlias === undefined) throw protocolError('PUBLISH with an empty topic and no topic alias');
    } else {
      validateTopicName(topic);
    }
    if (properties?.responseTopic !== undefined) validateTopicName(properties.responseTopic);
    const payload = r.rest();
    const p: PublishPacket = { type: 'publish', topic, payload, qos: qos as QoS, retain: (flags & RETAIN) !== 0, dup };
    if (qos > 0) p.packetId = packetId;
    if (properties !== undefined) p.properties = properties;
    return p;
  },

  encode(p: PublishPacket, version: ProtocolVersion): Buffer {
    return encodePublish(p.topic, p.payload, p.qos, p.retain, p.dup, p.packetId, p.properties, version);
  },
};

/**
 * A PUBLISH from its fields, without a packet object: the delivery path (Channel.writePublish)
 * encodes one per message sent, and needs no object made only to be taken apart here.
 */
export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: number,
  retain: boolean,
  dup: boolean,
  packetId: number | undefined,
  properties: Properties | undefined,
  version: ProtocolVersion,
): Buffer {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw malformed(`PUBLISH QoS ${qos}`);
  let size = stringSize(topic) + payload.length;
  if (qos > 0) {
    checkPacketId(packetId, 'PUBLISH');
    size += 2;
  }
  const ps = version === 5 ? propertiesSize(properties, 'publish') : 0;
  if (version === 5) size += varintSize(ps) + ps;
  const w = Writer.packet(0x30 | (dup ? DUP : 0) | (qos << 1) | (retain ? RETAIN : 0), size);
  w.utf8(topic);
  if (qos > 0) w.u16(packetId as number);
  if (version === 5) writeProperties(w, properties, ps);
  w.bytes(payload);
  return w.finish();
}
