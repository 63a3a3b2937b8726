// The password file: one user a line, `NAME:$scrypt$N$r$p$SALT$HASH`, optionally followed by
// `:$scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY` so the same users can log in with MQTT 5
// SCRAM-SHA-256 enhanced authentication. SALT, HASH and the keys are base64. Blank lines and lines
// starting with `#` are comments. Names may not contain `:` (the first one ends the name).
//
// scrypt is memory-hard, so a stolen file is expensive to brute-force; the SCRAM fields are
// PBKDF2-SHA-256 (what RFC 7677 prescribes) and therefore cheaper to attack: `starling passwd
// --no-scram` leaves them out for users who never use SCRAM.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { scramCredentials, type ScramCredentials } from '../hooks/scram.js';
import { FileFormatError } from './watched-file.js';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/** ~16 MiB and a few tens of milliseconds per check: slow for an attacker, fine for a login. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16_384, r: 8, p: 1 };
const HASH_BYTES = 32;
const SALT_BYTES = 16;
/** Bounds on what a file may ask for, so one odd line cannot make every login allocate gigabytes. */
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;

export interface PasswordHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

export interface PasswordEntry {
  user: string;
  password: PasswordHash;
  scram?: ScramCredentials;
}

/** Users by name, in file order. */
export type PasswordTable = Map<string, PasswordEntry>;

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function b64(text: string, what: string): Buffer {
  if (!B64.test(text)) throw new Error(`${what} is not base64`);
  return Buffer.from(text, 'base64');
}

function positiveInt(text: string, what: string, max: number): number {
  if (!/^[0-9]{1,10}$/.test(text)) throw new Error(`${what} "${text}" is not a positive integer`);
  const n = Number(text);
  if (n < 1 || n > max) throw new Error(`${what} ${n} is outside 1..${max}`);
  return n;
}

function scryptMaxmem({ N, r, p }: ScryptParams): number {
  // Node's default maxmem (32 MiB) is below what N=2^15, r=8 needs; leave headroom over 128·N·r.
  return 128 * N * r + 128 * r * p + 16 * 1024 * 1024;
}

function scryptAsync(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: scryptMaxmem(params) };
  // Asynchronous on purpose: the hash runs on the libuv pool, not on the event loop that moves messages.
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export function parseScryptField(field: string): PasswordHash {
  const parts = field.split('$');
  // ['', 'scrypt', N, r, p, salt, hash]
  if (parts.length !== 7 || parts[0] !== '' || parts[1] !== 'scrypt') throw new Error('password hash is not $scrypt$N$r$p$salt$hash');
  const N = positiveInt(parts[2], 'scrypt N', 2 ** MAX_LOG2_N);
  if (N < 2 || (N & (N - 1)) !== 0) throw new Error(`scrypt N ${N} is not a power of two`);
  const r = positiveInt(parts[3], 'scrypt r', MAX_R);
  const p = positiveInt(parts[4], 'scrypt p', MAX_P);
  const salt = b64(parts[5], 'scrypt salt');
  const hash = b64(parts[6], 'scrypt hash');
  if (hash.length < 16 || hash.length > 64) throw new Error(`scrypt hash has ${hash.length} bytes, expected 16..64`);
  return { N, r, p, salt, hash };
}

export function formatScryptField(h: PasswordHash): string {
  return `$scrypt$${h.N}$${h.r}$${h.p}$${h.salt.toString('base64')}$${h.hash.toString('base64')}`;
}

export function parseScramField(field: string): ScramCredentials {
  const parts = field.split('$');
  // ['', 'scram-sha-256', iterations, salt, storedKey, serverKey]
  if (parts.length !== 6 || parts[0] !== '' || parts[1] !== 'scram-sha-256') {
    throw new Error('SCRAM field is not $scram-sha-256$iterations$salt$storedKey$serverKey');
  }
  const iterations = positiveInt(parts[2], 'SCRAM iterations', 10_000_000);
  if (iterations < 4096) throw new Error(`SCRAM iterations ${iterations} is below 4096 [RFC 7677]`);
  const salt = b64(parts[3], 'SCRAM salt');
  const storedKey = b64(parts[4], 'SCRAM stored key');
  const serverKey = b64(parts[5], 'SCRAM server key');
  if (storedKey.length !== 32 || serverKey.length !== 32) throw new Error('SCRAM keys must be 32 bytes');
  return { iterations, salt, storedKey, serverKey };
}

export function formatScramField(c: ScramCredentials): string {
  return `$scram-sha-256$${c.iterations}$${c.salt.toString('base64')}$${c.storedKey.toString('base64')}$${c.serverKey.toString('base64')}`;
}

/** Hashes a new password with a fresh salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<PasswordHash> {
  const salt = randomBytes(SALT_BYTES);
  return { ...params, salt, hash: await scryptAsync(password, salt, HASH_BYTES, params) };
}

/** Checks a password against a stored hash; the comparison takes the same time wherever they differ. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const derived = await scryptAsync(password, stored.salt, stored.hash.length, stored);
  return timingSafeEqual(derived, stored.hash);
}

/** Builds the full line for a user (scrypt hash, and SCRAM credentials unless told not to). */
export async function passwordLine(user: string, password: string, opts: { scram?: boolean; scrypt?: ScryptParams } = {}): Promise<string> {
  validateUserName(user);
  const fields = [user, formatScryptField(await hashPassword(password, opts.scrypt))];
  if (opts.scram !== false) fields.push(formatScramField(scramCredentials(password)));
  return fields.join(':');
}

/** Names end at the first `:`, and a line cannot hold a newline. */
export function validateUserName(user: string): void {
  if (user.length === 0) throw new Error('user name is empty');
  if (/[:\r\n]/.test(user)) throw new Error('user name may not contain ":" or line breaks');
  if (user.trimStart().startsWith('#')) throw new Error('user name may not start with "#" (it would read as a comment)');
}

/** Parses one non-comment line. */
export function parsePasswordLine(line: string): PasswordEntry {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new Error('expected NAME:$scrypt$...');
  const user = line.slice(0, colon);
  const fields = line.slice(colon + 1).split(':');
  if (fields.length > 2) throw new Error('too many ":" fields');
  const entry: PasswordEntry = { user, password: parseScryptField(fields[0]) };
  if (fields.length === 2) entry.scram = parseScramField(fields[1]);
  return entry;
}

const isComment = (line: string): boolean => {
  const t = line.trim();
  return t.length === 0 || t.startsWith('#');
};

/** Parses a whole file; any bad line makes the whole file bad (naming file:line). */
export function parsePasswordFile(text: string, file: string): PasswordTable {
  const table: PasswordTable = new Map();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (isComment(lines[i])) continue;
    let entry: PasswordEntry;
    try {
      entry = parsePasswordLine(lines[i].trim());
    } catch (err) {
      throw new FileFormatError(file, i + 1, (err as Error).message);
    }
    if (table.has(entry.user)) throw new FileFormatError(file, i + 1, `user "${entry.user}" appears twice`);
    table.set(entry.user, entry);
  }
  return table;
}

/**
 * Returns the file text with `user`'s line replaced (or appended, or removed when `line` is
 * undefined). Comments and other users keep their place. `found` says whether the user was there.
 */
export function replaceUserLine(text: string, user: string, line: string | undefined): { text: string; found: boolean } {
  const lines = text.length === 0 ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/);
  let found = false;
  const out: string[] = [];
  for (const l of lines) {
    const t = l.trim();
    if (!isComment(l) && t.indexOf(':') > 0 && t.slice(0, t.indexOf(':')) === user) {
      found = true;
      if (line !== undefined) out.push(line);
      continue;
    }
    out.push(l);
  }
  if (!found && line !== undefined) out.push(line);
  return { text: out.length === 0 ? '' : out.join('\n') + '\n', found };
}
