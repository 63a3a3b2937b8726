// Server-to-client topic aliases (MQTT 5): the first PUBLISH on a topic carries the topic and an
// alias; later ones carry only the alias. Aliases are handed out until the client's Topic Alias
// Maximum; after that, the least recently used alias is reassigned [MQTT-3.3.2-8 .. -11].
//
// Alias numbers are tracked apart from the map size: a PUBLISH that is dropped after its alias was
// chosen (too large for the client) undoes the choice, and an alias number must then never be
// given to a second topic while the client still knows it for the first.

export class OutboundAliases {
  private readonly max: number;
  /** topic → alias, in least-recently-used order (Map keeps insertion order). */
  private readonly byTopic = new Map<string, number>();
  /** Highest alias number handed out so far; numbers above it are free. */
  private highWater = 0;
  /** Alias numbers at or below highWater that no topic holds (returned by forget). */
  private readonly free: number[] = [];
  /** The last new assignment, so forget can undo exactly it (and a takeover it made). */
  private last: { topic: string; alias: number; evicted: string | undefined } | undefined;
  /** Bytes the held topics take (UTF-16), for the connection's memory budget. */
  private held = 0;

  constructor(max: number) {
    this.max = max;
  }

  get bytes(): number {
    return this.held;
  }

  get enabled(): boolean {
    return this.max > 0;
  }

  /**
   * The alias to send and whether the topic must be sent with it (new or reassigned alias).
   * The alias 0 is never used [MQTT-3.3.2-8].
   */
  lookup(topic: string): { alias: number; withTopic: boolean } {
    this.last = undefined;
    const known = this.byTopic.get(topic);
    if (known !== undefined) {
      this.byTopic.delete(topic);
      this.byTopic.set(topic, known);
      return { alias: known, withTopic: false };
    }
    let alias: number;
    let evicted: string | undefined;
    const freed = this.free.pop();
    if (freed !== undefined) alias = freed;
    else if (this.highWater < this.max) alias = ++this.highWater;
    else {
      // Every number is held: take over the least recently used one.
      const [oldest, reused] = this.byTopic.entries().next().value as [string, number];
      this.byTopic.delete(oldest);
      this.held -= 2 * oldest.length;
      alias = reused;
      evicted = oldest;
    }
    this.byTopic.set(topic, alias);
    this.held += 2 * topic.length;
    this.last = { topic, alias, evicted };
    return { alias, withTopic: true };
  }

  /**
   * Undoes the new alias just given to `topic` by lookup, whose PUBLISH was not sent after all:
   * the client never saw it, so it still maps the alias to whatever it mapped before. A taken-over
   * alias goes back to its old topic (as most recently used: recency only guides the choice of
   * the next takeover, and moving it to the front would cost a copy of the map); a fresh one
   * becomes free again.
   */
  forget(topic: string): void {
    const last = this.last;
    this.last = undefined;
    if (!last || last.topic !== topic || this.byTopic.get(topic) !== last.alias) return;
    this.byTopic.delete(topic);
    this.held -= 2 * topic.length;
    if (last.evicted !== undefined) {
      this.byTopic.set(last.evicted, last.alias);
      this.held += 2 * last.evicted.length;
    } else this.free.push(last.alias);
  }
}
