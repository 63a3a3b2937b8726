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
//             clients: it takes the node's place key (place.ts: a write that stands in the order of
//             the KV bucket `<P>_cluster`, only from a node whose key stands still; a node that came back keeps
//             rewriting it and is left alone),
//             opens the lost node's store (which fences the lost node, should it come back
//             unannounced), deletes the sessions there (the store's fencing refuses a second
//             adopter's delete), adopts every one of them (with wills and expiry, as at start-up),
//             routes to those sessions what the lost node's consumer still held, then deletes that
//             consumer. Clients of the lost node
//             then reconnect anywhere and their session moves to them (session-move.ts).
//
// Every node gets every durable message (a node's consumer cannot follow its interest with the
// JetStream of NATS 2.9), filters it by its own subscriptions, its own included: a QoS 1/2 message
// reaches the sessions of its publisher's node through the stream too, so that every session sees
// durable messages in one order, the stream's.
//
// Exactly once across node loss and session moves. Every session remembers the last stream sequence
// routed to it (Session.streamSeq, stored with each queued entry in the same atomic batch), and the
// broker drops a message whose sequence is not above it. So whatever gives a message again (the
// lost node's consumer drained by its adopter, JetStream redelivering an unacknowledged message, a
// replay after a move) queues it at most once per session; a drain or replay also skips a message
// whose id the session holds in its queue already:
//   adopt     the adopter pauses its own routing, imports the sessions (their streamSeq raised to
//             the lost node's acknowledgement floor: everything below it was routed there), routes
//             to them what lies between that floor and its own position, then resumes.
//   move      the node giving a session up pauses its routing, exports the session with its
//             streamSeq raised to the node's position (everything up to there was routed to it
//             here) and pins the stream from there (a short-lived consumer `move_…`, so interest
//             retention does not drop what the session has not had yet); the node taking it pauses,
//             imports it, routes to it what lies between its streamSeq and its own position (read
//             from the stream by sequence), drops the pin and resumes.
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { createHash } from 'node:crypto';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { clusterKv, releasePlace, resolve, takePlace, whileAdopting, type PlaceBucket } from './place.js';
import type { ClusterSide, SessionTransfer, StreamPosition } from '../../broker/cluster-link.js';
import type { StoredMessage } from '../../store/ports.js';
import { NatsStore, type NatsStoreOptions } from '../../store/nats/nats-store.js';
import { retryTimeouts } from '../../store/nats/io.js';
import { StoreError } from '../../store/errors.js';
import { decodeMessage, messageHeaders } from './wire.js';
import type { LinkCounters } from './options.js';
import { DurableGroups } from './durable-groups.js';
import type { MalformedMessages } from './malformed.js';

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
  /** The link's counters, for what it shows in /metrics and $SYS. */
  counters?: Pick<LinkCounters, 'durableDuplicates' | 'durableResent' | 'receivedShared'>;
  /** Where malformed messages of the stream are counted and logged (the link's). */
  malformed?: Pick<MalformedMessages, 'dropped'>;
}

const DEFAULT_MAX_AGE_SEC = 7 * 24 * 3600;
const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

export interface DurableCounters {
  published: number;
  received: number;
  adopted: number;
  adoptedSessions: number;
  redelivered: number;
  /** Copies of a durable message a session had already had, dropped (QoS 1 and 2). */
  duplicates: number;
  /** Sessions moved here whose missing messages were replayed from the stream. */
  replayed: number;
}

const ADOPT_DRAIN_LIMIT = 1_000_000;
/** Stream messages read at once while draining or replaying. */
const READ_WINDOW = 64;
/** A pin nobody picks up (the taking node died) goes by itself after this long. */
const PIN_INACTIVE_NS = 120 * 1e9;

const isNotFound = (err: unknown): boolean => err instanceof JetStreamApiError && (err.code === 10014 || err.code === 10059 || err.status === 404);

export class DurableChannel {
  readonly counters: DurableCounters = { published: 0, received: 0, adopted: 0, adoptedSessions: 0, redelivered: 0, duplicates: 0, replayed: 0 };
  private readonly stream: string;
  private readonly subject: string;
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  /** Stream sequence of the last message this node's consumer routed. */
  private lastSeq = 0;
  private closed = false;
  private readonly adopting = new Map<string, Promise<void>>();
  /** Pauses of this node's routing (adoption, moves); the consumer waits while any is held. */
  private holds = 0;
  private paused?: Promise<void>;
  private resume?: () => void;
  /** Sessions whose missing messages are being routed to them (not caught up with lastSeq). */
  private readonly replaying = new Set<string>();
  /** Shared groups' QoS 1/2 messages (durable-groups.ts). */
  readonly groups: DurableGroups;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly kv: PlaceBucket,
    private readonly opts: DurableOptions,
  ) {
    const base = opts.prefix.replace(/\./g, '_');
    this.stream = `${base}_msgs`;
    this.subject = `${opts.prefix}.dmsg`;
    // A group message a lost node held goes to another member once this runs out: a few heartbeat
    // periods, so about when the node counts as lost, and never below 2 s (a slow store write).
    const ackWaitMs = Math.min(30_000, Math.max(2000, (opts.heartbeatMs ?? 2000) * 5));
    this.groups = new DurableGroups(js, jsm, {
      stream: this.stream,
      broker: opts.broker,
      log: opts.log,
      ackWaitMs,
      ...(opts.counters ? { counters: opts.counters } : {}),
      ...(opts.malformed ? { malformed: opts.malformed } : {}),
    });
  }

  static async open(nc: NatsConnection, opts: DurableOptions): Promise<DurableChannel> {
    const timeout = opts.timeoutMs ?? 5000;
    const js = jetstream(nc, { timeout });
    const jsm = await jetstreamManager(nc, { timeout });
    // This node's own place was taken before its store opened (place.ts holdOwnPlace).
    const kv = await clusterKv(nc, opts.prefix, opts.replicas);
    const d = new DurableChannel(js, jsm, kv, opts);
    await retryTimeouts(() => d.ensure());
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
          // Closed while consume() was pending: close() found nothing to close, so close it here.
          if (this.closed) return void (await this.messages.close().catch(() => undefined));
          for await (const m of this.messages) {
            // Bounded: a pause lasts one import and its replay.
            while (this.paused) await this.paused;
            this.receive(m);
          }
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
      this.malformedMessage(err);
      m.ack();
      return;
    }
    this.lastSeq = m.seq;
    if (m.info.redelivered) this.counters.redelivered++;
    this.counters.received++;
    // This node's own messages too: its publishers' messages reach its sessions only from here.
    this.route(decoded.message, undefined, m.seq).then(
      () => m.ack(),
      (err: unknown) => {
        // Not stored here: let JetStream deliver it again.
        this.opts.log.error({ err, topic: decoded.message.topic }, 'cluster: routing a durable message failed');
        m.nak(1000);
      },
    );
  }

  /** Routes a message of the stream; the matching (and streamSeq check) is done when this returns. */
  private route(message: StoredMessage, only: ReadonlySet<string> | undefined, seq: number): Promise<void> {
    const at: StreamPosition = { seq, duplicates: 0 };
    try {
      const done = this.opts.broker.routeRemote(message, { only, at });
      this.dropped(at.duplicates);
      return Promise.resolve(done).then(() => undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private malformedMessage(err: unknown): void {
    if (this.opts.malformed) this.opts.malformed.dropped('durable', err);
    else this.opts.log.warn({ err }, 'cluster: malformed durable message dropped');
  }

  /** Counts copies of stream messages that sessions had already. */
  private dropped(n: number): void {
    if (n === 0) return;
    this.counters.duplicates += n;
    if (this.opts.counters) this.opts.counters.durableDuplicates += n;
  }

  /**
   * Runs `fn` with this node's routing from the stream paused, given the sequence routed so far;
   * `fn` starts synchronously, before anything else is routed.
   */
  private async holding<T>(fn: (upTo: number) => Promise<T>): Promise<T> {
    if (this.holds++ === 0) this.paused = new Promise((r) => (this.resume = r));
    try {
      return await fn(this.lastSeq);
    } finally {
      if (--this.holds === 0) {
        this.paused = undefined;
        this.resume?.();
      }
    }
  }

  /** Adoptions under way (by this node, or waited for because another node does them). */
  pending(): Promise<void>[] {
    return [...this.adopting.values()];
  }

  // ---- session moves ---------------------------------------------------------------------------

  /**
   * Gives up a session another node claimed (ClusterSide.releaseSession), with its streamSeq raised to
   * this node's position and the stream pinned from there for the taking node (see the file comment).
   */
  release(clientId: string, transfer: boolean): Promise<SessionTransfer | undefined> {
    return this.holding(async (upTo) => {
      // A session still being replayed here has not had everything up to upTo.
      const caughtUp = !this.replaying.has(clientId);
      const moved = await this.opts.broker.releaseSession(clientId, transfer);
      if (!moved) return moved;
      const record = moved.state.session;
      record.streamSeq = Math.max(record.streamSeq ?? 0, caughtUp ? upTo : 0);
      await this.pin(clientId, record.streamSeq + 1).catch((err: unknown) => {
        this.opts.log.warn({ err, clientId }, 'cluster: the stream could not be pinned for a moving session; it may miss messages published during the move');
      });
      return moved;
    });
  }

  /**
   * Imports a session another node gave up and routes to it what the stream holds between its
   * streamSeq and this node's position. False when a client with that id is connected here.
   */
  importMoved(t: SessionTransfer): Promise<boolean> {
    const clientId = t.state.session.clientId;
    const from = (t.state.session.streamSeq ?? 0) + 1;
    const unpin = (): Promise<unknown> => this.jsm.consumers.delete(this.stream, pinName(clientId, from)).catch(() => undefined);
    return this.holding(async (upTo) => {
      if (!this.opts.broker.importSession(t)) {
        await unpin();
        return false;
      }
      this.resending(t);
      this.replaying.add(clientId);
      try {
        if (from <= upTo) {
          await this.replay(from, upTo, new Set([clientId]), heldBy([t]));
          this.counters.replayed++;
        }
      } finally {
        this.replaying.delete(clientId);
        await unpin();
      }
      return true;
    });
  }

  /** Counts the QoS 1 messages an imported session will resend with DUP (the client may have them). */
  private resending(t: SessionTransfer): void {
    const n = t.state.queue.filter((e) => e.qos === 1 && e.state === 'inflight').length;
    if (n > 0 && this.opts.counters) this.opts.counters.durableResent += n;
  }

  /** Keeps the stream's messages from `from` on while a moving session may still need them. */
  private async pin(clientId: string, from: number): Promise<void> {
    await this.jsm.consumers.add(this.stream, {
      durable_name: pinName(clientId, from),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      inactive_threshold: PIN_INACTIVE_NS,
    });
  }

  /**
   * Routes the stream's messages `from`..`to` to the sessions `only` (those that had one already drop
   * it by their streamSeq). Read ahead a window at a time; routed in order; resolves once stored.
   */
  private async replay(from: number, to: number, only: ReadonlySet<string>, held?: ReadonlyMap<string, ReadonlySet<string>>): Promise<number> {
    const last = Math.min(to, from + ADOPT_DRAIN_LIMIT);
    if (to > last) this.opts.log.warn({ from, to, limit: ADOPT_DRAIN_LIMIT }, 'cluster: more to replay than the drain limit; the rest is not replayed');
    let routed = 0;
    const settle = async (stored: Promise<void>[]): Promise<void> => {
      const results = await Promise.allSettled(stored);
      for (const r of results) if (r.status === 'rejected') this.opts.log.error({ err: r.reason }, 'cluster: storing a replayed message failed');
    };
    for (let start = from; start <= last; start += READ_WINDOW) {
      // One window's store writes at a time: matching in route() is synchronous, so order is kept,
      // and no more than a window of writes is ever in flight.
      const stored: Promise<void>[] = [];
      const seqs: number[] = [];
      for (let seq = start; seq <= Math.min(last, start + READ_WINDOW - 1); seq++) seqs.push(seq);
      const read = await Promise.all(
        seqs.map((seq) =>
          this.jsm.streams.getMessage(this.stream, { seq }).catch((err: unknown) => {
            if (isNotFound(err)) return null;
            throw err;
          }),
        ),
      );
      read.forEach((m, i) => {
        if (!m) return;
        try {
          const { message } = decodeMessage(m.header, m.data);
          // A session that holds the message in its queue has it, whatever its streamSeq says (read
          // back from a lagging replica, its record can be older than its queue).
          const have = held?.get(message.id);
          const to = have ? new Set([...only].filter((c) => !have.has(c))) : only;
          if (to.size < only.size) this.dropped(only.size - to.size);
          if (to.size === 0) return;
          stored.push(this.route(message, to, seqs[i]!));
          routed++;
        } catch (err) {
          this.opts.log.warn({ err, seq: seqs[i] }, 'cluster: a message of the stream could not be routed');
        }
      });
      await settle(stored);
    }
    return routed;
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
    // A node that never wrote its place key never held a store here (a durable node takes its place
    // before it opens its store): a node id from a heartbeat alone is no reason to make a store for it.
    if ((await resolve(this.kv, node))?.latest === 0) {
      this.opts.log.info({ node }, 'cluster: a lost node never held a place of its own (no store to adopt); not adopted');
      return;
    }
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
    let lostRace = false;
    try {
      const snapshot = await store.open();
      const name = consumerName(node);
      // Everything up to the lost node's acknowledgement floor was routed (and stored) there.
      const floor = await this.jsm.consumers.info(this.stream, name).then(
        (info) => info.ack_floor.stream_seq,
        (err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        },
      );
      // The lost node's store has the last word on who adopts: its sessions are deleted there before
      // they are imported here, and should another node have opened it too (the place keys are
      // meant to prevent it), the store's fencing refuses the second delete (nats-store.ts), so no
      // session (nor its will) is adopted twice. A client connected here already keeps its session.
      const ids = snapshot.sessions.map((s) => s.session.clientId);
      if (ids.length > 0) {
        await store.apply(ids.map((clientId) => ({ op: 'session.delete' as const, clientId }))).catch((err: unknown) => {
          if (err instanceof StoreError && /another store/.test(err.message)) lostRace = true;
          throw err;
        });
      }
      const adopted = new Set<string>();
      const transfers: SessionTransfer[] = [];
      const drained = await this.holding(async (upTo) => {
        // Everything this node routed up to now reached only its own sessions: the adopted ones get
        // what lies between the lost node's floor and here from the stream, the rest from this node's
        // own consumer once it resumes.
        for (const s of snapshot.sessions) {
          const messages: StoredMessage[] = [];
          for (const e of s.queue) {
            const body = snapshot.messages.get(e.messageId);
            if (body) messages.push(body);
          }
          const clientId = s.session.clientId;
          if (floor !== undefined) s.session.streamSeq = Math.max(s.session.streamSeq ?? 0, floor);
          if (!this.opts.broker.importSession({ state: s, messages })) {
            this.opts.log.warn({ clientId, node }, 'cluster: a lost node\'s session not adopted: its client is already connected here');
            continue;
          }
          adopted.add(clientId);
          transfers.push({ state: s, messages });
          this.resending({ state: s, messages });
          this.replaying.add(clientId);
        }
        try {
          return floor === undefined || adopted.size === 0 ? 0 : await this.replay(floor + 1, upTo, adopted, heldBy(transfers));
        } finally {
          for (const clientId of adopted) this.replaying.delete(clientId);
        }
      });
      await this.jsm.consumers.delete(this.stream, name).catch(() => undefined);
      this.counters.adopted++;
      this.counters.adoptedSessions += adopted.size;
      this.opts.log.warn({ node, sessions: adopted.size, messages: drained, ms: Date.now() - started }, 'cluster: adopted the sessions of a lost node');
    } catch (err) {
      if (lostRace) this.opts.log.warn({ node }, 'cluster: another node adopted the lost node\'s sessions first');
      else this.opts.log.error({ err, node }, 'cluster: adopting a lost node failed');
    } finally {
      await store.close().catch(() => undefined);
      // The node that won marks the place done when it is.
      if (!lostRace) {
        await releasePlace(this.kv, node, this.opts.nodeId).catch((err: unknown) =>
          this.opts.log.warn({ err, node }, 'cluster: the place of an adopted node could not be marked done; it waits for its adoption to time out before it starts'),
        );
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.groups.close();
    await this.messages?.close().catch(() => undefined);
    await Promise.race([this.loop, new Promise((r) => setTimeout(r, 1000).unref())]);
    await Promise.allSettled([...this.adopting.values()]);
  }
}

const consumerName = (nodeId: string): string => `node_${nodeId}`;

/** Message id → the sessions (of `transfers`) whose queue holds it. */
function heldBy(transfers: readonly SessionTransfer[]): Map<string, Set<string>> {
  const held = new Map<string, Set<string>>();
  for (const t of transfers) {
    for (const e of t.state.queue) {
      let s = held.get(e.messageId);
      if (!s) held.set(e.messageId, (s = new Set()));
      s.add(t.state.session.clientId);
    }
  }
  return held;
}
/** The pin of the stream for one session move (both nodes derive it from the client id and the start). */
const pinName = (clientId: string, from: number): string => `move_${createHash('sha256').update(clientId, 'utf8').digest('hex').slice(0, 32)}_${from}`;
