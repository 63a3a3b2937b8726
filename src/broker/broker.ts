// The broker: a thin composition of collaborators with one job each, behind the operations a
// channel needs (ChannelContext) and those a cluster link needs (ClusterSide):
//   sessions.ts         sessions, the client registry and takeover, wills, subscriptions
//   pipeline.ts         routing a message: retain → match → deliver → persist
//   queues.ts           delivery to a session: enqueue, overflow policy, window, acks, drops
//   retained-service.ts retained messages: index, budgets, sweep, copies for new subscriptions
//   writes.ts           persistence: write batches, commit, writes nobody waits for
//   cluster-side.ts     what other nodes may ask: route, take over, move or forget a session
import type { Logger } from 'pino';
import type { ConnectPacket } from '../protocol/packets.js';
import type { Session } from '../session/session.js';
import type { Outgoing } from '../session/outgoing.js';
import { SubscriptionIndex } from '../router/subscriptions.js';
import type { StoredMessage, SubscriptionRecord, WillRecord } from '../store/ports.js';
import { allowAll, type BrokerHooks } from '../hooks/hooks.js';
import type { BrokerOptions } from './options.js';
import type { BrokerClient, ChannelContext, ConnectRequest, DisconnectKind, RouteOptions } from '../channel/context.js';
import { MessageIds, messageFromWill } from '../session/message.js';
import { BrokerStats } from './stats.js';
import { recover } from './recovery.js';
import { PublishCache } from '../channel/publish-cache.js';
import type { ClusterLink, ClusterSide, LocalRetained, RemoteRoute, SessionTransfer } from './cluster-link.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';
import { StoreWrites } from './writes.js';
import { Queues } from './queues.js';
import { RetainedService, type RetainedReader } from './retained-service.js';
import { Pipeline } from './pipeline.js';
import { Sessions, type ClientsReader } from './sessions.js';
import { BrokerClusterSide } from './cluster-side.js';

export class Broker implements ChannelContext, ClusterSide {
  readonly log: Logger;
  readonly hooks: BrokerHooks;
  readonly stats = new BrokerStats();
  readonly options: BrokerOptions;
  readonly now: () => number;
  readonly ids = new MessageIds();
  readonly publishCache = new PublishCache();
  private readonly subscriptionIndex = new SubscriptionIndex();
  private readonly writes: StoreWrites;
  private readonly queues: Queues;
  private readonly retainedService: RetainedService;
  private readonly pipeline: Pipeline;
  private readonly sessionBook: Sessions;
  private readonly clusterSide: BrokerClusterSide;
  private closed = false;

  private constructor(options: BrokerOptions) {
    this.options = options;
    this.log = options.log;
    this.hooks = { ...allowAll, ...options.hooks };
    this.now = options.now ?? Date.now;
    this.writes = new StoreWrites(options.store, this.log);
    this.queues = new Queues(options, this.writes, this.stats, this.hooks, this.log, this.now);
    this.retainedService = new RetainedService(options, this.writes, this.queues, this.stats, this.ids, this.log, this.now);
    this.pipeline = new Pipeline(this.subscriptionIndex, this.retainedService, this.queues, this.writes, this.stats, this.now);
    const route = (m: StoredMessage): MaybePromise<number> => this.pipeline.route(m);
    this.sessionBook = new Sessions(this.subscriptionIndex, this.queues, this.writes, this.hooks, this.stats, this.ids, this.log, this.now, route, options.maxSessions, options.maxSessionBytesTotal);
    this.clusterSide = new BrokerClusterSide(this.sessionBook, this.pipeline, this.writes, this.now);
  }

  /** Opens the store and recovers every session, queue and retained message it holds. */
  static async open(options: BrokerOptions): Promise<Broker> {
    const broker = new Broker(options);
    const started = Date.now();
    const snapshot = await broker.writes.open();
    const recovered = recover(snapshot, broker.now(), (s) => broker.sessionBook.adopt(s));
    broker.retainedService.load(snapshot.retained);
    const { retained } = broker;
    broker.log.info(
      { sessions: recovered.sessions, queued: recovered.entries, retained: retained.size, retainedBytes: retained.bytes, ms: Date.now() - started },
      'state recovered',
    );
    return broker;
  }

  /** Joins a cluster: local interest and publishes go to the link, remote ones come back through it. */
  attachCluster(link: ClusterLink): void {
    this.queues.writesInflightQos1 = true;
    this.pipeline.attachCluster(link);
    this.sessionBook.attachCluster(link);
    this.retainedService.attachCluster(link);
    this.subscriptionIndex.listener = link;
    for (const { filter, group } of this.subscriptionIndex.interests()) void link.interest(filter, group, true);
  }

  // ---- read-only views (observation, the admin API, tests) -------------------------------

  /** Every session, connected or not. */
  get sessions(): ReadonlyMap<string, Session> {
    return this.sessionBook.reader;
  }

  /** Connections that own a client id. */
  get clients(): ClientsReader {
    return this.sessionBook.clientsReader;
  }

  /** Bytes held by all sessions' queues and in-flight windows together (against maxQueuedBytesTotal). */
  queuedBytes(): number {
    return this.queues.budget.total;
  }

  /** Bytes of client ids, subscription filters and wills all sessions hold (against maxSessionBytesTotal). */
  sessionStateBytes(): number {
    return this.sessionBook.stateBudget.total;
  }

  get retained(): RetainedReader {
    return this.retainedService.reader;
  }

  /** The retained index as a cluster link reconciles it at start-up (set and cleared, never delivered). */
  localRetained(): LocalRetained {
    return this.retainedService.localCopy();
  }

  // ---- ChannelContext: connect / disconnect ----------------------------------------------

  connect(client: BrokerClient, req: ConnectRequest): Promise<{ session: Session; sessionPresent: boolean }> {
    return this.sessionBook.connect(client, req);
  }

  attach(session: Session, outlet: NonNullable<Session['outlet']>, receiveMaximum: number): void {
    this.queues.attach(session, outlet, receiveMaximum);
  }

  disconnected(client: BrokerClient, kind: DisconnectKind): void {
    this.sessionBook.disconnected(client, kind);
  }

  setExpiry(session: Session, seconds: number): void {
    this.sessionBook.setExpiry(session, seconds);
  }

  willFor(clientId: string, will: NonNullable<ConnectPacket['will']>): WillRecord {
    return {
      message: messageFromWill(this.ids, will, clientId, this.now()),
      delayInterval: will.properties?.willDelayInterval ?? 0,
    };
  }

  /** The ACL was reloaded: what sessions hold is re-checked against it (Sessions.reauthorizeAll). */
  reauthorizeAll(): void {
    this.sessionBook.reauthorizeAll();
  }

  // ---- ChannelContext: routing and subscriptions -----------------------------------------

  route(message: StoredMessage, options?: RouteOptions): MaybePromise<number> {
    return this.pipeline.route(message, options);
  }

  get publishersHeld(): boolean {
    return this.queues.holding;
  }

  subscribe(session: Session, subs: SubscriptionRecord[]): MaybePromise<boolean[]> {
    return this.sessionBook.subscribe(session, subs);
  }

  deliverRetained(session: Session, sub: SubscriptionRecord, isNew: boolean): void {
    this.retainedService.deliverRetained(session, sub, isNew);
  }

  unsubscribe(session: Session, filters: string[]): MaybePromise<boolean[]> {
    return this.sessionBook.unsubscribe(session, filters);
  }

  // ---- ChannelContext: acknowledgements from subscribers ----------------------------------

  completed(session: Session, packetId: number, kind: 'puback' | 'pubcomp'): boolean {
    return this.queues.completed(session, packetId, kind);
  }

  received(session: Session, packetId: number): MaybePromise<Outgoing | undefined> {
    return this.queues.received(session, packetId);
  }

  discard(session: Session, packetId: number): void {
    this.queues.discard(session, packetId);
  }

  inboundCompleted(session: Session, packetId: number): MaybePromise<boolean> {
    return this.queues.inboundCompleted(session, packetId);
  }

  // ---- ClusterSide ---------------------------------------------------------------------

  routeRemote(message: StoredMessage, to?: RemoteRoute): MaybePromise<number> {
    return this.clusterSide.routeRemote(message, to);
  }

  takeOver(clientId: string): void {
    this.clusterSide.takeOver(clientId);
  }

  releaseSession(clientId: string, transfer: boolean): Promise<SessionTransfer | undefined> {
    return this.clusterSide.releaseSession(clientId, transfer);
  }

  importSession(transfer: SessionTransfer): boolean {
    return this.clusterSide.importSession(transfer);
  }

  forgetSession(clientId: string): void {
    this.clusterSide.forgetSession(clientId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sessionBook.close();
    this.queues.close();
    this.retainedService.stop();
    await this.writes.close();
  }
}
