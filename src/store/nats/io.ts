// The NATS side of the store: connecting, creating the buckets and the journal, reading a stream
// back, publishing a journal entry, and making a batch's key writes. No store semantics here.
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg, StreamInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { StoreError } from '../errors.js';
import { BUCKETS, type StoreNames } from './keys.js';
import type { KeyWrite } from './codec.js';
import type { MaybePromise } from '../../protocol/maybe-promise.js';

/** Bumped when the layout changes incompatibly; kept in every stream's description. */
export const LAYOUT_FORMAT = 1;
const DESCRIPTION = `Starling MQTT broker store (layout format ${LAYOUT_FORMAT})`;

export interface ConnectOptions {
  servers: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; ca?: string; cert?: string; key?: string; handshakeFirst?: boolean };
  name?: string;
  /** Bound on connecting and on each JetStream request, in ms. */
  timeoutMs: number;
}

export interface Link {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: StoreNames;
  /** The largest message the server accepts (its max_payload). */
  maxPayload: number;
}

export async function openLink(opts: ConnectOptions, names: StoreNames): Promise<Link> {
  const nc = await connect({
    servers: opts.servers,
    user: opts.user,
    pass: opts.pass,
    token: opts.token,
    tls: opts.tls,
    name: opts.name ?? 'starling-store',
    timeout: opts.timeoutMs,
    // A broker's store outlives server restarts and fail-overs: keep reconnecting; requests made
    // while disconnected fail after timeoutMs and the store resynchronises afterwards.
    maxReconnectAttempts: -1,
  });
  try {
    const js = jetstream(nc, { timeout: opts.timeoutMs });
    const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs });
    return { nc, js, jsm, names, maxPayload: nc.info?.max_payload ?? 1024 * 1024 };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

const isNotFound = (err: unknown): boolean => err instanceof JetStreamApiError && (err.code === 10059 || err.status === 404);
/** JetStream's answer when a publish expected a last sequence the stream is no longer at. */
export const isWrongLastSequence = (err: unknown): boolean => err instanceof JetStreamApiError && err.code === 10071;

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function checkFormat(si: StreamInfo): void {
  const m = /layout format (\d+)/.exec(si.config.description ?? '');
  if (m && Number(m[1]) !== LAYOUT_FORMAT) {
    throw new StoreError(`NATS stream ${si.config.name} holds Starling store layout format ${m[1]}, this Starling reads format ${LAYOUT_FORMAT}`);
  }
}

/** Creates whatever of the store's buckets and journal stream is missing; existing ones are used as they are. */
/**
 * Runs `step` again (at most `attempts` times in all) when it times out: creating replicated streams
 * on a busy JetStream cluster can take longer than one request's bound, and a step that did finish
 * meanwhile finds its stream the next time.
 */
export async function retryTimeouts<T>(step: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await step();
    } catch (err) {
      if (i >= attempts || (err as Error)?.name !== 'TimeoutError') throw err;
    }
  }
}

export async function ensureStreams(link: Link, replicas: number): Promise<void> {
  const { jsm, js, names } = link;
  const kvm = new Kvm(js);
  await Promise.all([
    ...BUCKETS.map((b) => retryTimeouts(async () => {
      const si = await streamInfo(jsm, names.stream[b]);
      if (si) return checkFormat(si);
      await kvm.create(names.bucket[b], { history: 1, replicas, storage: StorageType.File, description: DESCRIPTION });
    })),
    retryTimeouts(async () => {
      const si = await streamInfo(jsm, names.journalStream);
      if (si) return checkFormat(si);
      await jsm.streams.add({
        name: names.journalStream,
        subjects: [names.journalSubject],
        description: DESCRIPTION,
        storage: StorageType.File,
        num_replicas: replicas,
        retention: RetentionPolicy.Limits,
        // Never drop an entry to make room: a publish that does not fit fails instead.
        discard: DiscardPolicy.New,
      });
    }),
  ]);
}

export interface StreamMessage {
  seq: number;
  subject: string;
  headers?: { get(k: string): string };
  data: Uint8Array;
}

// Reading uses the stream's message-get API, not a consumer: on a clustered stream a consumer is a
// replicated object of its own, and on the servers this targets creating one keeps timing out for
// as long as a stream peer is down (the server places it on the dead peer) — exactly when a node
// has to read its state back after losing a server. A message get is answered by the stream leader,
// so it is also consistent (never a lagging replica's view).

const toMessage = (m: StoredMsg): StreamMessage => ({ seq: m.seq, subject: m.subject, headers: m.header, data: Buffer.from(m.data) });

/** Calls `onMessage` with the current message of every subject (key) of a KV stream, in no order. */
export async function readLatest(link: Link, stream: string, onMessage: (m: StreamMessage) => void, concurrency: number): Promise<void> {
  const si = await link.jsm.streams.info(stream, { subjects_filter: '>' });
  if (si.state.messages === 0) return;
  const subjects = Object.keys(si.state.subjects ?? {});
  await pool(subjects, concurrency, async (subject) => {
    const m = await link.jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (m) onMessage(toMessage(m)); // null: removed since the listing
  });
}

/** Calls `onMessage` with every message of a stream up to sequence `upTo`, in order. */
export async function readAll(link: Link, stream: string, subject: string, upTo: number, onMessage: (m: StreamMessage) => void): Promise<void> {
  const si = await link.jsm.streams.info(stream);
  let seq = si.state.first_seq;
  // Bounded: each step moves past one stored message, and the stream held at most this many.
  for (let steps = 0; seq <= upTo && steps <= si.state.messages + 1; steps++) {
    const next = { seq, next_by_subj: subject } as unknown as MsgRequest; // "first message at or after seq"
    const m = await link.jsm.streams.getMessage(stream, next);
    if (m === null || m.seq > upTo) return;
    onMessage(toMessage(m));
    seq = m.seq + 1;
  }
}

/** Runs `task` over `items` with at most `limit` at a time; stops starting new ones after a failure. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        await task(items[i], i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.err;
}

/**
 * Makes key writes, each acknowledged by JetStream: a put publishes the value on the key's subject;
 * a removal purges the key's subject, which leaves no delete marker behind (a queue entry's key is
 * never reused, so markers would pile up forever). Writes are to distinct keys, so order within a
 * call does not matter; calls are made one after another.
 */
export async function writeKeys(link: Link, writes: readonly KeyWrite[], concurrency: number, before?: (index: number, total: number) => MaybePromise<void>): Promise<void> {
  const { js, jsm, names } = link;
  await pool(writes, concurrency, async (w, i) => {
    if (before) await before(i, writes.length);
    const subject = names.subjectPrefix[w.bucket] + w.key;
    if (w.value === null) await jsm.streams.purge(names.stream[w.bucket], { filter: subject });
    else await js.publish(subject, w.value);
  });
}

export const BATCH_HEADER = 'Starling-Batch';
export const PART_HEADER = 'Starling-Part';
export const PARTS_HEADER = 'Starling-Parts';

/**
 * Publishes a journal entry as one message, or as consecutive parts when it is larger than
 * `partBytes`. Each part expects the journal's last sequence to be the one before it, so parts are
 * contiguous and a second writer on the same journal is refused. Returns the last part's sequence.
 */
export async function publishJournal(
  link: Link,
  entry: Buffer,
  opts: { batchId: string; partBytes: number; expectLast: number; before?: (part: number, parts: number) => MaybePromise<void> },
): Promise<number> {
  const parts = Math.max(1, Math.ceil(entry.length / opts.partBytes));
  let last = opts.expectLast;
  for (let p = 1; p <= parts; p++) {
    if (opts.before) await opts.before(p, parts);
    const h = headers();
    h.set(BATCH_HEADER, opts.batchId);
    h.set(PART_HEADER, String(p));
    h.set(PARTS_HEADER, String(parts));
    const body = entry.subarray((p - 1) * opts.partBytes, p * opts.partBytes);
    const ack = await link.js.publish(link.names.journalSubject, body, { headers: h, expect: { lastSequence: last } });
    last = ack.seq;
  }
  return last;
}

/** Removes journal entries below `beforeSeq` (they are applied to the buckets). */
export async function purgeJournal(link: Link, beforeSeq: number): Promise<void> {
  await link.jsm.streams.purge(link.names.journalStream, { seq: beforeSeq });
}

/** Deletes every stream of the store (its data is gone for good). */
export async function deleteStreams(link: Link): Promise<void> {
  const { jsm, names } = link;
  await Promise.all([...BUCKETS.map((b) => names.stream[b]), names.journalStream].map(async (s) => {
    try {
      await jsm.streams.delete(s);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }));
}
