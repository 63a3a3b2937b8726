// The compact binary frame that carries one batch of MQTT messages between cluster nodes: what one
// node sends another in one event-loop turn, as one NATS message (nats/link.ts). No per-message
// headers, no JSON: fixed fields, length-prefixed strings, the MQTT 5 properties in their own MQTT
// encoding (protocol/properties.ts), the payload untouched.
//
//   frame   u8 0x53 ('S')  u8 version (1)  u8 n + n bytes origin node id (ASCII)  u32 count  entry*count
//   entry   u8 flags       bit 0-1 QoS, 2 retain, 3 expiresAt, 4 publisherId, 5 properties, 6 shared key;
//                          bit 7 must be 0
//           f64 createdAt  [f64 expiresAt]
//           u32 n + UTF-8 id     u32 n + UTF-8 topic
//           [u32 n + UTF-8 publisherId]  [u32 n + UTF-8 shared key `group\0filter`]
//           [u32 n + properties as in a PUBLISH (their varint length included)]
//           u32 n + payload
// All integers big-endian. A frame is read in full before anything of it is used: a short,
// overlong or inconsistent frame is refused as a whole with a FrameError (the link counts it as
// malformed), never a RangeError, and never half-applied.
import { isUtf8 } from 'node:buffer';
import type { QoS } from '../protocol/constants.js';
import type { Properties } from '../protocol/packets.js';
import { Reader, Writer } from '../protocol/bytes.js';
import { propertiesSize, readProperties, writeProperties } from '../protocol/properties.js';
import type { StoredMessage } from '../store/ports.js';
import { validateMessage } from '../store/validate.js';

export const FRAME_MAGIC = 0x53;
export const FRAME_VERSION = 1;

const F_RETAIN = 1 << 2;
const F_EXPIRES = 1 << 3;
const F_PUBLISHER = 1 << 4;
const F_PROPERTIES = 1 << 5;
const F_SHARED = 1 << 6;
const F_RESERVED = 1 << 7;

export class FrameError extends Error {}

/** Stands in for a payload until it is read (the payload comes last in an entry). */
const NO_PAYLOAD = Buffer.alloc(0);

/** One message of a batch; `shared` (`group\0filter`) sends it to that shared group's member on the receiving node. */
export interface FrameEntry {
  message: StoredMessage;
  shared?: string;
}

/** An entry sized and its variable parts encoded once, ready to be written into a frame. */
export interface SizedEntry {
  readonly entry: FrameEntry;
  /** Bytes the entry takes in a frame. */
  readonly size: number;
  readonly properties?: Buffer;
}

const HEADER_FIXED = 1 + 1 + 1 + 4;

/** Bytes of a frame's header for this origin (everything before the first entry). */
export const frameHeaderSize = (origin: string): number => HEADER_FIXED + Buffer.byteLength(origin, 'latin1');

/** The MQTT encoding of a message's properties (varint length first), or undefined when it has none. */
function encodeProperties(props: Properties | undefined): Buffer | undefined {
  if (props === undefined) return undefined;
  const size = propertiesSize(props, 'publish');
  if (size === 0) return undefined;
  // Writer only makes whole packets: write one with a dummy fixed header and keep what follows it.
  const w = Writer.packet(0, varintBytes(size) + size);
  const start = w.pos;
  writeProperties(w, props, size);
  return w.finish().subarray(start);
}

/** Strings up to this long are measured, written and read in JS: cheaper than a call into C++ for each. */
const SHORT = 64;

/** UTF-8 length of `s`. */
function utf8Length(s: string): number {
  if (s.length > SHORT) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Writes `s` as UTF-8 at `pos`; returns the bytes written. */
function writeUtf8(buf: Buffer, s: string, pos: number): number {
  if (s.length <= SHORT) {
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos + i] = c;
    }
    if (i === s.length) return i;
  }
  return buf.write(s, pos, 'utf8');
}

const varintBytes = (n: number): number => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4);

/** Sizes an entry; throws (an MqttError from the properties encoder) if its properties cannot be encoded. */
export function sizeEntry(entry: FrameEntry): SizedEntry {
  const m = entry.message;
  const properties = encodeProperties(m.properties);
  let size = 1 + 8 + 4 + utf8Length(m.id) + 4 + utf8Length(m.topic) + 4 + m.payload.length;
  if (m.expiresAt !== undefined) size += 8;
  if (m.publisherId !== undefined) size += 4 + utf8Length(m.publisherId);
  if (entry.shared !== undefined) size += 4 + utf8Length(entry.shared);
  if (properties) size += 4 + properties.length;
  return properties ? { entry, size, properties } : { entry, size };
}

/** One frame from `origin` carrying `entries` in order, in one buffer allocated once. */
export function encodeFrame(origin: string, entries: readonly SizedEntry[]): Buffer {
  let total = frameHeaderSize(origin);
  for (const e of entries) total += e.size;
  const buf = Buffer.allocUnsafe(total);
  buf[0] = FRAME_MAGIC;
  buf[1] = FRAME_VERSION;
  const n = buf.write(origin, 3, 'latin1');
  buf[2] = n;
  let pos = 3 + n;
  buf.writeUInt32BE(entries.length, pos);
  pos += 4;
  const str = (s: string): void => {
    const len = writeUtf8(buf, s, pos + 4);
    buf.writeUInt32BE(len, pos);
    pos += 4 + len;
  };
  const bytes = (b: Buffer): void => {
    buf.writeUInt32BE(b.length, pos);
    b.copy(buf, pos + 4);
    pos += 4 + b.length;
  };
  for (const { entry, properties } of entries) {
    const m = entry.message;
    let flags = m.qos & 3;
    if (m.retain) flags |= F_RETAIN;
    if (m.expiresAt !== undefined) flags |= F_EXPIRES;
    if (m.publisherId !== undefined) flags |= F_PUBLISHER;
    if (properties) flags |= F_PROPERTIES;
    if (entry.shared !== undefined) flags |= F_SHARED;
    buf[pos++] = flags;
    buf.writeDoubleBE(m.createdAt, pos);
    pos += 8;
    if (m.expiresAt !== undefined) {
      buf.writeDoubleBE(m.expiresAt, pos);
      pos += 8;
    }
    str(m.id);
    str(m.topic);
    if (m.publisherId !== undefined) str(m.publisherId);
    if (entry.shared !== undefined) str(entry.shared);
    if (properties) bytes(properties);
    bytes(m.payload);
  }
  if (pos !== total) throw new FrameError(`frame encoder wrote ${pos} of ${total} bytes`);
  return buf;
}

/** Node's Buffer reads latin1 without toString's argument handling (a method of every Buffer, untyped). */
interface Latin1 {
  latin1Slice(start: number, end: number): string;
}

/** Reads fields of a frame, refusing anything that runs past its end. */
class FrameReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new FrameError(`frame too short for ${what}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(what: string): number {
    this.need(8, what);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    if (!Number.isSafeInteger(v)) throw new FrameError(`${what} is not an integer`);
    return v;
  }
  bytes(what: string): Buffer {
    const n = this.u32(what);
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** Like bytes, into a buffer of its own (no view made first). */
  copy(what: string): Buffer {
    const n = this.u32(what);
    this.need(n, what);
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, this.pos, (this.pos += n));
    return out;
  }

  str(what: string): string {
    const n = this.u32(what);
    this.need(n, what);
    const start = this.pos;
    const end = (this.pos += n);
    const buf = this.buf;
    if (n <= SHORT) {
      let i = start;
      while (i < end && buf[i] < 0x80) i++;
      // ASCII: no check needed, and latin1 reads it without a view.
      if (i === end) return (buf as unknown as Latin1).latin1Slice(start, end);
    }
    const b = buf.subarray(start, end);
    if (!isUtf8(b)) throw new FrameError(`${what} is not UTF-8`);
    return b.toString('utf8');
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

/**
 * A frame's origin and entries. With `copy`, each payload is a copy of its own (a message queued for
 * a session then holds its payload, not the whole frame, and `data` may be reused); without, payloads
 * are views of `data`. Throws a FrameError saying what is wrong with a malformed frame.
 */
export function decodeFrame(data: Uint8Array, copy = false): { origin: string; entries: FrameEntry[] } {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const r = new FrameReader(buf);
  if (r.u8('magic') !== FRAME_MAGIC) throw new FrameError('not a Starling frame');
  const version = r.u8('version');
  if (version !== FRAME_VERSION) throw new FrameError(`unknown frame version ${version}`);
  const n = r.u8('origin');
  r.need(n, 'origin');
  const origin = buf.toString('latin1', r.pos, r.pos + n);
  r.pos += n;
  if (n === 0) throw new FrameError('no origin');
  const count = r.u32('count');
  // Every entry takes at least 21 bytes: a count the frame cannot hold is refused before any work.
  if (count * 21 > buf.length - r.pos) throw new FrameError(`frame too short for ${count} entries`);
  const entries: FrameEntry[] = [];
  for (let i = 0; i < count; i++) {
    const flags = r.u8('flags');
    if (flags & F_RESERVED) throw new FrameError('reserved flag set');
    const qos = flags & 3;
    if (qos === 3) throw new FrameError('QoS 3');
    const createdAt = r.f64('createdAt');
    const expiresAt = flags & F_EXPIRES ? r.f64('expiresAt') : undefined;
    const message: StoredMessage = { id: r.str('id'), topic: r.str('topic'), payload: NO_PAYLOAD, qos: qos as QoS, retain: (flags & F_RETAIN) !== 0, createdAt };
    if (expiresAt !== undefined) message.expiresAt = expiresAt;
    if (flags & F_PUBLISHER) message.publisherId = r.str('publisherId');
    const shared = flags & F_SHARED ? r.str('shared key') : undefined;
    if (flags & F_PROPERTIES) {
      const p = r.bytes('properties');
      try {
        const pr = new Reader(p);
        const props = readProperties(pr, 'publish');
        if (pr.pos !== p.length) throw new FrameError('properties longer than their length');
        if (props) message.properties = props;
      } catch (err) {
        throw err instanceof FrameError ? err : new FrameError(`properties: ${(err as Error).message}`);
      }
    }
    message.payload = copy ? r.copy('payload') : r.bytes('payload');
    const why = validateMessage(message);
    if (why) throw new FrameError(why);
    entries.push(shared === undefined ? { message } : { message, shared });
  }
  if (!r.done) throw new FrameError('bytes after the last entry');
  return { origin, entries };
}
