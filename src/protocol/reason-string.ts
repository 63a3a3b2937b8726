// What the broker says back to a client is bounded: a Reason String is cut to a few hundred bytes on
// a UTF-8 boundary, and an error text shows only a short prefix of a string the client sent, so no
// encoding can fail on (or a log line grow by) what a client chose to send.

/** Most bytes of a Reason String the broker sends. */
export const REASON_STRING_MAX_BYTES = 256;
/** Most characters of a client's string quoted in an error text. */
export const QUOTE_MAX_CHARS = 40;

/** `s` cut to at most `maxBytes` bytes of UTF-8, never inside a character. */
export function capUtf8(s: string, maxBytes = REASON_STRING_MAX_BYTES): string {
  // Most strings are short: their UTF-8 is at most 3 bytes per UTF-16 unit.
  if (s.length * 3 <= maxBytes) return s;
  // No more than maxBytes units can fit, so the rest of a long string is never encoded.
  const head = headUnits(s, maxBytes);
  const bytes = Buffer.from(head, 'utf8');
  if (bytes.length <= maxBytes) return head;
  let cut = maxBytes;
  // Back off continuation bytes (10xxxxxx) to the first byte of the character cut in two.
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.subarray(0, cut).toString('utf8');
}

/** A client's string for an error text: quoted, and cut to a short prefix saying how long it was. */
export function quote(s: string, maxChars = QUOTE_MAX_CHARS): string {
  if (s.length <= maxChars) return `"${s}"`;
  return `"${headUnits(s, maxChars)}…" (${s.length} characters)`;
}

/** A client's string for a log line: at most `maxChars` units (never half a character), then `…`. */
export function clip(s: string, maxChars = 200): string {
  return s.length > maxChars ? `${headUnits(s, maxChars)}…` : s;
}

/** The first `n` UTF-16 units of `s`, one fewer when the cut would split a surrogate pair. */
function headUnits(s: string, n: number): string {
  const last = s.charCodeAt(n - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? n - 1 : n);
}
