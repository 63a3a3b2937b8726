// The header of a server-to-client binary WebSocket frame [RFC 6455 section 5.2]. We write it
// ourselves so a frame's payload can be the packets' own buffers (one writev of header + buffers),
// where `ws` would first have to join them into one: in fan-out that copied the shared encoded
// PUBLISH once per subscriber.

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
