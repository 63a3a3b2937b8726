// Payload formats for publishing (text, JSON, hex, base64) and for showing received bytes.

export type PayloadFormat = 'text' | 'json' | 'hex' | 'base64';

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Turns what the user typed into bytes; throws an Error saying what is wrong. */
export function encodePayload(format: PayloadFormat, text: string): Uint8Array {
  switch (format) {
    case 'text':
      return encoder.encode(text);
    case 'json':
      JSON.parse(text); // throws SyntaxError with the position of the problem
      return encoder.encode(text);
    case 'hex': {
      const compact = text.replace(/\s+/g, '').replace(/^0x/i, '');
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(compact)) throw new Error('hex payload must be pairs of 0-9 / a-f');
      const out = new Uint8Array(compact.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = parseInt(compact.slice(i * 2, i * 2 + 2), 16);
      return out;
    }
    case 'base64': {
      const compact = text.replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) throw new Error('not valid base64');
      const bin = atob(compact);
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    }
  }
}

export function toHex(bytes: Uint8Array, max = 4096): string {
  const parts: string[] = [];
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) parts.push(bytes[i].toString(16).padStart(2, '0'));
  return parts.join(' ') + (bytes.length > max ? ' …' : '');
}

export interface Decoded {
  kind: 'json' | 'text' | 'binary' | 'empty';
  /** What to show: pretty-printed JSON, the text, or a hex dump. */
  display: string;
  /** The payload as a number when it is one (plain or a JSON number), for charts. */
  number?: number;
}

const NUMBER = /^\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

export function decodePayload(bytes: Uint8Array, maxChars = 20_000): Decoded {
  if (bytes.length === 0) return { kind: 'empty', display: '' };
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { kind: 'binary', display: toHex(bytes) };
  }
  const trimmed = text.trim();
  if (NUMBER.test(trimmed)) return { kind: 'json', display: trimmed, number: Number(trimmed) };
  if ((trimmed.startsWith('{') || trimmed.startsWith('[')) && text.length <= 1_000_000) {
    try {
      const value: unknown = JSON.parse(trimmed);
      return { kind: 'json', display: JSON.stringify(value, null, 2).slice(0, maxChars) };
    } catch {
      // not JSON: shown as text
    }
  }
  return { kind: 'text', display: text.length > maxChars ? text.slice(0, maxChars) + ' …' : text };
}
