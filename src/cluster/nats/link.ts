// The cluster link: several Starling nodes act as one broker by exchanging messages over core NATS.
//
//   forward (a local publish)     plain:    <p>.msg.<tokens>     only nodes with a matching filter listen
//                                 retained: <p>.retain.<tokens>  every node listens (retained index)
//                                 always:   <p>.share.<tokens>   queue subscriptions, one group per
//                                                                ($share group, filter), this node included
//   claim (a client connected)    <p>.claim.<token>              others close their connection of that id
//   heartbeat                     <p>.node.<id>                  membership (members.ts)
//
// A node ignores its own plain and retained forwards (Starling-Origin header): the broker has already
// delivered them locally. Shared groups are served only through NATS (the broker leaves them out of
// local routing in cluster mode), so one member cluster-wide gets each message and this node takes
// part like any other. A retained message goes on the retain space only, never also on the plain
// one, so a node with plain interest does not deliver it twice; it is also written to the retained
// bucket (retained.ts) for nodes that start later. Two of this node's filters can match one
// subject (`a/+` and `a/b`), and NATS then delivers one copy per subscription: plain messages are
// de-duplicated by (origin, message id) over a bounded window.
//
// Delivery between nodes is at most once: core NATS does not store messages, so what is in flight
// when a node or a NATS server fails, or while a node is disconnected beyond the client's reconnect
// buffer, is lost. Order: one NATS connection per node publishes in order and NATS keeps the order of
// one connection's messages to each subscriber, so messages of one publisher on one topic arrive in
// order on every node.
import { randomBytes } from 'node:crypto';
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { ClusterLink } from '../../broker/cluster-link.js';
import type { DurableChannel } from './durable.js';
import { routeQuietly } from '../route-quietly.js';
import type { StoredMessage } from '../../store/ports.js';
import { DEFAULT_PREFIX, type ClusterSubjects } from './subjects.js';
import { decodeHeartbeat, decodeMessage, encodeHeartbeat, H, messageHeaders, type Heartbeat } from './wire.js';
import { InterestTable, type Callback } from './interest.js';
import { Membership } from './members.js';
import { RetainedSync, retainedBucketName } from './retained.js';
import { isNodeLocalTopic } from '../retained-copy.js';
import { Claims } from './claims.js';
import type { ClusterLinkOptions, LinkCounters } from './options.js';
import type { MaybePromise } from '../../protocol/maybe-promise.js';

export type { ClusterLinkOptions, LinkCounters, NatsAuth } from './options.js';

/** Plain messages remembered for de-duplication. */
const RECENT_WINDOW = 4096;

export class NatsClusterLink implements ClusterLink {
  readonly counters: LinkCounters = {
    forwarded: 0, forwardedRetained: 0, forwardedShared: 0, received: 0, receivedRetained: 0, receivedShared: 0,
    ownIgnored: 0, duplicates: 0, malformed: 0, publishErrors: 0, droppedDisconnected: 0, claimsSent: 0, claimsReceived: 0, claimsIgnored: 0, reconnects: 0,
    sessionsMovedIn: 0, sessionsMovedOut: 0, durableDuplicates: 0, durableResent: 0,
  };
  private readonly table: InterestTable;
  private readonly base: Subscription[] = [];
  private readonly membership: Membership;
  private readonly recent = new Set<string>();
  private readonly instance = randomBytes(8).toString('hex');
  private readonly startedAt = Date.now();
  private heartbeat?: NodeJS.Timeout;
  private readonly retained: RetainedSync;
  /** Durable delivery and adoption, with persistence=nats. */
  durable?: DurableChannel;
  private closing?: Promise<void>;
  /** Bytes forwarded since NATS became unreachable; undefined while connected. */
  private bufferedWhileDown?: number;
  private readonly claims: Claims;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    private readonly opts: Required<Pick<ClusterLinkOptions, 'nodeId' | 'broker' | 'log' | 'heartbeatMs'>> & ClusterLinkOptions,
  ) {
    this.membership = new Membership(opts.nodeId);
    this.retained = new RetainedSync(nc, {
      bucket: retainedBucketName(opts.prefix ?? DEFAULT_PREFIX),
      replicas: opts.retainedReplicas ?? 1,
      timeoutMs: opts.timeoutMs ?? 5000,
      local: opts.retained,
      deliver: (m) => this.deliver(m),
      log: opts.log,
    });
    const link = this;
    this.claims = new Claims(nc, subjects, opts, this.counters, {
      members: () => this.members(),
      unswept: () => this.membership.expired(Date.now()),
      get connected() {
        return link.bufferedWhileDown === undefined;
      },
      get closed() {
        return link.closing !== undefined;
      },
      get durable() {
        return link.durable;
      },
    });
    this.table = new InterestTable(nc, subjects.msg, subjects.share, (err, m) => this.onPlain(err, m), (key) => (err, m) => this.onShared(key, err, m));
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  /** Live node ids, this one included, sorted. */
  members(): string[] {
    return this.membership.list(Date.now());
  }

  /** The NATS server this node is connected to now (e.g. `127.0.0.1:4222`). */
  server(): string {
    return this.nc.getServer();
  }

  /**
   * Resolves once the NATS server has processed everything this node sent so far (subscriptions
   * included) and retained writes made so far are acknowledged (each bounded by `timeoutMs`).
   */
  async flush(timeoutMs = 5000): Promise<void> {
    await this.retained.settle(timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`cluster: NATS flush took over ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([this.nc.flush(), bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * NATS subscriptions held for local interest; whether the retained bucket is loaded; its failed
   * writes; expired values this node cleared from it while running.
   */
  get state(): { plainSubjects: number; sharedGroups: number; retainedLoaded: boolean; retainedWriteFailures: number; retainedPurged: number } {
    return {
      plainSubjects: this.table.plainSubjects,
      sharedGroups: this.table.sharedGroups,
      retainedLoaded: this.retained.loaded,
      retainedWriteFailures: this.retained.failures,
      retainedPurged: this.retained.purged,
    };
  }

  // ---- ClusterLink ------------------------------------------------------------------------

  interest(filter: string, group: string | undefined, present: boolean): MaybePromise<void> {
    if (this.closing) return;
    this.table.set(filter, group, present);
    // Durable mode: a group's QoS 1/2 messages come from its JetStream consumer (durable-groups.ts).
    const group$ = group !== undefined ? this.durable?.groups.interest(group, filter, present) : undefined;
    // New interest: the SUBACK waits until the NATS server has our subscription (and a durable
    // group's consumer exists), so a publish on another node right after it is not missed. Bounded,
    // and skipped while NATS is unreachable.
    if (!present || this.bufferedWhileDown !== undefined) return;
    return this.serverHasSent(2000, group$);
  }

  private serverHasSent(timeoutMs: number, also?: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    const done = Promise.all([this.nc.flush().catch(() => undefined), also]).then(() => undefined);
    return Promise.race([done, bound]).finally(() => clearTimeout(timer));
  }

  /** A QoS 1/2 message in durable mode: through the stream, to every node this one included. */
  private durableFor(message: StoredMessage): DurableChannel | undefined {
    return this.closing || isNodeLocalTopic(message.topic) || message.qos === 0 || message.retain ? undefined : this.durable;
  }

  deliversLocally(message: StoredMessage): boolean {
    return this.durableFor(message) !== undefined;
  }

  forward(message: StoredMessage): MaybePromise<void> {
    if (this.closing || isNodeLocalTopic(message.topic)) return;
    const durable = this.durableFor(message);
    if (durable) return this.forwardDurably(message, durable);
    if (this.bufferedWhileDown !== undefined) {
      // Two publishes per message (plain or retain, and share), each with ~300 bytes of headers.
      const bytes = 2 * (message.payload.length + message.topic.length + 300);
      if (this.bufferedWhileDown + bytes > (this.opts.reconnectBufferBytes ?? 8 * 1024 * 1024)) {
        if (this.bufferedWhileDown !== Infinity) this.opts.log.warn('cluster: NATS unreachable and its buffer full: messages for other nodes are dropped until it is back');
        this.bufferedWhileDown = Infinity;
        this.counters.droppedDisconnected++;
        return;
      }
      this.bufferedWhileDown += bytes;
    }
    try {
      const h = messageHeaders(message, this.opts.nodeId);
      if (message.retain) {
        this.nc.publish(this.subjects.retain.topic(message.topic), message.payload, { headers: h });
        this.counters.forwardedRetained++;
        this.retained.published(message);
      } else {
        this.nc.publish(this.subjects.msg.topic(message.topic), message.payload, { headers: h });
        this.counters.forwarded++;
      }
      this.nc.publish(this.subjects.share.topic(message.topic), message.payload, { headers: h });
      this.counters.forwardedShared++;
    } catch (err) {
      this.counters.publishErrors++;
      this.opts.log.warn({ err, topic: message.topic, bytes: message.payload.length }, 'cluster: forwarding a message failed');
    }
  }

  /**
   * A QoS 1/2 message through JetStream (the acknowledgement to its publisher waits for it), for every
   * node (this one included) and every shared group.
   */
  private forwardDurably(message: StoredMessage, durable: DurableChannel): Promise<void> {
    // Shared groups read it from the stream too, each through its own consumer.
    return durable.publish(message).then(
      () => void this.counters.forwarded++,
      (err: unknown) => {
        this.counters.publishErrors++;
        throw err;
      },
    );
  }

  retainedExpired(topics: readonly string[]): void {
    this.retained.expired(topics);
  }

  claim(clientId: string, resume: boolean): MaybePromise<void> {
    if (this.closing) return;
    return this.claims.claim(clientId, resume);
  }

  // ---- receiving --------------------------------------------------------------------------

  private decode(err: Error | null, m: Msg): { origin: string; message: StoredMessage } | undefined {
    if (err) {
      this.opts.log.warn({ err, subject: m?.subject }, 'cluster: subscription error');
      return undefined;
    }
    try {
      return decodeMessage(m.headers, m.data);
    } catch (e) {
      this.counters.malformed++;
      this.opts.log.warn({ err: e, subject: m.subject }, 'cluster: malformed message ignored');
      return undefined;
    }
  }

  private deliver(message: StoredMessage, sharedKey?: string): void {
    routeQuietly(this.opts.broker, this.opts.log, message, sharedKey);
  }

  private onPlain(err: Error | null, m: Msg): void {
    const d = this.decode(err, m);
    if (!d) return;
    if (d.origin === this.opts.nodeId) {
      this.counters.ownIgnored++;
      return;
    }
    const key = `${d.origin}\0${d.message.id}`;
    if (this.recent.has(key)) {
      this.counters.duplicates++;
      return;
    }
    this.recent.add(key);
    if (this.recent.size > RECENT_WINDOW) this.recent.delete(this.recent.values().next().value as string);
    this.counters.received++;
    this.deliver(d.message);
  }

  private onRetained: Callback = (err, m) => {
    const d = this.decode(err, m);
    if (!d) return;
    if (d.origin === this.opts.nodeId) {
      this.counters.ownIgnored++;
      return;
    }
    this.retained.arrived(d.message.topic);
    this.counters.receivedRetained++;
    // Without a shared key, the broker updates its retained index and delivers to plain subscribers.
    this.deliver(d.message);
  };

  private onShared(key: string, err: Error | null, m: Msg): void {
    const d = this.decode(err, m);
    if (!d) return;
    this.counters.receivedShared++;
    this.deliver(d.message, key);
  }

  private onHeartbeat: Callback = (err, m) => {
    if (err) return void this.opts.log.warn({ err }, 'cluster: heartbeat subscription error');
    let hb: Heartbeat;
    try {
      hb = decodeHeartbeat(m.data);
    } catch (e) {
      this.counters.malformed++;
      return void this.opts.log.warn({ err: e }, 'cluster: malformed heartbeat ignored');
    }
    if (hb.node === this.opts.nodeId) {
      if (hb.instance !== this.instance) this.opts.log.error({ nodeId: hb.node }, 'cluster: another process uses this node id; node ids must be unique');
      return;
    }
    if (m.headers?.get(H.leave) === '1') {
      if (this.membership.left(hb.node)) this.opts.log.info({ node: hb.node }, 'cluster: node left');
      return;
    }
    const seen = this.membership.seen(hb, Date.now());
    if (seen === 'known') return;
    this.opts.log.info({ node: hb.node }, seen === 'joined' ? 'cluster: node joined' : 'cluster: node restarted');
    // Answer at once so a joining node learns the members without waiting a whole period.
    this.beat(false);
  };

  // ---- lifecycle --------------------------------------------------------------------------

  private beat(leave: boolean): void {
    const h = headers();
    h.set(H.origin, this.opts.nodeId);
    if (leave) h.set(H.leave, '1');
    const hb: Heartbeat = { node: this.opts.nodeId, instance: this.instance, intervalMs: this.opts.heartbeatMs, startedAt: this.startedAt };
    try {
      this.nc.publish(this.subjects.node(this.opts.nodeId), encodeHeartbeat(hb), { headers: h });
    } catch (err) {
      this.opts.log.debug({ err }, 'cluster: heartbeat not sent');
    }
  }

  /** Subscribes the fixed subjects, loads the retained bucket, starts heartbeats. */
  async start(): Promise<void> {
    const { nc, subjects } = this;
    this.base.push(nc.subscribe(subjects.nodes, { callback: this.onHeartbeat }));
    this.base.push(nc.subscribe(subjects.claims, { callback: this.claims.onClaim }));
    // Subscribed before the bucket is read, so nothing published meanwhile is missed.
    for (const s of subjects.retain.all()) this.base.push(nc.subscribe(s, { callback: this.onRetained }));
    await nc.flush();
    await this.retained.start();
    this.beat(false);
    this.heartbeat = setInterval(() => {
      this.beat(false);
      for (const gone of this.membership.sweep(Date.now())) {
        this.opts.log.warn({ node: gone }, 'cluster: node lost (no heartbeat)');
        if (this.durable) void this.durable.adopt(gone);
      }
    }, this.opts.heartbeatMs);
    this.heartbeat.unref();
    void this.watchStatus();
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.bufferedWhileDown ??= 0;
        this.opts.log.warn({ server: s.server }, 'cluster: disconnected from NATS');
      } else if (s.type === 'reconnect') {
        this.bufferedWhileDown = undefined;
        this.counters.reconnects++;
        const repaired = this.table.repair();
        this.opts.log.info({ server: s.server, repaired }, 'cluster: reconnected to NATS');
        this.beat(false);
      }
    }
  }

  /** Says goodbye, waits (bounded) for retained writes, and closes the NATS connection. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      await this.durable?.close();
      this.beat(true);
      await this.retained.settle(2000);
      this.retained.close();
      await Promise.race([this.nc.flush().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
      await this.nc.close().catch(() => undefined);
      await this.opts.place?.stop();
    })());
  }
}

