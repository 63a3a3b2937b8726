// The cluster link: several Starling nodes act as one broker by exchanging messages over core NATS.
//
//   forward (a local publish)     <p>.in.<node>                  per destination node and per event-loop
//                                                                turn, ONE message: a binary frame of
//                                                                the turn's messages (../batch-frame.ts,
//                                                                batches.ts), only to nodes whose
//                                                                interest matches (interest.ts)
//                                 retained: <p>.retain.<tokens>  every node listens (retained index)
//   interest                      <p>.int.<node> and friends     each node's filters and shared groups
//   claim (a client connected)    <p>.claim.<token>              others close their connection of that id
//   heartbeat                     <p>.node.<id>                  membership (members.ts)
//
// The sending node matches each topic once against the interest the others announced, and picks the
// node of each shared group itself (round-robin over the nodes with a member, this one included, whose
// turn is delivered here at the end of the turn, and handed on as a batch's would be if the member
// left meanwhile): shared groups are served only through the link (the
// broker leaves them out of local routing in cluster mode), so one member cluster-wide gets each
// message, and a topic that matches no group anywhere costs nothing more. A retained message goes on
// the retain space (headers, wire.ts), never in a batch, and is also written to the retained bucket
// (retained.ts) for nodes that start later; the turn's batches are sent before it, so the order of one
// publisher's messages holds. A node ignores its own retained forwards (Starling-Origin header).
//
// Delivery between nodes is at most once: core NATS does not store messages, so what is in flight
// when a node or a NATS server fails, or while a node is disconnected beyond the client's reconnect
// buffer, is lost. Order: one NATS connection per node publishes in order and NATS keeps the order of
// one connection's messages to each subscriber, and a batch keeps the order of its turn, so messages
// of one publisher on one topic arrive in order on every node.
import { randomBytes } from 'node:crypto';
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { ClusterLink } from '../../broker/cluster-link.js';
import type { DurableChannel } from './durable.js';
import { routeFailed, routeQuietly } from '../route-quietly.js';
import type { StoredMessage } from '../../store/ports.js';
import { DEFAULT_PREFIX, type ClusterSubjects } from './subjects.js';
import { decodeHeartbeat, decodeMessage, encodeHeartbeat, H, messageHeaders, WIRE_VERSION, wireOf, type Heartbeat } from './wire.js';
import { InterestExchange, type Callback } from './interest.js';
import { NodeBatches } from './batches.js';
import { decodeFrame } from '../batch-frame.js';
import { MessageIds } from '../../session/message.js';
import { MAX_NODES, Membership } from './members.js';
import { RetainedSync, retainedBucketName } from './retained.js';
import { isNodeLocalTopic } from '../retained-copy.js';
import { Claims } from './claims.js';
import { MalformedMessages } from './malformed.js';
import { batchRefusal } from '../peer-fields.js';
import type { ClusterLinkOptions, LinkCounters } from './options.js';
import type { MaybePromise } from '../../protocol/maybe-promise.js';

export type { ClusterLinkOptions, LinkCounters, NatsAuth } from './options.js';

/** Bytes of a frame beyond its entries that the NATS protocol adds (subject, sizes). */
const FRAME_SLACK = 512;

/** About what a message takes in a frame (for the bound on what is buffered while NATS is down). */
const entryBytes = (m: StoredMessage): number => m.payload.length + m.topic.length + m.id.length + 32;

export class NatsClusterLink implements ClusterLink {
  readonly counters: LinkCounters = {
    forwarded: 0, forwardedRetained: 0, forwardedShared: 0, received: 0, receivedRetained: 0, receivedShared: 0, sharedHandedOn: 0, sharedLost: 0,
    ownIgnored: 0, duplicates: 0, batches: 0, malformed: 0, publishErrors: 0, droppedDisconnected: 0, claimsSent: 0, claimsReceived: 0, claimsIgnored: 0, reconnects: 0,
    sessionsMovedIn: 0, sessionsMovedOut: 0, durableDuplicates: 0, durableResent: 0,
  };
  private readonly exchange: InterestExchange;
  private readonly batches: NodeBatches;
  /** Ids for the QoS 0 messages other nodes send (batch-frame.ts: theirs do not cross). */
  private readonly ids = new MessageIds();
  private readonly base: Subscription[] = [];
  private readonly membership: Membership;
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
  /** Malformed messages from other nodes: counted, logged once a minute per kind. */
  readonly malformed: MalformedMessages;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    private readonly opts: Required<Pick<ClusterLinkOptions, 'nodeId' | 'broker' | 'log' | 'heartbeatMs'>> & ClusterLinkOptions,
  ) {
    this.membership = new Membership(opts.nodeId);
    this.malformed = new MalformedMessages(this.counters, opts.log);
    this.retained = new RetainedSync(nc, {
      bucket: retainedBucketName(opts.prefix ?? DEFAULT_PREFIX),
      replicas: opts.retainedReplicas ?? 1,
      timeoutMs: opts.timeoutMs ?? 5000,
      ...(opts.retainedPendingBytes !== undefined ? { maxPendingBytes: opts.retainedPendingBytes } : {}),
      local: opts.retained,
      deliver: (m) => this.deliver(m),
      log: opts.log,
    });
    const link = this;
    this.claims = new Claims(nc, subjects, opts, this.counters, this.malformed, {
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
    this.exchange = new InterestExchange(nc, subjects.interest, {
      nodeId: opts.nodeId,
      instance: this.instance,
      members: () => this.members(),
      speaksOther: (node) => this.membership.speaksOther(node),
      known: (node) => this.membership.has(node),
      timeoutMs: 2000,
      log: opts.log,
      malformed: this.malformed,
    });
    this.batches = new NodeBatches(opts.nodeId, {
      publish: (node, frame) => {
        this.nc.publish(this.subjects.inbox(node), frame);
        this.counters.batches++;
      },
      maxBytes: () => (this.nc.info?.max_payload ?? 1024 * 1024) - FRAME_SLACK,
      // This node's own turns in shared groups: checked like a batch's (its own last member may have
      // left since it picked itself, and then a QoS 1/2 message goes on to another node, once).
      local: (entries) => {
        for (const e of entries) {
          this.counters.receivedShared++;
          this.deliverShared(e.message, e.shared, false);
        }
      },
      failed: (err, node, entries) => {
        this.counters.publishErrors += entries;
        this.opts.log.warn({ err, node, messages: entries }, 'cluster: forwarding messages failed');
      },
    });
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  /** Live node ids, this one included, sorted. */
  members(): string[] {
    return this.membership.list(Date.now());
  }

  /** Live nodes that speak another version of the cluster protocol, sorted: no message crosses to or from them. */
  incompatible(): string[] {
    return this.membership.incompatible(Date.now());
  }

  /** The NATS server this node is connected to now (e.g. `127.0.0.1:4222`). */
  server(): string {
    return this.nc.getServer();
  }

  /**
   * Resolves once the NATS server has processed everything this node sent so far, the other nodes
   * acknowledged this node's interest, and retained writes made so far are acknowledged (each bounded).
   */
  async flush(timeoutMs = 5000): Promise<void> {
    this.batches.flush();
    await Promise.all([this.retained.settle(timeoutMs), this.exchange.settle()]);
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
  get state(): { plainFilters: number; sharedGroups: number; knownNodes: number; retainedLoaded: boolean; retainedWriteFailures: number; retainedPurged: number } {
    const interest = this.exchange.state;
    return {
      plainFilters: interest.plainFilters,
      sharedGroups: interest.sharedGroups,
      knownNodes: interest.nodes,
      retainedLoaded: this.retained.loaded,
      retainedWriteFailures: this.retained.failures,
      retainedPurged: this.retained.purged,
    };
  }

  // ---- ClusterLink ------------------------------------------------------------------------

  interest(filter: string, group: string | undefined, present: boolean): MaybePromise<void> {
    if (this.closing) return;
    const known = this.exchange.set(filter, group, present);
    // Durable mode: a group's QoS 1/2 messages come from its JetStream consumer (durable-groups.ts).
    const group$ = group !== undefined ? this.durable?.groups.interest(group, filter, present) : undefined;
    // New interest: the SUBACK waits until every other node acknowledged it (and a durable group's
    // consumer exists), so a publish on another node right after it is not missed. Bounded (the
    // exchange's acknowledgements by 2 s), and skipped while NATS is unreachable.
    if (!present || this.bufferedWhileDown !== undefined) return;
    if (!known && !group$) return;
    return Promise.all([known, group$]).then(() => undefined);
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
    try {
      if (message.retain) {
        // After the turn's batches, so a plain message published before it stays before it.
        this.batches.flush();
        if (!this.roomWhileDown(message.payload.length + message.topic.length + 300)) return;
        this.nc.publish(this.subjects.retain.topic(message.topic), message.payload, { headers: messageHeaders(message, this.opts.nodeId) });
        this.counters.forwardedRetained++;
        this.retained.published(message);
      } else {
        this.counters.forwarded++;
        const nodes = this.exchange.plainFor(message.topic);
        if (nodes.length > 0 && this.roomWhileDown(nodes.length * entryBytes(message))) this.batches.plain(nodes, message);
      }
      this.exchange.sharedFor(message.topic, (shared, node, local) => {
        this.counters.forwardedShared++;
        if (local || this.roomWhileDown(entryBytes(message))) this.batches.shared(node, message, shared);
      });
    } catch (err) {
      this.counters.publishErrors++;
      this.opts.log.warn({ err, topic: message.topic, bytes: message.payload.length }, 'cluster: forwarding a message failed');
    }
  }

  /** While NATS is unreachable, the client buffers what is sent: bounded, then forwards are dropped. */
  private roomWhileDown(bytes: number): boolean {
    if (this.bufferedWhileDown === undefined) return true;
    if (this.bufferedWhileDown + bytes > (this.opts.reconnectBufferBytes ?? 8 * 1024 * 1024)) {
      if (this.bufferedWhileDown !== Infinity) this.opts.log.warn('cluster: NATS unreachable and its buffer full: messages for other nodes are dropped until it is back');
      this.bufferedWhileDown = Infinity;
      this.counters.droppedDisconnected++;
      return false;
    }
    this.bufferedWhileDown += bytes;
    return true;
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
      this.malformed.dropped('retained', e);
      return undefined;
    }
  }

  private deliver(message: StoredMessage, sharedKey?: string): void {
    routeQuietly(this.opts.broker, this.opts.log, message, sharedKey === undefined ? undefined : { shared: sharedKey });
  }

  /**
   * A shared-group message picked for this node, by another node or by this one. At QoS 1/2, if the
   * group has no local member any more (the last one left after the sender picked this node), it
   * goes on to another node of the group instead of being dropped; once only (a message handed on is
   * not handed on again).
   */
  private deliverShared(message: StoredMessage, key: string, handedOn: boolean): void {
    if (message.qos === 0) return this.deliver(message, key);
    const failed = (err: unknown): void => routeFailed(this.opts.log, message, err);
    const none = (): void => (handedOn ? this.lost(message, key) : this.handOn(message, key));
    try {
      const n = this.opts.broker.routeRemote(message, { shared: key });
      if (n instanceof Promise) n.then((count) => count === 0 && none(), failed);
      else if (n === 0) none();
    } catch (err) {
      failed(err);
    }
  }

  private handOn(message: StoredMessage, key: string): void {
    if (this.closing) return;
    const node = this.exchange.otherMember(message.topic, key);
    if (node === undefined) return this.lost(message, key);
    this.counters.sharedHandedOn++;
    try {
      this.batches.shared(node, message, key, true);
    } catch (err) {
      this.counters.publishErrors++;
      this.opts.log.warn({ err, node }, 'cluster: handing a shared-group message on failed');
    }
  }

  private lost(message: StoredMessage, key: string): void {
    this.counters.sharedLost++;
    this.opts.log.warn({ topic: message.topic, group: key.slice(0, key.indexOf('\0')) }, 'cluster: a shared-group message found no member where it was handed on');
  }

  /** A batch from another node: every message of it, in order, or none if the frame is malformed. */
  private onBatch: Callback = (err, m) => {
    if (err) return void this.opts.log.warn({ err, subject: m?.subject }, 'cluster: subscription error');
    let frame: ReturnType<typeof decodeFrame>;
    try {
      // Payloads of messages that may be queued copied one by one: a queued message must not hold a
      // whole socket read of the NATS client. A QoS 0 one is written out (or dropped) in this turn,
      // so a view does; the client makes a new buffer for each read and never writes into one it
      // gave out.
      frame = decodeFrame(m.data, this.ids, true);
      const why = batchRefusal(frame.messages, frame.shared);
      if (why) throw new Error(why);
    } catch (e) {
      return void this.malformed.dropped('batch', e);
    }
    const { messages, shared } = frame;
    if (frame.origin === this.opts.nodeId) return void (this.counters.ownIgnored += messages.length);
    if (!shared) {
      this.counters.received += messages.length;
      for (let i = 0; i < messages.length; i++) this.deliver(messages[i]);
      return;
    }
    for (let i = 0; i < messages.length; i++) {
      const key = shared[i];
      if (key === undefined) {
        this.counters.received++;
        this.deliver(messages[i]);
      } else {
        this.counters.receivedShared++;
        this.deliverShared(messages[i], key, frame.handedOn?.[i] === true);
      }
    }
  };

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

  private onHeartbeat: Callback = (err, m) => {
    if (err) return void this.opts.log.warn({ err }, 'cluster: heartbeat subscription error');
    let hb: Heartbeat;
    try {
      hb = decodeHeartbeat(m.data);
      // A node heartbeats on its own subject: with NATS permissions per node, no other can speak for it.
      if (m.subject !== this.subjects.node(hb.node)) throw new Error('a heartbeat on another node\'s subject');
    } catch (e) {
      return void this.malformed.dropped('heartbeat', e);
    }
    if (hb.node === this.opts.nodeId) {
      if (hb.instance !== this.instance) this.opts.log.error({ nodeId: hb.node }, 'cluster: another process uses this node id; node ids must be unique');
      return;
    }
    if (m.headers?.get(H.leave) === '1') {
      if (this.membership.left(hb.node)) this.opts.log.info({ node: hb.node }, 'cluster: node left');
      this.exchange.forget(hb.node);
      return;
    }
    const seen = this.membership.seen(hb, Date.now());
    if (seen === 'full') return void this.malformed.dropped('heartbeat', `a node beyond ${MAX_NODES} others`);
    // A node of another protocol version reads none of this node's frames, nor this node its: the
    // exchange applies none of its interest (membership.speaksOther), and what was known of it (it
    // restarted on another version) is forgotten, so nothing is forwarded to it (what it sends is
    // counted malformed).
    this.exchange.heard(hb.node, hb.instance, hb.iv);
    const wire = wireOf(hb);
    if (wire !== WIRE_VERSION && seen !== 'known') {
      this.exchange.forget(hb.node);
      this.opts.log.error(
        { node: hb.node, protocol: wire, ours: WIRE_VERSION },
        'cluster: node speaks another version of the cluster protocol (another Starling version): neither reads the other\'s messages, so none cross between them; upgrade every node of a cluster together',
      );
    }
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
    const hb: Heartbeat = { node: this.opts.nodeId, instance: this.instance, intervalMs: this.opts.heartbeatMs, startedAt: this.startedAt, iv: this.exchange.version, wire: WIRE_VERSION };
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
    this.base.push(nc.subscribe(subjects.inbox(this.opts.nodeId), { callback: this.onBatch }));
    // Subscribed before the bucket is read, so nothing published meanwhile is missed.
    for (const s of subjects.retain.all()) this.base.push(nc.subscribe(s, { callback: this.onRetained }));
    await nc.flush();
    await this.exchange.start();
    await this.retained.start();
    this.beat(false);
    this.heartbeat = setInterval(() => {
      this.beat(false);
      for (const gone of this.membership.sweep(Date.now())) {
        this.opts.log.warn({ node: gone }, 'cluster: node lost (no heartbeat)');
        this.exchange.forget(gone);
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
        this.opts.log.info({ server: s.server }, 'cluster: reconnected to NATS');
        this.beat(false);
      }
    }
  }

  /** Says goodbye, waits (bounded) for retained writes, and closes the NATS connection. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      this.batches.flush();
      this.exchange.close();
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

