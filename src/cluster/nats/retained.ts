// Retained messages across the cluster. Live changes travel on the retain subject space to every node
// (link.ts); this file keeps the cluster's copy in a JetStream KV bucket, so a node that starts later
// (or restarts) finds the retained messages published while it was away, and applies them to its own
// retained index WITHOUT delivering them to anyone (they are old news, not new publications).
//
// Bucket `<prefix with . as _>_cluster_retained`, key token(topic) (store/nats/keys.ts), value the
// store's binary message encoding (store/nats/codec.ts). A removal is a KV delete marker published on
// the same subject as the puts, so puts and removals from one node land in the order they were made.
// The bucket is the cluster's truth at start-up: a node drops local retained messages the bucket does
// not have (they were cleared while it was away), except when it created the bucket just now, in which
// case it seeds the bucket with what it has (a standalone node turned into the first cluster node).
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { StoredMessage } from '../../store/ports.js';
import { isNodeLocalTopic, reconcile, type LocalRetained } from '../retained-copy.js';
import { retainedKey } from '../../store/nats/keys.js';
import { decodeRecord, encodeMessage } from '../../store/nats/codec.js';
import { messageBytes } from '../../session/message.js';
import { logLimited, OncePerWindow } from '../../transport/log-limit.js';


export interface RetainedBucketOptions {
  bucket: string;
  replicas: number;
  timeoutMs: number;
  /** Key reads in flight at once while loading. */
  concurrency?: number;
  /** Writes not yet acknowledged beyond which new ones are dropped (counted), so memory stays bounded. */
  maxPending?: number;
  /**
   * Bytes of those writes (each message counted as the retained budget counts it) beyond which new
   * ones are dropped: a write waits for JetStream, and while JetStream is slow or gone the writes of
   * every retained PUBLISH wait, up to mqttMessageMaxLength each. Default DEFAULT_PENDING_BYTES; the
   * node passes maxRetainedBytes, the most a node keeps of retained messages.
   */
  maxPendingBytes?: number;
}

export const DEFAULT_PENDING_BYTES = 64 * 1024 * 1024;

const isNotFound = (err: unknown): boolean => err instanceof JetStreamApiError && (err.code === 10059 || err.status === 404);


/** Attempts of one write, with a doubling pause from RETRY_BASE_MS (JetStream answers "no responders"
 * at once while it elects a stream leader after a server loss; about 8 s in all). */
const MAX_TRIES = 6;
/** Expired keys checked at once while purging. */
const PURGE_CONCURRENCY = 8;
/** Expired topics waiting to be purged from the bucket; beyond it the start-up load clears them. */
const MAX_EXPIRED_WAITING = 10_000;
const RETRY_BASE_MS = 250;

export class RetainedBucket {
  /** Per topic, the newest write not acknowledged yet; an older one that fails is not retried. */
  private readonly latest = new Map<string, StoredMessage>();
  /** messageBytes of the messages in `latest`. */
  private latestBytes = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Writes that failed for good or were dropped because too many were pending. */
  failures = 0;

  private constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly subjectPrefix: string,
    /** True when this call created the bucket. */
    readonly created: boolean,
    private readonly opts: RetainedBucketOptions,
    private readonly onError: (err: unknown) => void,
  ) {}

  static async open(nc: NatsConnection, opts: RetainedBucketOptions, onError: (err: unknown) => void): Promise<RetainedBucket> {
    const js = jetstream(nc, { timeout: opts.timeoutMs });
    const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs });
    const kvm = new Kvm(js);
    const stream = `KV_${opts.bucket}`;
    let created = false;
    try {
      await jsm.streams.info(stream);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      created = true;
    }
    let kv: KV;
    if (!created) kv = await kvm.open(opts.bucket);
    else {
      try {
        kv = await kvm.create(opts.bucket, { history: 1, replicas: opts.replicas, storage: StorageType.File, description: 'Starling cluster retained messages' });
      } catch (err) {
        // Another node created it at the same moment (the server then reports overlapping subjects).
        kv = await kvm.open(opts.bucket).catch(() => Promise.reject(err));
        await jsm.streams.info(stream).catch(() => Promise.reject(err));
        created = false;
      }
    }
    return new RetainedBucket(kv, jsm, stream, `$KV.${opts.bucket}.`, created, opts, onError);
  }

  /** Records a retained message (or, with an empty payload, its removal); never throws. */
  write(message: StoredMessage): void {
    const max = this.opts.maxPending ?? 10_000;
    const maxBytes = this.opts.maxPendingBytes ?? DEFAULT_PENDING_BYTES;
    const replaced = this.latest.get(message.topic);
    const bytes = messageBytes(message);
    const after = this.latestBytes - (replaced ? messageBytes(replaced) : 0) + bytes;
    const full = (this.latest.size >= max && !replaced) || after > maxBytes;
    if (this.closed || full) {
      this.failures++;
      this.onError(new Error(this.closed ? 'retained bucket closed' : `retained bucket: more than ${max} writes or ${maxBytes} bytes pending, dropped one`));
      return;
    }
    this.latest.set(message.topic, message);
    this.latestBytes = after;
    this.attempt(message, 1);
  }

  /** The newest write of its topic is settled (acknowledged, or failed for good). */
  private settled(message: StoredMessage): void {
    this.latest.delete(message.topic);
    this.latestBytes -= messageBytes(message);
  }

  private send(message: StoredMessage): Promise<unknown> {
    const key = retainedKey(message.topic);
    if (message.payload.length === 0) return this.kv.delete(key);
    const stored: StoredMessage = { ...message };
    delete stored.publisherId;
    return this.kv.put(key, encodeMessage(stored));
  }

  private attempt(message: StoredMessage, tries: number): void {
    const topic = message.topic;
    const current = (): boolean => this.latest.get(topic) === message;
    this.send(message).then(
      () => {
        if (current()) this.settled(message);
      },
      (err) => {
        if (!current()) return; // a newer write of the topic went out after it
        if (tries >= MAX_TRIES || this.closed) {
          this.settled(message);
          this.failures++;
          this.onError(err);
          return;
        }
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (current() && !this.closed) this.attempt(message, tries + 1);
        }, RETRY_BASE_MS * 2 ** (tries - 1));
        this.timers.add(t);
      },
    );
  }

  /**
   * Clears the bucket's values of these topics if they are still expired ones [MQTT-3.3.2-5]. Each
   * removal is a compare-and-delete on the revision read, so a value another node retained
   * meanwhile is never removed; every node's sweep may ask, the first one clears it.
   */
  async purgeExpired(topics: readonly string[], now: number): Promise<number> {
    let purged = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < topics.length && !this.closed) {
        const topic = topics[next++];
        const key = retainedKey(topic);
        const entry = await this.kv.get(key).catch(() => null);
        if (!entry || entry.operation !== 'PUT') continue;
        let expiresAt: number | undefined;
        try {
          const rec = decodeRecord('retained', key, entry.value);
          if (rec.bucket === 'retained') expiresAt = rec.message.expiresAt;
        } catch {
          continue; // unreadable: left to the start-up load, which reports it
        }
        if (expiresAt === undefined || expiresAt > now) continue;
        // Fails when the key changed since the read (a new value, or another node's removal).
        const removed = await this.kv.delete(key, { previousSeq: entry.revision }).then(
          () => true,
          () => false,
        );
        if (removed) purged++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(PURGE_CONCURRENCY, topics.length) }, worker));
    return purged;
  }

  /** Waits (at most `timeoutMs`) until every write made so far is acknowledged or has failed for good. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.latest.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** Stops retrying; writes not acknowledged yet are given up. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Every retained message in the bucket (delete markers skipped, unreadable values reported). */
  async load(onBad: (key: string, err: unknown) => void): Promise<StoredMessage[]> {
    // Message gets, not a consumer: they are answered by the stream leader, and creating a consumer
    // on a clustered stream can stall while a peer is down (see store/nats/io.ts).
    const si = await this.jsm.streams.info(this.stream, { subjects_filter: '>' });
    if (si.state.messages === 0) return [];
    const subjects = Object.keys(si.state.subjects ?? {});
    const out: StoredMessage[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < subjects.length) {
        const subject = subjects[next++];
        const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
        if (!m) continue; // removed since the listing
        const op = m.header?.get('KV-Operation');
        if (op === 'DEL' || op === 'PURGE') continue;
        const key = subject.slice(this.subjectPrefix.length);
        try {
          const rec = decodeRecord('retained', key, m.data);
          if (rec.bucket === 'retained') out.push(rec.message);
        } catch (err) {
          onBad(key, err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 32, subjects.length) }, worker));
    return out;
  }
}

/** The bucket name for a subject prefix (bucket names cannot hold dots). */
export const retainedBucketName = (prefix: string): string => `${prefix.replaceAll('.', '_')}_cluster_retained`;

export interface RetainedSyncOptions extends RetainedBucketOptions {
  /** The local index; without it, loaded messages go through `deliver` (which also routes them). */
  local?: LocalRetained;
  deliver: (message: StoredMessage) => void;
  log: Logger;
  /** Pause between attempts to open the bucket while JetStream does not answer. Default 2000 ms. */
  retryMs?: number;
}

/** Retained writes kept while the bucket is not open yet, by topic (the latest per topic). */
const MAX_WAITING = 10_000;

/**
 * The bucket's life in a node: opened and loaded at start; if JetStream does not answer then (no
 * quorum yet, a leader being elected after a server loss), the node serves anyway and keeps trying
 * in the background. Until the bucket is loaded, topics changed live (here or by other nodes) are
 * remembered as newer than the bucket, and this node's retained writes wait, latest per topic.
 */
export class RetainedSync {
  private bucket?: RetainedBucket;
  private live: Set<string> | undefined = new Set();
  private liveOverflowed = false;

  /**
   * A topic changed live before the bucket loaded: newer than the bucket's value. Bounded like the
   * waiting writes; past the bound, the bucket's value may win at load for further topics (logged).
   */
  private noteLive(topic: string): void {
    if (!this.live) return;
    if (this.live.size < MAX_WAITING || this.live.has(topic)) return void this.live.add(topic);
    if (!this.liveOverflowed) this.opts.log.warn({ max: MAX_WAITING }, 'cluster: retained bucket still not loaded; further live changes may be overwritten by its values when it loads');
    this.liveOverflowed = true;
  }
  private readonly waiting = new Map<string, StoredMessage>();
  /** messageBytes of the messages in `waiting`, bounded like the bucket's pending writes. */
  private waitingBytes = 0;
  /** Write failures are logged once a minute: with JetStream gone every retained PUBLISH fails one. */
  private readonly failureLines = new OncePerWindow(60_000, 1, 1);
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** Writes dropped because too many waited for the bucket to open. */
  private dropped = 0;
  private readonly expiredWaiting = new Set<string>();
  private purging?: Promise<void>;
  /** Expired retained values this node cleared from the bucket while running. */
  purged = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: RetainedSyncOptions,
  ) {}

  /** Whether the bucket has been loaded. */
  get loaded(): boolean {
    return this.bucket !== undefined;
  }

  /** Retained writes that failed or were dropped. */
  get failures(): number {
    return (this.bucket?.failures ?? 0) + this.dropped;
  }

  /** A retained message (or its removal) published on this node. */
  published(message: StoredMessage): void {
    if (this.bucket) return this.bucket.write(message);
    this.noteLive(message.topic);
    const replaced = this.waiting.get(message.topic);
    if (replaced) {
      this.waiting.delete(message.topic);
      this.waitingBytes -= messageBytes(replaced);
    }
    const bytes = messageBytes(message);
    if (this.waiting.size >= MAX_WAITING || this.waitingBytes + bytes > (this.opts.maxPendingBytes ?? DEFAULT_PENDING_BYTES)) this.dropped++;
    else {
      this.waiting.set(message.topic, message);
      this.waitingBytes += bytes;
    }
  }

  /**
   * The local sweep removed these expired retained messages: clear them from the bucket too (one
   * purge at a time; topics that do not fit the bounded backlog are left to the next start's load).
   */
  expired(topics: readonly string[]): void {
    if (!this.bucket || this.closed) return;
    for (const t of topics) {
      if (this.expiredWaiting.size >= MAX_EXPIRED_WAITING) break;
      if (!isNodeLocalTopic(t)) this.expiredWaiting.add(t);
    }
    this.purgeNext();
  }

  private purgeNext(): void {
    const bucket = this.bucket;
    if (this.purging || !bucket || this.closed || this.expiredWaiting.size === 0) return;
    const topics = [...this.expiredWaiting];
    this.expiredWaiting.clear();
    this.purging = bucket.purgeExpired(topics, Date.now()).then(
      (n) => {
        this.purged += n;
        if (n > 0) this.opts.log.debug({ purged: n }, 'cluster: expired retained messages cleared from the bucket');
      },
      (err: unknown) => this.opts.log.warn({ err }, 'cluster: clearing expired retained messages from the bucket failed'),
    ).finally(() => {
      this.purging = undefined;
      this.purgeNext();
    });
  }

  /** A retained message from another node arrived on the retain subjects. */
  arrived(topic: string): void {
    this.noteLive(topic);
  }

  /** Loads the bucket; on failure logs and retries in the background. Never throws. */
  async start(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.opts.log.warn({ err }, 'cluster: retained bucket not available yet; retrying in the background');
      this.retry();
    }
  }

  private retry(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.load().then(
        () => this.opts.log.info('cluster: retained bucket loaded'),
        (err) => {
          this.opts.log.debug({ err }, 'cluster: retained bucket still not available');
          this.retry();
        },
      );
    }, this.opts.retryMs ?? 2000);
    this.timer.unref();
  }

  private async load(): Promise<void> {
    const bucket = await RetainedBucket.open(this.nc, this.opts, (err) =>
      logLimited(this.failureLines, this.opts.log, 'warn', 'write', { err }, 'cluster: retained bucket write failed', 'failedSinceLastLine'),
    );
    const stored = await bucket.load((key, err) => this.opts.log.warn({ err, key }, 'cluster: unreadable value in the retained bucket skipped'));
    if (this.closed) return;
    const live = this.live ?? new Set<string>();
    this.live = undefined;
    this.bucket = bucket;
    if (this.opts.local) {
      const r = reconcile(this.opts.local, bucket, stored, live, Date.now());
      this.opts.log.info({ inBucket: stored.length, ...r }, 'cluster: retained messages loaded');
    } else {
      for (const m of stored) if (!live.has(m.topic)) this.opts.deliver(m);
    }
    for (const m of this.waiting.values()) bucket.write(m);
    this.waiting.clear();
    this.waitingBytes = 0;
  }

  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.bucket?.settle(timeoutMs);
    // A purge under way finishes too (bounded by what is left of the time).
    while (this.purging && Date.now() < deadline) await Promise.race([this.purging, new Promise((r) => setTimeout(r, 20))]);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.bucket?.close();
  }
}
