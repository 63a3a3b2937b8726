// The codec: one table keyed by packet type, so the compiler reports a packet type without a codec.
// Pure functions over bytes; the version is always passed in, never remembered here.
import { PacketTypeCode, type PacketType, type ProtocolVersion } from './constants.js';
import { malformed, protocolError } from './errors.js';
import type { Packet, PacketOf } from './packets.js';
import type { PacketCodec } from './packets/common.js';
import { auth } from './packets/auth.js';
import { connack } from './packets/connack.js';
import { connect, decodeConnect } from './packets/connect.js';
import { disconnect } from './packets/disconnect.js';
import { pingreq } from './packets/pingreq.js';
import { pingresp } from './packets/pingresp.js';
import { puback } from './packets/puback.js';
import { pubcomp } from './packets/pubcomp.js';
import { publish } from './packets/publish.js';
import { pubrec } from './packets/pubrec.js';
import { pubrel } from './packets/pubrel.js';
import { suback } from './packets/suback.js';
import { subscribe } from './packets/subscribe.js';
import { unsuback } from './packets/unsuback.js';
import { unsubscribe } from './packets/unsubscribe.js';

export { ConnectRefusedError, UnsupportedProtocolError, protocolNameFor } from './packets/connect.js';
export type { PacketCodec } from './packets/common.js';
export { encodePublish } from './packets/publish.js';

/** Every packet type's codec. */
export const codecs: { readonly [K in PacketType]: PacketCodec<PacketOf<K>> } = {
  connect,
  connack,
  publish,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  pingreq,
  pingresp,
  disconnect,
  auth,
};

/** The same codecs indexed by the packet type number (high nibble of the first byte). */
const BY_CODE: readonly (PacketCodec<Packet> | undefined)[] = (() => {
  const a: (PacketCodec<Packet> | undefined)[] = new Array(16).fill(undefined);
  for (const type of Object.keys(codecs) as PacketType[]) a[PacketTypeCode[type]] = codecs[type] as PacketCodec<Packet>;
  return a;
})();

/**
 * Encodes a whole packet (fixed header included) for `version`. Fields that `version` lacks are
 * left out (properties and ack reason codes before 5.0). Throws MqttError if the packet cannot be
 * represented: a field too long, remaining length too big (0x95), AUTH before 5.0, a missing
 * packet identifier.
 */
export function encode(packet: Packet, version: ProtocolVersion): Buffer {
  return (codecs[packet.type] as PacketCodec<Packet>).encode(packet, version);
}

/**
 * Decodes one packet whose fixed header has been split off: `firstByte` is the packet's first byte
 * and `body` exactly its Remaining Length bytes. `version` undefined means no CONNECT has been seen,
 * so only CONNECT decodes [MQTT-3.1.0-1]; CONNECT always decodes by its own protocol level.
 * Throws MqttError: 0x81 malformed, 0x82 protocol error, 0x8F/0x90 bad filter/topic, 0x94 topic
 * alias 0, and UnsupportedProtocolError (0x84) for a CONNECT this broker does not speak.
 */
export function decode(firstByte: number, body: Buffer, version: ProtocolVersion | undefined): Packet {
  const code = firstByte >> 4;
  if (code === PacketTypeCode.connect) return decodeConnect(firstByte & 0x0f, body);
  if (version === undefined) throw protocolError('the first packet must be CONNECT [MQTT-3.1.0-1]');
  const codec = BY_CODE[code];
  if (codec === undefined) throw malformed(`reserved packet type ${code}`);
  return codec.decode(firstByte & 0x0f, body, version);
}
