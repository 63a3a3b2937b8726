// Server-to-client WebSocket frames [RFC 6455 section 5.2]: the header of a binary frame, written
// by us so a frame's payload can be the packets' own buffers (one writev of header + buffers),
// where `ws` would first have to join them into one: in fan-out that copied the shared encoded
// PUBLISH once per subscriber.
import { capUtf8 } from '../protocol/reason-string.js';

/** FIN set, RSV1-3 clear (no compression), opcode 0x2 (binary). */
const FIN_BINARY = 0x82;

/**
 * The 2-, 4- or 10-byte header of an unmasked (server frames are never masked [RFC 6455
 * section 5.1]) final binary frame carrying `length` payload bytes. The shortest length encoding is
 * used, as the RFC requires.
 */
export function binaryFrameHeader(length: number): Buffer {
  if (length < 126) {
    const h = Buffer.allocUnsafe(2);
    h[0] = FIN_BINARY;
    h[1] = length;
    return h;
  }
  if (length < 0x10000) {
    const h = Buffer.allocUnsafe(4);
    h[0] = FIN_BINARY;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.allocUnsafe(10);
  h[0] = FIN_BINARY;
  h[1] = 127;
  // 64-bit length, most significant bit 0; MQTT packets stay far below 2^53.
  h.writeUInt32BE(Math.floor(length / 0x100000000), 2);
  h.writeUInt32BE(length >>> 0, 6);
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
