// Shape checks shared by every store, so all implementations reject the same batches.
// What makes a batch invalid (the whole batch is then rejected and nothing of it is applied):
//  - an op this version does not know, or a field of the wrong type/range (below);
//  - a subscription.put, queue.put or inbound.put for a client with no stored session at that point
//    of the batch (session.put must come first) — checked by each store against its own state;
//  - a queue.put whose messageId names no stored message and no message.put earlier in the batch —
//    likewise checked by each store.
// Deleting something that is not there is NOT invalid: deletes are idempotent.
import type { QueueEntry, StoredMessage, StoreOp, SubscriptionRecord } from './ports.js';
import { StoreError } from './errors.js';
import { isWellFormedString } from '../protocol/utf8.js';

const isInt = (v: unknown, min: number, max: number): boolean => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isQos = (v: unknown): boolean => v === 0 || v === 1 || v === 2;
const isStr = (v: unknown): v is string => typeof v === 'string';
const UINT32 = 0xffffffff;

function fail(index: number, op: { op?: unknown }, why: string): never {
  throw new StoreError(`invalid store op #${index} (${String(op?.op)}): ${why}`);
}

export function validateMessage(m: StoredMessage | undefined): string | undefined {
  if (m === null || typeof m !== 'object') return 'message missing';
  if (!isStr(m.id) || m.id.length === 0) return 'message.id must be a non-empty string';
  if (!isStr(m.topic)) return 'message.topic must be a string';
  // Stored as UTF-8, which has no lone surrogate: such text would come back changed (and an id that
  // changes no longer names its message).
  if (!isWellFormedString(m.id) || !isWellFormedString(m.topic)) return 'message.id and message.topic must be well-formed text (no lone surrogate)';
  if (!Buffer.isBuffer(m.payload)) return 'message.payload must be a Buffer';
  if (!isQos(m.qos)) return 'message.qos must be 0, 1 or 2';
  if (typeof m.retain !== 'boolean') return 'message.retain must be a boolean';
  if (!Number.isSafeInteger(m.createdAt)) return 'message.createdAt must be an integer';
  if (m.expiresAt !== undefined && !Number.isSafeInteger(m.expiresAt)) return 'message.expiresAt must be an integer';
  if (m.publisherId !== undefined && (!isStr(m.publisherId) || !isWellFormedString(m.publisherId))) return 'message.publisherId must be well-formed text';
  if (m.properties !== undefined && (m.properties === null || typeof m.properties !== 'object')) return 'message.properties must be an object';
  return undefined;
}

function validateSubscription(s: SubscriptionRecord | undefined): string | undefined {
  if (s === null || typeof s !== 'object') return 'subscription missing';
  if (!isStr(s.filter) || s.filter.length === 0) return 'subscription.filter must be a non-empty string';
  if (!isQos(s.qos)) return 'subscription.qos must be 0, 1 or 2';
  if (typeof s.noLocal !== 'boolean' || typeof s.retainAsPublished !== 'boolean') return 'subscription flags must be booleans';
  if (s.retainHandling !== 0 && s.retainHandling !== 1 && s.retainHandling !== 2) return 'subscription.retainHandling must be 0, 1 or 2';
  if (s.subscriptionId !== undefined && !isInt(s.subscriptionId, 1, 268_435_455)) return 'subscription.subscriptionId out of range';
  return undefined;
}

function validateEntry(e: QueueEntry | undefined): string | undefined {
  if (e === null || typeof e !== 'object') return 'entry missing';
  if (!isInt(e.seq, 0, Number.MAX_SAFE_INTEGER)) return 'entry.seq must be a non-negative integer';
  if (!isStr(e.messageId) || e.messageId.length === 0) return 'entry.messageId must be a non-empty string';
  if (!isQos(e.qos)) return 'entry.qos must be 0, 1 or 2';
  if (typeof e.retain !== 'boolean') return 'entry.retain must be a boolean';
  if (e.state !== 'queued' && e.state !== 'inflight' && e.state !== 'released') return 'entry.state must be queued, inflight or released';
  if (e.packetId !== undefined && !isInt(e.packetId, 1, 65_535)) return 'entry.packetId must be 1..65535';
  if (e.state !== 'queued' && e.packetId === undefined) return `a ${e.state} entry needs its packetId`;
  if (e.subscriptionIds !== undefined && (!Array.isArray(e.subscriptionIds) || !e.subscriptionIds.every((i) => isInt(i, 1, 268_435_455))))
    return 'entry.subscriptionIds must be integers 1..268435455';
  return undefined;
}

/** Throws a StoreError if op `index` of a batch is malformed; referential checks are the store's. */
export function validateOp(op: StoreOp, index: number): void {
  if (op === null || typeof op !== 'object') fail(index, {}, 'not an object');
  let why: string | undefined;
  switch (op.op) {
    case 'session.put': {
      const s = op.session;
      if (s === null || typeof s !== 'object' || !isStr(s.clientId) || s.clientId.length === 0) why = 'session.clientId must be a non-empty string';
      else if (s.protocolVersion !== 3 && s.protocolVersion !== 4 && s.protocolVersion !== 5) why = 'session.protocolVersion must be 3, 4 or 5';
      else if (!isInt(s.expiryInterval, 0, UINT32)) why = 'session.expiryInterval must be 0..0xFFFFFFFF';
      else if (s.disconnectedAt !== undefined && !Number.isSafeInteger(s.disconnectedAt)) why = 'session.disconnectedAt must be an integer';
      else if (s.streamSeq !== undefined && !isInt(s.streamSeq, 0, Number.MAX_SAFE_INTEGER)) why = 'session.streamSeq must be a non-negative integer';
      else if (s.will !== undefined) {
        why = validateMessage(s.will?.message);
        if (!why && !isInt(s.will.delayInterval, 0, UINT32)) why = 'will.delayInterval must be 0..0xFFFFFFFF';
      }
      break;
    }
    case 'session.delete':
      if (!isStr(op.clientId)) why = 'clientId must be a string';
      break;
    case 'subscription.put':
      why = !isStr(op.clientId) ? 'clientId must be a string' : validateSubscription(op.subscription);
      break;
    case 'subscription.delete':
      if (!isStr(op.clientId) || !isStr(op.filter)) why = 'clientId and filter must be strings';
      break;
    case 'message.put':
      why = validateMessage(op.message);
      break;
    case 'queue.put':
      why = !isStr(op.clientId) ? 'clientId must be a string' : validateEntry(op.entry);
      break;
    case 'queue.delete':
      if (!isStr(op.clientId) || !isInt(op.seq, 0, Number.MAX_SAFE_INTEGER)) why = 'clientId must be a string and seq a non-negative integer';
      break;
    case 'inbound.put':
    case 'inbound.delete':
      if (!isStr(op.clientId) || !isInt(op.packetId, 1, 65_535)) why = 'clientId must be a string and packetId 1..65535';
      break;
    case 'retained.put':
      why = validateMessage(op.message);
      break;
    case 'retained.delete':
      if (!isStr(op.topic)) why = 'topic must be a string';
      break;
    default:
      why = 'unknown op';
  }
  if (why !== undefined) fail(index, op, why);
}
