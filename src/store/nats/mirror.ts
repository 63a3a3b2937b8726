// The NATS store's in-memory copy of what is in its KV buckets. It answers the questions a batch
// raises without a round trip (does this session exist, which entries point at this message, which
// keys does a session.delete take with it), and turns a batch of ops into the key writes it makes.
//
// The state and its rules (validation of the whole batch before anything changes, message reference
// counting, collection at the end of a batch) are the store model's (../model.ts), shared with the
// memory store; the mirror watches each change the model makes to know which keys a batch writes.
// The mirror is rebuilt from NATS at every open(), and whenever a write to NATS failed, so it never
// has to undo a half-persisted batch.
import type { StoredMessage, StoreOp, StoreSnapshot } from '../ports.js';
import { StoreError } from '../errors.js';
import { StoreModel, type ModelWatcher } from '../model.js';
import type { BucketName } from './keys.js';
import { inboundKey, messageKey, queueKey, retainedKey, sessionKey, subscriptionKey } from './keys.js';
import { type DecodedRecord, type KeyWrite, encodeEntry, encodeInbound, encodeMessage, encodeSession, encodeSubscription, messageValueSize } from './codec.js';

/** Keys touched by a batch; their final values are read from the model once the batch is done. */
class Touched implements ModelWatcher {
  readonly writes = new Map<string, () => KeyWrite>();
  constructor(private readonly m: StoreModel) {}

  private add(bucket: BucketName, key: string, value: () => Uint8Array | null): void {
    this.writes.set(`${bucket}/${key}`, () => ({ bucket, key, value: value() }));
  }
  session(clientId: string): void {
    this.add('sessions', sessionKey(clientId), () => {
      const s = this.m.sessions.get(clientId);
      return s ? encodeSession(s.session) : null;
    });
  }
  subscription(clientId: string, filter: string): void {
    this.add('subscriptions', subscriptionKey(clientId, filter), () => {
      const sub = this.m.sessions.get(clientId)?.subscriptions.get(filter);
      return sub ? encodeSubscription(clientId, sub) : null;
    });
  }
  entry(clientId: string, seq: number): void {
    this.add('queue', queueKey(clientId, seq), () => {
      const e = this.m.sessions.get(clientId)?.queue.get(seq);
      return e ? encodeEntry(clientId, e) : null;
    });
  }
  inbound(clientId: string, packetId: number): void {
    this.add('inbound', inboundKey(clientId, packetId), () => (this.m.sessions.get(clientId)?.inbound.has(packetId) ? encodeInbound(clientId, packetId) : null));
  }
  message(id: string): void {
    this.add('messages', messageKey(id), () => {
      const slot = this.m.messages.get(id);
      return slot ? encodeMessage(slot.message) : null;
    });
  }
  retained(topic: string): void {
    this.add('retained', retainedKey(topic), () => {
      const m = this.m.retained.get(topic);
      return m ? encodeMessage(m) : null;
    });
  }
}

export class Mirror {
  private readonly model = new StoreModel();

  /**
   * Builds a mirror from the records read out of the buckets; throws a StoreError if they do not
   * form a consistent store. Returns the ids of stored messages no entry points at (to be removed).
   */
  static load(records: Iterable<DecodedRecord>): { mirror: Mirror; unreferenced: string[] } {
    const mirror = new Mirror();
    const m = mirror.model;
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
    return { mirror, unreferenced };
  }

  /** A deep copy of the state, as open() returns it. */
  snapshot(): StoreSnapshot {
    return this.model.snapshot();
  }

  /**
   * Throws a StoreError for the first invalid op (the model's rules), before anything changes. A
   * value that could not be written to NATS in one message (larger than `maxValueBytes`) is invalid too.
   */
  check(ops: readonly StoreOp[], maxValueBytes: number): void {
    const fits = (m: StoredMessage, invalid: (why: string) => never): void => {
      const size = messageValueSize(m);
      if (size > maxValueBytes) invalid(`message ${JSON.stringify(m.id)} takes ${size} bytes, more than the ${maxValueBytes} a NATS value may hold here (server max_payload)`);
    };
    this.model.check(ops, (op, invalid) => {
      if (op.op === 'session.put' && op.session.will) fits(op.session.will.message, invalid);
      else if (op.op === 'message.put' || op.op === 'retained.put') fits(op.message, invalid);
    });
  }

  /** Applies a batch that passed check() and returns the key writes that persist it, one per key. */
  apply(ops: readonly StoreOp[]): KeyWrite[] {
    const touched = new Touched(this.model);
    this.model.apply(ops, touched);
    return [...touched.writes.values()].map((w) => w());
  }
}
