// The link's own table of NATS subscriptions made for this node's MQTT interest, so that filters
// mapping to one subject share one subscription (reference counted), a shared group's queue
// subscriptions can be found again to remove them, and everything can be checked after a reconnect.
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { SubjectSpace } from './subjects.js';
import { queueName } from './subjects.js';

export type Callback = (err: Error | null, msg: Msg) => void;

interface PlainSub {
  sub: Subscription;
  refs: number;
}

interface SharedSub {
  group: string;
  filter: string;
  queue: string;
  subs: Map<string, Subscription>;
}

export class InterestTable {
  private readonly plain = new Map<string, PlainSub>();
  private readonly plainFilters = new Map<string, string[]>();
  private readonly shared = new Map<string, SharedSub>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly msg: SubjectSpace,
    private readonly share: SubjectSpace,
    /** Called for messages on plain subjects. */
    private readonly onPlain: Callback,
    /** Called for messages of one shared group, with its key `group\0filter`. */
    private readonly onShared: (key: string) => Callback,
  ) {}

  /** NATS subscriptions held for plain interest (distinct subjects). */
  get plainSubjects(): number {
    return this.plain.size;
  }

  get sharedGroups(): number {
    return this.shared.size;
  }

  /** Interest in `filter` (with a share `group`) started or ended on this node. */
  set(filter: string, group: string | undefined, present: boolean): void {
    if (group === undefined) return present ? this.addPlain(filter) : this.removePlain(filter);
    const key = `${group}\0${filter}`;
    if (present) {
      if (this.shared.has(key)) return;
      const entry: SharedSub = { group, filter, queue: queueName(group, filter), subs: new Map() };
      for (const subject of this.share.filter(filter)) {
        entry.subs.set(subject, this.nc.subscribe(subject, { queue: entry.queue, callback: this.onShared(key) }));
      }
      this.shared.set(key, entry);
      return;
    }
    const entry = this.shared.get(key);
    if (!entry) return;
    this.shared.delete(key);
    for (const s of entry.subs.values()) s.unsubscribe();
  }

  private addPlain(filter: string): void {
    if (this.plainFilters.has(filter)) return;
    const subjects = this.msg.filter(filter);
    this.plainFilters.set(filter, subjects);
    for (const subject of subjects) {
      const p = this.plain.get(subject);
      if (p) p.refs++;
      else this.plain.set(subject, { sub: this.nc.subscribe(subject, { callback: this.onPlain }), refs: 1 });
    }
  }

  private removePlain(filter: string): void {
    const subjects = this.plainFilters.get(filter);
    if (!subjects) return;
    this.plainFilters.delete(filter);
    for (const subject of subjects) {
      const p = this.plain.get(subject);
      if (!p) continue;
      if (--p.refs > 0) continue;
      this.plain.delete(subject);
      p.sub.unsubscribe();
    }
  }

  /**
   * Re-creates any subscription that is no longer open. The NATS client itself resubscribes after
   * a reconnect; this covers a subscription the server closed (e.g. a permissions error). Returns how
   * many were re-created.
   */
  repair(): number {
    let n = 0;
    for (const [subject, p] of this.plain) {
      if (!p.sub.isClosed()) continue;
      p.sub = this.nc.subscribe(subject, { callback: this.onPlain });
      n++;
    }
    for (const [key, e] of this.shared) {
      for (const [subject, s] of e.subs) {
        if (!s.isClosed()) continue;
        e.subs.set(subject, this.nc.subscribe(subject, { queue: e.queue, callback: this.onShared(key) }));
        n++;
      }
    }
    return n;
  }
}
