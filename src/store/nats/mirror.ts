// The NATS store's in-memory copy of what is in its KV buckets. It answers the questions a batch
// raises without a round trip (does this session exist, which entries point at this message, which
// keys does a session.delete take with it), and turns a batch of ops into the key writes it makes.
//
// It follows the same rules as the memory and SQLite stores (the shared contract checks them):
// validation of the whole batch before anything changes, message reference counting by queue
// entries of any state, and collection of unreferenced messages at the end of the batch only.
// The mirror is rebuilt from NATS at every open(), and whenever a write to NATS failed, so it never
// has to undo a half-persisted batch.
import type { QueueEntry, SessionRecord, StoredMessage, StoredSessionState, StoreOp, StoreSnapshot, SubscriptionRecord } from '../ports.js';
import { cloneRecord } from '../clone.js';
import { StoreError } from '../errors.js';
import { validateOp } from '../validate.js';
import type { BucketName } from './keys.js';
import { inboundKey, messageKey, queueKey, retainedKey, sessionKey, subscriptionKey } from './keys.js';
import { type DecodedRecord, type KeyWrite, encodeEntry, encodeInbound, encodeMessage, encodeSession, encodeSubscription, messageValueSize } from './codec.js';

interface SessionState {
  session: SessionRecord;
  subscriptions: Map<string, SubscriptionRecord>;
  queue: Map<number, QueueEntry>;
  inbound: Set<number>;
}

interface MessageSlot {
  message: StoredMessage;
  /** Queue entries (of any state) that point at this message. */
  refs: number;
}

/** Keys touched by a batch; their final values are read from the mirror once the batch is done. */
class Touched {
  readonly writes = new Map<string, () => KeyWrite>();
  add(bucket: BucketName, key: string, value: () => Uint8Array | null): void {
    this.writes.set(`${bucket}/${key}`, () => ({ bucket, key, value: value() }));
  }
}

export class Mirror {
  private readonly sessions = new Map<string, SessionState>();
  private readonly messages = new Map<string, MessageSlot>();
  private readonly retained = new Map<string, StoredMessage>();

  /**
   * Builds a mirror from the records read out of the buckets; throws a StoreError if they do not
   * form a consistent store. Returns the ids of stored messages no entry points at (to be removed).
   */
  static load(records: Iterable<DecodedRecord>): { mirror: Mirror; unreferenced: string[] } {
    const m = new Mirror();
    const children: DecodedRecord[] = [];
    for (const r of records) {
      if (r.bucket === 'sessions') m.sessions.set(r.session.clientId, { session: r.session, subscriptions: new Map(), queue: new Map(), inbound: new Set() });
      else if (r.bucket === 'messages') m.messages.set(r.message.id, { message: r.message, refs: 0 });
      else if (r.bucket === 'retained') m.retained.set(r.message.topic, r.message);
      else children.push(r);
    }
    const corrupt = (what: string): never => {
      throw new StoreError(`NATS store is corrupt: ${what}`);
    };
    for (const r of children) {
      if (r.bucket !== 'subscriptions' && r.bucket !== 'queue' && r.bucket !== 'inbound') continue;
      const s = m.sessions.get(r.clientId) ?? corrupt(`a ${r.bucket} record of client ${JSON.stringify(r.clientId)}, which has no session`);
      if (r.bucket === 'subscriptions') s.subscriptions.set(r.subscription.filter, r.subscription);
      else if (r.bucket === 'inbound') s.inbound.add(r.packetId);
      else {
        const slot = m.messages.get(r.entry.messageId) ?? corrupt(`queue entry ${r.entry.seq} of client ${JSON.stringify(r.clientId)} names missing message ${JSON.stringify(r.entry.messageId)}`);
        slot.refs++;
        s.queue.set(r.entry.seq, r.entry);
      }
    }
    // None are left behind by a batch (it collects them), so these come only from outside the store.
    const unreferenced = [...m.messages].filter(([, slot]) => slot.refs === 0).map(([id]) => id);
    for (const id of unreferenced) m.messages.delete(id);
    return { mirror: m, unreferenced };
  }

  /** A deep copy of the state, as open() returns it. */
  snapshot(): StoreSnapshot {
    const sessions: StoredSessionState[] = [...this.sessions.values()].map((s) => ({
      session: cloneRecord(s.session),
      subscriptions: [...s.subscriptions.values()].map(cloneRecord),
      queue: [...s.queue.values()].sort((a, b) => a.seq - b.seq).map(cloneRecord),
      inbound: [...s.inbound].sort((a, b) => a - b),
    }));
    const messages = new Map<string, StoredMessage>();
    for (const [id, slot] of this.messages) messages.set(id, cloneRecord(slot.message));
    return { sessions, messages, retained: [...this.retained.values()].map(cloneRecord) };
  }

  /**
   * Throws a StoreError for the first invalid op (validate.ts), before anything changes. A value
   * that could not be written to NATS in one message (larger than `maxValueBytes`) is invalid too.
   */
  check(ops: readonly StoreOp[], maxValueBytes: number): void {
    const alive = new Map<string, boolean>();
    const isAlive = (id: string): boolean => alive.get(id) ?? this.sessions.has(id);
    const newMessages = new Set<string>();
    const invalid = (i: number, op: StoreOp, why: string): never => {
      throw new StoreError(`invalid store op #${i} (${op.op}): ${why}`);
    };
    const fits = (i: number, op: StoreOp, m: StoredMessage) => {
      const size = messageValueSize(m);
      if (size > maxValueBytes) invalid(i, op, `message ${JSON.stringify(m.id)} takes ${size} bytes, more than the ${maxValueBytes} a NATS value may hold here (server max_payload)`);
    };
    ops.forEach((op, i) => {
      validateOp(op, i);
      switch (op.op) {
        case 'session.put':
          alive.set(op.session.clientId, true);
          if (op.session.will) fits(i, op, op.session.will.message);
          break;
        case 'session.delete':
          alive.set(op.clientId, false);
          break;
        case 'message.put':
          fits(i, op, op.message);
          newMessages.add(op.message.id);
          break;
        case 'retained.put':
          fits(i, op, op.message);
          break;
        case 'subscription.put':
        case 'inbound.put':
        case 'queue.put':
          if (!isAlive(op.clientId)) invalid(i, op, `no session ${JSON.stringify(op.clientId)}`);
          if (op.op === 'queue.put' && !this.messages.has(op.entry.messageId) && !newMessages.has(op.entry.messageId)) {
            invalid(i, op, `unknown message ${JSON.stringify(op.entry.messageId)}`);
          }
          break;
        default:
          break;
      }
    });
  }

  /** Applies a batch that passed check() and returns the key writes that persist it, one per key. */
  apply(ops: readonly StoreOp[]): KeyWrite[] {
    const touched = new Touched();
    const maybeGarbage = new Set<string>();
    const created = new Set<string>();
    for (const op of ops) this.applyOne(op, touched, maybeGarbage, created);
    for (const id of maybeGarbage) {
      const slot = this.messages.get(id);
      if (slot?.refs === 0) this.messages.delete(id);
      // A body is written once, by the batch that stores it, and removed by the one that drops it;
      // one put and dropped within the same batch never reaches NATS. (Messages are only ever
      // removed here, so one this batch did not create was stored before it.)
      const before = !created.has(id);
      if (before !== this.messages.has(id)) this.touchMessage(touched, id);
    }
    return [...touched.writes.values()].map((w) => w());
  }

  private applyOne(op: StoreOp, t: Touched, maybeGarbage: Set<string>, created: Set<string>): void {
    switch (op.op) {
      case 'session.put': {
        const existing = this.sessions.get(op.session.clientId);
        const session = cloneRecord(op.session);
        if (existing) existing.session = session;
        else this.sessions.set(session.clientId, { session, subscriptions: new Map(), queue: new Map(), inbound: new Set() });
        this.touchSession(t, session.clientId);
        return;
      }
      case 'session.delete': {
        const s = this.sessions.get(op.clientId);
        if (!s) return;
        this.sessions.delete(op.clientId);
        this.touchSession(t, op.clientId);
        for (const filter of s.subscriptions.keys()) this.touchSubscription(t, op.clientId, filter);
        for (const p of s.inbound) this.touchInbound(t, op.clientId, p);
        for (const e of s.queue.values()) {
          this.touchEntry(t, op.clientId, e.seq);
          this.unref(e.messageId, maybeGarbage);
        }
        return;
      }
      case 'subscription.put':
        this.session(op.clientId).subscriptions.set(op.subscription.filter, cloneRecord(op.subscription));
        this.touchSubscription(t, op.clientId, op.subscription.filter);
        return;
      case 'subscription.delete': {
        if (this.sessions.get(op.clientId)?.subscriptions.delete(op.filter)) this.touchSubscription(t, op.clientId, op.filter);
        return;
      }
      case 'message.put':
        // Immutable once stored: a second put of the same id (fan-out) keeps the first body.
        if (!this.messages.has(op.message.id)) {
          this.messages.set(op.message.id, { message: cloneRecord(op.message), refs: 0 });
          created.add(op.message.id);
        }
        maybeGarbage.add(op.message.id);
        return;
      case 'queue.put': {
        const queue = this.session(op.clientId).queue;
        const old = queue.get(op.entry.seq);
        if (old) this.unref(old.messageId, maybeGarbage);
        queue.set(op.entry.seq, cloneRecord(op.entry));
        (this.messages.get(op.entry.messageId) as MessageSlot).refs++;
        this.touchEntry(t, op.clientId, op.entry.seq);
        return;
      }
      case 'queue.delete': {
        const queue = this.sessions.get(op.clientId)?.queue;
        const old = queue?.get(op.seq);
        if (!queue || !old) return;
        queue.delete(op.seq);
        this.unref(old.messageId, maybeGarbage);
        this.touchEntry(t, op.clientId, op.seq);
        return;
      }
      case 'inbound.put':
        this.session(op.clientId).inbound.add(op.packetId);
        this.touchInbound(t, op.clientId, op.packetId);
        return;
      case 'inbound.delete':
        if (this.sessions.get(op.clientId)?.inbound.delete(op.packetId)) this.touchInbound(t, op.clientId, op.packetId);
        return;
      case 'retained.put':
        this.retained.set(op.message.topic, cloneRecord(op.message));
        this.touchRetained(t, op.message.topic);
        return;
      case 'retained.delete':
        if (this.retained.delete(op.topic)) this.touchRetained(t, op.topic);
        return;
    }
  }

  // Each touch records a key whose final value (or absence) is looked up when the batch is done.
  private touchSession(t: Touched, clientId: string): void {
    t.add('sessions', sessionKey(clientId), () => {
      const s = this.sessions.get(clientId);
      return s ? encodeSession(s.session) : null;
    });
  }

  private touchSubscription(t: Touched, clientId: string, filter: string): void {
    t.add('subscriptions', subscriptionKey(clientId, filter), () => {
      const sub = this.sessions.get(clientId)?.subscriptions.get(filter);
      return sub ? encodeSubscription(clientId, sub) : null;
    });
  }

  private touchEntry(t: Touched, clientId: string, seq: number): void {
    t.add('queue', queueKey(clientId, seq), () => {
      const e = this.sessions.get(clientId)?.queue.get(seq);
      return e ? encodeEntry(clientId, e) : null;
    });
  }

  private touchInbound(t: Touched, clientId: string, packetId: number): void {
    t.add('inbound', inboundKey(clientId, packetId), () => (this.sessions.get(clientId)?.inbound.has(packetId) ? encodeInbound(clientId, packetId) : null));
  }

  private touchMessage(t: Touched, id: string): void {
    t.add('messages', messageKey(id), () => {
      const slot = this.messages.get(id);
      return slot ? encodeMessage(slot.message) : null;
    });
  }

  private touchRetained(t: Touched, topic: string): void {
    t.add('retained', retainedKey(topic), () => {
      const m = this.retained.get(topic);
      return m ? encodeMessage(m) : null;
    });
  }

  private session(clientId: string): SessionState {
    return this.sessions.get(clientId) as SessionState; // existence checked in check()
  }

  private unref(messageId: string, maybeGarbage: Set<string>): void {
    const slot = this.messages.get(messageId);
    if (slot) slot.refs--;
    maybeGarbage.add(messageId);
  }
}
