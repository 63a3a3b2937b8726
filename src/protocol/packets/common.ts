// Pieces every packet codec shares: the codec shape, fixed-header flag checks, packet identifiers and
// reason-code sets.
import type { ProtocolVersion } from '../constants.js';
import { malformed, protocolError, type MqttError } from '../errors.js';
import type { Packet } from '../packets.js';
import type { Reader } from '../bytes.js';

/** Decode and encode for one packet type; the codec table in codec.ts holds one per type. */
export interface PacketCodec<P extends { type: Packet['type'] }> {
  /** Decodes the variable header and payload; `flags` is the low nibble of the first byte. */
  decode(flags: number, body: Buffer, version: ProtocolVersion): P;
  /** The whole packet, fixed header included. */
  encode(packet: P, version: ProtocolVersion): Buffer;
}

/**
 * Reserved fixed-header flag bits must hold their listed value [MQTT-2.2.2-1] and a receiver closes
 * the connection otherwise [MQTT-2.2.2-2]. MQTT 3.1 gave those bits a meaning (DUP/QoS/RETAIN) that
 * receivers ignored, so 3.1 packets are not held to it.
 */
/**
 * SUBSCRIBE/UNSUBSCRIBE without any topic filter: a protocol violation in 3.1.1 [MQTT-3.8.3-3],
 * a Protocol Error (0x82) in 5.0 [MQTT-3.8.3-2, MQTT-3.10.3-2].
 */
export function emptyPayload(version: ProtocolVersion, what: string): MqttError {
  return version === 5 ? protocolError(what) : malformed(what);
}

export function checkFlags(flags: number, expected: number, version: ProtocolVersion, what: string): void {
  if (flags !== expected && version !== 3) {
    throw malformed(`${what} fixed header flags must be 0b${expected.toString(2).padStart(4, '0')} [MQTT-2.2.2-1]`);
  }
}

/** A Packet Identifier on the wire: non-zero [MQTT-2.3.1-1] (MQTT 5: [MQTT-2.2.1-3]). */
export function readPacketId(r: Reader, what: string): number {
  const id = r.u16();
  if (id === 0) throw protocolError(`${what} packet identifier must not be 0 [MQTT-2.3.1-1]`);
  return id;
}

/** Encoders refuse a packet identifier that cannot be sent. */
export function checkPacketId(id: number | undefined, what: string): number {
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw protocolError(`${what} needs a packet identifier in 1..65535, got ${id}`);
  }
  return id;
}

/** A 256-entry membership table, so checking a reason code is one array read. */
export function reasonSet(...codes: number[]): Uint8Array {
  const t = new Uint8Array(256);
  for (const c of codes) t[c] = 1;
  return t;
}

/** Reason codes outside the packet's table are a protocol violation by the sender. */
export function checkReason(set: Uint8Array, code: number, what: string): number {
  if (set[code] !== 1) throw protocolError(`reason code 0x${code.toString(16)} is not valid in ${what}`);
  return code;
}

/** Encoders only write a reason code that fits in a byte. */
export function checkReasonByte(code: number, what: string): number {
  if (!Number.isInteger(code) || code < 0 || code > 0xff) throw malformed(`${what} reason code ${code} does not fit a byte`);
  return code;
}
