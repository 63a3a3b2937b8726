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
// Messages are stored once in `messages` and queue rows point at them; a message is deleted at the
// end of the batch in which its last queue row goes (or that put it without any row pointing at it).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { QueueEntry, SessionRecord, StoredMessage, StoredSessionState, StoreOp, Store, StoreSnapshot, SubscriptionRecord } from '../ports.js';
import { StoreError } from '../errors.js';
import { validateOp } from '../validate.js';
import { migrate } from './schema.js';
import { lockStore } from './store-lock.js';
import { prepareStatements, type Statements } from './statements.js';
import { entryToRow, messageToRow, rowToEntry, rowToMessage, rowToSession, rowToSubscription, sessionToRow, subscriptionToRow } from './rows.js';
import type { MessageRow, QueueRow, SessionRow, SubscriptionRow } from './rows.js';

export interface SqliteStoreOptions {
  /** Database file; created (with its directory) when missing. */
  path: string;
  /** 'normal' (default) survives process death; 'full' also survives power loss. See above. */
  synchronous?: 'normal' | 'full';
}

export class SqliteStore implements Store {
  readonly durable = true;
  private readonly path: string;
  private readonly synchronous: 'normal' | 'full';
  private db: Database.Database | undefined;
  /** The connection holding `<path>.lock` (see store-lock.ts). */
  private lock: Database.Database | undefined;
  private stmts: Statements | undefined;
  private runBatch: ((ops: readonly StoreOp[]) => void) | undefined;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.synchronous = options.synchronous ?? 'normal';
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
    this.runBatch(ops);
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

  /** Runs inside one transaction: any throw rolls the whole batch back. */
  private applyBatch(s: Statements, ops: readonly StoreOp[]): void {
    const maybeGarbage = new Set<string>();
    const invalid = (i: number, op: StoreOp, why: string): never => {
      throw new StoreError(`invalid store op #${i} (${op.op}): ${why}`);
    };
    ops.forEach((op, i) => {
      validateOp(op, i);
      switch (op.op) {
        case 'session.put':
          s.upsertSession.run(sessionToRow(op.session));
          return;
        case 'session.delete':
          for (const id of s.sessionMessageIds.all(op.clientId) as string[]) maybeGarbage.add(id);
          // Subscriptions, queue rows and inbound ids go with it (ON DELETE CASCADE).
          s.deleteSession.run(op.clientId);
          return;
        case 'subscription.put':
          if (s.sessionExists.get(op.clientId) === undefined) invalid(i, op, `no session ${JSON.stringify(op.clientId)}`);
          s.upsertSubscription.run(subscriptionToRow(op.clientId, op.subscription));
          return;
        case 'subscription.delete':
          s.deleteSubscription.run(op.clientId, op.filter);
          return;
        case 'message.put':
          // Immutable once stored: a second put of the same id (fan-out) keeps the first body.
          s.insertMessage.run(messageToRow(op.message));
          maybeGarbage.add(op.message.id);
          return;
        case 'queue.put': {
          if (s.sessionExists.get(op.clientId) === undefined) invalid(i, op, `no session ${JSON.stringify(op.clientId)}`);
          if (s.messageExists.get(op.entry.messageId) === undefined) invalid(i, op, `unknown message ${JSON.stringify(op.entry.messageId)}`);
          const old = s.entryMessageId.get(op.clientId, op.entry.seq) as string | undefined;
          if (old !== undefined) maybeGarbage.add(old);
          s.upsertEntry.run(entryToRow(op.clientId, op.entry));
          return;
        }
        case 'queue.delete': {
          const old = s.deleteEntry.get(op.clientId, op.seq) as string | undefined;
          if (old !== undefined) maybeGarbage.add(old);
          return;
        }
        case 'inbound.put':
          if (s.sessionExists.get(op.clientId) === undefined) invalid(i, op, `no session ${JSON.stringify(op.clientId)}`);
          s.insertInbound.run(op.clientId, op.packetId);
          return;
        case 'inbound.delete':
          s.deleteInbound.run(op.clientId, op.packetId);
          return;
        case 'retained.put':
          s.upsertRetained.run(messageToRow(op.message));
          return;
        case 'retained.delete':
          s.deleteRetained.run(op.topic);
          return;
      }
    });
    for (const id of maybeGarbage) s.deleteMessageIfUnused.run(id, id);
  }

  private readSnapshot(): StoreSnapshot {
    const s = this.stmts as Statements;
    const byClient = new Map<string, StoredSessionState>();
    for (const row of s.allSessions.all() as SessionRow[]) {
      const session: SessionRecord = rowToSession(row);
      byClient.set(session.clientId, { session, subscriptions: [], queue: [], inbound: [] });
    }
    // Children of a missing session cannot exist (foreign keys), so the lookups below always hit.
    for (const row of s.allSubscriptions.all() as SubscriptionRow[]) {
      const sub: SubscriptionRecord = rowToSubscription(row);
      byClient.get(row.client_id)?.subscriptions.push(sub);
    }
    for (const row of s.allEntries.all() as QueueRow[]) {
      const entry: QueueEntry = rowToEntry(row);
      byClient.get(row.client_id)?.queue.push(entry);
    }
    for (const row of s.allInbound.all() as Array<{ client_id: string; packet_id: number }>) {
      byClient.get(row.client_id)?.inbound.push(row.packet_id);
    }
    const messages = new Map<string, StoredMessage>();
    for (const row of s.allMessages.all() as MessageRow[]) messages.set(row.id, rowToMessage(row));
    const retained = (s.allRetained.all() as MessageRow[]).map(rowToMessage);
    return { sessions: [...byClient.values()], messages, retained };
  }
}
