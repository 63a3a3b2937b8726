// Turns the broker's $SYS/broker/... messages into samples for the dashboard. The broker publishes
// changed values and then `uptime` on every interval, so each uptime message closes one sample;
// rates come from counter differences over the broker's own uptime, not the browser's clock.

export const SYS_PREFIX = '$SYS/broker/';

export interface Sample {
  /** Broker uptime, seconds. */
  uptime: number;
  connected: number | null;
  subscriptions: number | null;
  retained: number | null;
  msgInPerSec: number | null;
  msgOutPerSec: number | null;
  bytesInPerSec: number | null;
  bytesOutPerSec: number | null;
}

const COUNTERS = {
  msgIn: 'publish/messages/received',
  msgOut: 'publish/messages/sent',
  bytesIn: 'bytes/received',
  bytesOut: 'bytes/sent',
} as const;

export class SysFeed {
  /** Latest value of every $SYS/broker/ topic, keyed without the prefix. */
  readonly latest = new Map<string, string>();
  readonly samples: Sample[] = [];
  private previous?: { uptime: number; counters: Record<keyof typeof COUNTERS, number | null> };
  private readonly listeners = new Set<() => void>();

  constructor(private readonly capacity = 120) {}

  onSample(fn: () => void): void {
    this.listeners.add(fn);
  }

  private num(key: string): number | null {
    const v = this.latest.get(key);
    if (v === undefined) return null;
    const n = Number.parseFloat(v);
    return Number.isFinite(n) ? n : null;
  }

  /** Takes one $SYS message; false when the topic is not part of the broker's tree. */
  accept(topic: string, payload: string): boolean {
    if (!topic.startsWith(SYS_PREFIX)) return false;
    const key = topic.slice(SYS_PREFIX.length);
    this.latest.set(key, payload);
    if (key === 'uptime') this.sample();
    return true;
  }

  reset(): void {
    this.latest.clear();
    this.samples.length = 0;
    this.previous = undefined;
    for (const fn of this.listeners) fn();
  }

  private sample(): void {
    const uptime = this.num('uptime');
    if (uptime === null) return;
    const counters = {
      msgIn: this.num(COUNTERS.msgIn),
      msgOut: this.num(COUNTERS.msgOut),
      bytesIn: this.num(COUNTERS.bytesIn),
      bytesOut: this.num(COUNTERS.bytesOut),
    };
    const prev = this.previous;
    // A broker restart (uptime going back) starts the rates afresh.
    const dt = prev && uptime > prev.uptime ? uptime - prev.uptime : 0;
    const rate = (k: keyof typeof COUNTERS): number | null => {
      const now = counters[k];
      const before = prev?.counters[k];
      if (!dt || now === null || before === null || before === undefined || now < before) return null;
      return (now - before) / dt;
    };
    if (prev && uptime === prev.uptime) return;
    this.samples.push({
      uptime,
      connected: this.num('clients/connected'),
      subscriptions: this.num('subscriptions/count'),
      retained: this.num('retained messages/count'),
      msgInPerSec: rate('msgIn'),
      msgOutPerSec: rate('msgOut'),
      bytesInPerSec: rate('bytesIn'),
      bytesOutPerSec: rate('bytesOut'),
    });
    if (this.samples.length > this.capacity) this.samples.shift();
    this.previous = { uptime, counters };
    for (const fn of this.listeners) fn();
  }
}
