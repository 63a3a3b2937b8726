// Delivery to sessions: what each session is owed and how it reaches the connection. A QoS 1/2
// delivery is enqueued under the overflow policy (dropOldest, refuse, backPressure), moved into the
// in-flight window (`fillWindow`) and sent; acknowledgements free the window and refill it. Every
// message lost on the way is counted by reason and told to the `dropped` notification.
import type { Logger } from 'pino';
import type { QoS } from '../protocol/constants.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';
import type { Session, OverflowPolicy, QueueLimits, SessionOutlet } from '../session/session.js';
import { writing, type Outgoing, type Queued, type Unsent } from '../session/outgoing.js';
import { QueueBudget } from '../session/queue-budget.js';
import { entryBytes } from '../session/message.js';
import type { Delivery } from '../session/delivery.js';
import type { StoreOp, StoredMessage } from '../store/ports.js';
import type { BrokerHooks, DropReason as NotifiedDrop } from '../hooks/hooks.js';
import type { BrokerStats, DropReason } from './stats.js';
import { PublisherHolds } from './back-pressure.js';
import { notifyingOutlet } from './notifying-outlet.js';
import { entryOps, pushEntryOps } from './persistence.js';
import { WriteBatch, type StoreWrites } from './writes.js';

export interface QueueOptions {
  queue: QueueLimits;
  /** In-flight window towards a client (capped further by its Receive Maximum). */
  maxInflightMessages: number;
  backPressureTimeoutMs?: number;
  /** Most bytes all sessions' queues and in-flight windows may hold together; 0 or absent = no limit. */
  maxQueuedBytesTotal?: number;
}

/** How one delivery is enqueued (a record: the hot path's call sites say what they pass). */
export interface EnqueueOptions {
  /** A persistent session's batch: the entry's ops join it, and the entry is sent once it is written. */
  batch?: WriteBatch;
  /** The batch writes the message body too (the first of the message's entries in it). */
  withMessage?: boolean;
  /** Overflow policy for this delivery; default: the configured one, without holding a publisher. */
  policy?: OverflowPolicy;
  /** What the entry holds (session/message.ts entryBytes), worked out once for a message's many sessions. */
  bytes?: number;
}

const MEMORY_ONLY: EnqueueOptions = {};

export class Queues {
  /** Publishers held by full queues of online subscribers (queueOverflowPolicy=backPressure). */
  private readonly holds: PublisherHolds;
  /**
   * Set in a cluster: a node that adopts a session counts its stored in-flight QoS 1 entries as
   * resends, so there a QoS 1 entry is written in the state it is sent in, as QoS 2 is.
   */
  writesInflightQos1 = false;
  /** Bytes held by every registered session together (maxQueuedBytesTotal); Sessions registers them. */
  readonly budget: QueueBudget;
  /** pump's batch while it stays empty (see there). */
  private refill: WriteBatch | undefined;
  /** fillWindow's arrays, reused. */
  private readonly taken: Unsent[] = [];
  private readonly expired: Queued[] = [];

  constructor(
    private readonly options: QueueOptions,
    private readonly writes: StoreWrites,
    private readonly stats: BrokerStats,
    private readonly hooks: Pick<BrokerHooks, 'notify'>,
    private readonly log: Pick<Logger, 'warn' | 'error'>,
    private readonly now: () => number,
  ) {
    this.holds = new PublisherHolds(options.backPressureTimeoutMs ?? 10_000, (s) => {
      try {
        // A queue back within its limits but not yet at half is moving: its publishers just go on
        // (as they would have at its first free slot); only one still over its limits sheds.
        if (s.over(this.limits)) this.shed(s);
      } catch (err) {
        // On a timer: a fault here must not end the process; the publishers are let go regardless.
        this.log.error({ err, clientId: s.clientId }, 'giving up a back-pressure hold failed');
      }
    });
    this.budget = new QueueBudget(options.maxQueuedBytesTotal ?? 0);
    // Room in the broker-wide budget: publishers held on it go on where the session's own queue has room.
    this.budget.onRoom = () => this.holds.letGoWhere((s) => !s.over(this.limits));
  }

  /**
   * Whether a session's queue is written to the store: a persistent session's, unless the store
   * keeps nothing (persistence=memory), where every queue is in memory only, like a clean session's.
   */
  stored(s: Session): boolean {
    return s.persistent && this.writes.queuesToStore;
  }

  get limits(): QueueLimits {
    return this.options.queue;
  }

  /** After CONNACK: resend what was in flight, then deliver what was queued [MQTT-4.4.0-1]. */
  attach(session: Session, outlet: SessionOutlet, receiveMaximum: number): void {
    const notify = this.hooks.notify;
    session.outlet = notify?.delivered || notify?.dropped ? notifyingOutlet(outlet, session.clientId, this.stats, notify) : outlet;
    session.sendWindow = Math.min(receiveMaximum, this.options.maxInflightMessages);
    this.dropExpired(session, session.resend(this.now()));
    this.pump(session);
  }

  /**
   * Adds a QoS 1/2 delivery to a session's queue and fills its window. With a batch (persistent
   * session), the entry is held back from sending until the batch is written.
   */
  enqueue(s: Session, delivery: Delivery, now: number, options: EnqueueOptions = MEMORY_ONLY): boolean {
    const { batch, policy, bytes } = options;
    // Retained copies for a new subscription and the like have no publisher to hold.
    const r = s.enqueue(delivery, this.limits, policy ?? this.overflowPolicy(s, false), bytes ?? entryBytes(delivery.message));
    if (r.outcome === 'refused') {
      const reason = r.budget ? 'queueBudget' : 'queueRefused';
      this.queueDrop(s, reason, 1);
      if (this.hooks.notify?.dropped) this.notifyDropped(reason, [delivery.message], s.clientId);
      return false;
    }
    // Dropped for room: by the configured dropOldest, or because back-pressure gave up on this session.
    if (r.dropped) {
      const reason = s.pressure?.shedding ? 'backPressureTimeout' : 'queueFull';
      this.queueDrop(s, reason, r.dropped.length);
      if (this.hooks.notify?.dropped) this.notifyDropped(reason, r.dropped, s.clientId);
    }
    if (batch) {
      for (const d of r.dropped ?? []) batch.ops.push({ op: 'queue.delete', clientId: s.clientId, seq: d.seq });
      writing(r.entry);
      pushEntryOps(batch.ops, s, r.entry, options.withMessage === true);
      batch.entries.push(r.entry);
      batch.fresh.push(r.entry);
      batch.sessions.add(s);
    }
    if (s.online) {
      this.fillWindow(s, now, batch);
      // Held back by our window, not the client's smaller Receive Maximum: counted for /metrics.
      if (r.entry.state === 'queued' && s.inflight.size >= s.sendWindow && s.sendWindow === this.options.maxInflightMessages) {
        this.stats.limitHit('maxInflightMessages');
      }
    }
    return true;
  }

  /** Moves queued entries into the window; with a batch, their new state is written first. */
  private fillWindow(s: Session, now: number, batch: WriteBatch | undefined): void {
    // Reused arrays (one refill per acknowledgement), emptied before anything below may call back in here.
    const taken = this.taken;
    const expiredNow = this.expired;
    s.fillWindowInto(now, taken, expiredNow);
    if (batch) {
      for (const o of expiredNow) batch.ops.push({ op: 'queue.delete', clientId: s.clientId, seq: o.seq });
      for (const o of taken) {
        // QoS 1 streams from memory: its row stays `queued` and goes on PUBACK, so a drain never
        // waits for a commit per window. A crash in between only sends it again (QoS 1 is at least
        // once), without DUP, since the store cannot tell it had gone out.
        if (o.qos === 1 && !this.writesInflightQos1) continue;
        // QoS 2 is stored in the state it is sent in, with its packet id, so that after a crash it is resent
        // with DUP [MQTT-3.3.1-1]: an entry written earlier changes state now; one whose own write is
        // in this batch (or an earlier one still under way) is written again after it.
        if (o.written) {
          o.written = false;
          batch.entries.push(o);
        }
        pushEntryOps(batch.ops, s, o, false);
      }
      batch.sessions.add(s);
    }
    const moved = taken.length > 0;
    taken.length = 0;
    if (expiredNow.length === 0) {
      if (moved) this.roomMade(s);
      return;
    }
    const expired = expiredNow.splice(0);
    this.stats.dropped('expired', expired.length);
    if (this.hooks.notify?.dropped) this.notifyDropped('expired', expired, s.clientId);
    this.roomMade(s);
  }

  /** Fills the window and sends what it allows now. */
  pump(session: Session): void {
    if (!session.online) return;
    if (!this.stored(session)) {
      this.fillWindow(session, this.now(), undefined);
      session.sendUnsent();
      return;
    }
    // Most refills (a drain's, QoS 1) write nothing: the batch is reused until one does. Taken out
    // while in use, so a pump reached from inside this one (a hook) never shares it.
    const batch = this.refill ?? new WriteBatch();
    this.refill = undefined;
    this.fillWindow(session, this.now(), batch);
    if (batch.ops.length === 0) {
      batch.entries.length = 0;
      batch.sessions.clear();
      this.refill = batch;
      return session.sendUnsent();
    }
    this.writes.commitLater(batch, session.clientId);
  }

  /**
   * backPressure holds only a publisher that can wait (a client's QoS 1/2 PUBLISH) for a subscriber
   * that is reading (online), and not after a hold on it timed out: otherwise it drops the oldest.
   */
  overflowPolicy(s: Session, hold: boolean): OverflowPolicy {
    const policy = this.limits.overflow;
    if (policy !== 'backPressure') return policy;
    return hold && s.online && !s.pressure?.shedding ? 'backPressure' : 'dropOldest';
  }

  /** Resolves once each of these full queues has room again (or was given up on); undefined when none must be waited for. */
  holdUntilRoom(full: readonly Session[]): Promise<void> | undefined {
    // Routing the same message to later sessions may have made room meanwhile (a dropOldest that
    // freed more than it added): a session back within its limits and the budget holds nobody.
    const still = full.filter((s) => s.over(this.limits));
    return still.length > 0 ? this.holds.wait(still) : undefined;
  }

  /** Whether some publisher is held now. */
  get holding(): boolean {
    return this.holds.size > 0;
  }

  /** Nobody reads this queue now (offline, or the session ended): its publishers go on. */
  letPublishersGo(s: Session): void {
    this.holds.letGo(s);
  }

  /**
   * A message lost to a session's queue limits: counted by reason, and logged at warn once per
   * session until its queue drains (a subscriber that stays behind would otherwise log every message).
   */
  private queueDrop(s: Session, reason: DropReason, count: number): void {
    this.stats.dropped(reason, count);
    const pressure = (s.pressure ??= { logged: false, shedding: false });
    if (pressure.logged) return;
    pressure.logged = true;
    const { maxQueuedMessages, maxQueuedBytes, overflow } = this.limits;
    const budget = { queuedBytesTotal: this.budget.total, maxQueuedBytesTotal: this.budget.max };
    this.log.warn(
      { clientId: s.clientId, reason, dropped: count, queued: s.queuedCount, queuedBytes: s.queuedBytes, online: s.online, maxQueuedMessages, maxQueuedBytes, queueOverflowPolicy: overflow, ...budget },
      'queue full: messages dropped for this session (logged once until its queue drains)',
    );
  }

  /**
   * A session stayed over its queue limits for backPressureTimeoutSec with publishers held on it:
   * it is given up on. Its oldest messages go (counted as backPressureTimeout) and it drops its
   * oldest, unheld, until it has drained to half its limits.
   */
  private shed(s: Session): void {
    (s.pressure ??= { logged: false, shedding: false }).shedding = true;
    const dropped = s.trim(this.limits);
    if (dropped.length === 0) return;
    this.queueDrop(s, 'backPressureTimeout', dropped.length);
    if (this.stored(s)) this.writes.persistLater(dropped.map((o): StoreOp => ({ op: 'queue.delete', clientId: s.clientId, seq: o.seq })));
  }

  /** Entries left the queue: held publishers may go on, and a drained queue ends its overflow. */
  private roomMade(s: Session): void {
    // Held publishers go on once the queue drained to half its limits, not at its first free slot:
    // let go one slot at a time, each publisher would be read for one PUBLISH, answered with one
    // PUBACK write and held again at once (a system call per message); from half, each goes on for
    // a run of messages, and the queue holds fewer messages on the way.
    if (this.holds.holding(s) && s.withinHalf(this.limits) && !s.over(this.limits)) this.holds.letGo(s);
    if (s.pressure && s.withinHalf(this.limits)) s.pressure = undefined;
  }

  // ---- acknowledgements from subscribers -------------------------------------------------

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client: the entry is done. */
  completed(session: Session, packetId: number, kind: 'puback' | 'pubcomp'): boolean {
    const o = session.complete(packetId, kind);
    if (!o) return false;
    this.hooks.notify?.delivered?.(session.clientId, o.message, o.qos);
    // One op, no array: a drain acknowledges every message it sends.
    if (this.stored(session)) this.writes.persistOneLater({ op: 'queue.delete', clientId: session.clientId, seq: o.seq });
    this.pump(session);
    return true;
  }

  /** Drops an in-flight entry the client can never receive (larger than its Maximum Packet Size). */
  discard(session: Session, packetId: number): void {
    const o = session.removeInflight(packetId);
    if (!o) return;
    if (this.stored(session)) this.writes.persistLater([{ op: 'queue.delete', clientId: session.clientId, seq: o.seq }]);
    this.pump(session);
  }

  /** In-flight entries that expired before they were ever sent [MQTT-3.3.2-5]. */
  private dropExpired(session: Session, expired: Outgoing[]): void {
    if (expired.length === 0) return;
    this.stats.dropped('expired', expired.length);
    if (this.hooks.notify?.dropped) this.notifyDropped('expired', expired, session.clientId);
    if (this.stored(session)) this.writes.persistLater(expired.map((o) => ({ op: 'queue.delete', clientId: session.clientId, seq: o.seq })));
  }

  /** PUBREC from the client; resolves when PUBREL may be sent (the released state is durable). */
  received(session: Session, packetId: number): MaybePromise<Outgoing | undefined> {
    const o = session.received(packetId);
    if (!o || !this.stored(session)) return o;
    return this.writes.persist(entryOps(session, o, false)).then(() => o);
  }

  /** Removes an inbound QoS 2 id on PUBREL; resolves when PUBCOMP may be sent. */
  inboundCompleted(session: Session, packetId: number): MaybePromise<boolean> {
    if (!session.deleteInbound(packetId)) return false;
    if (!this.stored(session)) return true;
    return this.writes.persist([{ op: 'inbound.delete', clientId: session.clientId, packetId }]).then(() => true);
  }

  /** Tells the `dropped` notification about each message lost (entries or messages). */
  notifyDropped(reason: NotifiedDrop, lost: ReadonlyArray<Outgoing | StoredMessage>, clientId: string | undefined): void {
    for (const l of lost) this.hooks.notify?.dropped?.(reason, 'message' in l ? l.message : l, clientId);
  }

  /**
   * The session ends here for good (Clean Start, expiry, a connection whose session ends with it, a
   * Clean Start on another node): what it still owed its client is lost, counted as `sessionEnded`.
   * Not for a session that moves to another node or is replaced by an imported copy: its messages go on.
   */
  discarded(s: Session): void {
    // A QoS 2 delivery whose PUBREC came (awaiting PUBCOMP) has reached the client: not lost.
    let released = 0;
    for (const o of s.inflight.values()) if (o.state === 'awaitingPubcomp') released++;
    const owed = s.queuedCount + s.inflight.size - released;
    if (owed === 0) return;
    this.stats.dropped('sessionEnded', owed);
    if (this.hooks.notify?.dropped) this.notifyDropped('sessionEnded', s.allEntries().filter((o) => o.state !== 'awaitingPubcomp'), s.clientId);
  }

  /** Lets every held publisher go (the broker is closing). */
  close(): void {
    this.holds.clear();
  }
}
