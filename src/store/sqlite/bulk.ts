// Multi-row statements: one INSERT of up to CHUNK rows, one DELETE of up to CHUNK keys. A batch's
// watermarks are written, and its dead packs deleted, through these at its end, since each statement
// run costs about as much as the rows it writes: fewer, wider statements are what makes a batch cheap.
// Rows are not built as arrays of their own: a `fill` function puts each item's values straight
// into one parameter array the writer reuses (a batch writes thousands of rows; per-row arrays were
// a good part of the store's garbage).
import type Database from 'better-sqlite3';
import type { Statement } from './statements.js';

const CHUNK = 64;

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
