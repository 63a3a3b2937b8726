// What the SQLite store keeps in memory about its own rows, so that a queue write is one statement
// on an integer key: which sessions exist, each message body's row and how many entries point at
// it, and each session's entries by seq. Rebuilt from the file at open (and after a failed batch,
// whose transaction rolled back changes this index had already taken in).

export interface BodyRef {
  readonly id: string;
  /** Row key in `bodies`. */
  readonly n: number;
  /** Queue entries pointing at this body. */
  refs: number;
  /** Its row's values while the batch that made it has not written it yet. */
  row?: unknown[];
}

export interface EntryRef {
  /** Row key in `entries`: a changed entry is written as a new row (appended) in place of its old one. */
  n: number;
  body: BodyRef;
  /** Its row's values while the batch that made or changed it has not written it yet. */
  row?: unknown[];
}

export class QueueIndex {
  readonly sessions = new Set<string>();
  readonly bodies = new Map<string, BodyRef>();
  readonly entries = new Map<string, Map<number, EntryRef>>();
  /** Next row keys: ascending, so new rows are appended to the end of their table. */
  nextBody = 1;
  nextEntry = 1;

  clear(): void {
    this.sessions.clear();
    this.bodies.clear();
    this.entries.clear();
    this.nextBody = 1;
    this.nextEntry = 1;
  }

  addBody(id: string, n = this.nextBody): BodyRef {
    const b: BodyRef = { id, n, refs: 0 };
    this.bodies.set(id, b);
    if (n >= this.nextBody) this.nextBody = n + 1;
    return b;
  }

  addEntry(clientId: string, seq: number, body: BodyRef, n = this.nextEntry): EntryRef {
    let queue = this.entries.get(clientId);
    if (queue === undefined) this.entries.set(clientId, (queue = new Map()));
    const e: EntryRef = { n, body };
    queue.set(seq, e);
    body.refs++;
    if (n >= this.nextEntry) this.nextEntry = n + 1;
    return e;
  }

  entry(clientId: string, seq: number): EntryRef | undefined {
    return this.entries.get(clientId)?.get(seq);
  }

  /** Forgets an entry; returns it (its body's count already lowered) or undefined. */
  removeEntry(clientId: string, seq: number): EntryRef | undefined {
    const queue = this.entries.get(clientId);
    const e = queue?.get(seq);
    if (e === undefined) return undefined;
    queue!.delete(seq);
    if (queue!.size === 0) this.entries.delete(clientId);
    e.body.refs--;
    return e;
  }
}
