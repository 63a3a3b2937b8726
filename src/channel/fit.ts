// Every packet to a client fits its Maximum Packet Size [MQTT-3.1.2-24]: the Reason String is capped
// always, and when the packet is still too large, what the spec lets a server leave out goes first:
// the Reason String and User Properties [MQTT-3.1.2-25], then CONNACK properties that only repeat
// their defaults (3.2.2.3). What still does not fit is not sent.
import type { ProtocolVersion } from '../protocol/constants.js';
import { encode } from '../protocol/codec.js';
import type { Packet, Properties } from '../protocol/packets.js';
import { capUtf8 } from '../protocol/reason-string.js';

/**
 * CONNACK properties whose absence means the same value (3.2.2.3): a client that cannot take a
 * larger CONNACK loses nothing when they are left out.
 */
const CONNACK_DEFAULTS: Partial<Record<keyof Properties, number>> = {
  receiveMaximum: 65_535,
  topicAliasMaximum: 0,
  maximumQoS: 2,
  retainAvailable: 1,
  wildcardSubscriptionAvailable: 1,
  subscriptionIdentifiersAvailable: 1,
  sharedSubscriptionAvailable: 1,
};

/** The packet's bytes, fitted to `max`; undefined when even the slimmest form is larger. */
export function fitPacket(packet: Packet, version: ProtocolVersion, max: number): Buffer | undefined {
  const props = 'properties' in packet ? packet.properties : undefined;
  if (!props || version !== 5) return within(encode(packet, version), max);
  let p: Properties = props;
  if (p.reasonString !== undefined) {
    const capped = capUtf8(p.reasonString);
    if (capped !== p.reasonString) p = { ...p, reasonString: capped };
  }
  const bytes = encode(withProperties(packet, p), version);
  if (bytes.length <= max) return bytes;
  const { reasonString: _r, userProperties: _u, ...slim } = p;
  p = slim;
  const slimBytes = encode(withProperties(packet, p), version);
  if (slimBytes.length <= max || packet.type !== 'connack') return within(slimBytes, max);
  const bare: Properties = { ...p };
  for (const [key, value] of Object.entries(CONNACK_DEFAULTS) as [keyof Properties, number][]) {
    if (bare[key] === value) delete bare[key];
  }
  return within(encode(withProperties(packet, bare), version), max);
}

function withProperties(packet: Packet, properties: Properties): Packet {
  return ('properties' in packet && packet.properties === properties ? packet : { ...packet, properties }) as Packet;
}

function within(bytes: Buffer, max: number): Buffer | undefined {
  return bytes.length <= max ? bytes : undefined;
}
