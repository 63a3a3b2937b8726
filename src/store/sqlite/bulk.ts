// Multi-row statements: one INSERT of up to CHUNK rows, one DELETE of up to CHUNK keys. A batch's
// bodies, entries and watermarks are written through these at its end, since each statement run
// costs about as much as the rows it writes: fewer, wider statements are what makes a batch cheap.
// Rows are not built as arrays of their own: a `fill` function puts each item's values straight
// into one parameter array the writer reuses (a batch writes thousands of rows; per-row arrays were
// a good part of the store's garbage).
import type Database from 'better-sqlite3';
import type { Statement } from './statements.js';

const CHUNK = 64;

/**
 * Consecutive retired keys deleted by one range rather than by key: a range delete is one more
 * statement run, worth it once it saves a few rows' worth of key look-ups; the runs it is for are
 * hundreds to thousands of keys long.
 */
const RUN_MIN = 16;

/** Puts `item`'s values, in column order, at `values[at]` onwards; false to write no row for it. */
export type RowFill<T> = (values: unknown[], at: number, item: T) => boolean;

export interface BulkWriterOptions {
  /** Appended to every INSERT (an upsert's `ON CONFLICT ... DO UPDATE ...`). */
  onConflict?: string;
}

export class BulkWriter {
  /** Prepared statements by row count, made on first use (at most CHUNK of each). */
  private readonly inserts = new Map<number, Statement>();
  private readonly deletes = new Map<number, Statement>();
  private deleteBelow?: Statement;
  private deleteRange?: Statement;
  private deleteAll?: Statement;
  private readonly row: string;
  /** The parameters of a full chunk, reused by every insert. */
  private readonly values: unknown[];

  constructor(
    private readonly db: Database.Database,
    private readonly table: string,
    private readonly columns: readonly string[],
    private readonly options: BulkWriterOptions = {},
  ) {
    this.row = `(${columns.map(() => '?').join(', ')})`;
    this.values = new Array<unknown>(CHUNK * columns.length).fill(null);
  }

  /** Inserts a row for each item that `fill` writes. */
  insert<T>(items: Iterable<T>, fill: RowFill<T>): void {
    const width = this.columns.length;
    const values = this.values;
    let rows = 0;
    for (const item of items) {
      if (!fill(values, rows * width, item)) continue;
      if (++rows === CHUNK) {
        this.insertStatement(CHUNK).run(...values);
        rows = 0;
      }
    }
    if (rows > 0) this.insertStatement(rows).run(...values.slice(0, rows * width));
    // Let go of what the rows referred to (payloads) until the next batch.
    values.fill(null);
  }

  /** Deletes the rows whose integer key (the first column) is in `keys`. */
  delete(keys: readonly number[]): void {
    for (let i = 0; i < keys.length; i += CHUNK) {
      const part = keys.length - i < CHUNK ? keys.length - i : CHUNK;
      this.deleteStatement(part).run(...keys.slice(i, i + part));
    }
  }

  /**
   * Deletes retired rows, `keys` in ascending order: every row below `lowestLive` by one range
   * delete (the caller knows none of them is live; all of them when no row is: Infinity). Above it,
   * each run of RUN_MIN or more consecutive keys goes by one range delete too, and the keys left
   * over one by one. Retired rows above the lowest live one lie in few long runs: a batch's rows are
   * appended together (a publisher's read of PUBLISHes for one session), and a session's rows are
   * retired together as it drains (scenario 6: 20,250 such rows in 7 runs at one compaction).
   */
  deleteRetired(keys: readonly number[], lowestLive: number): void {
    if (keys.length === 0) return;
    let from = 0;
    if (keys[0] < lowestLive) {
      // Without a WHERE, SQLite empties the table by dropping its pages rather than row by row.
      if (lowestLive === Infinity) (this.deleteAll ??= this.db.prepare(`DELETE FROM ${this.table}`) as Statement).run();
      else (this.deleteBelow ??= this.db.prepare(`DELETE FROM ${this.table} WHERE ${this.columns[0]} < ?`) as Statement).run(lowestLive);
      while (from < keys.length && keys[from] < lowestLive) from++;
    }
    const single: number[] = [];
    for (let i = from; i < keys.length; ) {
      let end = i + 1;
      while (end < keys.length && keys[end] === keys[end - 1] + 1) end++;
      if (end - i >= RUN_MIN) {
        (this.deleteRange ??= this.db.prepare(`DELETE FROM ${this.table} WHERE ${this.columns[0]} BETWEEN ? AND ?`) as Statement).run(keys[i], keys[end - 1]);
      } else {
        for (let k = i; k < end; k++) single.push(keys[k]);
      }
      i = end;
    }
    this.delete(single);
  }

  private insertStatement(rows: number): Statement {
    let s = this.inserts.get(rows);
    if (s === undefined) {
      const rowList = new Array<string>(rows).fill(this.row).join(', ');
      s = this.db.prepare(`INSERT INTO ${this.table} (${this.columns.join(', ')}) VALUES ${rowList}${this.options.onConflict ? ` ${this.options.onConflict}` : ''}`) as Statement;
      this.inserts.set(rows, s);
    }
    return s;
  }

  private deleteStatement(keys: number): Statement {
    let s = this.deletes.get(keys);
    if (s === undefined) {
      s = this.db.prepare(`DELETE FROM ${this.table} WHERE ${this.columns[0]} IN (${new Array<string>(keys).fill('?').join(', ')})`) as Statement;
      this.deletes.set(keys, s);
    }
    return s;
  }
}
