// Durable delivery between nodes (persistence=nats): what it takes for a node to be lost without
// losing an acknowledged QoS 1/2 message.
//
//   publish   a QoS 1/2 message (not retained) goes into the JetStream stream `<P>_msgs` instead of
//             core NATS; the publisher's PUBACK/PUBREC waits for JetStream's acknowledgement, so
//             from then on the message survives its node.
//   consume   every node has a durable consumer `node_<id>` on that stream and acknowledges a
//             message only once it is routed here (and stored for this node's persistent sessions);
//             what a node did not acknowledge when it died stays in its consumer. The stream keeps a
//             message while any consumer has not acknowledged it (interest retention).
//   adopt     when a node is lost (no heartbeats), one surviving node takes its place for its
//             clients: it takes the node's place key (place.ts: a compare-and-set in the KV bucket
//             `<P>_cluster`, only from a node whose key stands still; a node that came back keeps
//             rewriting it and is left alone),
//             opens the lost node's store (which fences the lost node, should it come back
//             unannounced), adopts every session in it (with wills and expiry, as at start-up),
//             routes to those sessions what the lost node's consumer still held, then deletes that
//             consumer and the adopted sessions from the lost node's store. Clients of the lost node
//             then reconnect anywhere and their session moves to them (session-move.ts).
//
// Every node gets every durable message (a node's consumer cannot follow its interest with the
// JetStream of NATS 2.9), filters it by its own subscriptions, and ignores its own. Order: one
// stream, read in order by each node, so the messages of one publisher on one topic stay in order.
// Duplicates: a message routed by a node that died before acknowledging it is routed again by its
// adopter (or by itself after a restart): QoS 1 and 2 subscribers may see such a message twice.
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { clusterKv, releasePlace, takePlace, whileAdopting } from './place.js';
import type { ClusterSide } from '../../broker/cluster-link.js';
import type { StoredMessage } from '../../store/ports.js';
import { NatsStore, type NatsStoreOptions } from '../../store/nats/nats-store.js';
import { decodeMessage, messageHeaders } from './wire.js';

export interface DurableOptions {
  /** Subject prefix of the cluster (`clusterSubjectPrefix`). */
  prefix: string;
  nodeId: string;
  replicas: number;
  broker: ClusterSide;
  log: Logger;
  /** Opens another node's store (persistence=nats) by node id, for adoption. */
  storeOf: (nodeId: string) => NatsStoreOptions;
  timeoutMs?: number;
  /** The cluster's heartbeat period: a lost node's place key must stand still 1.5 times as long. Default 2000 ms. */
  heartbeatMs?: number;
  /** Whether a node is a member now (heard from lately). */
  alive?: (node: string) => boolean;
  /** How long the stream keeps a message some consumer has not acknowledged, seconds. Default 7 days. */
  maxAgeSec?: number;
  /** Most bytes the stream holds. Default 1 GiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_AGE_SEC = 7 * 24 * 3600;
const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

export interface DurableCounters {
  published: number;
  received: number;
  adopted: number;
  adoptedSessions: number;
  redelivered: number;
}

const ADOPT_DRAIN_LIMIT = 1_000_000;

const isNotFound = (err: unknown): boolean => err instanceof JetStreamApiError && (err.code === 10014 || err.code === 10059 || err.status === 404);

export class DurableChannel {
  readonly counters: DurableCounters = { published: 0, received: 0, adopted: 0, adoptedSessions: 0, redelivered: 0 };
  private readonly stream: string;
  private readonly subject: string;
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  /** Stream sequence of the last message this node's consumer routed. */
  private lastSeq = 0;
  private closed = false;
  private readonly adopting = new Map<string, Promise<void>>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
    private readonly opts: DurableOptions,
  ) {
    const base = opts.prefix.replace(/\./g, '_');
    this.stream = `${base}_msgs`;
    this.subject = `${opts.prefix}.dmsg`;
  }

  static async open(nc: NatsConnection, opts: DurableOptions): Promise<DurableChannel> {
    const timeout = opts.timeoutMs ?? 5000;
    const js = jetstream(nc, { timeout });
    const jsm = await jetstreamManager(nc, { timeout });
    // This node's own place was taken before its store opened (place.ts holdOwnPlace).
    const kv = await clusterKv(nc, opts.prefix, opts.replicas);
    const d = new DurableChannel(nc, js, jsm, kv, opts);
    await d.ensure();
    d.start();
    return d;
  }

  private async ensure(): Promise<void> {
    // A lost node's consumer that is never adopted must not keep messages forever: the limits bound it.
    const maxAge = (this.opts.maxAgeSec ?? DEFAULT_MAX_AGE_SEC) * 1e9;
    const maxBytes = this.opts.maxBytes ?? DEFAULT_MAX_BYTES;
    try {
      const info = await this.jsm.streams.info(this.stream);
      // The configured limits win at every start, so changing them needs no manual JetStream step.
      if (info.config.max_age !== maxAge || info.config.max_bytes !== maxBytes) {
        await this.jsm.streams.update(this.stream, { ...info.config, max_age: maxAge, max_bytes: maxBytes });
        this.opts.log.info({ stream: this.stream, maxAgeSec: maxAge / 1e9, maxBytes }, 'cluster: stream limits updated');
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.streams
        .add({
          name: this.stream,
          subjects: [this.subject],
          retention: RetentionPolicy.Interest,
          storage: StorageType.File,
          num_replicas: this.opts.replicas,
          max_age: maxAge,
          max_bytes: maxBytes,
          description: 'Starling MQTT: QoS 1/2 messages between cluster nodes',
        })
        .catch((e: unknown) => {
          // Another node created it meanwhile.
          if (!(e instanceof JetStreamApiError && e.code === 10058)) throw e;
        });
    }
    const durable = consumerName(this.opts.nodeId);
    try {
      await this.jsm.consumers.info(this.stream, durable);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.consumers.add(this.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: 30 * 1e9,
        max_ack_pending: 20_000,
      });
    }
  }

  private start(): void {
    this.loop = (async () => {
      while (!this.closed) {
        try {
          const consumer = await this.js.consumers.get(this.stream, consumerName(this.opts.nodeId));
          this.messages = await consumer.consume({ max_messages: 512 });
          for await (const m of this.messages) this.receive(m);
        } catch (err) {
          if (this.closed) return;
          this.opts.log.warn({ err }, 'cluster: durable consumer interrupted; resuming');
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
  }

  /** Puts a QoS 1/2 message into the stream; resolves once JetStream has it. */
  async publish(message: StoredMessage): Promise<void> {
    await this.js.publish(this.subject, message.payload, { headers: messageHeaders(message, this.opts.nodeId), msgID: message.id });
    this.counters.published++;
  }

  private receive(m: JsMsg): void {
    let decoded;
    try {
      decoded = decodeMessage(m.headers, m.data);
    } catch (err) {
      this.opts.log.warn({ err }, 'cluster: malformed durable message dropped');
      m.ack();
      return;
    }
    this.lastSeq = m.seq;
    if (decoded.origin === this.opts.nodeId) {
      m.ack();
      return;
    }
    if (m.info.redelivered) this.counters.redelivered++;
    this.counters.received++;
    this.route(decoded.message, undefined).then(
      () => m.ack(),
      (err: unknown) => {
        // Not stored here: let JetStream deliver it again.
        this.opts.log.error({ err, topic: decoded.message.topic }, 'cluster: routing a durable message failed');
        m.nak(1000);
      },
    );
  }

  private async route(message: StoredMessage, only: ReadonlySet<string> | undefined): Promise<void> {
    await this.opts.broker.routeRemote(message, undefined, only);
  }

  // ---- adoption --------------------------------------------------------------------------------

  /**
   * Takes the place of a lost node for its clients, unless another node does (then resolves once
   * that node is done, or after `waitMs`). Safe to call more than once for the same node.
   */
  adopt(node: string, waitMs = 20_000): Promise<void> {
    let p = this.adopting.get(node);
    if (!p) {
      p = this.adoptOnce(node, waitMs).finally(() => this.adopting.delete(node));
      this.adopting.set(node, p);
    }
    return p;
  }

  private async adoptOnce(node: string, waitMs: number): Promise<void> {
    const heartbeatMs = this.opts.heartbeatMs ?? 2000;
    const took = await takePlace(this.kv, node, this.opts.nodeId, heartbeatMs * 1.5).catch((err: unknown) => {
      this.opts.log.warn({ err, node }, 'cluster: the place of a lost node could not be read');
      return 'other' as const;
    });
    if (took === 'other') {
      // Another node adopts it: wait for it to finish, so a claim asks the adopter for the session.
      return whileAdopting(this.kv, node, waitMs, () => this.closed);
    }
    if (took === 'alive') {
      // It came back while counted as lost. Should it die again before its heartbeats reach this
      // node (which would then never count it lost again), look once more later.
      this.opts.log.info({ node }, 'cluster: a node counted as lost is back; not adopted');
      const t = setTimeout(() => {
        if (!this.closed && !this.opts.alive?.(node)) void this.adopt(node);
      }, heartbeatMs * 4);
      t.unref();
      return;
    }
    const started = Date.now();
    this.opts.log.warn({ node }, 'cluster: adopting the sessions of a lost node');
    const store = new NatsStore(this.opts.storeOf(node));
    try {
      const snapshot = await store.open();
      const adopted = new Set<string>();
      // Everything this node routed up to now reached only its own sessions: the lost node's
      // consumer has to fill in what the adopted sessions missed up to here, and no further.
      const upTo = this.lastSeq;
      for (const s of snapshot.sessions) {
        const messages: StoredMessage[] = [];
        for (const e of s.queue) {
          const body = snapshot.messages.get(e.messageId);
          if (body) messages.push(body);
        }
        const clientId = s.session.clientId;
        if (!this.opts.broker.importSession({ state: s, messages })) {
          this.opts.log.warn({ clientId, node }, 'cluster: a lost node\'s session not adopted: its client is already connected here');
          continue;
        }
        adopted.add(clientId);
      }
      const drained = await this.drain(node, upTo, adopted);
      if (adopted.size > 0) await store.apply([...adopted].map((clientId) => ({ op: 'session.delete' as const, clientId })));
      this.counters.adopted++;
      this.counters.adoptedSessions += adopted.size;
      this.opts.log.warn({ node, sessions: adopted.size, messages: drained, ms: Date.now() - started }, 'cluster: adopted the sessions of a lost node');
    } catch (err) {
      this.opts.log.error({ err, node }, 'cluster: adopting a lost node failed');
    } finally {
      await store.close().catch(() => undefined);
      await releasePlace(this.kv, node, this.opts.nodeId).catch(() => undefined);
    }
  }

  /**
   * Routes to the adopted sessions what the lost node's consumer had not acknowledged, up to `upTo`.
   * Read from the stream by sequence from the consumer's ack floor, not through the consumer: the
   * messages the node had received but not acknowledged when it died would only come back from the
   * consumer after its ack wait.
   */
  private async drain(node: string, upTo: number, adopted: ReadonlySet<string>): Promise<number> {
    const name = consumerName(node);
    let floor: number;
    try {
      floor = (await this.jsm.consumers.info(this.stream, name)).ack_floor.stream_seq;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
    let routed = 0;
    if (adopted.size > 0) {
      const last = Math.min(upTo, floor + ADOPT_DRAIN_LIMIT);
      for (let seq = floor + 1; seq <= last; seq++) {
        const m = await this.jsm.streams.getMessage(this.stream, { seq }).catch((err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        });
        if (!m) continue;
        try {
          const { origin, message } = decodeMessage(m.header, m.data);
          if (origin === node) continue;
          await this.route(message, adopted);
          routed++;
        } catch (err) {
          this.opts.log.warn({ err, seq }, 'cluster: a message of a lost node could not be routed');
        }
      }
    }
    await this.jsm.consumers.delete(this.stream, name).catch(() => undefined);
    return routed;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.messages?.close().catch(() => undefined);
    await Promise.race([this.loop, new Promise((r) => setTimeout(r, 1000))]);
    await Promise.allSettled([...this.adopting.values()]);
  }
}

const consumerName = (nodeId: string): string => `node_${nodeId}`;
