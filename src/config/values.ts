// Parsing of one textual value per kind of setting. Each parser throws an Error whose message is
// shown to the user after "file:line: key: ".

const INT_RE = /^[+-]?\d[\d_]*$/;

export function parseInt10(text: string, min?: number, max?: number): number {
  if (!INT_RE.test(text)) throw new Error(`"${text}" is not a whole number`);
  const n = Number(text.replace(/_/g, ''));
  return checkRange(n, text, min, max);
}

function checkRange(n: number, text: string, min?: number, max?: number): number {
  if (!Number.isSafeInteger(n)) throw new Error(`"${text}" is too large`);
  if (min !== undefined && n < min) throw new Error(`${text} is below the minimum ${min}`);
  if (max !== undefined && n > max) throw new Error(`${text} is above the maximum ${max}`);
  return n;
}

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

export function parseBool(text: string): boolean {
  const t = text.toLowerCase();
  if (TRUE.has(t)) return true;
  if (FALSE.has(t)) return false;
  throw new Error(`"${text}" is not true or false`);
}

const DURATION_UNITS: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, d: 86400 };

/** Seconds: `30`, `30s`, `5m`, `1h`, `1d`. */
export function parseDuration(text: string, min?: number, max?: number): number {
  const m = /^(\d[\d_]*)\s*([a-z]*)$/i.exec(text);
  const unit = m ? DURATION_UNITS[m[2].toLowerCase() || 's'] : undefined;
  if (!m || unit === undefined) throw new Error(`"${text}" is not a duration in seconds (e.g. 30, 30s, 5m, 1h)`);
  return checkRange(Number(m[1].replace(/_/g, '')) * unit, text, min, max);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** Bytes: `1048576`, `1MiB`, `64KB`; every unit is binary (1 KB = 1024 bytes), as brokers usually mean. */
export function parseSize(text: string, min?: number, max?: number): number {
  const m = /^(\d[\d_]*)\s*([a-z]*)$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`"${text}" is not a size in bytes (e.g. 1048576, 64KiB, 1MiB)`);
  return checkRange(Number(m[1].replace(/_/g, '')) * unit, text, min, max);
}

/** Comma-separated, items trimmed, empty items dropped. */
export const parseList = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** Case-insensitive match against the allowed values; returns the canonical spelling. */
export function parseEnum<V extends string>(text: string, values: readonly V[]): V {
  const v = values.find((x) => x.toLowerCase() === text.toLowerCase());
  if (v === undefined) throw new Error(`"${text}" is not one of ${values.join(', ')}`);
  return v;
}

/** `"value"` or `'value'` → value: people quote values out of shell habit. */
export const unquote = (text: string): string =>
  text.length >= 2 && (text[0] === '"' || text[0] === "'") && text.at(-1) === text[0] ? text.slice(1, -1) : text;
