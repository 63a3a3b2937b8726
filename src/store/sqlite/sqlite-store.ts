// The durable store: one SQLite file (better-sqlite3), one transaction per apply() batch.
//
// Durability choice: WAL journal with synchronous=NORMAL. In WAL mode a transaction is committed
// once its frames are written to the -wal file; with NORMAL the write() has reached the operating
// system's page cache when COMMIT returns, and only checkpoints fsync. If the *process* dies — a
// crash, OOM kill or SIGKILL — the kernel still holds and later writes those pages, so every batch
// whose apply() resolved (and so every ack sent after it) survives. What NORMAL gives up is the last
// commits before a power cut or kernel crash; FULL (an fsync per commit) covers that at a large cost
// per batch. The broker's promise is "an ack is never lost when the broker process dies", so NORMAL
// is the default; pass `synchronous: 'full'` (config `persistenceSync=full`) to also survive power loss.
//
// Messages are stored once and queue entries point at them by key. Both are packed many to a row
// (`packs`, packs.ts; `entry_packs`, entry-packs.ts): a row costs about as much to insert whatever
// it holds, so a batch's new bodies go into one pack and its new and changed entries into another.
// Nothing in a pack is changed in place: an entry is dead once its session's watermark
// (`retired.below`) passes its key or a tombstone names it, a body once no live entry points at it.
// The store keeps which bodies, entries and packs exist in memory (queue-index.ts, pack-set.ts):
// how many entries point at each body and how many of each pack's items are live. A pack is deleted
// in the batch in which its last live item goes, and packs that are mostly dead are rewritten
// (rewriteBodyPacks, rewriteEntryPacks), so the file stays within a bound of what it must hold.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { QueueEntry, SessionRecord, StoredMessage, StoredSessionState, StoreOp, Store, StoreSnapshot, SubscriptionRecord } from '../ports.js';
import { StoreError } from '../errors.js';
import { validateOp } from '../validate.js';
import { migrate } from './schema.js';
import { lockStore } from './store-lock.js';
import { prepareStatements, type Statement, type Statements } from './statements.js';
import { messageValues, rowToMessage, rowToSession, rowToSubscription, sessionToRow, subscriptionToRow } from './rows.js';
import type { MessageRow, SessionRow, SubscriptionRow } from './rows.js';
import { QueueIndex, type BodyRef, type EntryRef, type Tombstone } from './queue-index.js';
import { BulkWriter } from './bulk.js';
import { decodeItem, forEachItem, PackBuilder } from './packs.js';
import { decodeEntry, EntryPackBuilder, forEachEntryItem, isLiveItem, ItemKind, type DecodedEntry } from './entry-packs.js';
import { PackSink, type Packed, type PackRef, type PackSet } from './pack-set.js';

/** Packs are rewritten once they hold at least this many bytes, and more than SPACE times their live items' bytes. */
const PACK_COMPACT_MIN = 4 * 1024 * 1024;
const SPACE = 4;

/** What one apply() batch collects on its way through its ops, written at its end (finishBatch). */
interface BatchWork {
  maybeGarbage: Set<BodyRef>;
  newBodies: BodyRef[];
  newEntries: EntryRef[];
  /** Written items of entries that went while not their session's oldest: tombstoned unless something else covers them. */
  outOfOrder: Array<{ clientId: string; n: number; pack: PackRef }>;
  /** Sessions whose watermark moved (or, made by this batch, starts). */
  moved: Set<string>;
}

/** An entry item read at open, with the pack holding it. */
interface FoundEntry {
  key: number;
  pack: PackRef;
  size: number;
  item: DecodedEntry;
  where: string;
}

function invalid(i: number, op: StoreOp, why: string): never {
  throw new StoreError(`invalid store op #${i} (${op.op}): ${why}`);
}

export interface SqliteStoreOptions {
  /** Database file; created (with its directory) when missing. */
  path: string;
  /** 'normal' (default) survives process death; 'full' also survives power loss. See above. */
  synchronous?: 'normal' | 'full';
  /** Packs are rewritten only once those of a kind hold this many bytes (default 4 MiB; tests use less). */
  packCompactMin?: number;
  /**
   * Packs are rewritten once they hold more than this many times their live bytes, those at most
   * 1/packSpace live (default 4). Tests use 1: with packCompactMin 0, every pack holding anything
   * dead is rewritten after every batch.
   */
  packSpace?: number;
}

export class SqliteStore implements Store {
  readonly durable = true;
  private readonly path: string;
  private readonly synchronous: 'normal' | 'full';
  private readonly packCompactMin: number;
  private readonly packSpace: number;
  private db: Database.Database | undefined;
  /** The connection holding `<path>.lock` (see store-lock.ts). */
  private lock: Database.Database | undefined;
  private stmts: Statements | undefined;
  private runBatch: ((ops: readonly StoreOp[]) => void) | undefined;
  private readonly index = new QueueIndex();
  /** The packs being written, and the writers that delete dead ones. */
  private bodySink!: PackSink<PackBuilder>;
  private entrySink!: PackSink<EntryPackBuilder>;
  private packRows!: BulkWriter;
  private entryPackRows!: BulkWriter;
  private retired!: BulkWriter;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.synchronous = options.synchronous ?? 'normal';
    this.packCompactMin = Math.max(0, options.packCompactMin ?? PACK_COMPACT_MIN);
    this.packSpace = Math.max(1, options.packSpace ?? SPACE);
  }

  /** Opens the file (or re-reads it when already open) and returns its state; throws on a bad file. */
  async open(): Promise<StoreSnapshot> {
    if (this.db === undefined) this.connect();
    try {
      return this.readSnapshot();
    } catch (err) {
      throw this.openError(err);
    }
  }

  async apply(ops: readonly StoreOp[]): Promise<void> {
    if (this.runBatch === undefined) throw new StoreError(`store ${this.path}: apply() before open() or after close()`);
    try {
      this.runBatch(ops);
    } catch (err) {
      // The transaction rolled back; the index may hold some of its changes: read it back.
      this.bodySink.reset();
      this.entrySink.reset();
      if (this.db !== undefined) this.readSnapshot();
      throw err;
    }
  }

  /** What the open connection runs with, read back from SQLite (PRAGMA synchronous is per connection). */
  get synchronousMode(): 'off' | 'normal' | 'full' | 'extra' | undefined {
    const level = this.db?.pragma('synchronous', { simple: true }) as number | undefined;
    return level === undefined ? undefined : (['off', 'normal', 'full', 'extra'] as const)[level];
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    this.stmts = undefined;
    this.runBatch = undefined;
    db?.close();
    this.lock?.close();
    this.lock = undefined;
  }

  private connect(): void {
    let db: Database.Database | undefined;
    let lock: Database.Database | undefined;
    try {
      fs.mkdirSync(path.dirname(path.resolve(this.path)), { recursive: true });
      // One broker per store: a second broker started on the same file fails here instead of
      // interleaving writes with the first. The lock is on a companion file (store-lock.ts), so that
      // `starling backup` can still read the database while the broker runs.
      lock = lockStore(this.path);
      // A short busy timeout: besides this broker, only a backup reads the file, and readers do not block a WAL writer.
      db = new Database(this.path, { timeout: 250 });
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      db.pragma('foreign_keys = ON');
      const check = db.pragma('quick_check') as Array<{ quick_check: string }>;
      if (check.length !== 1 || check[0].quick_check !== 'ok') {
        const lines = check.slice(0, 5).map((r) => r.quick_check);
        throw new StoreError(`store ${this.path} is corrupt: quick_check found ${check.length} problem(s): ${lines.join('; ')}`);
      }
      migrate(db, this.path);
      const stmts = prepareStatements(db);
      this.bodySink = new PackSink(new PackBuilder(), this.index.bodyPacks, (n, data) => stmts.insertPack.run(n, data));
      this.entrySink = new PackSink(new EntryPackBuilder(), this.index.entryPacks, (n, data) => stmts.insertEntryPack.run(n, data));
      this.packRows = new BulkWriter(db, 'packs', ['n', 'data']);
      this.entryPackRows = new BulkWriter(db, 'entry_packs', ['n', 'data']);
      this.retired = new BulkWriter(db, 'retired', ['client_id', 'below'], { onConflict: 'ON CONFLICT (client_id) DO UPDATE SET below = excluded.below' });
      this.db = db;
      this.lock = lock;
      this.stmts = stmts;
      this.runBatch = db.transaction((ops: readonly StoreOp[]) => this.applyBatch(stmts, ops));
    } catch (err) {
      try {
        db?.close();
        lock?.close();
      } catch {
        // The file is already unusable; the error below says why.
      }
      throw this.openError(err);
    }
  }

  /** An Error naming the file and what is wrong with it, in words an operator can act on. */
  private openError(err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const e = err as { code?: string; message?: string };
    const msg = e?.message ?? String(err);
    let what: string;
    switch (e?.code) {
      case 'SQLITE_NOTADB':
        what = `it is not a SQLite database (wrong file, or damaged header): ${msg}`;
        break;
      case 'SQLITE_CORRUPT':
        what = `the database is corrupt: ${msg}`;
        break;
      case 'SQLITE_CANTOPEN':
        what = `the file cannot be opened (is it a directory, or is permission missing?): ${msg}`;
        break;
      case 'SQLITE_BUSY':
      case 'SQLITE_LOCKED':
        what = `the file is in use by another process (is another broker running on it?): ${msg}`;
        break;
      case 'SQLITE_READONLY':
      case 'SQLITE_PERM':
      case 'SQLITE_AUTH':
        what = `the file is not writable: ${msg}`;
        break;
      default:
        what = msg;
    }
    return new StoreError(`cannot open store ${this.path}: ${what}`, { cause: err });
  }

  /**
   * Runs inside one transaction: any throw rolls the whole batch back (apply() then rereads the
   * index). Bodies and entries are not written op by op: the batch's net effect on them is worked
   * out in the index first (an entry put, moved to inflight and acknowledged within one batch is
   * never written at all), then written into packs. A changed entry is a new item under a new key
   * in place of its old one, so nothing written is ever changed.
   *
   * An entry's item is retired, not deleted: a session's oldest entry going (the usual case:
   * acknowledgements come in order) only moves `retired.below` for its session, one small row per
   * session and batch. An entry going out of order gets a tombstone, an item of the batch's entry
   * pack, unless its pack goes with it. Items, live or dead, go with their pack: when its last live
   * item goes, or when it is rewritten (rewriteBodyPacks, rewriteEntryPacks).
   */
  private applyBatch(s: Statements, ops: readonly StoreOp[]): void {
    const b: BatchWork = { maybeGarbage: new Set(), newBodies: [], newEntries: [], outOfOrder: [], moved: new Set() };
    // The loop only dispatches: each kind of op is a method of its own, so that V8 optimises the
    // queue ops a batch is made of without compiling (and, when a kind is first seen, throwing
    // away and compiling again) one function holding every case (measured: see docs/benchmarks.md).
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      validateOp(op, i);
      if (op.op === 'queue.delete') this.deleteEntry(b, op.clientId, op.seq);
      else if (op.op === 'queue.put') this.putEntry(b, op, i);
      else if (op.op === 'message.put') this.putBody(b, op.message);
      else this.applyOther(s, b, op, i);
    }
    this.finishBatch(s, b);
  }

  /** The written item of `ref` is dead (the entry went, or is written again): `oldest`, it was its session's first. */
  private retireItem(b: BatchWork, ref: EntryRef, oldest: boolean): void {
    const pack = ref.pack;
    this.index.entryPacks.leave(ref);
    if (oldest) b.moved.add(ref.clientId);
    else if (pack !== undefined) b.outOfOrder.push({ clientId: ref.clientId, n: ref.n, pack });
  }

  private putBody(b: BatchWork, m: StoredMessage): void {
    // Immutable once stored: a second put of the same id (fan-out) keeps the first body.
    if (this.index.bodies.has(m.id)) return;
    const body = this.index.addBody(m.id);
    body.write = m;
    // Not in maybeGarbage: finishBatch drops it if no entry came to point at it.
    b.newBodies.push(body);
  }

  private putEntry(b: BatchWork, op: Extract<StoreOp, { op: 'queue.put' }>, i: number): void {
    const index = this.index;
    const e = op.entry;
    if (!index.sessions.has(op.clientId)) invalid(i, op, `no session ${JSON.stringify(op.clientId)}`);
    const body = index.bodies.get(e.messageId);
    if (body === undefined) return invalid(i, op, `unknown message ${JSON.stringify(e.messageId)}`);
    let ref = index.entry(op.clientId, e.seq);
    if (ref === undefined) {
      ref = index.addEntry(op.clientId, e.seq, body);
    } else {
      // Usually a state change (inflight → released, QoS 2) of the same delivery.
      if (ref.body !== body) {
        ref.body.refs--;
        b.maybeGarbage.add(ref.body);
        ref.body = body;
        body.refs++;
      }
      if (ref.write !== undefined) {
        // Not written yet: only its values change.
        ref.write = e;
        return;
      }
      this.retireItem(b, ref, index.isOldest(op.clientId, e.seq));
      index.renumber(op.clientId, e.seq, ref);
    }
    ref.write = e;
    b.newEntries.push(ref);
  }

  private deleteEntry(b: BatchWork, clientId: string, seq: number): void {
    const oldest = this.index.isOldest(clientId, seq);
    const old = this.index.removeEntry(clientId, seq);
    if (old === undefined) return;
    b.maybeGarbage.add(old.body);
    if (old.write === undefined) this.retireItem(b, old, oldest);
    else old.write = undefined; // never written: skipped when newEntries are written
  }

  /** Sessions, subscriptions, inbound ids and retained messages: a statement each. */
  private applyOther(s: Statements, b: BatchWork, op: Exclude<StoreOp, { op: 'queue.delete' | 'queue.put' | 'message.put' }>, i: number): void {
    const index = this.index;
    switch (op.op) {
      case 'session.put':
        s.upsertSession.run(sessionToRow(op.session));
        if (!index.sessions.has(op.session.clientId)) {
          index.sessions.add(op.session.clientId);
          // A new session's watermark starts above every item so far: what an earlier session of
          // the same client id left in the file stays dead.
          b.moved.add(op.session.clientId);
        }
        break;
      case 'session.delete': {
        const queue = index.entries.get(op.clientId);
        if (queue !== undefined) {
          for (const seq of [...queue.keys()]) {
            const e = index.removeEntry(op.clientId, seq) as EntryRef;
            b.maybeGarbage.add(e.body);
            // Dead with its session, which needs no tombstone.
            if (e.write === undefined) index.entryPacks.leave(e);
            else e.write = undefined;
          }
        }
        // Subscriptions and inbound ids go with it (ON DELETE CASCADE), and so does its watermark.
        s.deleteSession.run(op.clientId);
        s.deleteRetired.run(op.clientId);
        b.moved.delete(op.clientId);
        index.sessions.delete(op.clientId);
        break;
      }
      case 'subscription.put':
        if (!index.sessions.has(op.clientId)) invalid(i, op, `no session ${JSON.stringify(op.clientId)}`);
        s.upsertSubscription.run(subscriptionToRow(op.clientId, op.subscription));
        break;
      case 'subscription.delete':
        s.deleteSubscription.run(op.clientId, op.filter);
        break;
      case 'inbound.put':
        if (!index.sessions.has(op.clientId)) invalid(i, op, `no session ${JSON.stringify(op.clientId)}`);
        s.insertInbound.run(op.clientId, op.packetId);
        break;
      case 'inbound.delete':
        s.deleteInbound.run(op.clientId, op.packetId);
        break;
      case 'retained.put': {
        s.upsertRetained.run(...messageValues(op.message));
        break;
      }
      case 'retained.delete':
        s.deleteRetained.run(op.topic);
        break;
    }
  }

  /** Drops `body` from the index once no entry points at it (a body put twice keeps the first). */
  private dropUnreferenced(body: BodyRef): void {
    const index = this.index;
    if (body.refs > 0 || index.bodies.get(body.id) !== body) return;
    index.bodies.delete(body.id);
    // No live entry points at it any more, which is what makes it dead when the file is read.
    if (body.write === undefined) index.bodyPacks.leave(body);
    else body.write = undefined; // put in this batch and dropped in it: never written
  }

  /** Drops the bodies the batch left unreferenced, writes its packs and watermarks, and rewrites packs when it is time. */
  private finishBatch(s: Statements, b: BatchWork): void {
    const index = this.index;
    for (const body of b.maybeGarbage) this.dropUnreferenced(body);
    // Put by this batch and pointed at by no entry (never, or no more): never written.
    for (const body of b.newBodies) this.dropUnreferenced(body);
    this.writeBodies(b.newBodies);
    this.writeEntries(b);
    this.retired.insert(b.moved, (v, at, clientId) => {
      v[at] = clientId;
      v[at + 1] = index.below(clientId);
      return true;
    });
    if (index.bodyPacks.overgrown(this.packCompactMin, this.packSpace)) this.rewriteBodyPacks(s);
    if (index.entryPacks.overgrown(this.packCompactMin, this.packSpace)) this.rewriteEntryPacks(s);
    deleteDead(this.packRows, index.bodyPacks);
    deleteDead(this.entryPackRows, index.entryPacks);
  }

  /** Writes the batch's bodies that are still referenced into packs of about PACK_BYTES. */
  private writeBodies(bodies: readonly BodyRef[]): void {
    const sink = this.bodySink;
    for (let i = 0; i < bodies.length; i++) {
      const body = bodies[i];
      const m = body.write;
      if (m === undefined) continue;
      body.write = undefined;
      sink.took(body, sink.writer.add(body.n, m));
    }
    sink.flush();
  }

  /** Writes the batch's tombstones, and its new and changed entries still live, into entry packs. */
  private writeEntries(b: BatchWork): void {
    const index = this.index;
    const sink = this.entrySink;
    for (const { clientId, n, pack } of b.outOfOrder) {
      // None where the item's pack went with it, where its session went (a session made again gets
      // a watermark above it), or where its session's watermark, written with this batch, passed it.
      if (!index.entryPacks.has(pack) || !index.sessions.has(clientId) || (b.moved.has(clientId) && n < index.below(clientId))) continue;
      const size = sink.writer.addTombstone(n);
      sink.took(index.addTombstone(n, pack, size), size);
    }
    const entries = b.newEntries;
    for (let i = 0; i < entries.length; i++) {
      const ref = entries[i];
      const e = ref.write;
      if (e === undefined) continue; // acknowledged in the batch that made it
      ref.write = undefined;
      sink.took(ref, sink.writer.addEntry(ref.n, ref.clientId, e, ref.body.n));
    }
    sink.flush();
  }

  /**
   * Rewrites every body pack no more than 1/SPACE of whose bytes are live: its live bodies are
   * copied, as they are, into new packs, and it is deleted. Run when the packs hold more than SPACE
   * times their live bytes (so at least one pack is that sparse), it keeps the packs within about
   * SPACE times what they must hold, whatever pattern of bodies outlives its neighbours (one slow
   * session among fast ones, say), and copies at most 1/(SPACE - 1) of the bytes it frees. A tighter
   * bound costs more copying where most bodies die soon anyway (a drain: 2 instead of 4 copied about
   * as many bytes as the queue had written, measured with the store on its own).
   */
  private rewriteBodyPacks(s: Statements): void {
    const index = this.index;
    const sink = this.bodySink;
    let live: Map<number, BodyRef> | undefined;
    index.bodyPacks.rewrite(sink, this.packSpace, (p) => this.where('pack', p), (p, sparse) => {
      // The live bodies of the sparse packs by key: an item is matched by the key it was written
      // with, never by its id read back (text that does not survive UTF-8, were any let through,
      // would not match, and a live body would be left behind in a deleted pack).
      if (live === undefined) {
        live = new Map();
        for (const body of index.bodies.values()) if (body.pack !== undefined && sparse.has(body.pack)) live.set(body.n, body);
      }
      const bodies = live;
      let found = 0;
      forEachItem(this.packData(s.packData, 'pack', p), this.where('pack', p), (item) => {
        const body = bodies.get(item.n);
        if (body === undefined || body.pack !== p) return;
        found++;
        sink.writer.addRaw(item.raw);
        sink.took(body, item.raw.length);
      });
      return found;
    });
  }

  /**
   * Rewrites the entry packs as rewriteBodyPacks does the body packs: live entries and the
   * tombstones still needed are copied, under their own keys, so watermarks and tombstones name
   * them as before. A tombstone whose victim's pack is rewritten at the same time dies with it.
   */
  private rewriteEntryPacks(s: Statements): void {
    const index = this.index;
    const sink = this.entrySink;
    let live: Map<number, EntryRef> | undefined;
    index.entryPacks.rewrite(sink, this.packSpace, (p) => this.where('entry pack', p), (p, sparse) => {
      if (live === undefined) {
        live = new Map();
        for (const queue of index.entries.values()) for (const e of queue.values()) if (e.pack !== undefined && sparse.has(e.pack)) live.set(e.n, e);
      }
      const entries = live;
      let found = 0;
      forEachEntryItem(this.packData(s.entryPackData, 'entry pack', p), this.where('entry pack', p), (item) => {
        const tombstone = item.kind === ItemKind.Tombstone;
        const it: Packed | undefined = tombstone ? index.tombstones.get(item.key) : entries.get(item.key);
        if (it === undefined || it.pack !== p) return;
        found++;
        if (tombstone && sparse.has((it as Tombstone).victimPack)) return;
        sink.writer.addRaw(item.raw);
        sink.took(it, item.raw.length);
      });
      return found;
    });
  }

  private where(kind: string, p: PackRef): string {
    return `store ${this.path}: ${kind} ${p.n}`;
  }

  private packData(read: Statement, kind: string, p: PackRef): Buffer {
    const data = read.get(p.n) as Buffer | undefined;
    if (data === undefined) throw new StoreError(`${this.where(kind, p)} is missing`);
    return data;
  }

  /** Reads the whole store, and rebuilds the in-memory index on the way. */
  private readSnapshot(): StoreSnapshot {
    const s = this.stmts as Statements;
    const index = this.index;
    index.clear();
    const byClient = new Map<string, StoredSessionState>();
    for (const row of s.allSessions.all() as SessionRow[]) {
      const session: SessionRecord = rowToSession(row);
      byClient.set(session.clientId, { session, subscriptions: [], queue: [], inbound: [] });
      index.sessions.add(session.clientId);
    }
    // Children of a missing session cannot exist (foreign keys), so the lookups below always hit.
    for (const row of s.allSubscriptions.all() as SubscriptionRow[]) {
      const sub: SubscriptionRecord = rowToSubscription(row);
      byClient.get(row.client_id)?.subscriptions.push(sub);
    }
    const below = new Map<string, number>();
    for (const r of s.allRetired.all() as Array<{ client_id: string; below: number }>) {
      below.set(r.client_id, r.below);
      // New items must never fall below a watermark, even one whose items are all gone.
      if (r.below > index.nextEntry) index.nextEntry = r.below;
    }
    const bodies = this.readBodyPacks(s);
    const entries = this.readEntryPacks(s, bodies, (key, clientId, killed) => isLiveItem(key, clientId, index.sessions, below, killed));
    const messages = new Map<string, StoredMessage>();
    for (const { ref, raw, where } of bodies.values()) {
      if (ref.refs === 0) {
        index.bodyPacks.leave(ref);
        continue;
      }
      index.bodies.set(ref.id, ref);
      messages.set(ref.id, decodeItem(raw, where));
    }
    for (const [clientId, queue] of index.entries) {
      const state = byClient.get(clientId) as StoredSessionState;
      for (const ref of queue.values()) state.queue.push(entries.get(ref) as QueueEntry);
      // Items are in key order; a session's queue is in seq order.
      if (state.queue.length > 1) state.queue.sort((a, b) => a.seq - b.seq);
    }
    for (const row of s.allInbound.all() as Array<{ client_id: string; packet_id: number }>) {
      byClient.get(row.client_id)?.inbound.push(row.packet_id);
    }
    const retained = (s.allRetained.all() as MessageRow[]).map(rowToMessage);
    return { sessions: [...byClient.values()], messages, retained };
  }

  /** Every body in the packs by key, each joined to its pack; those no entry points at are dropped by the caller. */
  private readBodyPacks(s: Statements): Map<number, { ref: BodyRef; raw: Buffer; where: string }> {
    const index = this.index;
    const bodies = new Map<number, { ref: BodyRef; raw: Buffer; where: string }>();
    for (const row of s.allPacks.all() as Array<{ n: number; data: Buffer }>) {
      const where = `store ${this.path}: pack ${row.n}`;
      const pack = index.bodyPacks.add(row.n, row.data.length);
      forEachItem(row.data, where, (item) => {
        const ref: BodyRef = { id: item.id, n: item.n, refs: 0, write: undefined, pack: undefined, size: item.raw.length };
        index.bodyPacks.join(ref, pack);
        // The store never leaves one body in two packs (a rewrite's copy and delete are one
        // transaction); were it there twice, the later copy is the one kept.
        const twice = bodies.get(item.n);
        if (twice !== undefined) index.bodyPacks.leave(twice.ref);
        bodies.set(item.n, { ref, raw: item.raw, where });
        if (item.n >= index.nextBody) index.nextBody = item.n + 1;
      });
      // An empty pack (none is written so) would otherwise stay for good.
      if (pack.live === 0) index.bodyPacks.forget(pack);
    }
    return bodies;
  }

  /**
   * Reads the entry packs into the index: the live entries (by `live`), pointing at `bodies`, and
   * the tombstones whose victim is still in the file. Returns each live entry as stored.
   */
  private readEntryPacks(
    s: Statements,
    bodies: ReadonlyMap<number, { ref: BodyRef }>,
    live: (key: number, clientId: string, killed: ReadonlySet<number>) => boolean,
  ): Map<EntryRef, QueueEntry> {
    const index = this.index;
    const packs = index.entryPacks;
    const items = new Map<number, FoundEntry>();
    const tombstones: Array<{ victim: number; pack: PackRef; size: number }> = [];
    for (const row of s.allEntryPacks.all() as Array<{ n: number; data: Buffer }>) {
      const where = `store ${this.path}: entry pack ${row.n}`;
      const pack = packs.add(row.n, row.data.length);
      forEachEntryItem(row.data, where, (item) => {
        // A key a tombstone in the file names is never given again, nor one an item has.
        if (item.key >= index.nextEntry) index.nextEntry = item.key + 1;
        if (item.kind === ItemKind.Tombstone) tombstones.push({ victim: item.key, pack, size: item.raw.length });
        // Were an item there twice (a rewrite's copy and delete are one transaction), the later copy is the one kept.
        else items.set(item.key, { key: item.key, pack, size: item.raw.length, item: decodeEntry(item.raw, where), where });
      });
    }
    const killed = new Set<number>();
    for (const t of tombstones) killed.add(t.victim);
    // A session's entries join the index in key order: its first is its oldest, what its watermark is set to.
    const found = [...items.values()].filter((f) => live(f.key, f.item.clientId, killed)).sort((a, b) => a.key - b.key);
    const entries = new Map<EntryRef, QueueEntry>();
    for (const f of found) {
      const { clientId, entry } = f.item;
      const body = bodies.get(f.item.body);
      if (body === undefined) throw new StoreError(`${f.where} is corrupt: queue entry ${f.key} of ${JSON.stringify(clientId)} points at no message`);
      // The store never leaves two live items for one entry; were there two, the later key is the one written last.
      const older = index.removeEntry(clientId, entry.seq);
      if (older !== undefined) {
        entries.delete(older);
        packs.leave(older);
      }
      const ref = index.addEntry(clientId, entry.seq, body.ref, f.key);
      ref.size = f.size;
      packs.join(ref, f.pack);
      entry.messageId = body.ref.id;
      entries.set(ref, entry);
    }
    for (const t of tombstones) {
      // Needed while its victim is in the file; one is enough.
      const victim = items.get(t.victim);
      if (victim === undefined || index.tombstones.has(t.victim)) continue;
      packs.join(index.addTombstone(t.victim, victim.pack, t.size), t.pack);
    }
    // Packs with nothing live are deleted by the next batch.
    for (const p of [...packs.packs.values()]) if (p.live === 0) packs.forget(p);
    return entries;
  }
}

/** Deletes the packs of `set` that died in this batch. */
function deleteDead(rows: BulkWriter, set: PackSet): void {
  if (set.dead.length === 0) return;
  rows.delete(set.dead);
  set.dead = [];
}
