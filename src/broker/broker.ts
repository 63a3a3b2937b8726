// The broker: sessions, routing, retained messages and persistence, behind the operations a
// channel needs. Flows are short lists of named steps that read like the spec.
import type { Logger } from 'pino';
import type { QoS } from '../protocol/constants.js';
import type { ConnectPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { MqttError } from '../protocol/errors.js';
import { parseSharedFilter } from '../protocol/topic.js';
import { Session, type OverflowPolicy, type QueueLimits } from '../session/session.js';
import type { Outgoing } from '../session/outgoing.js';
import { SubscriptionIndex } from '../router/subscriptions.js';
import { RetainedIndex } from '../router/retained.js';
import type { Store, StoreOp, StoredMessage, SubscriptionRecord, WillRecord } from '../store/ports.js';
import { StoreBatcher } from '../store/batcher.js';
import { allowAll, type BrokerHooks, type ClientInfo } from '../hooks/hooks.js';
import type { BrokerOptions } from './options.js';
import { ClientRegistry } from './registry.js';
import type { BrokerClient, ChannelContext, ConnectRequest, DisconnectKind } from '../channel/context.js';
import { entryOps, fullSessionOps, sessionRecord } from './persistence.js';
import { MessageIds, messageFromWill } from '../session/message.js';
import { SessionTimers } from './session-timers.js';
import { RetainedSweeper } from './retained-sweep.js';
import { BrokerStats, type DropReason } from './stats.js';
import { PublisherHolds } from './back-pressure.js';
import { recover } from './recovery.js';
import { PublishCache } from '../channel/publish-cache.js';
import type { ClusterLink, ClusterSide, SessionTransfer, StreamPosition } from './cluster-link.js';
import { exportSession, importSession as rebuildSession } from './session-transfer.js';
import type { MatchScope } from '../router/subscriptions.js';
import { refusedHoldings } from './reauthorize.js';
import { publishTopicRefusal } from '../channel/topic-rules.js';
import { notifyingOutlet } from './notifying-outlet.js';
import type { DropReason as NotifiedDrop } from '../hooks/hooks.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

/** Store ops gathered along one flow, and the entries that wait for them. */
class WriteBatch {
  readonly ops: StoreOp[] = [];
  readonly entries: Outgoing[] = [];
  /** Entries first stored by this batch (the others were durable before and only change state). */
  readonly fresh: Outgoing[] = [];
  readonly sessions = new Set<Session>();
}

const LOCAL_SCOPE: MatchScope = { plain: true, shared: true };
/** In a cluster, shared groups are served through the link (one member cluster-wide). */
const CLUSTER_LOCAL_SCOPE: MatchScope = { plain: true, shared: false };
const REMOTE_PLAIN: MatchScope = { plain: true, shared: false };
/** A message the cluster link delivers here itself (durable mode): stored and retained only. */
const LINK_DELIVERS: MatchScope = { plain: false, shared: false };

export class Broker implements ChannelContext, ClusterSide {
  readonly log: Logger;
  readonly hooks: BrokerHooks;
  readonly sessions = new Map<string, Session>();
  readonly subscriptions = new SubscriptionIndex();
  readonly retained = new RetainedIndex();
  readonly clients = new ClientRegistry<BrokerClient>();
  readonly stats = new BrokerStats();
  readonly options: BrokerOptions;
  readonly now: () => number;
  private readonly store: Store;
  private readonly writer: StoreBatcher;
  readonly ids = new MessageIds();
  readonly publishCache = new PublishCache();
  private readonly timers: SessionTimers;
  private readonly sweeper: RetainedSweeper;
  /** Publishers held by full queues of online subscribers (queueOverflowPolicy=backPressure). */
  private readonly holds: PublisherHolds;
  private closed = false;
  private link?: ClusterLink;
  /**
   * Who connected each session last, to re-check it when the ACL is reloaded. In memory only:
   * sessions recovered from the store are re-checked when they are resumed.
   */
  private readonly owners = new WeakMap<Session, ClientInfo>();

  private constructor(options: BrokerOptions) {
    this.options = options;
    this.log = options.log;
    this.hooks = { ...allowAll, ...options.hooks };
    this.now = options.now ?? Date.now;
    this.store = options.store;
    this.writer = new StoreBatcher(options.store);
    this.timers = new SessionTimers(this.now, {
      willDue: (s) => this.publishWill(s),
      expired: (s) => {
        if (this.sessions.get(s.clientId) !== s || s.online) return;
        // A will still waiting for its delay is published when the session ends [MQTT-3.1.3-9].
        if (s.will) this.publishWill(s);
        this.discardSession(s, true);
      },
    });
    this.sweeper = new RetainedSweeper(this.retained, this.now, (topics) => this.retainedExpired(topics), options.retainedSweep);
    this.holds = new PublisherHolds(options.backPressureTimeoutMs ?? 10_000, (s) => {
      try {
        this.shed(s);
      } catch (err) {
        // On a timer: a fault here must not end the process; the publishers are released regardless.
        this.log.error({ err, clientId: s.clientId }, 'giving up a back-pressure hold failed');
      }
    });
  }

  /** Opens the store and recovers every session, queue and retained message it holds. */
  static async open(options: BrokerOptions): Promise<Broker> {
    const broker = new Broker(options);
    const started = Date.now();
    const snapshot = await options.store.open();
    const recovered = recover(snapshot, broker.now(), (s) => broker.adopt(s));
    const unsendable: StoreOp[] = [];
    for (const m of snapshot.retained) {
      // Stored before its topic was checked (an older version's admin API): it could never be sent,
      // and every new subscriber to a matching filter would be disconnected by it.
      if (publishTopicRefusal(m.topic)) unsendable.push({ op: 'retained.delete', topic: m.topic });
      else broker.retained.set(m);
    }
    if (unsendable.length > 0) {
      broker.log.warn({ count: unsendable.length }, 'retained messages whose topic no packet can carry were removed');
      broker.persistLater(unsendable);
    }
    broker.sweeper.start();
    broker.log.info(
      { sessions: recovered.sessions, queued: recovered.entries, retained: broker.retained.size, retainedBytes: broker.retained.bytes, ms: Date.now() - started },
      'state recovered',
    );
    return broker;
  }

  /** Joins a cluster: local interest and publishes go to the link, remote ones come back through it. */
  attachCluster(link: ClusterLink): void {
    this.link = link;
    this.subscriptions.listener = link;
    for (const { filter, group } of this.subscriptions.interests()) void link.interest(filter, group, true);
  }

  get queueLimits(): QueueLimits {
    return this.options.queue;
  }

  nextMessageId(): string {
    return this.ids.next();
  }

  // ---- connect / disconnect -------------------------------------------------------------

  /**
   * Binds a new connection to its session: takes over any connection with the same client id,
   * discards or resumes the session, persists it. Returns whether a session was present.
   */
  async connect(client: BrokerClient, req: ConnectRequest): Promise<{ session: Session; sessionPresent: boolean }> {
    this.clients.claim(client);
    // A link that moves sessions brings this client's session here from the node that held it.
    const moving = this.link?.claim(req.clientId, !req.clean);
    if (moving) {
      await moving;
      if (this.clients.get(req.clientId) !== client) throw new MqttError(ReasonCode.SessionTakenOver, 'taken over while connecting');
    }
    const { session, sessionPresent } = this.takeSession(req);
    const wasPersistent = sessionPresent && session.persistent;
    // Before the expiry changes: the removals are written for the session as it is stored.
    const revoked: StoreOp[] = [];
    if (req.identity) {
      this.owners.set(session, req.identity);
      if (sessionPresent) this.revoke(session, req.identity, revoked);
    }
    this.timers.cancel(req.clientId);
    session.protocolVersion = req.protocolVersion;
    session.expiryInterval = req.expiryInterval;
    session.disconnectedAt = undefined;
    session.will = req.will;
    client.session = session;
    if (session.persistent) {
      const record: StoreOp = { op: 'session.put', session: sessionRecord(session) };
      await this.writer.write(wasPersistent ? [...revoked, record] : fullSessionOps(session));
    }
    else if (sessionPresent) await this.writer.write([{ op: 'session.delete', clientId: session.clientId }]);
    if (this.clients.get(req.clientId) !== client) {
      throw new MqttError(ReasonCode.SessionTakenOver, 'taken over while connecting');
    }
    return { session, sessionPresent };
  }

  private takeSession(req: ConnectRequest): { session: Session; sessionPresent: boolean } {
    const existing = this.sessions.get(req.clientId);
    if (existing && existing.online) existing.outlet = undefined;
    // Only a persistent session is resumed: one that was to end with its connection (Clean Session
    // 1, Session Expiry 0) ended when that connection was taken over, and its state must not be
    // reused [MQTT-3.1.2-6], so the new connection gets Session Present 0 [MQTT-3.2.2-2].
    if (existing && !req.clean && existing.persistent) return { session: existing, sessionPresent: true };
    if (existing) {
      // Clean Start ends the old session, and with it any will still waiting for its delay.
      if (existing.will) this.publishWill(existing);
      this.discardSession(existing, false);
    }
    const session = new Session(req.clientId, req.protocolVersion, req.expiryInterval);
    this.sessions.set(req.clientId, session);
    return { session, sessionPresent: false };
  }

  /**
   * Drops what `client` may not have of what the session holds: subscriptions SUBSCRIBE would
   * refuse it now, and messages owed on topics it may not read. Store ops go to `ops`.
   */
  private revoke(session: Session, client: ClientInfo, ops: StoreOp[]): boolean {
    const { filters, entries } = refusedHoldings(session, client, this.hooks);
    if (filters.length === 0 && entries.length === 0) return false;
    const { clientId, persistent } = session;
    for (const filter of filters) {
      session.unsubscribe(filter);
      this.subscriptions.remove(session, filter);
      if (persistent) ops.push({ op: 'subscription.delete', clientId, filter });
    }
    if (entries.length > 0) {
      session.discard(new Set(entries));
      this.stats.dropped('notAuthorized', entries.length);
      if (this.hooks.notify?.dropped) this.notifyDropped('notAuthorized', entries, clientId);
      if (persistent) for (const o of entries) ops.push({ op: 'queue.delete', clientId, seq: o.seq });
    }
    this.log.info({ clientId, username: client.username, subscriptions: filters, messages: entries.length }, 'not authorized any more: subscriptions and messages dropped');
    return true;
  }

  /**
   * The ACL was reloaded: every session whose client is known is re-checked as on resume, online
   * or not. A session recovered from the store and not resumed since has no known client; it is
   * re-checked when it is resumed, before anything is delivered from it.
   */
  reauthorizeAll(): void {
    const ops: StoreOp[] = [];
    const changed: Session[] = [];
    for (const session of this.sessions.values()) {
      const owner = this.owners.get(session);
      if (owner !== undefined && this.revoke(session, owner, ops)) changed.push(session);
    }
    if (ops.length > 0) this.persistLater(ops);
    // Room freed in the window goes to what is still owed.
    for (const session of changed) this.pump(session);
  }

  /** After CONNACK: resend what was in flight, then deliver what was queued [MQTT-4.4.0-1]. */
  attach(session: Session, outlet: NonNullable<Session['outlet']>, receiveMaximum: number): void {
    const notify = this.hooks.notify;
    session.outlet = notify?.delivered || notify?.dropped ? notifyingOutlet(outlet, session.clientId, this.stats, notify) : outlet;
    session.sendWindow = Math.min(receiveMaximum, this.options.maxInflightMessages);
    this.dropExpired(session, session.resend(this.now()));
    this.pump(session);
  }

  /** The connection of `client` ended. */
  disconnected(client: BrokerClient, kind: DisconnectKind): void {
    const session = client.session;
    const owned = this.clients.release(client);
    if (!session) return;
    client.session = undefined;
    if (kind === 'normal') session.will = undefined;
    if (kind === 'takenOver' || !owned) {
      // The session continues in the new connection; a will without delay is still published
      // [MQTT-3.1.4-3]; one with a delay is cancelled by the resumption.
      if (session.will && session.will.delayInterval === 0) this.publishWill(session);
      return;
    }
    session.outlet = undefined;
    // Nobody reads this queue now: its publishers go on (what they queued stays, bounded by their number).
    this.holds.release(session);
    const now = this.now();
    session.disconnectedAt = now;
    if (!session.persistent) {
      if (session.will) this.publishWill(session);
      this.discardSession(session, false);
      return;
    }
    this.timers.arm(session);
    this.persistLater([{ op: 'session.put', session: sessionRecord(session) }]);
  }

  /** Session Expiry Interval changed at DISCONNECT (3.14.2.2.2). */
  setExpiry(session: Session, seconds: number): void {
    const wasPersistent = session.persistent;
    session.expiryInterval = seconds;
    if (session.persistent && !wasPersistent) this.persistLater(fullSessionOps(session));
    // Set to 0: the session ends with this connection, so the stored copy goes too, or a restart
    // would bring it back (Session Present 1 for a session that ended).
    else if (wasPersistent && !session.persistent) this.persistLater([{ op: 'session.delete', clientId: session.clientId }]);
  }

  private publishWill(session: Session): void {
    const will = session.will;
    if (!will) return;
    session.will = undefined;
    this.timers.cancelWill(session.clientId);
    this.stats.willsPublished++;
    // The will's Message Expiry Interval counts from now, when it is published, not from CONNECT.
    const now = this.now();
    const message: StoredMessage = { ...will.message, id: this.ids.next(), createdAt: now };
    if (will.message.expiresAt !== undefined) message.expiresAt = now + (will.message.expiresAt - will.message.createdAt);
    const done = this.publish(message);
    if (done instanceof Promise) done.catch((err) => this.log.error({ err }, 'will publish failed'));
    if (session.persistent && this.sessions.get(session.clientId) === session) {
      this.persistLater([{ op: 'session.put', session: sessionRecord(session) }]);
    }
  }

  /** Ends a session: its subscriptions go, queued messages are dropped. */
  private discardSession(session: Session, persist: boolean): void {
    this.holds.release(session);
    this.subscriptions.removeAll(session);
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.timers.cancel(session.clientId);
    // Only expiry persists here: cleanup nobody waits on, written in small batches.
    if (persist) this.persistLater([{ op: 'session.delete', clientId: session.clientId }], true);
  }

  /** Registers a session read back from the store. */
  private adopt(session: Session): void {
    this.sessions.set(session.clientId, session);
    for (const sub of session.subscriptions.values()) this.subscriptions.add(session, sub);
    this.timers.arm(session);
  }

  // ---- publish ---------------------------------------------------------------------------

  /**
   * Routes a message: retain → match → enqueue → persist → deliver. Returns how many sessions
   * it was routed to; a Promise when a durable write must finish first (then nothing goes out,
   * and the caller does not acknowledge, until it is durable).
   */
  publish(message: StoredMessage, extraOps?: StoreOp[], hold = false): MaybePromise<number> {
    if (this.link) {
      // A link that delivers durably (persistence=nats) resolves when the message survives this
      // node; the acknowledgement waits for that too.
      const forwarded = this.link.forward(message);
      const scope = forwarded && this.link.deliversLocally?.(message) ? LINK_DELIVERS : CLUSTER_LOCAL_SCOPE;
      const routed = this.route(message, extraOps, scope, true, undefined, hold);
      if (!forwarded) return routed;
      return Promise.all([forwarded, routed]).then(([, n]) => n);
    }
    return this.route(message, extraOps, LOCAL_SCOPE, true, undefined, hold);
  }

  routeRemote(message: StoredMessage, sharedKey?: string, only?: string | ReadonlySet<string>, at?: StreamPosition): MaybePromise<number> {
    if (sharedKey !== undefined) return this.route(message, undefined, { plain: false, shared: sharedKey }, false, undefined, false, at);
    if (only !== undefined) return this.route(message, undefined, REMOTE_PLAIN, false, only, false, at);
    return this.route(message, undefined, REMOTE_PLAIN, message.retain, undefined, false, at);
  }

  takeOver(clientId: string): void {
    this.clients.get(clientId)?.takenOver(true);
  }

  async releaseSession(clientId: string, transfer: boolean): Promise<SessionTransfer | undefined> {
    // Closed as a local takeover would be: a will without delay is published, a delayed one stays
    // with the session, whose resumption elsewhere cancels it [MQTT-3.1.4-3].
    this.clients.get(clientId)?.takenOver();
    const session = this.sessions.get(clientId);
    if (!session) return undefined;
    session.outlet = undefined;
    // Clean Start elsewhere ends the session here, and a will still waiting for its delay with it.
    // A session that ends with its connection does not move: it ended here [MQTT-3.1.2-6].
    const moved = transfer && session.persistent ? exportSession(session) : undefined;
    if (!moved && session.will) this.publishWill(session);
    this.discardSession(session, false);
    await this.writer.write([{ op: 'session.delete', clientId }]);
    return moved;
  }

  forgetSession(clientId: string): void {
    const session = this.sessions.get(clientId);
    if (!session || session.online) return;
    session.will = undefined;
    this.discardSession(session, true);
  }

  importSession(transfer: SessionTransfer): boolean {
    const local = this.sessions.get(transfer.state.session.clientId);
    if (local?.online) return false;
    if (local) this.discardSession(local, false);
    rebuildSession(transfer, this.now(), (s) => {
      this.adopt(s);
      if (s.persistent) this.persistLater(fullSessionOps(s));
    });
    return true;
  }

  private route(
    message: StoredMessage,
    extraOps: StoreOp[] | undefined,
    scope: MatchScope,
    retain: boolean,
    only?: string | ReadonlySet<string>,
    hold = false,
    at?: StreamPosition,
  ): MaybePromise<number> {
    this.stats.messagesRouted++;
    const now = this.now();
    let batch: WriteBatch | undefined;
    if (extraOps && extraOps.length > 0) (batch = new WriteBatch()).ops.push(...extraOps);
    if (retain && message.retain) batch = this.retain(message, batch);
    const matches = this.subscriptions.match(message.topic, message.publisherId, scope);
    const deliveries =
      only === undefined ? matches : matches.filter((d) => (typeof only === 'string' ? d.session.clientId === only : only.has(d.session.clientId)));
    let messageStored = false;
    /** Online sessions this message took over their queue limits: the publisher waits for them. */
    let full: Session[] | undefined;
    for (const d of deliveries) {
      const qos = (d.qos < message.qos ? d.qos : message.qos) as QoS;
      // Retain is kept only where the subscription asked for Retain As Published [MQTT-3.3.1-12].
      const retain = d.retainAsPublished && message.retain;
      const s = d.session;
      if (at) {
        // The cluster's stream gives a message again after a node loss or a session move: a session
        // that has it (its stored streamSeq says so) does not queue it twice.
        if (at.seq <= s.streamSeq) {
          at.duplicates++;
          continue;
        }
        s.streamSeq = at.seq;
      }
      if (qos === 0) {
        if (s.outlet) s.outlet.publish(message, 0, retain, d.subscriptionIds, undefined, false);
        continue;
      }
      // A client is never held by its own queue: its PUBACKs queue behind the held PUBLISH in its stream.
      const policy = this.overflowPolicy(s, hold && s.clientId !== message.publisherId);
      let queued: boolean;
      if (s.persistent) {
        batch ??= new WriteBatch();
        queued = this.enqueue(s, message, qos, retain, d.subscriptionIds, now, batch, !messageStored, policy);
        if (queued) messageStored = true;
        // Written with the entry, atomically, so an adopter of this node knows what the session had.
        if (at) batch.ops.push({ op: 'session.put', session: sessionRecord(s) });
      } else if ((queued = this.enqueue(s, message, qos, retain, d.subscriptionIds, now, undefined, false, policy))) s.flush();
      if (queued && policy === 'backPressure' && s.over(this.queueLimits)) (full ??= []).push(s);
    }
    const matched = deliveries.length;
    // Acknowledged only once every full queue it joined is back within its limits (or given up on).
    const held = full && this.holds.wait(full);
    if (!batch || batch.ops.length === 0) return held ? held.then(() => matched) : matched;
    if (batch.entries.length === 0 && !extraOps && message.qos === 0) {
      // Nothing to acknowledge: a retained QoS 0 message is stored without holding anything up.
      this.persistLater(batch.ops);
      return matched;
    }
    const committed = this.commit(batch);
    return (held ? Promise.all([committed, held]) : committed).then(() => matched);
  }

  /**
   * backPressure holds only a publisher that can wait (a client's QoS 1/2 PUBLISH) for a subscriber
   * that is reading (online), and not after a hold on it timed out: otherwise it drops the oldest.
   */
  private overflowPolicy(s: Session, hold: boolean): OverflowPolicy {
    const policy = this.queueLimits.overflow;
    if (policy !== 'backPressure') return policy;
    return hold && s.online && !s.pressure?.shedding ? 'backPressure' : 'dropOldest';
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
    const { maxQueuedMessages, maxQueuedBytes, overflow } = this.queueLimits;
    this.log.warn(
      { clientId: s.clientId, reason, dropped: count, queued: s.queuedCount, queuedBytes: s.queuedBytes, online: s.online, maxQueuedMessages, maxQueuedBytes, queueOverflowPolicy: overflow },
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
    const dropped = s.trim(this.queueLimits);
    if (dropped.length === 0) return;
    this.queueDrop(s, 'backPressureTimeout', dropped.length);
    if (s.persistent) this.persistLater(dropped.map((o): StoreOp => ({ op: 'queue.delete', clientId: s.clientId, seq: o.seq })));
  }

  /** Entries left the queue: held publishers may go on, and a drained queue ends its overflow. */
  private roomMade(s: Session): void {
    if (this.holds.holding(s) && !s.over(this.queueLimits)) this.holds.release(s);
    if (s.pressure && s.drained(this.queueLimits)) s.pressure = undefined;
  }

  /**
   * Adds a QoS 1/2 delivery to a session's queue and takes what fits into its window. With a
   * batch (persistent session), the entry is held back from sending until the batch is written.
   */
  private enqueue(
    s: Session,
    message: StoredMessage,
    qos: QoS,
    retain: boolean,
    subscriptionIds: number[] | undefined,
    now: number,
    batch: WriteBatch | undefined,
    withMessage: boolean,
    policy?: OverflowPolicy,
  ): boolean {
    // Retained copies for a new subscription and the like have no publisher to hold.
    const r = s.enqueue(message, qos, retain, subscriptionIds, this.queueLimits, policy ?? this.overflowPolicy(s, false));
    if (r.outcome === 'refused') {
      this.queueDrop(s, 'queueRefused', 1);
      if (this.hooks.notify?.dropped) this.notifyDropped('queueRefused', [message], s.clientId);
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
      r.entry.written = false;
      batch.ops.push(...entryOps(s, r.entry, withMessage));
      batch.entries.push(r.entry);
      batch.fresh.push(r.entry);
      batch.sessions.add(s);
    }
    if (s.online) {
      this.take(s, now, batch);
      // Held back by our window, not the client's smaller Receive Maximum: counted for /metrics.
      if (r.entry.state === 'queued' && s.inflight.size >= s.sendWindow && s.sendWindow === this.options.maxInflightMessages) {
        this.stats.limitHit('maxInflightMessages');
      }
    }
    return true;
  }

  /** Moves queued entries into the window; with a batch, their new state is written first. */
  private take(s: Session, now: number, batch: WriteBatch | undefined): void {
    const { taken, expired } = s.take(now);
    if (expired.length > 0) {
      this.stats.dropped('expired', expired.length);
      if (this.hooks.notify?.dropped) this.notifyDropped('expired', expired, s.clientId);
    }
    if (taken.length > 0 || expired.length > 0) this.roomMade(s);
    if (!batch) return;
    for (const o of expired) batch.ops.push({ op: 'queue.delete', clientId: s.clientId, seq: o.seq });
    for (const o of taken) {
      // QoS 1 streams from memory: its row stays `queued` and goes on PUBACK, so a drain never
      // waits for a commit per window. A crash in between only sends it again (QoS 1 is at least
      // once), without DUP, since the store cannot tell it had gone out. In a cluster a node that
      // adopts the session counts stored in-flight QoS 1 entries as resends, so there it is written.
      if (o.qos === 1 && !this.link) continue;
      // QoS 2 is stored in the state it is sent in, with its packet id, so that after a crash it is resent
      // with DUP [MQTT-3.3.1-1]: an entry written earlier changes state now; one whose own write is
      // in this batch (or an earlier one still under way) is written again after it.
      if (o.written) {
        o.written = false;
        batch.entries.push(o);
      }
      batch.ops.push(...entryOps(s, o, false));
    }
    batch.sessions.add(s);
  }

  /** Writes a batch; once durable, its entries may be sent. */
  private commit(batch: WriteBatch): Promise<void> {
    return this.writer.write(batch.ops).then(
      () => {
        for (const o of batch.entries) o.written = true;
        for (const s of batch.sessions) s.flush();
      },
      (err: unknown) => {
        // The write failed, so nothing it covered was acknowledged. New entries go (the publisher
        // sends again); entries stored before keep their stored state and may go out, so no
        // session is left waiting forever behind an entry that will never be written.
        const fresh = new Set(batch.fresh);
        for (const s of batch.sessions) s.discard(fresh);
        for (const o of batch.entries) if (!fresh.has(o)) o.written = true;
        for (const s of batch.sessions) s.flush();
        throw err;
      },
    );
  }

  /** Takes and sends what the session's window allows now. */
  pump(session: Session): void {
    if (!session.online) return;
    if (!session.persistent) {
      this.take(session, this.now(), undefined);
      session.flush();
      return;
    }
    const batch = new WriteBatch();
    this.take(session, this.now(), batch);
    if (batch.ops.length === 0) return session.flush();
    this.commit(batch).catch((err) => this.log.error({ err, clientId: session.clientId }, 'store write failed'));
  }

  private retain(message: StoredMessage, batch: WriteBatch | undefined): WriteBatch | undefined {
    // A retained message with an empty payload clears the topic [MQTT-3.3.1-10, MQTT-3.3.1-11].
    if (message.payload.length === 0) {
      if (this.retained.delete(message.topic)) {
        (batch ??= new WriteBatch()).ops.push({ op: 'retained.delete', topic: message.topic });
      }
      return batch;
    }
    if (!this.admitsRetained(message)) {
      // Refused as a replacement, the old value would be news that is no longer true: cleared.
      if (this.retained.delete(message.topic) && !message.topic.startsWith('$SYS/')) {
        (batch ??= new WriteBatch()).ops.push({ op: 'retained.delete', topic: message.topic });
      }
      if (this.hooks.notify?.dropped) this.notifyDropped('retainedLimit', [message], undefined);
      return batch;
    }
    const stored: StoredMessage = { ...message };
    delete stored.publisherId;
    this.retained.set(stored);
    // $SYS values are regenerated every interval; persisting them would only churn the disk.
    if (message.topic.startsWith('$SYS/')) return batch;
    (batch ??= new WriteBatch()).ops.push({ op: 'retained.put', message: stored });
    return batch;
  }

  /**
   * Whether the retained index may take `message` now (maxRetainedMessages, maxRetainedBytes);
   * a refusal is counted. The one check for every way a retained message arrives: a publish, a
   * cluster node's or another worker's copy. The broker's own $SYS values (a bounded set) always fit.
   */
  admitsRetained(message: StoredMessage): boolean {
    if (message.publisherId === undefined && message.topic.startsWith('$SYS/')) return true;
    const refused = this.retained.refusal(message, { maxMessages: this.options.maxRetainedMessages, maxBytes: this.options.maxRetainedBytes });
    if (refused === undefined) return true;
    this.stats.dropped('retainedLimit');
    this.stats.limitHit(refused);
    return false;
  }

  /** The sweep removed expired retained messages: the store forgets them too [MQTT-3.3.2-5]. */
  private retainedExpired(topics: string[]): void {
    // A cluster keeps its own copy of retained messages (the NATS bucket): it is cleared there too.
    this.link?.retainedExpired?.(topics);
    this.persistLater(topics.map((topic): StoreOp => ({ op: 'retained.delete', topic })), true);
  }

  // ---- acknowledgements from subscribers -------------------------------------------------

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client: the entry is done. */
  completed(session: Session, packetId: number, kind: 'puback' | 'pubcomp'): boolean {
    const o = session.complete(packetId, kind === 'puback' ? 'inflight' : 'released');
    if (!o) return false;
    this.hooks.notify?.delivered?.(session.clientId, o.message, o.qos);
    if (session.persistent) this.persistLater([{ op: 'queue.delete', clientId: session.clientId, seq: o.seq }]);
    this.pump(session);
    return true;
  }

  /** Drops an in-flight entry the client can never receive (larger than its Maximum Packet Size). */
  discard(session: Session, packetId: number): void {
    const o = session.removeInflight(packetId);
    if (!o) return;
    if (session.persistent) this.persistLater([{ op: 'queue.delete', clientId: session.clientId, seq: o.seq }]);
    this.pump(session);
  }

  /** In-flight entries that expired before they were ever sent [MQTT-3.3.2-5]. */
  private dropExpired(session: Session, expired: Outgoing[]): void {
    if (expired.length === 0) return;
    this.stats.dropped('expired', expired.length);
    if (this.hooks.notify?.dropped) this.notifyDropped('expired', expired, session.clientId);
    if (session.persistent) this.persistLater(expired.map((o) => ({ op: 'queue.delete', clientId: session.clientId, seq: o.seq })));
  }

  /** PUBREC from the client; resolves when PUBREL may be sent (the released state is durable). */
  released(session: Session, packetId: number): MaybePromise<Outgoing | undefined> {
    const o = session.release(packetId);
    if (!o || !session.persistent) return o;
    return this.writer.write(entryOps(session, o, false)).then(() => o);
  }

  // ---- inbound QoS 2 --------------------------------------------------------------------

  /** Removes an inbound QoS 2 id on PUBREL; resolves when PUBCOMP may be sent. */
  inboundReleased(session: Session, packetId: number): MaybePromise<boolean> {
    if (!session.deleteInbound(packetId)) return false;
    if (!session.persistent) return true;
    return this.writer.write([{ op: 'inbound.delete', clientId: session.clientId, packetId }]).then(() => true);
  }

  // ---- subscribe -------------------------------------------------------------------------

  /** Stores subscriptions; resolves when durable. Returns which filters were new. */
  subscribe(session: Session, subs: SubscriptionRecord[]): MaybePromise<boolean[]> {
    const isNew: boolean[] = [];
    const ops: StoreOp[] = [];
    let waits: Promise<void>[] | undefined;
    for (const sub of subs) {
      isNew.push(!session.subscriptions.has(sub.filter));
      session.subscribe(sub);
      const effective = this.subscriptions.add(session, sub);
      if (effective) (waits ??= []).push(effective);
      if (session.persistent) ops.push({ op: 'subscription.put', clientId: session.clientId, subscription: sub });
    }
    if (ops.length > 0) (waits ??= []).push(this.writer.write(ops));
    if (!waits) return isNew;
    return Promise.all(waits).then(() => isNew);
  }

  /**
   * Sends the retained messages matching a new subscription, with RETAIN set [MQTT-3.3.1-8],
   * as Retain Handling says (0: always, 1: only if new, 2: never) [MQTT-3.3.1-9, MQTT-3.3.1-10].
   * Shared subscriptions get none: retained messages go to a new Non-shared Subscription (3.3.1.3).
   */
  sendRetained(session: Session, sub: SubscriptionRecord, isNew: boolean): void {
    if (sub.retainHandling === 2 || (sub.retainHandling === 1 && !isNew)) return;
    if (parseSharedFilter(sub.filter)) return;
    const now = this.now();
    const messages = this.retained.match(sub.filter, now);
    if (messages.length === 0) return;
    const ids = sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined;
    const batch = session.persistent ? new WriteBatch() : undefined;
    for (const m of messages) {
      const qos = (sub.qos < m.qos ? sub.qos : m.qos) as QoS;
      if (qos === 0) {
        session.outlet?.publish(m, 0, true, ids, undefined, false);
        continue;
      }
      // Each retained copy is its own stored message: the retained one may be replaced meanwhile.
      const copy = { ...m, id: this.ids.next() };
      this.enqueue(session, copy, qos, true, ids, now, batch, true);
    }
    if (!batch || batch.ops.length === 0) return session.flush();
    this.commit(batch).catch((err) => this.log.error({ err, clientId: session.clientId }, 'store write failed'));
  }

  unsubscribe(session: Session, filters: string[]): MaybePromise<boolean[]> {
    const existed: boolean[] = [];
    const ops: StoreOp[] = [];
    for (const f of filters) {
      const had = session.unsubscribe(f);
      existed.push(had);
      if (had) this.subscriptions.remove(session, f);
      if (had && session.persistent) ops.push({ op: 'subscription.delete', clientId: session.clientId, filter: f });
    }
    if (ops.length === 0) return existed;
    return this.writer.write(ops).then(() => existed);
  }

  /** Tells the `dropped` notification about each message lost (entries or messages). */
  private notifyDropped(reason: NotifiedDrop, lost: ReadonlyArray<Outgoing | StoredMessage>, clientId: string | undefined): void {
    for (const l of lost) this.hooks.notify?.dropped?.(reason, 'message' in l ? l.message : l, clientId);
  }

  // ---- persistence plumbing ------------------------------------------------------------

  /**
   * Writes that nothing waits for (nothing is acknowledged on them); failures are logged.
   * `background`: cleanup (expiry, sweeps) that may go in small batches, behind other writes.
   */
  private persistLater(ops: StoreOp[], background = false): void {
    this.writer.write(ops, { background }).catch((err) => this.log.error({ err }, 'store write failed'));
  }

  /** Writes whose completion gates an acknowledgement. */
  write(ops: StoreOp[]): Promise<void> {
    return this.writer.write(ops);
  }

  willFor(clientId: string, will: NonNullable<ConnectPacket['will']>): WillRecord {
    return {
      message: messageFromWill(this.ids, will, clientId, this.now()),
      delayInterval: will.properties?.willDelayInterval ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.clear();
    this.holds.clear();
    this.sweeper.stop();
    await this.writer.flush();
    await this.store.close();
  }
}
