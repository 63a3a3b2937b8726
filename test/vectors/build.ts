// Hand-building helpers for byte vectors. Deliberately independent of src/protocol/bytes.ts: the
// catalogue must not be produced by the encoder it tests.

type Part = number | number[] | Buffer | Uint8Array;

/** Concatenates bytes, byte arrays and buffers. */
export function bytes(...parts: Part[]): Buffer {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else out.push(...p);
  }
  return Buffer.from(out);
}

/** Parses spaced hex: hex('10 0c 00 04'). */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

export function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

export function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** Variable Byte Integer, as the algorithm in section 1.5.5 spells it out. */
export function vbi(n: number): number[] {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    out.push(d);
  } while (n > 0);
  return out;
}

/** A UTF-8 string field: two-byte length then the bytes. */
export function str(s: string): number[] {
  const b = Buffer.from(s, 'utf8');
  return [...u16(b.length), ...b];
}

/** A binary field from raw bytes. */
export function bin(...data: number[]): number[] {
  return [...u16(data.length), ...data];
}

/** A string field whose bytes are given raw (to build invalid UTF-8). */
export function rawStr(...data: number[]): number[] {
  return bin(...data);
}

/** A property block: property length then the properties. */
export function props(...parts: Part[]): number[] {
  const body = bytes(...parts);
  return [...vbi(body.length), ...body];
}

/** A whole packet: first byte, Remaining Length computed from the body. */
export function pkt(first: number, ...body: Part[]): Buffer {
  const b = bytes(...body);
  return bytes(first, vbi(b.length), b);
}
