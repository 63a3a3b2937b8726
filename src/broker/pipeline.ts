// The publish pipeline: route a message (retain → match → deliver → persist) and say when its
// publisher may be acknowledged. In a cluster, a local publisher's message is also forwarded to
// the other nodes, and messages from them come back through `routeRemote`, never forwarded again.
import type { QoS } from '../protocol/constants.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';
import type { Delivery } from '../session/delivery.js';
import type { Session } from '../session/session.js';
import type { StoreOp, StoredMessage } from '../store/ports.js';
import type { RouteOptions } from '../channel/context.js';
import type { MatchScope, SubscriptionIndex } from '../router/subscriptions.js';
import type { BrokerStats } from './stats.js';
import type { ClusterLink, RemoteRoute, StreamPosition } from './cluster-link.js';
import { sessionRecord } from './persistence.js';
import { entryBytes } from '../session/message.js';
import type { Queues } from './queues.js';
import type { RetainedService } from './retained-service.js';
import { WriteBatch, type JoinedCommit, type StoreWrites } from './writes.js';

const LOCAL_SCOPE: MatchScope = { plain: true, shared: true };
/** In a cluster, shared groups are served through the link (one member cluster-wide). */
const CLUSTER_LOCAL_SCOPE: MatchScope = { plain: true, shared: false };
const REMOTE_PLAIN: MatchScope = { plain: true, shared: false };
/** A message the cluster link delivers here itself (durable mode): stored and retained only. */
const LINK_DELIVERS: MatchScope = { plain: false, shared: false };

/** How one routing is delivered (a record: the hot path's call sites say what they pass). */
interface DeliverOptions {
  /** Store ops written in the message's batch. */
  extraOps?: StoreOp[];
  /** Whether a retained message is stored as retained here (not for copies from another node). */
  retain: boolean;
  /** Deliver only to these client ids. */
  only?: string | ReadonlySet<string>;
  /** A subscriber's full queue may hold the publisher (backPressure). */
  hold?: boolean;
  /** The cluster's stream position of the message (durable mode). */
  at?: StreamPosition;
}
const RETAINING: DeliverOptions = { retain: true };
/** A client's QoS 1/2 PUBLISH without ops of its own (all but QoS 2 from a persistent session): no record per message. */
const HOLDING: DeliverOptions = { retain: true, hold: true };
/** A message from another node for plain subscribers (routeRemote without a route). */
const TO_PLAIN: RemoteRoute = {};
/** A retained message from another node without a stream position is RETAINING; one not retained: */
const REMOTE_PASSING: DeliverOptions = { retain: false };

export class Pipeline {
  private link?: Pick<ClusterLink, 'forward' | 'deliversLocally'>;

  constructor(
    private readonly subscriptions: SubscriptionIndex,
    private readonly retained: RetainedService,
    private readonly queues: Queues,
    private readonly writes: StoreWrites,
    private readonly stats: BrokerStats,
    private readonly now: () => number,
  ) {}

  attachCluster(link: Pick<ClusterLink, 'forward' | 'deliversLocally'>): void {
    this.link = link;
  }

  /**
   * Routes a message from a local publisher (a client, a will, the admin API, $SYS). Returns how
   * many sessions it was routed to; a Promise when a durable write must finish first (then nothing
   * goes out, and the caller does not acknowledge, until it is durable), or (`holdPublisher`: a
   * client's QoS 1/2 PUBLISH) when a subscriber's full queue holds the publisher (backPressure).
   */
  route(message: StoredMessage, options?: RouteOptions): MaybePromise<number> {
    const how = !options
      ? RETAINING
      : options.extraOps !== undefined
        ? { extraOps: options.extraOps, retain: true, hold: options.holdPublisher }
        : options.holdPublisher
          ? HOLDING
          : RETAINING;
    if (this.link) {
      // A link that delivers durably (persistence=nats) resolves when the message survives this
      // node; the acknowledgement waits for that too.
      const forwarded = this.link.forward(message);
      const scope = forwarded && this.link.deliversLocally?.(message) ? LINK_DELIVERS : CLUSTER_LOCAL_SCOPE;
      const routed = this.deliver(message, scope, how);
      if (!forwarded) return routed;
      return Promise.all([forwarded, routed]).then(([, n]) => n);
    }
    return this.deliver(message, LOCAL_SCOPE, how);
  }

  /** Routes a message from another node (ClusterSide.routeRemote and RemoteRoute say how). */
  routeRemote(message: StoredMessage, to: RemoteRoute = TO_PLAIN): MaybePromise<number> {
    const { shared, only, at } = to;
    if (shared !== undefined) return this.deliver(message, { plain: false, shared }, { retain: false, at });
    if (only !== undefined) return this.deliver(message, REMOTE_PLAIN, { retain: false, only, at });
    if (at === undefined) return this.deliver(message, REMOTE_PLAIN, message.retain ? RETAINING : REMOTE_PASSING);
    return this.deliver(message, REMOTE_PLAIN, { retain: message.retain, at });
  }

  /** The steps of routing: retain, match in `scope`, write QoS 0 / enqueue QoS 1/2, commit. */
  private deliver(message: StoredMessage, scope: MatchScope, how: DeliverOptions): MaybePromise<number> {
    const { extraOps, retain, only, hold = false, at } = how;
    this.stats.messagesRouted++;
    const now = this.now();
    /** A batch of this message's own (retained copies, extra ops), committed as before. */
    let batch: WriteBatch | undefined;
    /**
     * Otherwise its entries join the commit of this synchronous run directly, from `joinedFrom` on
     * (a delivery that writes something of its own, e.g. a session closed by its outlet, joins the
     * same commit: StoreWrites.persist).
     */
    let joined: JoinedCommit | undefined;
    let joinedFrom = 0;
    if (extraOps && extraOps.length > 0) (batch = new WriteBatch()).ops.push(...extraOps);
    if (retain && message.retain) batch = this.retained.retain(message, batch);
    const matches = this.subscriptions.match(message.topic, message.publisherId, scope);
    const deliveries =
      only === undefined ? matches : matches.filter((d) => (typeof only === 'string' ? d.session.clientId === only : only.has(d.session.clientId)));
    const matched = deliveries.length;
    let messageStored = false;
    /** The QoS 0 record shared by every subscriber without subscription ids or retain (the common fan-out). */
    let plain: Delivery | undefined;
    /** Online sessions this message took over their queue limits: the publisher waits for them. */
    let full: Session[] | undefined;
    /** What each of its queue entries holds (entryBytes), worked out at its first QoS 1/2 delivery. */
    let bytes: number | undefined;
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
        if (s.outlet) s.outlet.deliver(retain || d.subscriptionIds ? { message, qos, retain, subscriptionIds: d.subscriptionIds } : (plain ??= { message, qos, retain }));
        continue;
      }
      // A client is never held by its own queue: its PUBACKs queue behind the held PUBLISH in its stream.
      const policy = this.queues.overflowPolicy(s, hold && s.clientId !== message.publisherId);
      bytes ??= entryBytes(message);
      let queued: boolean;
      if (this.queues.stored(s)) {
        if (batch === undefined && joined === undefined) {
          joined = this.writes.joining();
          joinedFrom = joined.batch.ops.length;
        }
        const into = batch ?? (joined as JoinedCommit).batch;
        queued = this.queues.enqueue(s, { message, qos, retain, subscriptionIds: d.subscriptionIds }, now, { batch: into, withMessage: !messageStored, policy, bytes });
        if (queued) messageStored = true;
        // Written with the entry, atomically, so an adopter of this node knows what the session had.
        if (at) into.ops.push({ op: 'session.put', session: sessionRecord(s) });
      } else if ((queued = this.queues.enqueue(s, { message, qos, retain, subscriptionIds: d.subscriptionIds }, now, { policy, bytes }))) s.sendUnsent();
      if (queued && policy === 'backPressure' && s.over(this.queues.limits)) (full ??= []).push(s);
    }
    // Acknowledged only once every full queue it joined is back within its limits (or given up on).
    const held = full && this.queues.holdUntilRoom(full);
    if (joined !== undefined && joined.batch.ops.length > joinedFrom) {
      const written = joined.written(matched);
      return held ? Promise.all([written, held]).then(() => matched) : written;
    }
    if (!batch || batch.ops.length === 0) return held ? held.then(() => matched) : matched;
    if (batch.entries.length === 0 && !extraOps && message.qos === 0) {
      // Nothing to acknowledge: a retained QoS 0 message is stored without holding anything up.
      this.writes.persistLater(batch.ops);
      return matched;
    }
    const committed = this.writes.commit(batch);
    return (held ? Promise.all([committed, held]) : committed).then(() => matched);
  }
}
