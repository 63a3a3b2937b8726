// Server-to-client topic aliases (MQTT 5): the first PUBLISH on a topic carries the topic and an
// alias; later ones carry only the alias. Aliases are handed out until the client's Topic Alias
// Maximum; after that, the least recently used alias is reassigned [MQTT-3.3.2-8 .. -11].

export class OutboundAliases {
  private readonly max: number;
  /** topic → alias, in least-recently-used order (Map keeps insertion order). */
  private readonly byTopic = new Map<string, number>();

  constructor(max: number) {
    this.max = max;
  }

  get enabled(): boolean {
    return this.max > 0;
  }

  /**
   * The alias to send and whether the topic must be sent with it (new or reassigned alias).
   * The alias 0 is never used [MQTT-3.3.2-8].
   */
  lookup(topic: string): { alias: number; withTopic: boolean } {
    const known = this.byTopic.get(topic);
    if (known !== undefined) {
      this.byTopic.delete(topic);
      this.byTopic.set(topic, known);
      return { alias: known, withTopic: false };
    }
    let alias: number;
    if (this.byTopic.size < this.max) alias = this.byTopic.size + 1;
    else {
      const [oldest, reused] = this.byTopic.entries().next().value as [string, number];
      this.byTopic.delete(oldest);
      alias = reused;
    }
    this.byTopic.set(topic, alias);
    return { alias, withTopic: true };
  }

  /** Undoes a new alias whose PUBLISH was not sent after all, so the client never saw it. */
  forget(topic: string): void {
    this.byTopic.delete(topic);
  }
}
