// The store's state as plain maps, with the rules every store follows (the contract suite checks
// them): a batch is validated whole before anything changes, message bodies are reference-counted by
// the queue entries (of any state) that point at them, and bodies no entry points at are collected at
// the end of a batch only (so one batch may drop a message's last entry and add a new one for it).
//
// Two stores are built on it: the memory store keeps its state here, and the NATS store keeps a
// mirror of its buckets here (nats/mirror.ts), watching each change to know which keys to write.
import type { QueueEntry, SessionRecord, StoredMessage, StoredSessionState, StoreOp, StoreSnapshot, SubscriptionRecord } from './ports.js';
import { cloneRecord } from './clone.js';
import { StoreError } from './errors.js';
import { validateOp } from './validate.js';

export interface SessionState {
  session: SessionRecord;
  subscriptions: Map<string, SubscriptionRecord>;
  queue: Map<number, QueueEntry>;
  inbound: Set<number>;
}

export interface MessageSlot {
  message: StoredMessage;
  /** Queue entries (of any state) that point at this message. */
  refs: number;
}

/** Told of every record a batch changed (put, replaced or removed), once per change. */
export interface ModelWatcher {
  session(clientId: string): void;
  subscription(clientId: string, filter: string): void;
  entry(clientId: string, seq: number): void;
  inbound(clientId: string, packetId: number): void;
  /** A message body appeared or went (a body put and collected within one batch is not reported). */
  message(id: string): void;
  retained(topic: string): void;
}

export class StoreModel {
  readonly sessions = new Map<string, SessionState>();
  readonly messages = new Map<string, MessageSlot>();
  readonly retained = new Map<string, StoredMessage>();

  /** A deep copy of the state, as a store's open() returns it. */
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
   * Throws a StoreError for the first invalid op (validate.ts, and what depends on the state: a child
   * record of a session that does not exist, an entry naming an unknown message), before anything
   * changes. `more` adds a store's own check of each op (e.g. a size limit).
   */
  check(ops: readonly StoreOp[], more?: (op: StoreOp, invalid: (why: string) => never) => void): void {
    // Session existence as the batch goes along (true = put, false = deleted in this batch).
    const alive = new Map<string, boolean>();
    const isAlive = (id: string): boolean => alive.get(id) ?? this.sessions.has(id);
    const newMessages = new Set<string>();
    ops.forEach((op, i) => {
      const invalid = (why: string): never => {
        throw new StoreError(`invalid store op #${i} (${op.op}): ${why}`);
      };
      validateOp(op, i);
      more?.(op, invalid);
      switch (op.op) {
        case 'session.put':
          alive.set(op.session.clientId, true);
          break;
        case 'session.delete':
          alive.set(op.clientId, false);
          break;
        case 'message.put':
          newMessages.add(op.message.id);
          break;
        case 'subscription.put':
        case 'inbound.put':
        case 'queue.put':
          if (!isAlive(op.clientId)) invalid(`no session ${JSON.stringify(op.clientId)}`);
          if (op.op === 'queue.put' && !this.messages.has(op.entry.messageId) && !newMessages.has(op.entry.messageId)) {
            invalid(`unknown message ${JSON.stringify(op.entry.messageId)}`);
          }
          break;
        default:
          break;
      }
    });
  }

  /** Applies a batch that passed check(), telling `watch` what changed. */
  apply(ops: readonly StoreOp[], watch?: ModelWatcher): void {
    const maybeGarbage = new Set<string>();
    const created = new Set<string>();
    for (const op of ops) this.applyOne(op, maybeGarbage, created, watch);
    for (const id of maybeGarbage) {
      if (this.messages.get(id)?.refs === 0) this.messages.delete(id);
      // Bodies are only ever removed here, so one this batch did not create was there before it.
      if (watch && !created.has(id) !== this.messages.has(id)) watch.message(id);
    }
  }

  private applyOne(op: StoreOp, maybeGarbage: Set<string>, created: Set<string>, watch: ModelWatcher | undefined): void {
    switch (op.op) {
      case 'session.put': {
        const existing = this.sessions.get(op.session.clientId);
        const session = cloneRecord(op.session);
        if (existing) existing.session = session;
        else this.sessions.set(session.clientId, { session, subscriptions: new Map(), queue: new Map(), inbound: new Set() });
        watch?.session(session.clientId);
        return;
      }
      case 'session.delete': {
        const s = this.sessions.get(op.clientId);
        if (!s) return;
        this.sessions.delete(op.clientId);
        watch?.session(op.clientId);
        if (watch) for (const filter of s.subscriptions.keys()) watch.subscription(op.clientId, filter);
        if (watch) for (const p of s.inbound) watch.inbound(op.clientId, p);
        for (const e of s.queue.values()) {
          watch?.entry(op.clientId, e.seq);
          this.unref(e.messageId, maybeGarbage);
        }
        return;
      }
      case 'subscription.put':
        this.session(op.clientId).subscriptions.set(op.subscription.filter, cloneRecord(op.subscription));
        watch?.subscription(op.clientId, op.subscription.filter);
        return;
      case 'subscription.delete':
        if (this.sessions.get(op.clientId)?.subscriptions.delete(op.filter)) watch?.subscription(op.clientId, op.filter);
        return;
      case 'message.put':
        // Messages are immutable once stored: a second put of the same id (fan-out to another
        // session) keeps the first copy.
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
        watch?.entry(op.clientId, op.entry.seq);
        return;
      }
      case 'queue.delete': {
        const queue = this.sessions.get(op.clientId)?.queue;
        const old = queue?.get(op.seq);
        if (!queue || !old) return;
        queue.delete(op.seq);
        this.unref(old.messageId, maybeGarbage);
        watch?.entry(op.clientId, op.seq);
        return;
      }
      case 'inbound.put':
        this.session(op.clientId).inbound.add(op.packetId);
        watch?.inbound(op.clientId, op.packetId);
        return;
      case 'inbound.delete':
        if (this.sessions.get(op.clientId)?.inbound.delete(op.packetId)) watch?.inbound(op.clientId, op.packetId);
        return;
      case 'retained.put':
        this.retained.set(op.message.topic, cloneRecord(op.message));
        watch?.retained(op.message.topic);
        return;
      case 'retained.delete':
        if (this.retained.delete(op.topic)) watch?.retained(op.topic);
        return;
    }
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
