// Bounds-checked reading and pre-sized writing of MQTT data types (section 1.5 of both specs).
// Every decoder reads through a Reader, so an overrun is always a MqttError (Malformed Packet),
// never a RangeError. Encoders size a packet first and then fill one buffer, so a packet is
// allocated exactly once.
import { isUtf8 } from 'node:buffer';
import { MAX_VARIABLE_BYTE_INTEGER } from './constants.js';
import { MqttError, malformed } from './errors.js';
import { ReasonCode } from './reason-codes.js';

/** Largest UTF-8 string or binary field: both carry a two-byte length prefix (sections 1.5.4 and 1.5.6 of MQTT 5). */
export const MAX_FIELD_LENGTH = 65_535;

export class Reader {
  pos: number;
  readonly end: number;

  constructor(
    readonly buf: Buffer,
    pos = 0,
    end = buf.length,
  ) {
    this.pos = pos;
    this.end = end;
  }

  /** Bytes not yet consumed. */
  get left(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw malformed('packet too short');
    return this.buf[this.pos++];
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) throw malformed('packet too short');
    this.pos = p + 2;
    return (this.buf[p] << 8) | this.buf[p + 1];
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) throw malformed('packet too short');
    this.pos = p + 4;
    return this.buf.readUInt32BE(p);
  }

  /**
   * Variable Byte Integer: at most four bytes [MQTT-1.5.5] and, as MQTT 5 requires, the minimum
   * number of bytes [MQTT-1.5.5-1]; a longer form only arises from a broken or hostile encoder.
   */
  varint(): number {
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) throw malformed('packet too short');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw malformed('variable byte integer not minimally encoded [MQTT-1.5.5-1]');
        return value;
      }
      mult *= 128;
    }
    throw malformed('variable byte integer longer than 4 bytes');
  }

  /**
   * UTF-8 Encoded String, validated: well-formed, no surrogates [MQTT-1.5.3-1], no U+0000 [MQTT-1.5.3-2]
   * (MQTT 5 numbers them [MQTT-1.5.4-1], [MQTT-1.5.4-2]).
   */
  utf8(): string {
    const len = this.u16();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw malformed('string runs past the end of the packet');
    this.pos = end;
    return decodeUtf8(this.buf, start, end);
  }

  /** Binary Data: a view into the packet, never a copy [MQTT-1.5.6]. */
  binary(): Buffer {
    const len = this.u16();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw malformed('binary field runs past the end of the packet');
    this.pos = end;
    return this.buf.subarray(start, end);
  }

  /** All remaining bytes as a view (a PUBLISH payload). */
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /** A packet must be fully consumed by its fields; leftovers mean the sender encoded something else. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) throw malformed(`${this.end - this.pos} unexpected byte(s) after ${what}`);
  }
}

/**
 * Decodes bytes [start, end) as an MQTT string. ASCII (the common case for topics and ids) is checked
 * with a plain loop and sliced as latin1; anything else goes through the native validator, which
 * rejects overlong forms, surrogates (U+D800..U+DFFF) and code points past U+10FFFF.
 */
export function decodeUtf8(buf: Buffer, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0) throw malformed('string contains U+0000 [MQTT-1.5.3-2]');
    if (b >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString('latin1', start, end);
  const view = buf.subarray(start, end);
  if (!isUtf8(view)) throw malformed('string is not well-formed UTF-8 [MQTT-1.5.3-1]');
  if (view.indexOf(0) !== -1) throw malformed('string contains U+0000 [MQTT-1.5.3-2]');
  return buf.toString('utf8', start, end);
}

/** Bytes a Variable Byte Integer takes. */
export function varintSize(n: number): number {
  if (n < 128) return 1;
  if (n < 16_384) return 2;
  if (n < 2_097_152) return 3;
  if (n <= MAX_VARIABLE_BYTE_INTEGER) return 4;
  throw malformed(`value ${n} does not fit a variable byte integer`);
}

/** Bytes a UTF-8 string field takes, length prefix included; throws if it cannot be represented. */
export function stringSize(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > MAX_FIELD_LENGTH) throw malformed(`string of ${n} bytes exceeds ${MAX_FIELD_LENGTH}`);
  return 2 + n;
}

/** Bytes a binary field takes, length prefix included; throws if it cannot be represented. */
export function binarySize(b: Buffer): number {
  if (b.length > MAX_FIELD_LENGTH) throw malformed(`binary field of ${b.length} bytes exceeds ${MAX_FIELD_LENGTH}`);
  return 2 + b.length;
}

/** Strings up to this long are written in JS: cheaper than a call into C++ for each. */
const SHORT_STRING = 64;

/**
 * Writes `s` from its unit `from` on as UTF-8 at `at` (room for 3 bytes per unit reserved by the
 * caller); returns the bytes written. A short ASCII string is copied in JS in the same pass that
 * finds it is ASCII; anything else goes through Buffer#write.
 */
export function writeUtf8(buf: Buffer, at: number, s: string, from = 0): number {
  const n = s.length - from;
  if (n <= SHORT_STRING) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(from + i);
      if (c >= 0x80) break;
      buf[at + i] = c;
    }
    if (i === n) return n;
  }
  return buf.write(from === 0 ? s : s.slice(from), at, 'utf8');
}

/**
 * `buf` grown (doubled until it fits) so that `used + more` bytes fit, its first `used` bytes kept;
 * `buf` itself when they already fit. For writers that reuse one buffer across frames or packs.
 */
export function withRoom(buf: Buffer, used: number, more: number): Buffer {
  if (used + more <= buf.length) return buf;
  let size = buf.length * 2;
  while (size < used + more) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  buf.copy(grown, 0, 0, used);
  return grown;
}

/** Writes into one buffer sized in advance; the encoders compute the size, the writer fills it. */
export class Writer {
  readonly buf: Buffer;
  pos = 0;

  private constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /**
   * A writer for a whole packet: the fixed header (first byte and Remaining Length) is written and
   * the caller writes exactly `remaining` more bytes.
   */
  static packet(firstByte: number, remaining: number): Writer {
    if (remaining > MAX_VARIABLE_BYTE_INTEGER) {
      throw new MqttError(ReasonCode.PacketTooLarge, `remaining length ${remaining} exceeds ${MAX_VARIABLE_BYTE_INTEGER}`);
    }
    const w = new Writer(1 + varintSize(remaining) + remaining);
    w.buf[0] = firstByte;
    w.pos = 1;
    w.varint(remaining);
    return w;
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  varint(v: number): void {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) b |= 0x80;
      this.buf[this.pos++] = b;
    } while (v > 0);
  }

  /** A UTF-8 string field; its size was checked by stringSize when the packet was sized. */
  utf8(s: string): void {
    const n = this.buf.write(s, this.pos + 2, 'utf8');
    this.buf[this.pos] = n >>> 8;
    this.buf[this.pos + 1] = n & 0xff;
    this.pos += 2 + n;
  }

  /** A binary field with its two-byte length. */
  binary(b: Buffer): void {
    this.u16(b.length);
    this.bytes(b);
  }

  /** Raw bytes (a PUBLISH payload). */
  bytes(b: Buffer): void {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** The finished packet; a size mismatch is a bug in an encoder, caught here rather than on the wire. */
  finish(): Buffer {
    if (this.pos !== this.buf.length) {
      throw new MqttError(ReasonCode.ImplementationSpecificError, `encoder wrote ${this.pos} of ${this.buf.length} bytes`);
    }
    return this.buf;
  }
}

/** Checks that a number fits an unsigned field of `bits` bits; encoders call it so bad input throws. */
export function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw malformed(`${what} ${v} out of range 0..${max}`);
}
