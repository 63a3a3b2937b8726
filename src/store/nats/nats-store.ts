// The clustered store: a broker's persistent state in NATS JetStream, so it survives the loss of
// the broker node (and, with replicas: 3, of a NATS server).
//
// Layout, for prefix P (default "starling"):
//   KV bucket P_sessions       key token(clientId)                  → SessionRecord (JSON, will included)
//   KV bucket P_subscriptions  key token(clientId).token(filter)    → {clientId, subscription}
//   KV bucket P_queue          key token(clientId).<seq, 16 digits> → {clientId, entry}
//   KV bucket P_inbound        key token(clientId).<id, 5 digits>   → {clientId, packetId}
//   KV bucket P_messages       key token(messageId)                 → message (binary, see codec.ts)
//   KV bucket P_retained       key token(topic)                     → message (binary)
//   stream    P_journal        subject $STARLING.P.journal          → one entry per batch (codec.ts)
// token() (keys.ts) turns any string into one KV-safe key token; values carry the strings themselves.
// The buckets are ordinary KV buckets (history 1), so `nats kv ls/get` can inspect them.
//
// Atomicity. JetStream (as of the servers this targets) has no multi-key transaction, so a batch is
// made atomic with a write-ahead journal:
//   1. the batch is checked and run against an in-memory mirror of the buckets (mirror.ts), which
//      gives the exact key writes it makes (one final value or removal per key);
//   2. those writes are published as ONE journal message (several consecutive parts when larger than
//      the server's max_payload). Once JetStream acknowledges the (last) part, the batch is durable:
//      this is the commit point;
//   3. the writes are made to the buckets; then apply() resolves;
//   4. every `purgeEvery` batches, and at every open(), journal entries already applied are purged.
// open() first replays every complete journal entry not known to be applied (key writes are absolute
// values, so replaying an applied one again is harmless and a suffix replays to the right state),
// drops an incomplete trailing entry (its apply() never resolved), then reads the buckets. So after
// a crash at any point the store holds exactly the batches whose commit point was reached.
// Keeping all state in the journal alone (and compacting) was the alternative; KV buckets keep a
// restart's read proportional to the live state, and let operators look at single records.
//
// One writer per prefix. Each journal publish expects the journal's last sequence to be the one this
// store saw, so a second store that opened the same prefix (a node taking over) and wrote fences the
// first: the first's next apply() rejects until it is opened again. A failed NATS write (timeout,
// lost connection) leaves it open whether the batch landed: an apply() that rejects that way may
// still take effect, as with any remote store. The store then re-reads NATS (replaying the journal)
// before its next batch, so the mirror never drifts from what is stored — unless the journal shows
// that another store wrote or opened the prefix meanwhile, which fences it as above.
//
// Reading back (open) lists each bucket's keys from the stream info and gets each key's message; no
// consumer is created (see io.ts for why). Limits: one value (a message with its properties) must
// fit in the server's max_payload (1 MiB by default); a larger one makes its batch invalid.
import { randomUUID } from 'node:crypto';
import type { StoreOp, Store, StoreSnapshot } from '../ports.js';
import { StoreError } from '../errors.js';
import { BUCKETS, storeNames, type StoreNames } from './keys.js';
import { decodeRecord, decodeWrites, encodeWrites, type DecodedRecord, type KeyWrite } from './codec.js';
import { Mirror } from './mirror.js';
import { BATCH_HEADER, PART_HEADER, PARTS_HEADER, ensureStreams, isWrongLastSequence, openLink, publishJournal, purgeJournal, readAll, readLatest, writeKeys, deleteStreams, type Link } from './io.js';
import { messageKey } from './keys.js';
import type { MaybePromise } from '../../protocol/maybe-promise.js';

/** Test seams: a hook that throws stops the step it precedes, like a crash at that point would. */
export interface NatsStoreHooks {
  /** Before each part of a journal entry is published (part counts from 1). */
  beforeJournalPart?: (part: number, parts: number) => MaybePromise<void>;
  /** Before each key write of a committed batch is made. */
  beforeKeyWrite?: (index: number, total: number) => MaybePromise<void>;
}

export interface NatsStoreOptions {
  /** NATS server URL(s), e.g. 'nats://127.0.0.1:4222'. */
  servers: string | string[];
  /** Start of every bucket and stream name: [A-Za-z0-9_-]{1,64}. Default 'starling'. */
  prefix?: string;
  /** JetStream replicas of the buckets and the journal when they are created (1, 3 or 5). Default 1. */
  replicas?: number;
  user?: string;
  pass?: string;
  token?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; ca?: string; cert?: string; key?: string; handshakeFirst?: boolean };
  /** Connection name shown by the server. Default 'starling-store'. */
  name?: string;
  /** Bound on connecting and on each JetStream request, in ms. Default 5000. */
  timeoutMs?: number;
  /** Journal entries larger than this are published in parts; at most max_payload less 1 KiB. */
  journalPartBytes?: number;
  /** Applied journal entries are purged after this many batches. Default 64. */
  purgeEvery?: number;
  /** Key writes in flight at once. Default 128. */
  concurrency?: number;
  hooks?: NatsStoreHooks;
}

/** Message gets in flight at once while reading buckets back (per bucket). */
const READ_CONCURRENCY = 64;
/** Room left in a NATS message for the headers and framing around a value or journal part. */
const HEADROOM = 1024;

export class NatsStore implements Store {
  readonly durable = true;
  readonly prefix: string;
  readonly names: StoreNames;
  private readonly opts: NatsStoreOptions;
  private readonly timeoutMs: number;
  private link: Link | undefined;
  private mirror: Mirror | undefined;
  private opened = false;
  /** The journal's last sequence as this store knows it; the next publish expects it. */
  private journalLast = 0;
  /** Journal entries up to here are known to be in the buckets. */
  private appliedThrough = 0;
  private sincePurge = 0;
  /** A NATS write failed: re-read NATS before the next batch. */
  private stale = false;
  /**
   * While stale: the journal sequence this store had reached, and the batch it may have been
   * publishing when a write failed. At the re-read, a journal message after `after` that is not a
   * part of that batch (or one purged away) means another store wrote or opened meanwhile: fenced.
   */
  private ownTail: { after: number; batchId?: string } | undefined;
  /** Another store wrote to this prefix: refuse batches until open() is called again. */
  private fenced: StoreError | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(options: NatsStoreOptions) {
    this.opts = { ...options };
    this.prefix = options.prefix ?? 'starling';
    this.names = storeNames(this.prefix);
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (options.replicas !== undefined && !(Number.isInteger(options.replicas) && options.replicas >= 1 && options.replicas <= 5)) {
      throw new StoreError(`NATS store replicas must be 1..5, got ${options.replicas}`);
    }
  }

  /** Connects (once), creates missing buckets, replays the journal and reads everything back. */
  open(): Promise<StoreSnapshot> {
    return this.serial(async () => {
      try {
        if (this.link === undefined) {
          const link = await openLink({ ...this.opts, timeoutMs: this.timeoutMs }, this.names);
          try {
            await ensureStreams(link, this.opts.replicas ?? 1);
          } catch (err) {
            await link.nc.close().catch(() => undefined);
            throw err;
          }
          this.link = link;
        }
        this.fenced = undefined;
        await this.resync(this.link);
        this.opened = true;
        return (this.mirror as Mirror).snapshot();
      } catch (err) {
        this.stale = true;
        // A re-open that failed took nothing over: the next batch still checks for another writer.
        if (this.opened) this.ownTail ??= { after: this.journalLast };
        throw this.wrap('cannot open', err);
      }
    });
  }

  apply(ops: readonly StoreOp[]): Promise<void> {
    return this.serial(async () => {
      const link = this.link;
      if (!this.opened || link === undefined) throw new StoreError(`NATS store ${this.prefix}: apply() before open() or after close()`);
      if (this.fenced) throw this.fenced;
      if (this.stale) {
        try {
          await this.resync(link, this.ownTail);
        } catch (err) {
          throw this.wrap('cannot re-read NATS before a batch', err);
        }
      }
      const mirror = this.mirror as Mirror;
      mirror.check(ops, link.maxPayload - HEADROOM); // throws before anything changes
      const writes = mirror.apply(ops);
      if (writes.length === 0) return;
      await this.commit(link, writes);
    });
  }

  /** Drains the connection; apply() rejects afterwards until open() is called again. */
  close(): Promise<void> {
    return this.serial(async () => {
      // Leave an empty journal behind when everything in it is applied (best effort: replaying
      // applied entries at the next open() is harmless, only slower).
      if (this.opened && this.link && !this.stale && this.sincePurge > 0) await purgeJournal(this.link, this.appliedThrough + 1).catch(() => undefined);
      this.opened = false;
      this.mirror = undefined;
      const link = this.link;
      this.link = undefined;
      if (link === undefined) return;
      const timer = new Promise<'late'>((r) => setTimeout(r, this.timeoutMs, 'late').unref());
      try {
        if ((await Promise.race([link.nc.drain(), timer])) === 'late') await link.nc.close();
      } catch {
        await link.nc.close().catch(() => undefined);
      }
    });
  }

  /** Deletes every bucket and the journal of this prefix (all its data), then closes. */
  destroy(): Promise<void> {
    return this.serial(async () => {
      const link = this.link ?? (await openLink({ ...this.opts, timeoutMs: this.timeoutMs }, this.names));
      this.link = link;
      await deleteStreams(link);
    }).finally(() => this.close());
  }

  /** Journal, then buckets; see the comment at the top. */
  private async commit(link: Link, writes: KeyWrite[]): Promise<void> {
    const partBytes = Math.max(64, Math.min(this.opts.journalPartBytes ?? Infinity, link.maxPayload - HEADROOM));
    const entry = encodeWrites(writes);
    const batchId = randomUUID();
    try {
      this.journalLast = await publishJournal(link, entry, {
        batchId,
        partBytes,
        expectLast: this.journalLast,
        before: this.opts.hooks?.beforeJournalPart,
      });
    } catch (err) {
      this.stale = true;
      this.ownTail = { after: this.journalLast, batchId };
      if (isWrongLastSequence(err)) {
        this.fenced = new StoreError(`NATS store ${this.prefix}: another store has written to this prefix since this one opened it; open() again to take over`, { cause: err });
        throw this.fenced;
      }
      throw this.wrap('the batch may not have reached the journal (the store re-reads NATS before the next batch)', err);
    }
    try {
      await writeKeys(link, writes, this.opts.concurrency ?? 128, this.opts.hooks?.beforeKeyWrite);
      this.appliedThrough = this.journalLast;
    } catch {
      // The batch is committed in the journal, so apply() still succeeds: the next batch or open()
      // replays it into the buckets first.
      this.stale = true;
      this.ownTail = { after: this.journalLast };
      return;
    }
    if (++this.sincePurge >= (this.opts.purgeEvery ?? 64)) {
      try {
        await purgeJournal(link, this.appliedThrough + 1);
        this.sincePurge = 0;
      } catch {
        // Harmless: applied entries replay to the same state; the next batch tries again.
      }
    }
  }

  /** Replays the journal into the buckets, reads them back into a new mirror and purges the journal. */
  private async resync(link: Link, ownTail?: { after: number; batchId?: string }): Promise<void> {
    const { names } = link;
    const { state } = await link.jsm.streams.info(names.journalStream);
    const last = state.last_seq;
    const journal = await this.readJournal(link, last);
    if (ownTail !== undefined) {
      const later = journal.batchIds.filter(([seq]) => seq > ownTail.after);
      if (later.length !== last - ownTail.after || later.some(([, id]) => id !== ownTail.batchId)) {
        this.fenced = new StoreError(`NATS store ${this.prefix}: another store has written to or opened this prefix since this one lost a write; open() again to take over`);
        throw this.fenced;
      }
    }
    for (const batch of journal.batches) {
      await writeKeys(link, batch, this.opts.concurrency ?? 128);
    }
    const records: DecodedRecord[] = [];
    await Promise.all(
      BUCKETS.map((b) =>
        readLatest(
          link,
          names.stream[b],
          (m) => {
            const key = m.subject.slice(names.subjectPrefix[b].length);
            const op = m.headers?.get('KV-Operation');
            if (op === 'DEL' || op === 'PURGE') return; // markers left by tools such as `nats kv del`
            records.push(decodeRecord(b, key, m.data));
          },
          READ_CONCURRENCY,
        ),
      ),
    );
    const { mirror, unreferenced } = Mirror.load(records);
    // Bodies no entry points at cannot be left by a batch; remove any that came from elsewhere.
    await writeKeys(link, unreferenced.map((id) => ({ bucket: 'messages' as const, key: messageKey(id), value: null })), this.opts.concurrency ?? 128);
    if (state.messages > 0) await purgeJournal(link, last + 1);
    this.mirror = mirror;
    this.journalLast = last;
    this.appliedThrough = last;
    this.sincePurge = 0;
    this.stale = false;
    this.ownTail = undefined;
  }

  /**
   * The complete journal entries up to `last` that are not known to be applied, in order, and the
   * batch id of every journal message read.
   */
  private async readJournal(link: Link, last: number): Promise<{ batches: KeyWrite[][]; batchIds: Array<[number, string]> }> {
    const out: KeyWrite[][] = [];
    const batchIds: Array<[number, string]> = [];
    let current: { id: string; parts: number; next: number; chunks: Buffer[] } | undefined;
    await readAll(link, link.names.journalStream, link.names.journalSubject, last, (m) => {
      const id = m.headers?.get(BATCH_HEADER) ?? '';
      const part = Number(m.headers?.get(PART_HEADER));
      const parts = Number(m.headers?.get(PARTS_HEADER));
      if (!id || !Number.isInteger(part) || !Number.isInteger(parts) || part < 1 || part > parts) {
        throw new StoreError(`NATS store is corrupt: journal message ${m.seq} is not a Starling journal entry`);
      }
      batchIds.push([m.seq, id]);
      if (part === 1) current = { id, parts, next: 1, chunks: [] };
      // A part that does not continue the entry being assembled belongs to one abandoned mid-way.
      if (current === undefined || current.id !== id || current.next !== part || current.parts !== parts) {
        current = undefined;
        return;
      }
      current.chunks.push(Buffer.from(m.data));
      current.next++;
      if (part === parts) {
        if (m.seq > this.appliedThrough) out.push(decodeWrites(Buffer.concat(current.chunks), `${id} (journal message ${m.seq})`));
        current = undefined;
      }
    });
    return { batches: out, batchIds };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private wrap(what: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const servers = Array.isArray(this.opts.servers) ? this.opts.servers.join(',') : this.opts.servers;
    return new StoreError(`NATS store ${this.prefix} on ${servers}: ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}
