// Write batching across connections. A connection corks on its first write of a turn and is
// uncorked once, after every I/O callback of the turn has run (setImmediate), so a subscriber fed
// by many publishers gets one writev per turn rather than one per publisher chunk. One scheduled
// callback serves every dirty connection.

export interface Corkable {
  uncork(): void;
}

export class WriteFlusher {
  private dirty: Corkable[] = [];
  private scheduled = false;

  /** Call when `c` corked for this turn; it is uncorked after the turn's I/O. */
  mark(c: Corkable): void {
    this.dirty.push(c);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    const batch = this.dirty;
    this.dirty = [];
    for (const c of batch) c.uncork();
  }
}
