// Splits one whole packet into its first byte and body with a Remaining Length reader written for the
// tests, so vector tests can call decode() without going through PacketParser.
export function splitPacket(b: Buffer): { first: number; body: Buffer } {
  let value = 0;
  let mult = 1;
  let i = 1;
  for (;;) {
    const d = b[i++];
    if (d === undefined) throw new Error('truncated fixed header');
    value += (d & 0x7f) * mult;
    if ((d & 0x80) === 0) break;
    mult *= 128;
  }
  if (i + value !== b.length) throw new Error(`vector length ${b.length} does not match remaining length ${value}`);
  return { first: b[0], body: b.subarray(i) };
}
