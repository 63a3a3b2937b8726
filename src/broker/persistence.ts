// Store ops for session changes, in one place so every path persists the same way.
import type { Session } from '../session/session.js';
import { toQueueEntry, type Outgoing } from '../session/outgoing.js';
import type { SessionRecord, StoreOp } from '../store/ports.js';

export function sessionRecord(s: Session): SessionRecord {
  const r: SessionRecord = { clientId: s.clientId, protocolVersion: s.protocolVersion, expiryInterval: s.expiryInterval };
  if (s.disconnectedAt !== undefined) r.disconnectedAt = s.disconnectedAt;
  if (s.will) r.will = s.will;
  if (s.streamSeq > 0) r.streamSeq = s.streamSeq;
  return r;
}

/** Everything needed to store a session from scratch (used when a session becomes persistent). */
export function fullSessionOps(s: Session): StoreOp[] {
  const ops: StoreOp[] = [{ op: 'session.delete', clientId: s.clientId }, { op: 'session.put', session: sessionRecord(s) }];
  for (const sub of s.subscriptions.values()) ops.push({ op: 'subscription.put', clientId: s.clientId, subscription: sub });
  for (const o of s.allEntries()) ops.push(...entryOps(s, o, true));
  for (const id of s.inbound) ops.push({ op: 'inbound.put', clientId: s.clientId, packetId: id });
  return ops;
}

/** Ops that store one outgoing entry (with its message body when it is new). */
export function entryOps(s: Session, o: Outgoing, withMessage: boolean): StoreOp[] {
  const ops: StoreOp[] = [];
  pushEntryOps(ops, s, o, withMessage);
  return ops;
}

/** As entryOps, added to `ops` (the hot path: no array per entry). */
export function pushEntryOps(ops: StoreOp[], s: Session, o: Outgoing, withMessage: boolean): void {
  if (withMessage) ops.push({ op: 'message.put', message: o.message });
  ops.push({ op: 'queue.put', clientId: s.clientId, entry: toQueueEntry(o) });
}
