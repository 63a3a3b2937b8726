// Server-to-client WebSocket frames [RFC 6455 section 5.2]: the header of a binary frame, written
// by us, so a frame can be built around the packets as the transport sees fit (ws-transport.ts:
// small packets copied behind the header into one buffer, large ones sent as their own buffers).
import { capUtf8 } from '../protocol/reason-string.js';

/** FIN set, RSV1-3 clear (no compression), opcode 0x2 (binary). */
const FIN_BINARY = 0x82;

/** Bytes of the header of a frame carrying `length` payload bytes (the shortest encoding, as the RFC requires). */
export function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

/**
 * Writes the 2-, 4- or 10-byte header of an unmasked (server frames are never masked [RFC 6455
 * section 5.1]) final binary frame carrying `length` payload bytes at `out[0]`; returns its length.
 */
export function writeBinaryFrameHeader(out: Buffer, length: number): number {
  out[0] = FIN_BINARY;
  if (length < 126) {
    out[1] = length;
    return 2;
  }
  if (length < 0x10000) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
    return 4;
  }
  out[1] = 127;
  // 64-bit length, most significant bit 0; MQTT packets stay far below 2^53.
  out.writeUInt32BE(Math.floor(length / 0x100000000), 2);
  out.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/** The header of a binary frame carrying `length` payload bytes, as a buffer of its own. */
export function binaryFrameHeader(length: number): Buffer {
  const h = Buffer.allocUnsafe(frameHeaderLength(length));
  writeBinaryFrameHeader(h, length);
  return h;
}

/** Frame opcodes [RFC 6455 section 5.2]; 0x3-0x7 and 0xb-0xf are reserved. */
export const enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

/** A final, unmasked control frame; `payload` is at most 125 bytes (a ping's, echoed in a pong). */
export function controlFrame(opcode: Opcode, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(2 + payload.length);
  f[0] = 0x80 | opcode;
  f[1] = payload.length;
  payload.copy(f, 2);
  return f;
}

/** The empty ping the listener's pinger sends to every connection (shared: it is never changed). */
export const PING_FRAME: Buffer = controlFrame(Opcode.Ping, Buffer.alloc(0));

/**
 * A close frame: no body when `code` is undefined, else the code and as much of `reason` as fits
 * in 123 bytes, cut on a character boundary (the reason must stay UTF-8 [RFC 6455 section 5.5.1]).
 */
export function closeFrame(code: number | undefined, reason: string): Buffer {
  if (code === undefined) return controlFrame(Opcode.Close, Buffer.alloc(0));
  const text = Buffer.from(capUtf8(reason, 123), 'utf8');
  const body = Buffer.allocUnsafe(2 + text.length);
  body.writeUInt16BE(code, 0);
  text.copy(body, 2);
  return controlFrame(Opcode.Close, body);
}
