// The streaming framer: bytes in, packets out. It splits the fixed header, refuses an oversized
// packet before buffering any of its body, and decodes each body with the codec. A packet that lies
// wholly inside one chunk is decoded from a view of that chunk; only a packet spanning chunks is
// copied, once, into a buffer of exactly its size.
import type { ProtocolVersion } from './constants.js';
import { ConnectRefusedError, decode } from './codec.js';
import { peekConnectVersion } from './packets/connect.js';
import { MqttError, malformed } from './errors.js';
import type { Packet } from './packets.js';
import { ReasonCode } from './reason-codes.js';

export interface PacketParserOptions {
  /** Largest packet accepted, fixed header included (MQTT 5 Maximum Packet Size, 3.1.2.11.4). */
  maxPacketSize: number;
  /** Known protocol version (a client parsing server packets); unset on a server until CONNECT. */
  version?: ProtocolVersion;
}

/** A fixed header is one type byte and at most four Remaining Length bytes [MQTT-2.2.3]. */
const MAX_HEADER = 5;
/** The CONNECT packet type. */
const CONNECT = 1;
/** The first byte of a PUBACK (type 4, flags 0). */
const PUBACK = 0x40;
/** decodedBeforeError until a push fails: one shared empty list, not one per parser. */
const NONE: readonly Packet[] = Object.freeze([]);

export class PacketParser {
  /** Protocol version; set from the first CONNECT decoded when it was not given. */
  version: ProtocolVersion | undefined;
  maxPacketSize: number;
  /**
   * When push throws, the packets that chunk held before the bad one, in order. A caller may still
   * act on them (a DISCONNECT followed by garbage is still a normal disconnection).
   */
  decodedBeforeError: readonly Packet[] = NONE;

  private failure: MqttError | undefined;
  /** Bytes of a fixed header cut off at the end of a chunk (allocated the first time one is: most parsers never need it). */
  private head: Buffer | undefined;
  private headLen = 0;
  /** Body of a packet spanning chunks, and how much of it has arrived. */
  private body: Buffer | undefined;
  private filled = 0;
  private first = 0;
  /** Remaining Length of the header just read (a field, so header parsing allocates nothing). */
  private rl = 0;

  /** Bytes held for a packet that has not fully arrived (its body is allocated whole from the header). */
  get partialBytes(): number {
    return this.headLen + (this.body?.length ?? 0);
  }

  constructor(opts: PacketParserOptions) {
    this.maxPacketSize = opts.maxPacketSize;
    this.version = opts.version;
  }

  /**
   * Feeds bytes and returns every packet they complete, in order. Throws MqttError on any
   * violation (0x95 for a packet over maxPacketSize); after that the stream is unusable and every
   * later push throws the same error.
   */
  push(chunk: Buffer): Packet[] {
    if (this.failure !== undefined) throw this.failure;
    const out: Packet[] = [];
    try {
      this.consume(chunk, out);
    } catch (err) {
      this.failure = err instanceof MqttError ? err : malformed(`undecodable packet: ${(err as Error).message}`);
      this.decodedBeforeError = out;
      throw this.failure;
    }
    return out;
  }

  private consume(chunk: Buffer, out: Packet[]): void {
    const len = chunk.length;
    let pos = 0;
    if (this.body !== undefined) {
      // Continue a packet that spans chunks.
      const body = this.body;
      const need = body.length - this.filled;
      if (len < need) {
        chunk.copy(body, this.filled);
        this.filled += len;
        return;
      }
      chunk.copy(body, this.filled, 0, need);
      this.body = undefined;
      this.emit(this.first, body, out);
      pos = need;
    } else if (this.headLen > 0) {
      // Complete a fixed header that was cut off; it is at most five bytes, so this copy is tiny.
      const had = this.headLen;
      const take = Math.min(MAX_HEADER - had, len);
      const head = this.head!;
      chunk.copy(head, had, 0, take);
      const h = this.header(head, 0, had + take);
      if (h === 0) {
        this.headLen = had + take;
        return;
      }
      this.headLen = 0;
      pos = this.frame(head[0], h, chunk, h - had, out);
      if (pos < 0) return;
    }
    while (pos < len) {
      const h = this.header(chunk, pos, len);
      if (h === 0) {
        chunk.copy((this.head ??= Buffer.alloc(MAX_HEADER)), 0, pos, len);
        this.headLen = len - pos;
        return;
      }
      pos = this.frame(chunk[pos], h, chunk, pos + h, out);
      if (pos < 0) return;
    }
  }

  /**
   * Handles one packet whose header (of `h` bytes, Remaining Length in this.rl) is read and whose body
   * starts at `start` in `chunk`. Returns the position after it, or -1 if the body continues in a
   * later chunk (it is then being collected in this.body).
   */
  private frame(first: number, h: number, chunk: Buffer, start: number, out: Packet[]): number {
    const rl = this.rl;
    // Checked before any of the body is kept, so an oversized packet costs no memory (3.1.2.11.4).
    if (h + rl > this.maxPacketSize) {
      const message = `packet of ${h + rl} bytes exceeds the maximum of ${this.maxPacketSize}`;
      // A CONNECT too large to read is still answered (CONNACK 0x95) when its first bytes say the version.
      const answer = this.version === undefined && first >> 4 === CONNECT ? peekConnectVersion(chunk, start) : undefined;
      if (answer !== undefined) throw new ConnectRefusedError(ReasonCode.PacketTooLarge, message, answer);
      throw new MqttError(ReasonCode.PacketTooLarge, message);
    }
    const end = start + rl;
    if (end <= chunk.length) {
      // A plain PUBACK (flags 0, a non-zero id, nothing else) is what a subscriber sends for every
      // QoS 1 message: read it in place, without a view of the chunk or a Reader. Anything else,
      // including a PUBACK the codec would refuse, goes through the codec.
      if (first === PUBACK && rl === 2 && this.version !== undefined) {
        const packetId = (chunk[start] << 8) | chunk[start + 1];
        if (packetId !== 0) {
          // As the codec decodes it: MQTT 5 reads a missing reason code as Success (3.4.2.1).
          out.push(this.version === 5 ? { type: 'puback', packetId, reasonCode: 0 } : { type: 'puback', packetId });
          return end;
        }
      }
      this.emit(first, chunk.subarray(start, end), out);
      return end;
    }
    const body = Buffer.allocUnsafe(rl);
    chunk.copy(body, 0, start);
    this.body = body;
    this.filled = chunk.length - start;
    this.first = first;
    return -1;
  }

  /**
   * Reads the Remaining Length after the type byte at `start`. Returns the header length, or 0 if
   * `end` cuts it off. More than four length bytes, or a non-minimal encoding, is malformed
   * [MQTT-1.5.5-1].
   */
  private header(buf: Buffer, start: number, end: number): number {
    let value = 0;
    let mult = 1;
    for (let i = 1; i < MAX_HEADER; i++) {
      const p = start + i;
      if (p >= end) return 0;
      const b = buf[p];
      value += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 1) throw malformed('remaining length not minimally encoded [MQTT-1.5.5-1]');
        this.rl = value;
        return i + 1;
      }
      mult *= 128;
    }
    throw malformed('remaining length longer than 4 bytes');
  }

  private emit(first: number, body: Buffer, out: Packet[]): void {
    const p = decode(first, body, this.version);
    if (p.type === 'connect' && this.version === undefined) this.version = p.protocolVersion;
    out.push(p);
  }
}
