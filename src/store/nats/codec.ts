// Bytes of the NATS store: the value of each KV record, and a journal entry (a batch's key writes).
//
// Records are JSON (Buffers as {"$b64"}, see ../json.ts) and carry every string they are keyed by,
// because keys are one-way tokens (keys.ts). Message bodies (queue messages and retained messages)
// are binary so a payload is not inflated by base64:
//   u8 format (1) | u32 BE length of the JSON | JSON of the message without payload | payload bytes
// Everything read back is checked with the same validation as a batch (../validate.ts) and against
// the key it was found under, so a damaged or foreign value fails open() with its bucket and key.
import type { QueueEntry, SessionRecord, StoredMessage, StoreOp, SubscriptionRecord } from '../ports.js';
import { StoreError } from '../errors.js';
import { decodeJson, encodeJson } from '../json.js';
import { validateMessage, validateOp } from '../validate.js';
import { BUCKETS, type BucketName, inboundKey, messageKey, queueKey, retainedKey, sessionKey, subscriptionKey } from './keys.js';

/** A write of one key as a batch leaves it: the new value, or null when the key is to be removed. */
export interface KeyWrite {
  bucket: BucketName;
  key: string;
  value: Uint8Array | null;
}

const MESSAGE_FORMAT = 1;

export function encodeMessage(m: StoredMessage): Buffer {
  const { payload, ...meta } = m;
  const json = Buffer.from(encodeJson(meta), 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt8(MESSAGE_FORMAT, 0);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json, payload]);
}

/** Bytes a message takes as a value, without building it (for size checks before a batch runs). */
export function messageValueSize(m: StoredMessage): number {
  const { payload, ...meta } = m;
  return 5 + Buffer.byteLength(encodeJson(meta), 'utf8') + payload.length;
}

export const encodeSession = (s: SessionRecord): Buffer => Buffer.from(encodeJson(s), 'utf8');
export const encodeSubscription = (clientId: string, subscription: SubscriptionRecord): Buffer => Buffer.from(encodeJson({ clientId, subscription }), 'utf8');
export const encodeEntry = (clientId: string, entry: QueueEntry): Buffer => Buffer.from(encodeJson({ clientId, entry }), 'utf8');
export const encodeInbound = (clientId: string, packetId: number): Buffer => Buffer.from(encodeJson({ clientId, packetId }), 'utf8');

/** What a value decodes to, by bucket. */
export type DecodedRecord =
  | { bucket: 'sessions'; session: SessionRecord }
  | { bucket: 'subscriptions'; clientId: string; subscription: SubscriptionRecord }
  | { bucket: 'queue'; clientId: string; entry: QueueEntry }
  | { bucket: 'inbound'; clientId: string; packetId: number }
  | { bucket: 'messages'; message: StoredMessage }
  | { bucket: 'retained'; message: StoredMessage };

function decodeMessage(value: Uint8Array): StoredMessage {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (buf.length < 5 || buf.readUInt8(0) !== MESSAGE_FORMAT) throw new Error(`not a message value of format ${MESSAGE_FORMAT}`);
  const len = buf.readUInt32BE(1);
  if (5 + len > buf.length) throw new Error('message header longer than the value');
  const meta = decodeJson<Omit<StoredMessage, 'payload'>>(buf.subarray(5, 5 + len).toString('utf8'));
  // Copied out: the value's memory belongs to the NATS client.
  const m = { ...meta, payload: Buffer.from(buf.subarray(5 + len)) } as StoredMessage;
  const why = validateMessage(m);
  if (why) throw new Error(why);
  return m;
}

/** Decodes and checks one stored value; throws a StoreError naming the bucket and key otherwise. */
export function decodeRecord(bucket: BucketName, key: string, value: Uint8Array): DecodedRecord {
  try {
    const text = () => Buffer.from(value).toString('utf8');
    let rec: DecodedRecord;
    let op: StoreOp;
    let keyOf: () => string;
    switch (bucket) {
      case 'sessions': {
        const session = decodeJson<SessionRecord>(text());
        rec = { bucket, session };
        op = { op: 'session.put', session };
        keyOf = () => sessionKey(session.clientId);
        break;
      }
      case 'subscriptions': {
        const { clientId, subscription } = decodeJson<{ clientId: string; subscription: SubscriptionRecord }>(text()) ?? {};
        rec = { bucket, clientId, subscription };
        op = { op: 'subscription.put', clientId, subscription };
        keyOf = () => subscriptionKey(clientId, subscription.filter);
        break;
      }
      case 'queue': {
        const { clientId, entry } = decodeJson<{ clientId: string; entry: QueueEntry }>(text()) ?? {};
        rec = { bucket, clientId, entry };
        op = { op: 'queue.put', clientId, entry };
        keyOf = () => queueKey(clientId, entry.seq);
        break;
      }
      case 'inbound': {
        const { clientId, packetId } = decodeJson<{ clientId: string; packetId: number }>(text()) ?? {};
        rec = { bucket, clientId, packetId };
        op = { op: 'inbound.put', clientId, packetId };
        keyOf = () => inboundKey(clientId, packetId);
        break;
      }
      case 'messages':
      case 'retained': {
        const message = decodeMessage(value);
        rec = bucket === 'messages' ? { bucket, message } : { bucket, message };
        op = bucket === 'messages' ? { op: 'message.put', message } : { op: 'retained.put', message };
        keyOf = () => bucket === 'messages' ? messageKey(message.id) : retainedKey(message.topic);
        break;
      }
    }
    validateOp(op, 0);
    const expectedKey = keyOf();
    if (expectedKey !== key) throw new Error(`the value belongs under key ${expectedKey}`);
    return rec;
  } catch (err) {
    // validateOp words its findings for a batch; here they describe a stored value.
    const why = String((err as Error)?.message ?? err).replace(/^invalid store op #0 \([^)]*\): /, '');
    throw new StoreError(`NATS store is corrupt: bucket ${bucket}, key ${key}: ${why}`, { cause: err });
  }
}

// A journal entry: the key writes of one batch, in the order they are to be made.
//   "SJ" | u8 version (1) | u32 BE count | count × ( u8 bucket index | u16 BE key length | key (ASCII)
//   | u32 BE value length, 0xFFFFFFFF for a removal | value )
const JOURNAL_MAGIC = 0x534a; // "SJ"
const JOURNAL_VERSION = 1;
const REMOVED = 0xffffffff;

export function encodeWrites(writes: readonly KeyWrite[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(7);
  head.writeUInt16BE(JOURNAL_MAGIC, 0);
  head.writeUInt8(JOURNAL_VERSION, 2);
  head.writeUInt32BE(writes.length, 3);
  parts.push(head);
  for (const w of writes) {
    const key = Buffer.from(w.key, 'latin1');
    const h = Buffer.alloc(1 + 2 + key.length + 4);
    h.writeUInt8(BUCKETS.indexOf(w.bucket), 0);
    h.writeUInt16BE(key.length, 1);
    key.copy(h, 3);
    h.writeUInt32BE(w.value === null ? REMOVED : w.value.length, 3 + key.length);
    parts.push(h);
    if (w.value !== null) parts.push(Buffer.from(w.value.buffer, w.value.byteOffset, w.value.byteLength));
  }
  return Buffer.concat(parts);
}

/** Decodes a journal entry; throws a StoreError (naming `where`) if it is not one. */
export function decodeWrites(buf: Buffer, where: string): KeyWrite[] {
  const bad = (why: string): never => {
    throw new StoreError(`NATS store is corrupt: journal entry ${where}: ${why}`);
  };
  if (buf.length < 7 || buf.readUInt16BE(0) !== JOURNAL_MAGIC) bad('not a Starling journal entry');
  if (buf.readUInt8(2) !== JOURNAL_VERSION) bad(`journal format ${buf.readUInt8(2)} is not ${JOURNAL_VERSION} (written by another Starling version?)`);
  const count = buf.readUInt32BE(3);
  const out: KeyWrite[] = [];
  let at = 7;
  for (let i = 0; i < count; i++) {
    if (at + 3 > buf.length) bad('truncated');
    const bucket = BUCKETS[buf.readUInt8(at)];
    if (bucket === undefined) bad(`unknown bucket index ${buf.readUInt8(at)}`);
    const keyLen = buf.readUInt16BE(at + 1);
    at += 3;
    if (at + keyLen + 4 > buf.length) bad('truncated');
    const key = buf.toString('latin1', at, at + keyLen);
    at += keyLen;
    const len = buf.readUInt32BE(at);
    at += 4;
    if (len === REMOVED) {
      out.push({ bucket, key, value: null });
      continue;
    }
    if (at + len > buf.length) bad('truncated');
    out.push({ bucket, key, value: buf.subarray(at, at + len) });
    at += len;
  }
  if (at !== buf.length) bad('trailing bytes');
  return out;
}
