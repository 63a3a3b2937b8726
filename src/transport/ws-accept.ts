// The server's side of the WebSocket opening handshake [RFC 6455 section 4.2], once the path,
// Origin and subprotocol checks (ws-handshake.ts) have passed: the request's own checks, then the
// 101 answer. Written here rather than by `ws` so that no per-connection `ws` objects are made.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** [RFC 6455 section 1.3] */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A base64-encoded 16-byte value [RFC 6455 section 4.2.1, item 5]. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

export type HandshakeCheck = { ok: true; key: string } | { ok: false; status: number; reason: string; body: string; headers?: Record<string, string> };

/** What makes the request a WebSocket opening handshake we can answer, apart from path, Origin and subprotocol. */
export function checkHandshake(req: IncomingMessage): HandshakeCheck {
  if (req.method !== 'GET') return { ok: false, status: 405, reason: 'Method Not Allowed', body: 'A WebSocket upgrade is a GET request\n', headers: { Allow: 'GET' } };
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY.test(key.trim())) return { ok: false, status: 400, reason: 'Bad Request', body: 'Missing or invalid Sec-WebSocket-Key header\n' };
  const version = req.headers['sec-websocket-version'];
  if (version === undefined) return { ok: false, status: 400, reason: 'Bad Request', body: 'Missing Sec-WebSocket-Version header\n' };
  // Another version is answered with the one we speak [RFC 6455 section 4.2.2, item 4].
  if (version.trim() !== '13') return { ok: false, status: 426, reason: 'Upgrade Required', body: 'Only WebSocket version 13 is supported\n', headers: { 'Sec-WebSocket-Version': '13' } };
  return { ok: true, key: key.trim() };
}

export const acceptValue = (key: string): string => createHash('sha1').update(key + ACCEPT_GUID).digest('base64');

/**
 * Writes the 101 answer. False when the socket went away during the checks (nothing written; it is
 * destroyed). No extension is accepted: compression would cost memory per connection, and MQTT
 * payloads are often compressed already.
 */
export function answerHandshake(socket: Duplex, key: string, protocol: string | undefined): boolean {
  if (!socket.readable || !socket.writable) {
    socket.destroy();
    return false;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptValue(key)}\r\n${protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ''}\r\n`,
  );
  return true;
}
