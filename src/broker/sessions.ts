// Sessions and the connections that own them: the client registry and takeover [MQTT-3.1.4-2],
// resume or clean start at CONNECT, what a session may keep when its owner changes or the ACL is
// reloaded, offline expiry and wills, and the subscriptions a session holds.
import type { Logger } from 'pino';
import { catchLater, type MaybePromise } from '../protocol/maybe-promise.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { MqttError } from '../protocol/errors.js';
import { Session } from '../session/session.js';
import { StateBudget, textBytes, willBytes } from '../session/state-budget.js';
import type { MessageIds } from '../session/message.js';
import type { StoreOp, StoredMessage, SubscriptionRecord } from '../store/ports.js';
import type { SubscriptionIndex } from '../router/subscriptions.js';
import type { BrokerHooks, ClientInfo } from '../hooks/hooks.js';
import type { BrokerClient, ConnectRequest, DisconnectKind } from '../channel/context.js';
import type { ClusterLink } from './cluster-link.js';
import { ClientRegistry } from './registry.js';
import { fullSessionOps, sessionRecord } from './persistence.js';
import { SessionTimers } from './session-timers.js';
import { refusedHoldings } from './reauthorize.js';
import type { BrokerStats } from './stats.js';
import type { Queues } from './queues.js';
import type { StoreWrites } from './writes.js';

/** The connections that own a client id, as readers outside see them. */
export type ClientsReader = Pick<ClientRegistry<BrokerClient>, 'size' | 'get'>;

export class Sessions {
  private readonly byId = new Map<string, Session>();
  private readonly clients = new ClientRegistry<BrokerClient>();
  private readonly timers: SessionTimers;
  private link?: Pick<ClusterLink, 'claim' | 'sessionEnded'>;
  /**
   * Who connected each session last, to re-check it when the ACL is reloaded. In memory only:
   * sessions recovered from the store are re-checked when they are resumed.
   */
  private readonly owners = new WeakMap<Session, ClientInfo>();
  /** What every session holds besides its queue (client id, filters, will, QoS 2 ids), against maxSessionBytesTotal. */
  readonly stateBudget: StateBudget;
  /** maxSessionBytesTotal refusals since the last warn line, and when that line was written. */
  private stateRefusals = { count: 0, loggedAt: -Infinity };
  /** maxSessions refusals since the last warn line, and when that line was written (one a minute). */
  private refusals = { count: 0, loggedAt: -Infinity };

  constructor(
    private readonly subscriptions: SubscriptionIndex,
    private readonly queues: Queues,
    private readonly writes: StoreWrites,
    private readonly hooks: BrokerHooks,
    private readonly stats: BrokerStats,
    private readonly ids: MessageIds,
    private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>,
    private readonly now: () => number,
    /** The publish pipeline, for wills. */
    private readonly route: (message: StoredMessage) => MaybePromise<number>,
    /** Most sessions held at once, connected or not; 0 = no limit. */
    private readonly maxSessions = 0,
    /** maxSessionBytesTotal: client ids, filters and wills of every session; 0 = no limit. */
    maxSessionBytesTotal = 0,
  ) {
    this.stateBudget = new StateBudget(maxSessionBytesTotal);
    this.timers = new SessionTimers(now, {
      willDue: (s) => this.routeWill(s),
      expired: (s) => {
        if (this.byId.get(s.clientId) !== s || s.online) return;
        // A will still waiting for its delay is published when the session ends [MQTT-3.1.3-9].
        if (s.will) this.routeWill(s);
        this.queues.discarded(s);
        this.endAndForget(s);
      },
    });
  }

  /** Every session, connected or not. */
  get reader(): ReadonlyMap<string, Session> {
    return this.byId;
  }

  get clientsReader(): ClientsReader {
    return this.clients;
  }

  get(clientId: string): Session | undefined {
    return this.byId.get(clientId);
  }

  /** The connection that owns `clientId` here, if any. */
  client(clientId: string): BrokerClient | undefined {
    return this.clients.get(clientId);
  }

  /** A link that moves sessions brings a resuming client's session here before CONNECT completes. */
  attachCluster(link: Pick<ClusterLink, 'claim' | 'sessionEnded'>): void {
    this.link = link;
  }

  /**
   * Binds a new connection to its session: takes over any connection with the same client id,
   * discards or resumes the session, persists it. Returns whether a session was present.
   */
  async connect(client: BrokerClient, req: ConnectRequest): Promise<{ session: Session; sessionPresent: boolean }> {
    // A client id that has a session here, or a connection, takes nothing new: a resumption or a
    // takeover is never refused. Without a cluster link nothing can bring the session later, so a
    // new one is refused before it takes over anything.
    const known = this.byId.has(req.clientId) || this.clients.get(req.clientId) !== undefined;
    if (!known && !this.link) this.admit(req.clientId, req.protocolVersion);
    // What this CONNECT brings that the session will hold: its will, and a new session's client id.
    this.admitState(req.clientId, req.protocolVersion, willBytes(req.will) + (known ? 0 : textBytes(req.clientId)));
    this.clients.claim(client);
    // A link that moves sessions brings this client's session here from the node that held it.
    const moving = this.link?.claim(req.clientId, !req.clean);
    if (moving) {
      await moving;
      if (this.clients.get(req.clientId) !== client) throw new MqttError(ReasonCode.SessionTakenOver, 'taken over while connecting');
    }
    if (!known && this.link && !this.byId.has(req.clientId)) this.admit(req.clientId, req.protocolVersion);
    // Whether the store holds a session of this id now: one this CONNECT ends must go from there too.
    const stored = this.byId.get(req.clientId)?.persistent === true;
    const { session, sessionPresent } = this.resumeOrStart(req);
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
      await this.writes.persist(wasPersistent ? [...revoked, record] : fullSessionOps(session));
    }
    // Resumed into a session that ends with this connection, or a kept session ended by Clean Start
    // for one that does: the stored copy goes. Until 2026-12-08 only the first was deleted, and a
    // session Clean Start had ended came back at the next restart, with its subscriptions and queue
    // (counted again in starling_sessions and $SYS clients/total, and Session Present 1 for it).
    else if (sessionPresent || stored) await this.writes.persist([{ op: 'session.delete', clientId: session.clientId }]);
    if (this.clients.get(req.clientId) !== client) {
      throw new MqttError(ReasonCode.SessionTakenOver, 'taken over while connecting');
    }
    return { session, sessionPresent };
  }

  /**
   * maxSessions: a CONNECT that would add a session when the broker holds its most is refused with
   * CONNACK 0x97 Quota exceeded ("an implementation or administrative imposed limit has been
   * exceeded", MQTT 5 3.2.2.2), or 0x03 Server unavailable for MQTT 3.x (3.1.1 3.2.2.3: "the MQTT
   * service is unavailable"; 3.x has no quota code), then closed [MQTT-3.2.2-7] / [MQTT-3.2.2-5].
   * Logged at warn once a minute.
   */
  private admit(clientId: string, protocolVersion: number): void {
    if (this.maxSessions === 0 || this.byId.size < this.maxSessions) return;
    this.stats.limitHit('maxSessions');
    this.refusals.count++;
    const now = this.now();
    if (now - this.refusals.loggedAt >= 60_000) {
      this.log.warn({ clientId, sessions: this.byId.size, maxSessions: this.maxSessions, refused: this.refusals.count }, 'maxSessions reached: new sessions refused (logged once a minute)');
      this.refusals = { count: 0, loggedAt: now };
    }
    throw new MqttError(protocolVersion === 5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, 'the server holds its maximum number of sessions');
  }

  /**
   * maxSessionBytesTotal: a CONNECT whose will (or, for a new session, client id) would take every
   * session's state past the budget is refused as maxSessions refuses (CONNACK 0x97 / 0x03), before
   * it takes anything over. What sessions hold already is never dropped for it.
   */
  private admitState(clientId: string, protocolVersion: number, bytes: number): void {
    // Bringing nothing new (a resumption without a will) is never refused, even over the budget.
    if (bytes <= 0 || !this.stateBudget.full(bytes)) return;
    this.stats.limitHit('maxSessionBytesTotal');
    this.stateRefusals.count++;
    const now = this.now();
    if (now - this.stateRefusals.loggedAt >= 60_000) {
      this.log.warn(
        { clientId, bytes, held: this.stateBudget.total, maxSessionBytesTotal: this.stateBudget.max, refused: this.stateRefusals.count },
        'maxSessionBytesTotal reached: CONNECTs bringing more session state refused (logged once a minute)',
      );
      this.stateRefusals = { count: 0, loggedAt: now };
    }
    throw new MqttError(protocolVersion === 5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, 'the server holds its maximum of session state');
  }

  private resumeOrStart(req: ConnectRequest): { session: Session; sessionPresent: boolean } {
    const existing = this.byId.get(req.clientId);
    if (existing && existing.online) existing.outlet = undefined;
    // Only a persistent session is resumed: one that was to end with its connection (Clean Session
    // 1, Session Expiry 0) ended when that connection was taken over, and its state must not be
    // reused [MQTT-3.1.2-6], so the new connection gets Session Present 0 [MQTT-3.2.2-2].
    if (existing && !req.clean && existing.persistent) return { session: existing, sessionPresent: true };
    if (existing) {
      // Clean Start ends the old session, and with it any will still waiting for its delay.
      if (existing.will) this.routeWill(existing);
      this.queues.discarded(existing);
      this.end(existing, true);
    }
    const session = new Session(req.clientId, req.protocolVersion, req.expiryInterval);
    this.byId.set(req.clientId, session);
    session.joinBudget(this.queues.budget);
    session.joinStateBudget(this.stateBudget);
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
      session.removeEntries(new Set(entries));
      this.stats.dropped('notAuthorized', entries.length);
      if (this.hooks.notify?.dropped) this.queues.notifyDropped('notAuthorized', entries, clientId);
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
    for (const session of this.byId.values()) {
      const owner = this.owners.get(session);
      if (owner === undefined) continue;
      if (this.revoke(session, owner, ops)) changed.push(session);
      // An offline session's identity keeps nothing the re-check compiled or cached for it.
      if (!session.online) this.hooks.release?.(owner);
    }
    if (ops.length > 0) this.writes.persistLater(ops);
    // Room freed in the window goes to what is still owed.
    for (const session of changed) this.queues.pump(session);
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
      if (session.will && session.will.delayInterval === 0) this.routeWill(session);
      return;
    }
    session.outlet = undefined;
    // Nobody reads this queue now: its publishers go on (what they queued stays, bounded by their number).
    this.queues.letPublishersGo(session);
    const now = this.now();
    session.disconnectedAt = now;
    if (!session.persistent) {
      if (session.will) this.routeWill(session);
      this.queues.discarded(session);
      this.end(session);
      return;
    }
    this.timers.arm(session);
    this.writes.persistLater([{ op: 'session.put', session: sessionRecord(session) }]);
  }

  /** Session Expiry Interval changed at DISCONNECT (3.14.2.2.2). */
  setExpiry(session: Session, seconds: number): void {
    const wasPersistent = session.persistent;
    session.expiryInterval = seconds;
    if (session.persistent && !wasPersistent) this.writes.persistLater(fullSessionOps(session));
    // Set to 0: the session ends with this connection, so the stored copy goes too, or a restart
    // would bring it back (Session Present 1 for a session that ended).
    else if (wasPersistent && !session.persistent) this.writes.persistLater([{ op: 'session.delete', clientId: session.clientId }]);
  }

  /** Routes the session's will, if it still has one, and forgets it. */
  routeWill(session: Session): void {
    const will = session.will;
    if (!will) return;
    session.will = undefined;
    this.timers.cancelWill(session.clientId);
    this.stats.willsPublished++;
    // The will's Message Expiry Interval counts from now, when it is published, not from CONNECT.
    const now = this.now();
    const message: StoredMessage = { ...will.message, id: this.ids.next(), createdAt: now };
    if (will.message.expiresAt !== undefined) message.expiresAt = now + (will.message.expiresAt - will.message.createdAt);
    const done = this.route(message);
    catchLater(done, (err) => this.log.error({ err }, 'will publish failed'));
    if (session.persistent && this.byId.get(session.clientId) === session) {
      this.writes.persistLater([{ op: 'session.put', session: sessionRecord(session) }]);
    }
  }

  /** The session ends for good: what it still owed its client is counted as lost (Queues.discarded). */
  discarded(session: Session): void {
    this.queues.discarded(session);
  }

  /**
   * Ends a session: its subscriptions go, queued messages are dropped. Its stored copy stays: the
   * caller writes the deletion itself (or the session was never stored). See `endAndForget`.
   */
  end(session: Session, replaced = false): void {
    this.queues.letPublishersGo(session);
    this.subscriptions.removeAll(session);
    // What it still holds is gone with it (dropped with the session, or moved to another node).
    session.leaveBudget();
    session.leaveStateBudget();
    if (this.byId.get(session.clientId) === session) this.byId.delete(session.clientId);
    this.timers.cancel(session.clientId);
    // A session replaced at once by another of the same id here (Clean Start, an imported copy)
    // has not left this node: the link's record of where the id lives stays.
    if (!replaced) this.link?.sessionEnded?.(session.clientId);
  }

  /**
   * Ends a session and deletes its stored copy in the background: cleanup nobody waits on (expiry,
   * a session another node took), written in small batches, or with the current run's commit when
   * one is open (StoreWrites.persistInBackground).
   */
  endAndForget(session: Session): void {
    this.end(session);
    this.writes.persistInBackground([{ op: 'session.delete', clientId: session.clientId }]);
  }

  /** Registers a session read back from the store (or moved here from another node). */
  adopt(session: Session): void {
    this.byId.set(session.clientId, session);
    session.joinBudget(this.queues.budget);
    session.joinStateBudget(this.stateBudget);
    for (const sub of session.subscriptions.values()) this.subscriptions.add(session, sub);
    this.timers.arm(session);
  }

  // ---- subscriptions ---------------------------------------------------------------------

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
    if (ops.length > 0) (waits ??= []).push(this.writes.persist(ops));
    if (!waits) return isNew;
    return Promise.all(waits).then(() => isNew);
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
    return this.writes.persist(ops).then(() => existed);
  }

  /** Stops every timer (the broker is closing). */
  close(): void {
    this.timers.clear();
  }
}
