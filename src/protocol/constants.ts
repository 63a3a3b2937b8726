// Wire-level constants shared by the codec and the broker.

/** Protocol level byte in CONNECT: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0. */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

/** Control packet type numbers (high nibble of the fixed header). */
export const PacketTypeCode = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
} as const;

export type PacketType = keyof typeof PacketTypeCode;

/** Largest value a Variable Byte Integer can carry (4 bytes) [MQTT-1.5.5]. */
export const MAX_VARIABLE_BYTE_INTEGER = 268_435_455;
export const MAX_PACKET_ID = 65_535;
/** Largest topic alias / receive maximum etc. carried in a two-byte integer. */
export const MAX_TWO_BYTE = 65_535;
/** Session expiry value meaning "never expires" [MQTT-3.1.2-23 commentary]. */
export const SESSION_NEVER_EXPIRES = 0xffffffff;
