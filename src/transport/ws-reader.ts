// Client-to-server WebSocket frames [RFC 6455 section 5], read by us rather than by `ws`: an idle
// connection then costs a few fields on its transport, where `ws` gave each one a WebSocket, a
// Receiver (a Writable stream with its state and listener table) and a Sender (about 2 KB of heap).
//
// MQTT treats the payloads of binary messages as one byte stream [MQTT-6.0.0-2], so payload bytes
// are handed on as they arrive, chunk by chunk (the payloads of a chunk's data frames together):
// nothing is reassembled, and only a cut-off header or control frame (at most 14 + 125 bytes) is
// held between chunks. Every violation ends the connection with the close code the RFC gives it;
// nothing here throws.
import { isUtf8 } from 'node:buffer';
import { Opcode as Op } from './ws-frame.js';

/** What the reader reports; one object per connection (the transport), so no closures. */
export interface WsFrameSink {
  /** Unmasked payload bytes of a binary message, in order; never empty. */
  wsData(payload: Buffer): void;
  wsPing(payload: Buffer): void;
  wsPong(): void;
  /** A close frame: its code (1005 when it had none) and reason. Nothing more is read. */
  wsClose(code: number, reason: string): void;
  /** A violation: close the connection with `code` [RFC 6455 section 7.4.1]. Nothing more is read. */
  wsFail(code: number, message: string): void;
}

export const enum CloseCode {
  Normal = 1000,
  ProtocolError = 1002,
  Unsupported = 1003,
  NoStatus = 1005,
  InvalidPayload = 1007,
  TooBig = 1009,
}

/** Reading state; `Cut` while `held` is a header or control frame cut off at a chunk's end; `Done` after a close frame or a violation. */
const enum State {
  Header,
  Payload,
  Cut,
  Done,
}

/** Close codes a peer may send [RFC 6455 section 7.4.1, 7.4.2]; 1004-1006 and 1015 never travel. */
export function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

const EMPTY = Buffer.alloc(0);
/**
 * Longest frame start the reader needs in one piece: a header (2 + 8 length + 4 mask bytes) and a
 * control frame's body (125). What wait() holds (State.Cut) is shorter, and so many bytes of the next
 * chunk always complete it.
 */
const CUT_MAX = 14 + 125;

export class WsFrameReader {
  private state = State.Header;
  /** A cut-off header or control frame, copied (so a large chunk is not kept for its last bytes). */
  private held?: Buffer;
  /** Payload bytes of the current data frame still to come. */
  private remaining = 0;
  /** The current frame's masking key, and where in it the next payload byte falls. */
  private mask = 0;
  private maskAt = 0;
  /** A fragmented binary message is open: continuation frames are expected. */
  private fragmented = false;
  /** Payload bytes of the current message so far (checked against `maxMessage`). */
  private messageBytes = 0;
  /** Set by the sink (backpressure); what is left of a chunk waits in `held` until resume. */
  private paused = false;
  /**
   * Unmasked payload bytes of the chunk being read, not yet handed on: `[runFrom, runTo)` of it.
   * The payloads of consecutive data frames are moved together over the headers between them (in
   * place, behind the read position) and handed on as one, so a chunk of many small frames (a
   * client sends one frame per MQTT packet) costs the connection one parse, as over TCP.
   */
  private runFrom = 0;
  private runTo = 0;
  private readonly maxMessage: number;
  private readonly sink: WsFrameSink;

  constructor(sink: WsFrameSink, maxMessage: number) {
    this.sink = sink;
    this.maxMessage = maxMessage;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /** Reads nothing more (the connection is going away). */
  stop(): void {
    this.state = State.Done;
    this.held = undefined;
  }

  pause(): void {
    this.paused = true;
  }

  /** Reads what waited while paused. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.feed(EMPTY);
  }

  feed(chunk: Buffer): void {
    if (this.state === State.Done) return;
    let buf = chunk;
    let pos = 0;
    const held = this.held;
    if (held) {
      this.held = undefined;
      const cut = this.state === State.Cut;
      if (cut) this.state = State.Header;
      if (chunk.length === 0) buf = held;
      else if (cut && !this.paused) {
        // A cut-off header or control frame (wait()): completed from the chunk's first bytes, and
        // the rest of the chunk read where it is rather than copied in behind it.
        const end = this.header(Buffer.concat([held, chunk.subarray(0, CUT_MAX)]), 0);
        if (end < 0) return; // still cut off (held again), or the end
        pos = end - held.length;
      } else buf = Buffer.concat([held, chunk]);
    }
    while (pos < buf.length && !this.done) {
      if (this.paused) {
        // Only a sink call pauses, and each hands on the run first: it is empty here, this is a guard.
        this.handOn(buf);
        this.hold(buf, pos);
        return;
      }
      pos = this.state === State.Payload ? this.payload(buf, pos) : this.header(buf, pos);
      if (pos < 0) return; // held until more arrives
    }
    this.handOn(buf);
  }

  /** Keeps the unread rest of `buf`: copied when small (a header), as is when it is payload. */
  private hold(buf: Buffer, pos: number): void {
    const rest = buf.subarray(pos);
    this.held = rest.length <= 256 ? Buffer.from(rest) : rest;
  }

  /** Unmasks the payload bytes of the current data frame that `buf` holds from `pos`, adding them to the run. */
  private payload(buf: Buffer, pos: number): number {
    const n = Math.min(this.remaining, buf.length - pos);
    this.maskAt = unmask(buf.subarray(pos, pos + n), this.mask, this.maskAt);
    this.remaining -= n;
    if (this.remaining === 0) this.state = State.Header;
    if (this.runTo === this.runFrom) {
      this.runFrom = pos;
      this.runTo = pos + n;
    } else {
      // Over the header(s) just read: bytes before the read position, never handed on.
      if (this.runTo !== pos) buf.copyWithin(this.runTo, pos, pos + n);
      this.runTo += n;
    }
    return pos + n;
  }

  /**
   * Hands on the run of payload bytes read from `buf`: at the end of a chunk, and before anything
   * else is reported (a control frame, a violation) or read is paused, so the connection sees
   * data, control frames and errors in the order they came.
   */
  private handOn(buf: Buffer): void {
    if (this.runTo === this.runFrom) return;
    const bytes = buf.subarray(this.runFrom, this.runTo);
    this.runFrom = this.runTo = 0;
    this.sink.wsData(bytes);
  }

  /** Reads one frame header at `pos` (and a control frame's payload); -1 when it is not all here. */
  private header(buf: Buffer, pos: number): number {
    const avail = buf.length - pos;
    if (avail < 2) return this.wait(buf, pos);
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const op = b0 & 0x0f;
    // No extension is negotiated, so every RSV bit must be clear [RFC 6455 section 5.2].
    if ((b0 & 0x70) !== 0) return this.fail(CloseCode.ProtocolError, 'RSV bits set without an extension', buf, pos);
    // Every frame from a client is masked [RFC 6455 section 5.1].
    if ((b1 & 0x80) === 0) return this.fail(CloseCode.ProtocolError, 'unmasked frame from a client', buf, pos);
    const len7 = b1 & 0x7f;
    const lengthBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const headerLength = 2 + lengthBytes + 4;
    if (avail < headerLength) return this.wait(buf, pos);
    let length: number;
    if (len7 === 126) length = buf.readUInt16BE(pos + 2);
    else if (len7 === 127) {
      const high = buf.readUInt32BE(pos + 2);
      // The most significant bit must be 0 [RFC 6455 section 5.2]; anything past 2^32 is too big for us anyway.
      if (high >= 0x80000000) return this.fail(CloseCode.ProtocolError, 'frame length with the most significant bit set', buf, pos);
      if (high !== 0) return this.fail(CloseCode.TooBig, 'frame larger than the broker accepts', buf, pos);
      length = buf.readUInt32BE(pos + 6);
    } else length = len7;
    const mask = buf.readInt32BE(pos + 2 + lengthBytes);

    if (op >= 0x8) {
      // Control frames: never fragmented, at most 125 bytes [RFC 6455 section 5.5].
      if (!fin) return this.fail(CloseCode.ProtocolError, 'fragmented control frame', buf, pos);
      if (length > 125) return this.fail(CloseCode.ProtocolError, 'control frame longer than 125 bytes', buf, pos);
      if (op !== Op.Close && op !== Op.Ping && op !== Op.Pong) return this.fail(CloseCode.ProtocolError, `unknown opcode ${op}`, buf, pos);
      if (avail < headerLength + length) return this.wait(buf, pos);
      const start = pos + headerLength;
      // A copy: a ping's payload goes back out in the pong, after this chunk has been handed on.
      const body = Buffer.from(buf.subarray(start, start + length));
      unmask(body, mask, 0);
      if (this.handedOnAndStopped(buf, pos)) return -1;
      this.control(op, body);
      return start + length;
    }

    if (op === Op.Continuation) {
      if (!this.fragmented) return this.fail(CloseCode.ProtocolError, 'continuation frame without a message to continue', buf, pos);
    } else if (op === Op.Binary || op === Op.Text) {
      if (this.fragmented) return this.fail(CloseCode.ProtocolError, 'new message inside a fragmented one', buf, pos);
      // MQTT packets travel in binary frames only [MQTT-6.0.0-1].
      if (op === Op.Text) return this.fail(CloseCode.Unsupported, 'text WebSocket frame received; MQTT needs binary frames', buf, pos);
      this.messageBytes = 0;
    } else return this.fail(CloseCode.ProtocolError, `unknown opcode ${op}`, buf, pos);
    this.messageBytes += length;
    if (this.messageBytes > this.maxMessage) return this.fail(CloseCode.TooBig, `WebSocket message larger than ${this.maxMessage} bytes`, buf, pos);
    this.fragmented = !fin;
    this.mask = mask;
    this.maskAt = 0;
    this.remaining = length;
    if (length > 0) this.state = State.Payload;
    return pos + headerLength;
  }

  private control(op: number, body: Buffer): void {
    if (op === Op.Ping) this.sink.wsPing(body);
    else if (op === Op.Pong) this.sink.wsPong();
    else if (body.length === 0) this.close(CloseCode.NoStatus, '');
    else if (body.length === 1) this.fail(CloseCode.ProtocolError, 'close frame with a one-byte body');
    else {
      const code = body.readUInt16BE(0);
      if (!validCloseCode(code)) this.fail(CloseCode.ProtocolError, `invalid close code ${code}`);
      // The reason is UTF-8 [RFC 6455 section 5.5.1]; otherwise 1007 [section 8.1].
      else if (!isUtf8(body.subarray(2))) this.fail(CloseCode.InvalidPayload, 'close reason is not UTF-8');
      else this.close(code, body.toString('utf8', 2));
    }
  }

  private close(code: number, reason: string): void {
    this.state = State.Done;
    this.held = undefined;
    this.sink.wsClose(code, reason);
  }

  private wait(buf: Buffer, pos: number): number {
    this.handOn(buf);
    // The connection may have gone in that hand-on (its sink stopped us): nothing to keep.
    if (this.state === State.Done) return -1;
    this.hold(buf, pos);
    this.state = State.Cut;
    return -1;
  }

  /**
   * Hands on the run before the frame at `pos` of `buf`; true when reading is to stop there: the
   * sink stopped the reader, or paused it (the frame is then held, read again on resume, as TCP
   * reads nothing more of a paused socket: a close or a violation after a PUBLISH waits for it).
   */
  private handedOnAndStopped(buf: Buffer, pos: number): boolean {
    this.handOn(buf);
    if (this.state === State.Done) return true;
    if (!this.paused) return false;
    this.hold(buf, pos);
    return true;
  }

  /** A violation in the frame at `pos` of `buf`: the data read before it is still handed on (as a PUBLISH before garbage counts over TCP). */
  private fail(code: number, message: string, buf?: Buffer, pos = 0): number {
    if (buf && this.handedOnAndStopped(buf, pos)) return -1;
    if (this.state === State.Done) return -1;
    this.state = State.Done;
    this.held = undefined;
    this.sink.wsFail(code, message);
    return -1;
  }
}

/**
 * XORs `bytes` in place with the 32-bit `mask` (big-endian: its first byte masks payload byte 0),
 * starting at mask byte `at`; returns where the next byte's mask falls.
 */
export function unmask(bytes: Buffer, mask: number, at: number): number {
  const n = bytes.length;
  if (n === 0) return at;
  // The key rotated so that k[0] masks bytes[0].
  const shift = (at & 3) << 3;
  const key = shift === 0 ? mask : (mask << shift) | (mask >>> (32 - shift));
  const k0 = (key >>> 24) & 0xff;
  const k1 = (key >>> 16) & 0xff;
  const k2 = (key >>> 8) & 0xff;
  const k3 = key & 0xff;
  let i = 0;
  for (const end = n - 3; i < end; i += 4) {
    bytes[i]! ^= k0;
    bytes[i + 1]! ^= k1;
    bytes[i + 2]! ^= k2;
    bytes[i + 3]! ^= k3;
  }
  if (i < n) bytes[i++]! ^= k0;
  if (i < n) bytes[i++]! ^= k1;
  if (i < n) bytes[i]! ^= k2;
  return (at + n) & 3;
}
