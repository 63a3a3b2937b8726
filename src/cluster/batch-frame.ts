// The compact binary frame that carries one batch of MQTT messages between cluster nodes: what one
// node sends another in one event-loop turn, as one NATS message (nats/link.ts). No per-message
// headers, no JSON: fixed fields, length-prefixed strings, the MQTT 5 properties in their own MQTT
// encoding (protocol/properties.ts), the payload untouched.
//
//   frame   u8 0x53 ('S')  u8 version (2)  u8 n + n bytes origin node id (ASCII)  u32 count  entry*count
//   entry   u8 flags       bit 0-1 QoS, 2 retain, 3 expiresAt, 4 publisherId, 5 properties, 6 shared key,
//                          7 handed on (a shared-group message a node passed on because its own
//                          member left; only with bit 6)
//           f64 createdAt  [f64 expiresAt]
//           [u8 k + str id suffix]  (QoS 1 and 2, and retained: the first k characters of the id
//                          before, then the suffix; the id of a QoS 0 message that is not retained
//                          is the receiving node's to give, as it is never stored, acknowledged or
//                          deduplicated: session/message.ts outlivesTurn)
//           str topic  [str publisherId]  [str shared key `group\0filter`]
//           [u32 n + properties as in a PUBLISH (their varint length included)]
//           u32 n + payload
//   str     u32 n + n bytes UTF-8, or u32 0xFFFFFFFF: the value this field had last in the frame
// All integers big-endian. Why the back-references: a client writes many PUBLISHes at once (32 per
// write in scenario 7), so a turn's entries come in runs of one topic and one publisher, and ids of
// one node share their prefix; a run then costs its strings once to write, send and read, and the
// receiving node's messages share one string each. An entry another frame may copy as bytes
// (`appendEncoded`) is written without them.
// A frame is read in full before anything of it is used: a short, overlong or inconsistent frame is
// refused as a whole with a FrameError (the link counts it as malformed), never a RangeError, and
// never half-applied.
import { isUtf8 } from 'node:buffer';
import type { QoS } from '../protocol/constants.js';
import type { Properties } from '../protocol/packets.js';
import { Reader, withRoom, Writer, writeUtf8 } from '../protocol/bytes.js';
import { propertiesSize, readProperties, writeProperties } from '../protocol/properties.js';
import type { StoredMessage } from '../store/ports.js';
import { keepable, outlivesTurn, type MessageIds } from '../session/message.js';

export const FRAME_MAGIC = 0x53;
export const FRAME_VERSION = 2;

/** A string's length that says "the value this field had last in the frame". */
const SAME = 0xffff_ffff;
/** The longest id prefix an entry shares with the one before (its length is one byte). */
const MAX_PREFIX = 255;

const F_RETAIN = 1 << 2;
const F_EXPIRES = 1 << 3;
const F_PUBLISHER = 1 << 4;
const F_PROPERTIES = 1 << 5;
const F_SHARED = 1 << 6;
const F_HANDED_ON = 1 << 7;

export class FrameError extends Error {}

/** One message of a batch; `shared` (`group\0filter`) sends it to that shared group's member on the receiving node. */
export interface FrameEntry {
  message: StoredMessage;
  shared?: string;
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

/**
 * A peer's message properties, once encoded as a PUBLISH to a client carries them: what no PUBLISH
 * can carry (a value of the wrong type or range, a property a PUBLISH may not have) throws here,
 * where the message is read, and not in a subscriber's connection.
 */
export function checkedProperties(props: Properties): Properties {
  if (props === null || typeof props !== 'object' || Array.isArray(props)) throw new FrameError('properties are not an object');
  encodeProperties(props);
  return props;
}

/** Strings up to this long are read in JS: cheaper than a call into C++ for each (protocol/bytes.ts writes them so too). */
const SHORT = 64;

const varintBytes = (n: number): number => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4);

/** A writer's buffer starts this large and doubles as entries need. */
const INITIAL_CAPACITY = 4 * 1024;
/** A buffer grown past this is let go once its frame is out (a burst of large messages is not kept). */
const KEPT_CAPACITY = 64 * 1024;

/** Bytes an entry of `m` may take at most (3 UTF-8 bytes per UTF-16 unit), properties aside. */
function entryBound(m: StoredMessage, shared: string | undefined): number {
  let n = ENTRY_FIXED + 3 * m.topic.length + m.payload.length;
  if (outlivesTurn(m)) n += ID_FIXED + 3 * m.id.length;
  if (m.expiresAt !== undefined) n += 8;
  if (m.publisherId !== undefined) n += 4 + 3 * m.publisherId.length;
  if (shared !== undefined) n += 4 + 3 * shared.length;
  return n;
}

/** flags + createdAt + the topic's and payload's lengths: the least an entry takes. */
const ENTRY_FIXED = 1 + 8 + 4 + 4;
/** A QoS 1/2 id's shared prefix length and suffix length. */
const ID_FIXED = 1 + 4;

/**
 * Writes frames from one origin: each entry is encoded straight into the writer's buffer in one
 * pass (no sizing pass first: strings are measured as they are written), and an entry already
 * written may be copied as bytes into another writer (the same message for several nodes is encoded
 * once). The buffer is kept from frame to frame; `finish` hands out an exact copy of each frame.
 */
export class FrameWriter {
  private buf: Buffer;
  private pos: number;
  private count = 0;
  /** Where the last entry written starts, and whether it was written standalone (see `appendEncoded`). */
  private last = 0;
  private lastStandalone = false;
  private readonly header: number;
  /** The values each field had last in this frame (what a back-reference stands for). */
  private prevId = '';
  private prevTopic: string | undefined;
  private prevPublisher: string | undefined;
  private prevShared: string | undefined;

  constructor(
    private readonly origin: string,
    /** The largest frame allowed; an entry that would make the frame larger is refused (`append`). */
    readonly max = Infinity,
  ) {
    this.header = frameHeaderSize(origin);
    this.buf = this.fresh(INITIAL_CAPACITY);
    this.pos = this.header;
  }

  private fresh(capacity: number): Buffer {
    const buf = Buffer.allocUnsafe(Math.max(capacity, this.header + 64));
    buf[0] = FRAME_MAGIC;
    buf[1] = FRAME_VERSION;
    buf[2] = buf.write(this.origin, 3, 'latin1');
    return buf;
  }

  /** Entries written so far. */
  get entries(): number {
    return this.count;
  }

  /** Bytes of the frame so far. */
  get size(): number {
    return this.pos;
  }

  /**
   * Writes one entry; returns false, and writes nothing, when the frame would exceed `max` with it
   * (send this frame and append to a new one). `standalone` writes it without back-references to the
   * entries before, so that another frame may copy it (`appendEncoded`). Throws (an MqttError from
   * the properties encoder) when the message's properties cannot be encoded.
   */
  append(m: StoredMessage, shared?: string, handedOn = false, standalone = false): boolean {
    const properties = encodeProperties(m.properties);
    const bound = entryBound(m, shared) + (properties ? 4 + properties.length : 0);
    // Sure to fit, or measured: only an entry near the limit is sized, as if written in full (exact
    // in an empty frame; where it would refer back, cautious by the strings it would not repeat, so
    // a frame near its limit may be sent a little early).
    if (this.pos + bound > this.max && this.pos + exactSize(m, shared, properties) > this.max) return false;
    if (standalone) this.forget();
    this.reserve(bound);
    const buf = this.buf;
    const start = this.pos;
    let pos = start + 1;
    let flags = m.qos & 3;
    if (m.retain) flags |= F_RETAIN;
    buf.writeDoubleBE(m.createdAt, pos);
    pos += 8;
    if (m.expiresAt !== undefined) {
      flags |= F_EXPIRES;
      buf.writeDoubleBE(m.expiresAt, pos);
      pos += 8;
    }
    if (outlivesTurn(m)) {
      pos = writeId(buf, m.id, this.prevId, pos);
      this.prevId = m.id;
    }
    pos = m.topic === this.prevTopic ? writeSame(buf, pos) : writeStr(buf, (this.prevTopic = m.topic), pos);
    const publisher = m.publisherId;
    if (publisher !== undefined) {
      flags |= F_PUBLISHER;
      pos = publisher === this.prevPublisher ? writeSame(buf, pos) : writeStr(buf, (this.prevPublisher = publisher), pos);
    }
    if (shared !== undefined) {
      flags |= F_SHARED;
      if (handedOn) flags |= F_HANDED_ON;
      pos = shared === this.prevShared ? writeSame(buf, pos) : writeStr(buf, (this.prevShared = shared), pos);
    }
    if (properties) {
      flags |= F_PROPERTIES;
      pos = writeBytes(buf, properties, pos);
    }
    pos = writeBytes(buf, m.payload, pos);
    buf[start] = flags;
    this.last = start;
    this.lastStandalone = standalone;
    this.pos = pos;
    this.count++;
    return true;
  }

  /**
   * Appends, byte for byte, the entry `from` wrote last, which it must have written standalone (the
   * same message for several nodes is encoded once); false, as `append`, if it does not fit.
   */
  appendEncoded(from: FrameWriter): boolean {
    if (!from.lastStandalone) throw new Error('appendEncoded: the entry was not written standalone');
    const entry = from.buf.subarray(from.last, from.pos);
    if (this.pos + entry.length > this.max) return false;
    this.reserve(entry.length);
    entry.copy(this.buf, this.pos);
    this.pos += entry.length;
    this.count++;
    // A standalone entry's fields are all `from` knows of: what it carries is what they had last.
    if (from.prevId !== '') this.prevId = from.prevId;
    this.prevTopic = from.prevTopic;
    if (from.prevPublisher !== undefined) this.prevPublisher = from.prevPublisher;
    if (from.prevShared !== undefined) this.prevShared = from.prevShared;
    return true;
  }

  /** No entry after this refers to one before it. */
  private forget(): void {
    this.prevId = '';
    this.prevTopic = this.prevPublisher = this.prevShared = undefined;
  }

  /** The frame written so far, in a buffer of its own; the writer starts the next frame, empty. */
  finish(): Buffer {
    this.buf.writeUInt32BE(this.count, this.header - 4);
    const frame = Buffer.allocUnsafe(this.pos);
    this.buf.copy(frame, 0, 0, this.pos);
    if (this.buf.length > KEPT_CAPACITY) this.buf = this.fresh(INITIAL_CAPACITY);
    this.pos = this.header;
    this.count = 0;
    // Its last entry went with the frame: nothing is left to copy (appendEncoded refuses).
    this.lastStandalone = false;
    this.forget();
    return frame;
  }

  private reserve(n: number): void {
    this.buf = withRoom(this.buf, this.pos, n);
  }
}

/** The exact size of an entry (for one near a frame's limit). */
function exactSize(m: StoredMessage, shared: string | undefined, properties: Buffer | undefined): number {
  // (Every string in full: the most an entry takes, and what it takes as a frame's first.)
  let n = ENTRY_FIXED + Buffer.byteLength(m.topic) + m.payload.length;
  if (outlivesTurn(m)) n += ID_FIXED + Buffer.byteLength(m.id);
  if (m.expiresAt !== undefined) n += 8;
  if (m.publisherId !== undefined) n += 4 + Buffer.byteLength(m.publisherId);
  if (shared !== undefined) n += 4 + Buffer.byteLength(shared);
  if (properties) n += 4 + properties.length;
  return n;
}

/** Writes `s` from its unit `from` on as u32 length + UTF-8 at `pos` (room for 3 bytes per unit reserved); returns the position after it. */
function writeStr(buf: Buffer, s: string, pos: number, from = 0): number {
  const len = writeUtf8(buf, pos + 4, s, from);
  buf.writeUInt32BE(len, pos);
  return pos + 4 + len;
}

/** A back-reference: this field has the value it had last. */
function writeSame(buf: Buffer, pos: number): number {
  buf.writeUInt32BE(SAME, pos);
  return pos + 4;
}

/**
 * Writes `id` as the length of the ASCII prefix it shares with `prev` (one byte) and the rest of it.
 * Only ASCII is shared, so the rest never starts inside a surrogate pair.
 */
function writeId(buf: Buffer, id: string, prev: string, pos: number): number {
  const max = Math.min(id.length, prev.length, MAX_PREFIX);
  let k = 0;
  for (; k < max; k++) {
    const c = id.charCodeAt(k);
    if (c !== prev.charCodeAt(k) || c >= 0x80) break;
  }
  buf[pos] = k;
  return writeStr(buf, id, pos + 1, k);
}

function writeBytes(buf: Buffer, b: Buffer, pos: number): number {
  buf.writeUInt32BE(b.length, pos);
  // The typed array's own copy: Buffer#copy's argument handling costs more than a small payload.
  buf.set(b, pos + 4);
  return pos + 4 + b.length;
}

/** One frame from `origin` carrying `entries` in order (for tests and one-off frames). */
export function encodeFrame(origin: string, entries: readonly FrameEntry[]): Buffer {
  const w = new FrameWriter(origin);
  for (const e of entries) w.append(e.message, e.shared);
  return w.finish();
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

  /** A string, or SAME for a back-reference (only where one may stand, see decodeFrame). */
  str(what: string): string {
    const n = this.u32(what);
    if (n === SAME) throw new FrameError(`${what} refers back where it may not`);
    return this.strOf(n, what);
  }
  /** A string field that may refer back to `prev`, the value it had last in the frame. */
  field(prev: string | undefined, what: string): string {
    const n = this.u32(what);
    if (n !== SAME) return this.strOf(n, what);
    if (prev === undefined) throw new FrameError(`${what} refers back to none`);
    return prev;
  }
  private strOf(n: number, what: string): string {
    this.need(n, what);
    const start = this.pos;
    const end = (this.pos += n);
    const buf = this.buf;
    // An id's suffix is mostly one character: V8 keeps one string per such character.
    if (n === 1 && buf[start] < 0x80) return String.fromCharCode(buf[start]);
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
 * A decoded frame: its origin, its messages in order, and (only when some entry had one) each
 * message's shared key at the same index. Parallel arrays: no object per entry beyond the message.
 */
export interface DecodedFrame {
  origin: string;
  messages: StoredMessage[];
  shared: (string | undefined)[] | undefined;
  /** Which shared entries were handed on (only when some were). */
  handedOn: boolean[] | undefined;
}

/**
 * A frame's origin and messages. With `copy`, the payload (and correlation data) of each message
 * that may outlive the turn (outlivesTurn: QoS 1 or 2, or retained) is a copy of its own, so a
 * queued message holds nothing of the frame; any other is delivered at once or not at all, and keeps
 * views of `data`, as one from a local PUBLISH keeps views of its read buffer (session/message.ts).
 * Without `copy`, every payload is a view of `data`. `ids` gives each message that does not outlive
 * the turn its id here. Throws a FrameError saying what is wrong with a malformed frame.
 */
export function decodeFrame(data: Uint8Array, ids: Pick<MessageIds, 'next'>, copy = false): DecodedFrame {
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
  // Every entry takes at least ENTRY_FIXED bytes: a count the frame cannot hold is refused before any work.
  if (count * ENTRY_FIXED > buf.length - r.pos) throw new FrameError(`frame too short for ${count} entries`);
  const messages: StoredMessage[] = new Array(count);
  let sharedKeys: (string | undefined)[] | undefined;
  let handedOn: boolean[] | undefined;
  // The values fields had last (what back-references stand for); `prefix` is the start of `id`
  // its successor shared, kept so that a run of ids shares one prefix string.
  let id = '';
  let prefix = '';
  let topic: string | undefined;
  let publisherId: string | undefined;
  let sharedKey: string | undefined;
  for (let i = 0; i < count; i++) {
    const flags = r.u8('flags');
    if (flags & F_HANDED_ON) {
      if (!(flags & F_SHARED)) throw new FrameError('handed on without a shared key');
      (handedOn ??= new Array<boolean>(count))[i] = true;
    }
    const qos = flags & 3;
    if (qos === 3) throw new FrameError('QoS 3');
    const retain = (flags & F_RETAIN) !== 0;
    const kept = outlivesTurn({ qos, retain });
    const createdAt = r.f64('createdAt');
    const expiresAt = flags & F_EXPIRES ? r.f64('expiresAt') : undefined;
    let messageId: string;
    if (!kept) messageId = ids.next();
    else {
      const k = r.u8('id');
      if (k > id.length) throw new FrameError('id shares more than the id before has');
      if (k !== prefix.length) {
        // Only ASCII is shared (writeId): a prefix ending in half a surrogate pair is not from a writer.
        const c = id.charCodeAt(k - 1);
        if (c >= 0xd800 && c <= 0xdbff) throw new FrameError('id prefix splits a character');
        prefix = id.slice(0, k);
      }
      const rest = r.str('id');
      messageId = id = k === 0 ? rest : prefix + rest;
      if (id.length === 0) throw new FrameError('empty message id');
    }
    topic = r.field(topic, 'topic');
    const publisher = flags & F_PUBLISHER ? (publisherId = r.field(publisherId, 'publisherId')) : undefined;
    if (flags & F_SHARED) (sharedKeys ??= new Array(count))[i] = sharedKey = r.field(sharedKey, 'shared key');
    let props: Properties | undefined;
    if (flags & F_PROPERTIES) {
      const p = r.bytes('properties');
      try {
        const pr = new Reader(p);
        props = readProperties(pr, 'publish');
        if (pr.pos !== p.length) throw new FrameError('properties longer than their length');
      } catch (err) {
        throw err instanceof FrameError ? err : new FrameError(`properties: ${(err as Error).message}`);
      }
    }
    // A message that may be queued holds nothing of the frame (the NATS client's or IPC read buffer).
    if (copy && kept && props?.correlationData) props.correlationData = keepable(props.correlationData);
    const payload = copy && kept ? r.copy('payload') : r.bytes('payload');
    // Fields in the order a message made from a PUBLISH has them (session/message.ts), so the
    // receiving node's routing sees one shape of message, local or forwarded.
    const message: StoredMessage = { id: messageId, topic, payload, qos: qos as QoS, retain, createdAt };
    if (publisher !== undefined) message.publisherId = publisher;
    if (props) message.properties = props;
    if (expiresAt !== undefined) message.expiresAt = expiresAt;
    messages[i] = message;
  }
  if (!r.done) throw new FrameError('bytes after the last entry');
  return { origin, messages, shared: sharedKeys, handedOn };
}
