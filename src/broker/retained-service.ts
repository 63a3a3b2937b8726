// The retained-message service: the index and its budgets (maxRetainedMessages, maxRetainedBytes),
// the expiry sweep, the store rows behind it, and the copies a new subscription receives. The one
// place a retained message is stored, whether it arrives in a publish or as the cluster's copy.
import type { Logger } from 'pino';
import type { QoS } from '../protocol/constants.js';
import { parseSharedFilter } from '../protocol/topic.js';
import type { Session } from '../session/session.js';
import { entryBytes, type MessageIds } from '../session/message.js';
import type { StoreOp, StoredMessage, SubscriptionRecord } from '../store/ports.js';
import { RetainedIndex, SKIP, STOP, TAKE, type Take } from '../router/retained.js';
import { publishTopicRefusal } from '../channel/topic-rules.js';
import type { BrokerStats } from './stats.js';
import type { ClusterLink, LocalRetained } from './cluster-link.js';
import { RetainedSweeper, type RetainedSweepOptions } from './retained-sweep.js';
import type { Queues } from './queues.js';
import { WriteBatch, type StoreWrites } from './writes.js';

/** The retained index as readers outside the service see it. */
export type RetainedReader = Pick<RetainedIndex, 'size' | 'bytes' | 'get' | 'all' | 'match'>;

export interface RetainedOptions {
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  retainedSweep?: RetainedSweepOptions;
  /** A connection's outgoing buffer limit: what one subscription's QoS 0 retained copies are read up to. */
  maxOutgoingBytes?: number;
}

/**
 * Once a new subscription's retained copies of one kind (QoS 0 or QoS 1/2) can go no further, how
 * many more matches the walk looks at for the other kind: a client whose queue is full but whose
 * buffer has room (or the reverse) still gets copies of the other kind, without its SUBSCRIBE
 * walking the whole index past what it can take.
 */
const RETAINED_SKIPS = 1000;

export class RetainedService {
  private readonly index = new RetainedIndex();
  private readonly sweeper: RetainedSweeper;
  private link?: Pick<ClusterLink, 'retainedExpired'>;

  constructor(
    private readonly options: RetainedOptions,
    private readonly writes: StoreWrites,
    private readonly queues: Queues,
    private readonly stats: BrokerStats,
    private readonly ids: MessageIds,
    private readonly log: Pick<Logger, 'warn' | 'error'>,
    private readonly now: () => number,
  ) {
    this.sweeper = new RetainedSweeper(this.index, now, (topics) => this.expired(topics), options.retainedSweep);
  }

  get reader(): RetainedReader {
    return this.index;
  }

  /** Loads what the store held at start-up, then starts the expiry sweep (which first sweeps all). */
  load(messages: readonly StoredMessage[]): void {
    const unsendable: StoreOp[] = [];
    for (const m of messages) {
      // Stored before its topic was checked (an older version's admin API): it could never be sent,
      // and every new subscriber to a matching filter would be disconnected by it.
      if (publishTopicRefusal(m.topic)) unsendable.push({ op: 'retained.delete', topic: m.topic });
      else this.index.set(m);
    }
    if (unsendable.length > 0) {
      this.log.warn({ count: unsendable.length }, 'retained messages whose topic no packet can carry were removed');
      this.writes.persistLater(unsendable);
    }
    this.sweeper.start();
  }

  /** A cluster keeps its own copy of retained messages: expired ones are cleared there too. */
  attachCluster(link: Pick<ClusterLink, 'retainedExpired'>): void {
    this.link = link;
  }

  /**
   * A routed message with RETAIN set updates the index; its store op joins `batch` (one is made
   * when needed and returned).
   */
  retain(message: StoredMessage, batch: WriteBatch | undefined): WriteBatch | undefined {
    // A retained message with an empty payload clears the topic [MQTT-3.3.1-10, MQTT-3.3.1-11].
    if (message.payload.length === 0) {
      if (this.index.delete(message.topic)) {
        (batch ??= new WriteBatch()).ops.push({ op: 'retained.delete', topic: message.topic });
      }
      return batch;
    }
    if (!this.admits(message)) {
      // Refused as a replacement, the old value would be news that is no longer true: cleared.
      if (this.index.delete(message.topic) && !message.topic.startsWith('$SYS/')) {
        (batch ??= new WriteBatch()).ops.push({ op: 'retained.delete', topic: message.topic });
      }
      this.queues.notifyDropped('retainedLimit', [message], undefined);
      return batch;
    }
    const op = this.store(message);
    if (op) (batch ??= new WriteBatch()).ops.push(op);
    return batch;
  }

  /** Sets an admitted message in the index; the op that stores it, except for $SYS values. */
  private store(message: StoredMessage): StoreOp | undefined {
    const stored: StoredMessage = { ...message };
    delete stored.publisherId;
    this.index.set(stored);
    // $SYS values are regenerated every interval; persisting them would only churn the disk.
    if (message.topic.startsWith('$SYS/')) return undefined;
    return { op: 'retained.put', message: stored };
  }

  /**
   * Whether the retained index may take `message` now (maxRetainedMessages, maxRetainedBytes);
   * a refusal is counted. The one check for every way a retained message arrives: a publish, a
   * cluster node's or another worker's copy. The broker's own $SYS values (a bounded set) always fit.
   */
  admits(message: StoredMessage): boolean {
    if (message.publisherId === undefined && message.topic.startsWith('$SYS/')) return true;
    const refused = this.index.refusal(message, { maxMessages: this.options.maxRetainedMessages, maxBytes: this.options.maxRetainedBytes });
    if (refused === undefined) return true;
    this.stats.dropped('retainedLimit');
    this.stats.limitHit(refused);
    return false;
  }

  /** The sweep removed expired retained messages: the store forgets them too [MQTT-3.3.2-5]. */
  private expired(topics: string[]): void {
    this.link?.retainedExpired?.(topics);
    this.writes.persistInBackground(topics.map((topic): StoreOp => ({ op: 'retained.delete', topic })));
  }

  /**
   * This node's retained messages as a cluster link reconciles them at start-up: set and cleared in
   * the index and the local store, never delivered (a loaded copy is not news to subscribers, and
   * offline sessions recovered from the store would otherwise queue it). Same budgets as a publish.
   */
  localCopy(): LocalRetained {
    const failed = (err: unknown): void => this.log.error({ err }, 'cluster: storing a retained message failed');
    return {
      list: () => [...this.index.all()],
      get: (topic) => this.index.get(topic),
      set: (message) => {
        if (!this.admits(message)) return;
        const op = this.store(message);
        if (op) this.writes.persist([op]).catch(failed);
      },
      delete: (topic) => {
        if (this.index.delete(topic)) this.writes.persist([{ op: 'retained.delete', topic }]).catch(failed);
      },
    };
  }

  /**
   * Sends the retained messages matching a new subscription, with RETAIN set [MQTT-3.3.1-8],
   * as Retain Handling says (0: always, 1: only if new, 2: never) [MQTT-3.3.1-9, MQTT-3.3.1-10].
   * Shared subscriptions get none: retained messages go to a new Non-shared Subscription (3.3.1.3).
   *
   * Bounded by what the session can take, because a client chooses how much this does: 1,000
   * filters in one SUBSCRIBE, each matching 100,000 retained messages, once held the event loop for
   * 35 s while every copy past the queue was made and dropped. The index is walked only as far as
   * the copies can go: QoS 1/2 copies until the session's queue (and window) is full, QoS 0 copies
   * only to a connected client whose outgoing buffer has room, and up to `maxOutgoingBytes` of them
   * (past that the outlet drops them as a slow consumer's). Where the walk stops short, the subscription
   * does not get every retained message: counted as the `retainedCopies` limit hit.
   */
  deliverRetained(session: Session, sub: SubscriptionRecord, isNew: boolean): void {
    if (sub.retainHandling === 2 || (sub.retainHandling === 1 && !isNew)) return;
    if (parseSharedFilter(sub.filter)) return;
    const online = session.online;
    // Offline, a QoS 0 subscription has nothing it could be sent.
    if (!online && sub.qos === 0) return;
    const now = this.now();
    const limits = this.queues.limits;
    // Room for QoS 1/2 copies: the queue, and a connected session's free window slots besides.
    let room = sub.qos === 0 ? 0 : Math.max(0, limits.maxQueuedMessages - session.queuedCount) + (online ? Math.max(0, session.sendWindow - session.inflight.size) : 0);
    // Bytes of QoS 0 copies: none offline, none to a connection whose outgoing buffer is full
    // already (they would be dropped), no bound for an in-process subscriber (no buffer).
    const outlet = session.outlet;
    let bytes = outlet === undefined || !outlet.writable ? 0 : outlet.unbuffered === true ? Infinity : (this.options.maxOutgoingBytes ?? Infinity);
    // Each kind is skipped once its allowance is spent, the walk stops once both are, and once one
    // is it looks at most RETAINED_SKIPS more messages for the other kind.
    let skips = 0;
    let cut = false;
    const spent = (): boolean => room === 0 && bytes <= 0;
    const skip = (): Take => {
      cut = true;
      return spent() || ++skips > RETAINED_SKIPS ? STOP : SKIP;
    };
    const messages = this.index.match(sub.filter, now, Infinity, (m): Take => {
      if (spent()) return (cut = true), STOP;
      const qos = sub.qos < m.qos ? sub.qos : m.qos;
      if (qos > 0) {
        if (room === 0) return skip();
        room--;
        return TAKE;
      }
      if (bytes <= 0) return online ? skip() : SKIP;
      // As the queue and the outgoing figures count a message (topic in UTF-8, payload).
      bytes -= entryBytes(m);
      return TAKE;
    });
    if (cut) this.stats.limitHit('retainedCopies');
    if (messages.length === 0) return;
    const ids = sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined;
    const batch = this.queues.stored(session) ? new WriteBatch() : undefined;
    for (const m of messages) {
      const qos = (sub.qos < m.qos ? sub.qos : m.qos) as QoS;
      if (qos === 0) {
        // The slow-consumer policy may have closed the connection meanwhile: nothing more goes to it.
        if (session.outlet === undefined) continue;
        session.outlet.deliver({ message: m, qos: 0, retain: true, subscriptionIds: ids });
        continue;
      }
      // Each retained copy is its own stored message: the retained one may be replaced meanwhile.
      const copy = { ...m, id: this.ids.next() };
      this.queues.enqueue(session, { message: copy, qos, retain: true, subscriptionIds: ids }, now, { batch, withMessage: true });
    }
    if (!batch || batch.ops.length === 0) return session.sendUnsent();
    this.writes.commitLater(batch, session.clientId);
  }

  stop(): void {
    this.sweeper.stop();
  }
}
