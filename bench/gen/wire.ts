// Bytes on the wire for the load generator. Every packet is encoded once with Starling's codec
// (MQTT 3.1.1, which all three brokers speak, or MQTT 5 where a scenario asks) and then only copied and patched: a PUBLISH template
// gets its timestamp, publisher, sequence number and packet id written in place, so sending costs
// a memcpy, not an encode. Incoming bytes are scanned by fixed header, not decoded into objects:
// the generator only needs a PUBLISH's payload offset and an ack's packet id.
import { encode } from '../../src/protocol/codec.js';
import type { QoS } from '../../src/protocol/constants.js';

const V = 4 as const;
/** The protocol levels the generator speaks: 3.1.1 and 5. */
export type WireVersion = 4 | 5;

/** Payload layout: [0..3] seconds and [4..7] nanoseconds of process.hrtime() at send, [8..11]
 * publisher number, [12..15] sequence number; the rest is padding. hrtime is CLOCK_MONOTONIC, the
 * same clock in every process of the machine, so a receiver in another process can subtract. */
export const STAMP_BYTES = 16;

export function connectPacket(clientId: string, clean: boolean, keepalive: number, v: WireVersion = V): Buffer {
  // An MQTT 5 session ends with its connection unless CONNECT gives it an expiry [MQTT-3.1.2-23]:
  // a persistent (Clean Start 0) client asks for one that never ends, as Clean Session 0 does in 3.1.1.
  const properties = v === 5 && !clean ? { properties: { sessionExpiryInterval: 0xffffffff } } : {};
  return encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: v, clean, keepalive, clientId, ...properties }, v);
}

export function subscribePacket(packetId: number, filter: string, qos: QoS, v: WireVersion = V): Buffer {
  return encode(
    { type: 'subscribe', packetId, subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] },
    v,
  );
}

export const PINGREQ = encode({ type: 'pingreq' }, V);
export const DISCONNECT = encode({ type: 'disconnect' }, V);

export function pubackPacket(packetId: number): Buffer {
  return encode({ type: 'puback', packetId }, V);
}

/** A PUBLISH encoded once, with the offsets a sender patches. */
export interface PublishTemplate {
  bytes: Buffer;
  /** Offset of the packet id (QoS 1), or -1. */
  idAt: number;
  /** Offset of the payload. */
  payloadAt: number;
}

export function publishTemplate(topic: string, qos: QoS, payloadSize: number, v: WireVersion = V): PublishTemplate {
  if (payloadSize < STAMP_BYTES) throw new Error(`payload must be at least ${STAMP_BYTES} bytes`);
  const payload = Buffer.alloc(payloadSize, 0x2e);
  const bytes = encode({ type: 'publish', topic, payload, qos, retain: false, dup: false, ...(qos > 0 ? { packetId: 1 } : {}) }, v);
  const payloadAt = bytes.length - payloadSize;
  // MQTT 5 puts a Property Length (0: one byte) between the packet id and the payload.
  return { bytes, payloadAt, idAt: qos > 0 ? payloadAt - (v === 5 ? 3 : 2) : -1 };
}

/** Writes the send stamp of one message into a copied template at `at`. */
export function stamp(buf: Buffer, t: PublishTemplate, at: number, sec: number, nsec: number, publisher: number, seq: number, packetId: number): void {
  const p = at + t.payloadAt;
  buf.writeUInt32BE(sec, p);
  buf.writeUInt32BE(nsec, p + 4);
  buf.writeUInt32BE(publisher, p + 8);
  buf.writeUInt32BE(seq >>> 0, p + 12);
  if (t.idAt >= 0) buf.writeUInt16BE(packetId, at + t.idAt);
}

/** What a client does with the packets it receives. */
export interface WireHandler {
  connack(sessionPresent: boolean, code: number): void;
  suback(packetId: number, granted: number): void;
  /** A PUBLISH: `payloadAt` indexes `buf`; `packetId` is 0 for QoS 0. */
  publish(buf: Buffer, payloadAt: number, payloadLen: number, qos: number, packetId: number): void;
  puback(packetId: number): void;
  pingresp(): void;
}

/**
 * Splits a byte stream into packets and dispatches them. A packet cut by a chunk boundary is kept
 * (copied) until the rest arrives; whole packets are handled in place.
 */
export class WireScanner {
  private rest: Buffer | undefined;

  constructor(
    private readonly h: WireHandler,
    /** MQTT 5: PUBLISH and SUBACK carry properties to skip. */
    private readonly v5 = false,
  ) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== undefined) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      // Fixed header: type byte, then Remaining Length in 1..4 bytes [MQTT-2.2.3].
      if (pos + 2 > len) break;
      let rl = 0;
      let mul = 1;
      let i = pos + 1;
      let complete = false;
      for (; i < len && i < pos + 5; i++) {
        const b = buf[i];
        rl += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete) {
        if (i >= pos + 5) throw new Error('malformed remaining length from broker');
        break;
      }
      const end = i + rl;
      if (end > len) break;
      this.dispatch(buf, buf[pos], i, end);
      pos = end;
    }
    if (pos < len) this.rest = Buffer.from(buf.subarray(pos));
  }

  private dispatch(buf: Buffer, first: number, at: number, end: number): void {
    switch (first >> 4) {
      case 3: {
        const qos = (first >> 1) & 3;
        const topicLen = buf.readUInt16BE(at);
        let p = at + 2 + topicLen;
        let id = 0;
        if (qos > 0) {
          id = buf.readUInt16BE(p);
          p += 2;
        }
        if (this.v5) p = skipProperties(buf, p);
        this.h.publish(buf, p, end - p, qos, id);
        return;
      }
      case 4:
        this.h.puback(buf.readUInt16BE(at));
        return;
      case 2:
        this.h.connack((buf[at] & 1) === 1, buf[at + 1]);
        return;
      case 9:
        this.h.suback(buf.readUInt16BE(at), buf[this.v5 ? skipProperties(buf, at + 2) : at + 2]);
        return;
      case 13:
        this.h.pingresp();
        return;
      default:
        // PUBREC/PUBREL/UNSUBACK etc. never occur in these scenarios (QoS <= 1, no unsubscribe).
        throw new Error(`unexpected packet type ${first >> 4} from broker`);
    }
  }
}

/** The offset after an MQTT 5 property block (Property Length, a Variable Byte Integer, then the properties) at `at`. */
function skipProperties(buf: Buffer, at: number): number {
  let len = 0;
  let mul = 1;
  let i = at;
  for (; i < at + 4; i++) {
    len += (buf[i] & 0x7f) * mul;
    mul *= 128;
    if ((buf[i] & 0x80) === 0) return i + 1 + len;
  }
  throw new Error('malformed property length from broker');
}
