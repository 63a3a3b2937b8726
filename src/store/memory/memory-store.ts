// A store that keeps its state in maps: for brokers that run without persistence and for tests.
// Not durable (state ends with the process), but otherwise behaves exactly like the durable stores,
// which the shared contract suite checks: same validation, same atomic batches, same message
// reference counting. It keeps copies, so the broker mutating an object it passed in (or one it got
// back from open()) never changes what is stored.
import type { QueueEntry, SessionRecord, StoredMessage, StoreOp, Store, StoreSnapshot, SubscriptionRecord } from '../ports.js';
import { cloneRecord } from '../clone.js';
import { StoreError } from '../errors.js';
import { validateOp } from '../validate.js';

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

export class MemoryStore implements Store {
  readonly durable = false;
  private opened = false;
  private readonly sessions = new Map<string, SessionState>();
  private readonly messages = new Map<string, MessageSlot>();
  private readonly retained = new Map<string, StoredMessage>();

  /** Opens (or re-reads, when already open) and returns a copy of the current state. */
  async open(): Promise<StoreSnapshot> {
    this.opened = true;
    const sessions = [...this.sessions.values()].map((s) => ({
      session: cloneRecord(s.session),
      subscriptions: [...s.subscriptions.values()].map(cloneRecord),
      queue: [...s.queue.values()].sort((a, b) => a.seq - b.seq).map(cloneRecord),
      inbound: [...s.inbound].sort((a, b) => a - b),
    }));
    const messages = new Map<string, StoredMessage>();
    for (const [id, slot] of this.messages) messages.set(id, cloneRecord(slot.message));
    return { sessions, messages, retained: [...this.retained.values()].map(cloneRecord) };
  }

  async apply(ops: readonly StoreOp[]): Promise<void> {
    if (!this.opened) throw new StoreError('memory store: apply() before open() or after close()');
    // Validate the whole batch first, so applying it cannot fail half-way: that is what makes it atomic.
    this.check(ops);
    const maybeGarbage = new Set<string>();
    for (const op of ops) this.applyOne(op, maybeGarbage);
    // Messages are collected only at the end of a batch, so one batch may drop a message's last
    // entry and add a new one for it (or put the message before its first entry).
    for (const id of maybeGarbage) {
      if (this.messages.get(id)?.refs === 0) this.messages.delete(id);
    }
  }

  async close(): Promise<void> {
    this.opened = false;
  }

  /** Throws a StoreError for the first invalid op; see validate.ts for what "invalid" means. */
  private check(ops: readonly StoreOp[]): void {
    // Session existence as the batch goes along (true = put, false = deleted in this batch).
    const alive = new Map<string, boolean>();
    const isAlive = (id: string): boolean => alive.get(id) ?? this.sessions.has(id);
    const newMessages = new Set<string>();
    ops.forEach((op, i) => {
      validateOp(op, i);
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
          if (!isAlive(op.clientId)) throw new StoreError(`invalid store op #${i} (${op.op}): no session ${JSON.stringify(op.clientId)}`);
          if (op.op === 'queue.put' && !this.messages.has(op.entry.messageId) && !newMessages.has(op.entry.messageId)) {
            throw new StoreError(`invalid store op #${i} (queue.put): unknown message ${JSON.stringify(op.entry.messageId)}`);
          }
          break;
        default:
          break;
      }
    });
  }

  private applyOne(op: StoreOp, maybeGarbage: Set<string>): void {
    switch (op.op) {
      case 'session.put': {
        const existing = this.sessions.get(op.session.clientId);
        const session = cloneRecord(op.session);
        if (existing) existing.session = session;
        else this.sessions.set(session.clientId, { session, subscriptions: new Map(), queue: new Map(), inbound: new Set() });
        return;
      }
      case 'session.delete': {
        const s = this.sessions.get(op.clientId);
        if (!s) return;
        for (const e of s.queue.values()) this.unref(e.messageId, maybeGarbage);
        this.sessions.delete(op.clientId);
        return;
      }
      case 'subscription.put':
        this.session(op.clientId).subscriptions.set(op.subscription.filter, cloneRecord(op.subscription));
        return;
      case 'subscription.delete':
        this.sessions.get(op.clientId)?.subscriptions.delete(op.filter);
        return;
      case 'message.put':
        // Messages are immutable once stored: a second put of the same id (fan-out to another
        // session) keeps the first copy.
        if (!this.messages.has(op.message.id)) this.messages.set(op.message.id, { message: cloneRecord(op.message), refs: 0 });
        maybeGarbage.add(op.message.id);
        return;
      case 'queue.put': {
        const queue = this.session(op.clientId).queue;
        const old = queue.get(op.entry.seq);
        if (old) this.unref(old.messageId, maybeGarbage);
        queue.set(op.entry.seq, cloneRecord(op.entry));
        (this.messages.get(op.entry.messageId) as MessageSlot).refs++;
        return;
      }
      case 'queue.delete': {
        const queue = this.sessions.get(op.clientId)?.queue;
        const old = queue?.get(op.seq);
        if (!queue || !old) return;
        queue.delete(op.seq);
        this.unref(old.messageId, maybeGarbage);
        return;
      }
      case 'inbound.put':
        this.session(op.clientId).inbound.add(op.packetId);
        return;
      case 'inbound.delete':
        this.sessions.get(op.clientId)?.inbound.delete(op.packetId);
        return;
      case 'retained.put':
        this.retained.set(op.message.topic, cloneRecord(op.message));
        return;
      case 'retained.delete':
        this.retained.delete(op.topic);
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
