// Turns the broker's $SYS/broker/... messages into samples for the dashboard. The broker publishes
// changed values and then `uptime` on every interval, so each uptime message closes one sample;
// rates come from counter differences over the broker's own uptime, not the browser's clock.
//
// The headline figures leave out the console's own cost: its connection, every PUBLISH it received
// (its `#` and `$SYS` subscriptions included) and sent, their bytes, its subscriptions, and the
// `$SYS` tree's own retained messages. Messages reach the console in the order the broker sent them, so what it
// counted when `uptime` arrives matches what the broker's counters held when it took the sample,
// less this interval's own $SYS messages, which the broker sent after taking it.
//
// Which of the console's own figures a sample holds depends on when the broker took it. A sample
// that reaches the console live (retain flag clear) was taken while the console's connection and
// its `$SYS` subscription existed, and after every subscription whose SUBACK came before it (one
// ordered stream). The retained sample that follows SUBSCRIBE was taken before the `$SYS`
// subscription existed; for a new session (the feed is reset on every connection without a
// session) that is before the console's subscriptions and, but for a CONNECT that lands within the
// one round trip before SUBSCRIBE, before its connection: its figures are the broker's as they
// were, with nothing of this console's to take out. Compared by arrival, not by clocks: the
// browser's and the broker's do not agree, and uptime has whole seconds.
import { publishWireSize, type OwnTraffic } from './connection';

export const SYS_PREFIX = '$SYS/broker/';

export interface Sample {
  /** Browser time the sample arrived, ms (the charts' time axis). */
  at: number;
  /** Broker uptime, seconds. */
  uptime: number;
  connected: number | null;
  subscriptions: number | null;
  retained: number | null;
  msgInPerSec: number | null;
  msgOutPerSec: number | null;
  bytesInPerSec: number | null;
  bytesOutPerSec: number | null;
  /** True when the rates come from the broker's 1-minute load averages (the first sample). */
  seeded: boolean;
}

const COUNTERS = {
  msgIn: 'publish/messages/received',
  msgOut: 'publish/messages/sent',
  bytesIn: 'bytes/received',
  bytesOut: 'bytes/sent',
} as const;
type CounterName = keyof typeof COUNTERS;

/** Per-minute load averages ($SYS/broker/load/...) that seed the first sample's rates. */
const LOADS: Record<CounterName, string> = {
  msgIn: 'load/publish/received/1min',
  msgOut: 'load/publish/sent/1min',
  bytesIn: 'load/bytes/received/1min',
  bytesOut: 'load/bytes/sent/1min',
};

/** The console's own share of each counter when the broker took the sample. */
function ownShare(own: OwnTraffic, tick: { messages: number; bytes: number }): Record<CounterName, number> {
  return { msgIn: own.sent, msgOut: own.received - tick.messages, bytesIn: own.sentBytes, bytesOut: own.receivedBytes - tick.bytes };
}

/** Samples older than the longest window are dropped; the cap bounds memory at any interval. */
export const KEEP_MS = 60 * 60_000;
const MAX_SAMPLES = 4000;

export class SysFeed {
  /** Latest value of every $SYS/broker/ topic, keyed without the prefix. */
  readonly latest = new Map<string, string>();
  readonly samples: Sample[] = [];
  private previous?: { uptime: number; counters: Record<CounterName, number | null>; own: Record<CounterName, number> };
  private readonly listeners = new Set<() => void>();
  /** $SYS messages received since the last sample (this interval's tree, sent after its snapshot). */
  private tick = { messages: 0, bytes: 0 };

  constructor(private readonly own: OwnTraffic, private readonly now: () => number = Date.now) {
    this.atStart = ownShare(own, { messages: 0, bytes: 0 });
  }

  onSample(fn: () => void): void {
    this.listeners.add(fn);
  }

  num(key: string): number | null {
    const v = this.latest.get(key);
    if (v === undefined) return null;
    const n = Number.parseFloat(v);
    return Number.isFinite(n) ? n : null;
  }

  private pending?: ReturnType<typeof setTimeout>;
  /** The console's own counts when this connection began: its share of a sample taken before it. */
  private atStart: Record<CounterName, number>;
  /** This connection began without a session: its retained burst was taken before anything of it. */
  private fresh = true;

  /**
   * Takes one $SYS message; false when the topic is not part of the broker's tree. `retained` is
   * the retain flag as delivered: set only in the burst of stored values that follows SUBSCRIBE,
   * whose order is the store's, so a retained `uptime` closes its sample once the burst is in.
   */
  accept(topic: string, payload: string, retained = false): boolean {
    if (!topic.startsWith(SYS_PREFIX)) return false;
    const key = topic.slice(SYS_PREFIX.length);
    // Only the retained burst of a new session's first SUBSCRIBE makes a sample: of a kept
    // session's, whose subscriptions were there when the broker took it or not, nobody can say, and
    // a later burst (another SUBSCRIBE that matches $SYS) repeats what is known. Such a burst still
    // brings `latest` up to date; its messages stay the console's own (the broker counts them in
    // the next live sample), and the next live sample goes on from the last one.
    const closes = !retained || (this.fresh && !this.previous);
    if (closes) {
      this.tick.messages++;
      this.tick.bytes += publishWireSize(topic.length, payload.length, 0);
    }
    // An empty payload clears a retained topic: it no longer exists.
    if (payload === '') this.latest.delete(key);
    else this.latest.set(key, payload);
    if (key !== 'uptime' || !closes) return true;
    if (!retained) this.sample(true);
    else this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.sample(false);
    }, 250);
    return true;
  }

  /** A new connection, before any of its messages: without a session, the feed starts afresh. */
  connected(sessionPresent: boolean): void {
    if (!sessionPresent) this.reset();
    this.fresh = !sessionPresent;
    this.atStart = ownShare(this.own, { messages: 0, bytes: 0 });
  }

  reset(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    this.latest.clear();
    this.samples.length = 0;
    this.previous = undefined;
    this.tick = { messages: 0, bytes: 0 };
    for (const fn of this.listeners) fn();
  }

  /** `live`: delivered to the console's `$SYS` subscription, not the retained copy SUBSCRIBE sent. */
  private sample(live: boolean): void {
    const uptime = this.num('uptime');
    if (uptime === null) return;
    const counters = {} as Record<CounterName, number | null>;
    for (const k of Object.keys(COUNTERS) as CounterName[]) counters[k] = this.num(COUNTERS[k]);
    const prev = this.previous;
    if (prev && uptime === prev.uptime) return;
    // A retained sample predates everything of this connection's.
    const own = live ? ownShare(this.own, this.tick) : this.atStart;
    this.tick = { messages: 0, bytes: 0 };
    // A broker restart (uptime going back) starts the rates afresh.
    const dt = prev && uptime > prev.uptime ? uptime - prev.uptime : 0;
    const rate = (k: CounterName): number | null => {
      if (!dt || !prev) {
        // No earlier sample: the broker's 1-minute load average (per minute) draws the first point.
        const load = this.num(LOADS[k]);
        return load === null ? null : load / 60;
      }
      const now = counters[k];
      const before = prev.counters[k];
      if (now === null || before === null || now < before) return null;
      return Math.max(0, now - before - (own[k] - prev.own[k])) / dt;
    };
    const subs = this.num('subscriptions/count');
    const retained = this.num('retained messages/count');
    const connected = this.num('clients/connected');
    // Every $SYS/broker topic is a retained message of the broker's own, and the sample's count
    // holds each of them as the sample published it (observe/sys-topics.ts retainedAfter).
    const sysRetained = this.latest.size;
    this.samples.push({
      at: this.now(),
      uptime,
      connected: connected === null ? null : Math.max(0, connected - (live ? 1 : 0)),
      subscriptions: subs === null ? null : Math.max(0, subs - (live ? this.own.subscriptions.size : 0)),
      retained: retained === null ? null : Math.max(0, retained - sysRetained),
      msgInPerSec: rate('msgIn'),
      msgOutPerSec: rate('msgOut'),
      bytesInPerSec: rate('bytesIn'),
      bytesOutPerSec: rate('bytesOut'),
      seeded: !dt,
    });
    const oldest = this.now() - KEEP_MS;
    let drop = 0;
    while (drop < this.samples.length && (this.samples[drop].at < oldest || this.samples.length - drop > MAX_SAMPLES)) drop++;
    if (drop) this.samples.splice(0, drop);
    this.previous = { uptime, counters, own };
    for (const fn of this.listeners) fn();
  }
}
