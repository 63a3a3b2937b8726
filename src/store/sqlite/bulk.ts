// Multi-row statements: one INSERT of up to CHUNK rows, one DELETE of up to CHUNK keys. A batch's
// bodies and entries are written through these at its end, since each statement run costs about
// as much as the rows it writes: fewer, wider statements are what makes a batch cheap.
import type Database from 'better-sqlite3';
import type { Statement } from './statements.js';

const CHUNK = 64;

export class BulkWriter {
  /** Prepared statements by row count, made on first use (at most CHUNK of each). */
  private readonly inserts = new Map<number, Statement>();
  private readonly deletes = new Map<number, Statement>();
  private readonly row: string;

  constructor(
    private readonly db: Database.Database,
    private readonly table: string,
    private readonly columns: readonly string[],
  ) {
    this.row = `(${columns.map(() => '?').join(', ')})`;
  }

  /** Inserts rows, each an array of values in `columns` order. */
  insert(rows: readonly unknown[][]): void {
    for (let i = 0; i < rows.length; i += CHUNK) {
      const part = rows.length - i < CHUNK ? rows.length - i : CHUNK;
      const values: unknown[] = [];
      for (let j = i; j < i + part; j++) for (const v of rows[j]) values.push(v);
      this.insertStatement(part).run(...values);
    }
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
      s = this.db.prepare(`INSERT INTO ${this.table} (${this.columns.join(', ')}) VALUES ${new Array<string>(rows).fill(this.row).join(', ')}`) as Statement;
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
