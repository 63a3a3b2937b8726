// A session's pure state: subscriptions, the outgoing queue and in-flight window, inbound QoS 2
// identifiers. No I/O and no timers: the broker drives it and turns its changes into store ops.
import type { ProtocolVersion } from '../protocol/constants.js';
import type { SubscriptionRecord, WillRecord } from '../store/ports.js';
import { PacketIdAllocator } from './packet-ids.js';
import { markReleased, markResend, markSent, newEntry, windowed, type AwaitingPubcomp, type Inflight, type Outgoing, type Queued, type Unsent } from './outgoing.js';
import type { Delivery } from './delivery.js';
import { entryBytes } from './message.js';
import type { QueueBudget } from './queue-budget.js';
import { INBOUND_ID_BYTES, textBytes, willBytes, type StateBudget } from './state-budget.js';

/**
 * What a full queue does with one more QoS 1/2 message: drop the oldest queued, refuse the new one,
 * or (backPressure) take it beyond the limits while the broker holds its publisher.
 */
export type OverflowPolicy = 'dropOldest' | 'refuseNewest' | 'backPressure';

export interface QueueLimits {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  overflow: OverflowPolicy;
}

/**
 * A session whose queue overflowed, until it drains (to half its limits): whether its first drop
 * was logged, and whether back-pressure gave up on it (it then drops its oldest instead).
 */
export interface QueuePressure {
  logged: boolean;
  shedding: boolean;
}

/** Where a connected session's deliveries go; implemented by the channel. */
export interface SessionOutlet {
  /** False while the connection's outgoing buffer is full: QoS 1/2 deliveries wait for drain. */
  readonly writable: boolean;
  /**
   * True when deliveries go to no byte-limited buffer (an in-process subscriber): nothing bounds by
   * maxOutgoingBytes what it is given.
   */
  readonly unbuffered?: boolean;
  /**
   * Writes one PUBLISH to the client (a delivery: routing decided it, this only sends it). The
   * delivery may be the session's own entry (Session.send): read it during the call, keep nothing.
   */
  deliver(delivery: Delivery): void;
  pubrel(packetId: number): void;
}

export type EnqueueResult =
  /** `over`: taken beyond the limits (backPressure); the caller holds the publisher. */
  | { outcome: 'queued'; entry: Outgoing; dropped?: Queued[]; over?: true }
  /** `budget`: refused by the broker-wide budget (maxQueuedBytesTotal), not the session's own limits. */
  | { outcome: 'refused'; budget?: true };

/** A Map that is always empty: what a session that never needed one reads (a throw guards it). */
class EmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('EmptyMap is read-only');
  }
}
class EmptySet<T> extends Set<T> {
  override add(): this {
    throw new Error('EmptySet is read-only');
  }
}
const NO_SUBSCRIPTIONS: ReadonlyMap<string, SubscriptionRecord> = new EmptyMap();
const NO_INFLIGHT: ReadonlyMap<number, Inflight> = new EmptyMap();
const NO_INBOUND: ReadonlySet<number> = new EmptySet();
/**
 * What a session with nothing queued or waiting to be sent holds: one shared, frozen empty array
 * each, until its first entry (a write to one would throw rather than reach every session).
 */
const NOTHING_QUEUED: Queued[] = Object.freeze([]) as unknown as Queued[];
/** An emptied queue array is started over once this many entries were taken from it (see shift). */
const RESTART_EMPTIED_AT = 16;
const NOTHING_TO_SEND: Inflight[] = Object.freeze([]) as unknown as Inflight[];

export class Session {
  readonly clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds; 0 ends the session with the connection, 0xFFFFFFFF never expires. */
  expiryInterval: number;
  // The maps below are made on first write: an idle client (no subscription, nothing in flight,
  // no QoS 2 received) carries none of them, and reads see a shared empty one.
  private subs?: Map<string, SubscriptionRecord>;
  private window?: Map<number, Inflight>;
  private qos2In?: Set<number>;
  private willRecord?: WillRecord;
  disconnectedAt?: number;
  outlet?: SessionOutlet;
  /** Most unacknowledged QoS 1/2 PUBLISH packets the client accepts (its Receive Maximum). */
  sendWindow = 65_535;
  /** Set while the queue is overflowing (created then, so a quiet session carries nothing). */
  pressure?: QueuePressure;
  /** Cluster durable mode: the last stream sequence routed here (SessionRecord.streamSeq). */
  streamSeq = 0;

  private pending: Queued[] = NOTHING_QUEUED;
  private head = 0;
  private nextSeq = 1;
  private queuedBytesCount = 0;
  /** Bytes of every entry the session holds, queued or in flight (what the broker-wide budget counts). */
  private heldBytes = 0;
  private budget?: QueueBudget;
  /** What the client chose that the session holds besides its queue: client id, filters, will, QoS 2 ids (maxSessionBytesTotal). */
  private stateBytes: number;
  private stateBudget?: StateBudget;
  private ids?: PacketIdAllocator;
  /** In-flight entries in state `unsent` (what sendUnsent has to send). */
  private unsentCount = 0;
  /**
   * While `ordered`, every unsent entry comes after every other in-flight entry (new entries join
   * the window at its end, and are sent in order), and `toSend` (from `sendHead`) lists them in
   * window order, plus entries since sent or removed (skipped): sendUnsent then starts at the first
   * unsent entry instead of walking the whole window for each acknowledgement. A resend breaks the
   * order (awaitingPubcomp entries among the unsent ones): the window is walked until none is unsent.
   */
  private ordered = true;
  private toSend: Inflight[] = NOTHING_TO_SEND;
  private sendHead = 0;

  constructor(clientId: string, protocolVersion: ProtocolVersion, expiryInterval: number) {
    this.clientId = clientId;
    this.protocolVersion = protocolVersion;
    this.expiryInterval = expiryInterval;
    this.stateBytes = textBytes(clientId);
  }

  /** The will, kept while it may still have to be published; counted in the state budget. */
  get will(): WillRecord | undefined {
    return this.willRecord;
  }

  set will(w: WillRecord | undefined) {
    if (w === this.willRecord) return;
    this.changeState(willBytes(w) - willBytes(this.willRecord));
    this.willRecord = w;
  }

  /** Counts this session's state in `budget` from now on (the broker registered it). */
  joinStateBudget(budget: StateBudget): void {
    if (this.stateBudget === budget) return;
    this.leaveStateBudget();
    this.stateBudget = budget;
    budget.change(this.stateBytes);
  }

  /** The session ended or left this node: its state no longer counts. */
  leaveStateBudget(): void {
    const b = this.stateBudget;
    if (!b) return;
    this.stateBudget = undefined;
    b.change(-this.stateBytes);
  }

  /** Whether `bytes` more state would take all sessions past maxSessionBytesTotal. */
  stateWouldOverflow(bytes: number): boolean {
    return this.stateBudget?.full(bytes) === true;
  }

  private changeState(bytes: number): void {
    this.stateBytes += bytes;
    this.stateBudget?.change(bytes);
  }

  /** Subscriptions by filter (change them with subscribe / unsubscribe). */
  get subscriptions(): ReadonlyMap<string, SubscriptionRecord> {
    return this.subs ?? NO_SUBSCRIPTIONS;
  }

  /** Outgoing QoS 1/2 messages holding a packet identifier, in the order they were taken. */
  get inflight(): ReadonlyMap<number, Inflight> {
    return this.window ?? NO_INFLIGHT;
  }

  /** Inbound QoS 2 identifiers for which PUBREC was sent and PUBREL is awaited [MQTT-4.3.3-10]. */
  get inbound(): ReadonlySet<number> {
    return this.qos2In ?? NO_INBOUND;
  }

  subscribe(sub: SubscriptionRecord): void {
    const subs = (this.subs ??= new Map());
    if (!subs.has(sub.filter)) this.changeState(textBytes(sub.filter));
    subs.set(sub.filter, sub);
  }

  /** Whether there was such a subscription. */
  unsubscribe(filter: string): boolean {
    if (this.subs?.delete(filter) !== true) return false;
    this.changeState(-textBytes(filter));
    return true;
  }

  addInbound(packetId: number): void {
    const ids = (this.qos2In ??= new Set());
    if (ids.has(packetId)) return;
    ids.add(packetId);
    this.changeState(INBOUND_ID_BYTES);
  }

  /** Whether the id was awaiting PUBREL. */
  deleteInbound(packetId: number): boolean {
    if (this.qos2In?.delete(packetId) !== true) return false;
    this.changeState(-INBOUND_ID_BYTES);
    return true;
  }

  /** Removes an in-flight entry by packet id; returns it. */
  removeInflight(packetId: number): Inflight | undefined {
    const o = this.window?.get(packetId);
    if (o) {
      this.window!.delete(packetId);
      if (o.state === 'unsent') this.unsentCount--;
      this.unholdOne(o);
    }
    return o;
  }

  /** A session that outlives its connection (clean session 0, or session expiry > 0). */
  get persistent(): boolean {
    return this.expiryInterval > 0;
  }

  get online(): boolean {
    return this.outlet !== undefined;
  }

  get queuedCount(): number {
    return this.pending.length - this.head;
  }

  get queuedBytes(): number {
    return this.queuedBytesCount;
  }

  /** Bytes of every entry held, queued or in flight (counted against maxQueuedBytesTotal). */
  get bytesHeld(): number {
    return this.heldBytes;
  }

  /** Counts this session's entries in `budget` from now on (the broker registered it). */
  joinBudget(budget: QueueBudget): void {
    if (this.budget === budget) return;
    this.leaveBudget();
    this.budget = budget;
    budget.change(this.heldBytes);
  }

  /** The session ended or left this node: what it still holds no longer counts. */
  leaveBudget(): void {
    const b = this.budget;
    if (!b) return;
    this.budget = undefined;
    b.change(-this.heldBytes);
  }

  private hold(bytes: number): void {
    this.heldBytes += bytes;
    this.budget?.change(bytes);
  }

  /** An entry that left the session (acknowledged, dropped, expired, discarded). */
  private unholdOne(o: Outgoing): void {
    this.release(o.bytes);
  }

  /** Entries that left the session. */
  private unhold(entries: readonly Outgoing[]): void {
    let n = 0;
    for (const o of entries) n += o.bytes;
    this.release(n);
  }

  private release(bytes: number): void {
    if (bytes === 0) return;
    this.heldBytes -= bytes;
    this.budget?.change(-bytes);
  }

  /** Queued entries not yet holding a packet identifier, oldest first. */
  queued(): readonly Queued[] {
    return this.pending.slice(this.head);
  }

  /**
   * Adds a QoS 1/2 delivery to the end of the queue, applying the queue limits with `policy` (the
   * configured one unless the broker says otherwise: backPressure only where a publisher can be held).
   * `bytes`: what the entry holds (entryBytes), when the caller worked it out once for many sessions.
   */
  enqueue(delivery: Delivery, limits: QueueLimits, policy: OverflowPolicy = limits.overflow, bytes = entryBytes(delivery.message)): EnqueueResult {
    // No room even in an empty queue (a message larger than the whole byte limit, or a limit of
    // none), or the policy keeps what is queued: the new message is refused.
    const never = bytes > limits.maxQueuedBytes || limits.maxQueuedMessages === 0;
    const full = this.full(bytes, limits);
    if (never || (full && policy === 'refuseNewest')) return { outcome: 'refused' };
    // The broker-wide budget is full: an offline session, or refuseNewest, does not take the new
    // message; dropOldest makes room from this session's own queue when that is enough;
    // backPressure takes it beyond, and the broker holds its publisher until the total has room.
    const budgetFull = this.budget?.full(bytes) === true;
    if (budgetFull && policy !== 'backPressure') {
      if (!this.online || policy === 'refuseNewest' || this.budget!.full(bytes - this.queuedBytesCount)) return { outcome: 'refused', budget: true };
    }
    // dropOldest: as many of the oldest as it takes (one large message may need several to go).
    let dropped: Queued[] | undefined;
    if (policy !== 'backPressure') {
      while (this.queuedCount > 0 && (this.full(bytes, limits) || this.budget?.full(bytes))) (dropped ??= []).push(this.shift()!);
      if (dropped) this.unhold(dropped);
    }
    const entry = newEntry(this.nextSeq++, delivery, bytes);
    this.ownQueue().push(entry);
    this.queuedBytesCount += bytes;
    this.hold(bytes);
    if ((full || budgetFull) && policy === 'backPressure') return { outcome: 'queued', entry, over: true };
    return dropped ? { outcome: 'queued', entry, dropped } : { outcome: 'queued', entry };
  }

  /**
   * More queued than the limits allow, or all sessions together past the broker-wide budget (only
   * backPressure lets a queue get there): a publisher held on this session keeps waiting.
   */
  over(limits: QueueLimits): boolean {
    return this.overOwn(limits) || this.budget?.over === true;
  }

  private overOwn(limits: QueueLimits): boolean {
    return this.queuedCount > limits.maxQueuedMessages || this.queuedBytesCount > limits.maxQueuedBytes;
  }

  /** Down to half its limits or less: an overflow is over (hysteresis, so it is not logged at every message). */
  withinHalf(limits: QueueLimits): boolean {
    return this.queuedCount <= limits.maxQueuedMessages / 2 && this.queuedBytesCount <= limits.maxQueuedBytes / 2;
  }

  /**
   * Drops the oldest queued entries until the queue is within its own limits and, as far as its own
   * queue can make room, the broker-wide budget; returns them.
   */
  trim(limits: QueueLimits): Queued[] {
    const dropped: Queued[] = [];
    while (this.queuedCount > 0 && (this.overOwn(limits) || this.budget?.over)) dropped.push(this.shift()!);
    this.unhold(dropped);
    return dropped;
  }

  /** Whether the queue has no room for `bytes` more (a method, not a closure per enqueue: hot path). */
  private full(bytes: number, limits: QueueLimits): boolean {
    return this.queuedCount >= limits.maxQueuedMessages || this.queuedBytesCount + bytes > limits.maxQueuedBytes;
  }

  /**
   * Moves queued entries into the in-flight window while it has room, giving each a packet
   * identifier, into the caller's arrays (the broker's, reused: one call per acknowledgement).
   * Entries whose message expired while waiting are removed instead [MQTT-3.3.2-5].
   */
  fillWindowInto(now: number, taken: Unsent[], expired: Queued[]): void {
    const from = expired.length;
    while (this.head < this.pending.length && this.inflight.size < this.sendWindow) {
      const o = this.pending[this.head];
      if (o.message.expiresAt !== undefined && o.message.expiresAt <= now) {
        expired.push(this.shift()!);
        continue;
      }
      const id = (this.ids ??= new PacketIdAllocator()).allocate(this.inflight);
      if (id === undefined) break;
      this.shift();
      const w = windowed(o, id);
      (this.window ??= new Map()).set(id, w);
      this.unsentCount++;
      if (this.ordered) this.ownToSend().push(w);
      taken.push(w);
    }
    for (let i = from; i < expired.length; i++) this.unholdOne(expired[i]);
  }

  /**
   * Sends in-flight entries not yet sent, in order, stopping at one the store does not hold yet, and
   * never with more unacknowledged than the client's Receive Maximum allows [MQTT-3.3.4-9] (the
   * window can be smaller than the in-flight set after a resume with a lower Receive Maximum).
   */
  sendUnsent(): void {
    const outlet = this.outlet;
    if (!outlet || this.unsentCount === 0) return;
    if (!this.ordered) return this.sendUnsentWalking(outlet);
    const window = this.window!;
    const q = this.toSend;
    // Read afresh each time: a delivery's hook may route more here (and send, re-entering).
    while (this.sendHead < q.length) {
      const o = q[this.sendHead];
      if (o.state !== 'unsent' || window.get(o.packetId) !== o) {
        this.sendHead++;
        continue;
      }
      // Every entry before it is out (ordered): those are the ones outstanding.
      if (!o.written || !outlet.writable || window.size - this.unsentCount >= this.sendWindow) break;
      this.sendHead++;
      this.send(outlet, o);
    }
    if (this.sendHead === q.length) {
      if (q.length > 0) q.length = 0;
      this.sendHead = 0;
    } else if (this.sendHead > 1024 && this.sendHead * 2 > q.length) {
      q.splice(0, this.sendHead);
      this.sendHead = 0;
    }
  }

  /** sendUnsent when unsent entries may lie among sent ones (after a resend): the whole window, in order. */
  private sendUnsentWalking(outlet: SessionOutlet): void {
    let outstanding = 0;
    for (const o of this.inflight.values()) {
      if (o.state !== 'unsent') {
        outstanding++;
        continue;
      }
      if (!o.written || !outlet.writable || outstanding >= this.sendWindow) return;
      outstanding++;
      this.send(outlet, o);
    }
    this.reorder();
  }

  private send(outlet: SessionOutlet, o: Unsent): void {
    // Marked before it is written: a hook told of the delivery may route more to this session.
    // The entry itself is the Delivery (it has every field one has, and they do not change when
    // it is marked sent): no object per message sent. The outlet reads it and keeps nothing.
    markSent(o);
    this.unsentCount--;
    outlet.deliver(o);
  }

  /** Nothing unsent left: whatever is taken next joins the window after everything in it. */
  private reorder(): void {
    if (this.unsentCount !== 0 || this.ordered) return;
    this.ordered = true;
    this.clearToSend();
  }

  /** Unsent entries may no longer be in window order: sendUnsent walks the whole window until reorder(). */
  private unorder(): void {
    this.ordered = false;
    this.clearToSend();
  }

  private clearToSend(): void {
    if (this.toSend.length > 0) this.toSend.length = 0;
    this.sendHead = 0;
  }

  /**
   * On session resume: resend every PUBREL, and every unacknowledged PUBLISH with DUP set, in their
   * original order, before anything new [MQTT-4.4.0-1] — PUBLISHes only as far as the new Receive
   * Maximum allows; the rest follow as acknowledgements come. An entry that got a packet id but never
   * went out has not started on its way: if its message expired meanwhile it is removed, not sent
   * [MQTT-3.3.2-5]. Returns those removed entries.
   */
  resend(now: number): Unsent[] {
    const outlet = this.outlet;
    if (!outlet) return [];
    const expired: Unsent[] = [];
    for (const o of this.inflight.values()) {
      if (o.state === 'awaitingPubcomp') outlet.pubrel(o.packetId);
      else if (o.state !== 'unsent') {
        markResend(o);
        this.unsentCount++;
      } else if (o.message.expiresAt !== undefined && o.message.expiresAt <= now) {
        this.window!.delete(o.packetId);
        this.unsentCount--;
        expired.push(o);
      }
    }
    this.unhold(expired);
    // Unsent entries may now lie among awaitingPubcomp ones: walk the window until all are out.
    this.unorder();
    this.reorder();
    this.sendUnsent();
    return expired;
  }

  /**
   * PUBACK for QoS 1 (sent or waiting to be resent: the client may acknowledge what it had from an
   * earlier connection) / PUBCOMP for a released QoS 2: the exchange is complete.
   */
  complete(packetId: number, ack: 'puback' | 'pubcomp'): Inflight | undefined {
    const o = this.inflight.get(packetId);
    if (!o || (ack === 'puback' ? o.qos !== 1 : o.state !== 'awaitingPubcomp')) return undefined;
    this.window!.delete(packetId);
    if (o.state === 'unsent') this.unsentCount--;
    this.unholdOne(o);
    return o;
  }

  /**
   * PUBREC: the receiver has the message; from now on only the identifier matters (PUBREL is
   * resent, never the PUBLISH [MQTT-4.3.3-4, MQTT-4.3.3-6]).
   */
  received(packetId: number): AwaitingPubcomp | undefined {
    const o = this.inflight.get(packetId);
    if (!o || o.qos !== 2) return undefined;
    if (o.state === 'unsent') {
      // Acknowledged before we sent it here (a client that had it from an earlier connection, or
      // guessed): a released entry now lies among unsent ones, so sendUnsent walks the window.
      this.unsentCount--;
      this.unorder();
    }
    return markReleased(o);
  }

  /** Rebuilds state read back from the store at start-up. */
  restore(entries: Outgoing[], inbound: number[]): void {
    let lastId = 0;
    for (const o of entries) {
      this.hold(o.bytes);
      this.nextSeq = Math.max(this.nextSeq, o.seq + 1);
      if (o.state !== 'queued') {
        (this.window ??= new Map()).set(o.packetId, o);
        lastId = o.packetId;
        if (o.state === 'unsent') {
          this.unsentCount++;
          this.unorder();
        }
      } else {
        this.ownQueue().push(o);
        this.queuedBytesCount += o.bytes;
      }
    }
    if (lastId) (this.ids ??= new PacketIdAllocator()).resumeAfter(lastId);
    for (const id of inbound) this.addInbound(id);
  }

  /** Everything still owed, for ending a session. */
  allEntries(): Outgoing[] {
    return [...this.inflight.values(), ...this.queued()];
  }

  /**
   * Removes these entries wherever they are (queued or in flight): copies whose store write failed
   * (the publisher was not acknowledged and sends the message again) and messages the client may
   * no longer read (broker.revoke).
   */
  removeEntries(entries: ReadonlySet<Outgoing>): void {
    const gone: Outgoing[] = [];
    for (const o of entries) {
      if (o.state !== 'queued' && this.inflight.get(o.packetId) === o) {
        this.window!.delete(o.packetId);
        if (o.state === 'unsent') this.unsentCount--;
        gone.push(o);
      }
    }
    if (this.head === this.pending.length) return this.unhold(gone);
    const kept: Queued[] = [];
    for (let i = this.head; i < this.pending.length; i++) {
      const o = this.pending[i];
      if (entries.has(o)) {
        this.queuedBytesCount -= o.bytes;
        gone.push(o);
      } else kept.push(o);
    }
    this.unhold(gone);
    this.pending = kept;
    this.head = 0;
  }

  /** The queue to add to: its own array from the first entry on. */
  private ownQueue(): Queued[] {
    if (this.pending === NOTHING_QUEUED) this.pending = [];
    return this.pending;
  }

  /** The send list to add to: its own array from the first entry on. */
  private ownToSend(): Inflight[] {
    if (this.toSend === NOTHING_TO_SEND) this.toSend = [];
    return this.toSend;
  }

  private shift(): Queued | undefined {
    if (this.head >= this.pending.length) return undefined;
    const o = this.pending[this.head];
    // The slot lets go of the entry (and its payload) as it is taken: a drained session would
    // otherwise hold up to 1,024 taken entries until the array is next compacted or emptied.
    (this.pending as (Queued | undefined)[])[this.head] = undefined;
    this.head++;
    this.queuedBytesCount -= o.bytes;
    if (this.head === this.pending.length) {
      // Emptied: start the array over, but not every turn (truncating a small array gives up its
      // storage, and the next push allocates it again: measured about 40 ns per turn and subscriber).
      if (this.head >= RESTART_EMPTIED_AT) {
        this.pending.length = 0;
        this.head = 0;
      }
    } else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      // Compact once the consumed prefix dominates, so the array does not grow without bound.
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return o;
  }
}
