// Names in NATS for one store: its KV buckets, its journal stream, and the keys of its records.
//
// A KV key is a NATS subject below `$KV.<bucket>.`: only [-/_=.a-zA-Z0-9], `.` separates tokens and
// no token may be empty. Client ids, topics, filters and message ids may hold anything (`.`, `*`,
// `>`, spaces, unicode, empty levels), so each string becomes ONE opaque token:
//   'b' + base64url(UTF-8)   for well-formed strings of at most 90 UTF-8 bytes (120 key chars), and
//   'h' + base64url(SHA-256 of the UTF-16 code units)   otherwise,
// which keeps subjects short (the server bounds a subject's length) and never maps two strings to one
// token: the first form is lossless, the second collision-resistant, and the marker letters differ.
// Keys are never decoded: every value carries the strings it is stored under, and reading checks that
// the key matches its value.
import { createHash } from 'node:crypto';
import { StoreError } from '../errors.js';

/** The KV buckets of one store, in the order their index is written in journal entries. */
export const BUCKETS = ['sessions', 'subscriptions', 'queue', 'inbound', 'messages', 'retained'] as const;
export type BucketName = (typeof BUCKETS)[number];

const SHORT_TOKEN_BYTES = 90;

/** One KV key token for an arbitrary string; see above. */
export function token(s: string): string {
  const utf8 = Buffer.from(s, 'utf8');
  // A lone surrogate does not survive UTF-8, so such a string takes the hashed form.
  if (utf8.length <= SHORT_TOKEN_BYTES && utf8.toString('utf8') === s) return 'b' + utf8.toString('base64url');
  return 'h' + createHash('sha256').update(Buffer.from(s, 'utf16le')).digest('base64url');
}

/** Zero-padded so keys list in seq order (Number.MAX_SAFE_INTEGER has 16 digits). */
const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const sessionKey = (clientId: string): string => token(clientId);
export const subscriptionKey = (clientId: string, filter: string): string => `${token(clientId)}.${token(filter)}`;
export const queueKey = (clientId: string, seq: number): string => `${token(clientId)}.${pad(seq, 16)}`;
export const inboundKey = (clientId: string, packetId: number): string => `${token(clientId)}.${pad(packetId, 5)}`;
export const messageKey = (id: string): string => token(id);
export const retainedKey = (topic: string): string => token(topic);

const PREFIX = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws unless `prefix` can start bucket and stream names (letters, digits, `_`, `-`; 1..64). */
export function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new StoreError(`NATS store prefix ${JSON.stringify(prefix)} must be 1..64 characters of A-Z a-z 0-9 _ -`);
  }
}

/** Names of everything one store keeps in JetStream. */
export interface StoreNames {
  /** KV bucket name per bucket, e.g. `starling_sessions`. */
  bucket: Record<BucketName, string>;
  /** The stream behind each bucket (`KV_<bucket>`). */
  stream: Record<BucketName, string>;
  /** The subject a key of each bucket is written on, without the key. */
  subjectPrefix: Record<BucketName, string>;
  journalStream: string;
  journalSubject: string;
}

export function storeNames(prefix: string): StoreNames {
  checkPrefix(prefix);
  const bucket = {} as Record<BucketName, string>;
  const stream = {} as Record<BucketName, string>;
  const subjectPrefix = {} as Record<BucketName, string>;
  for (const b of BUCKETS) {
    bucket[b] = `${prefix}_${b}`;
    stream[b] = `KV_${prefix}_${b}`;
    subjectPrefix[b] = `$KV.${prefix}_${b}.`;
  }
  return { bucket, stream, subjectPrefix, journalStream: `${prefix}_journal`, journalSubject: `$STARLING.${prefix}.journal` };
}
