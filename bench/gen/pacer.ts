// How a worker's publishing clients send.
// - `max`: as fast as the broker delivers, closed-loop: a worker holds both ends of its traffic
//   (publishers and the subscribers they feed), and keeps at most `outstanding` deliveries sent
//   but not yet received. Without that cap the publishers would fill megabytes of kernel socket
//   buffer per connection, the broker would work through a backlog long after the window, and the
//   generator would spend CPU that the broker needs on a 2-core machine. Deliveries the broker
//   drops (QoS 0 overload) would stall the loop; after STALL_MS without progress they are written
//   off and counted as `forgiven`.
// - `rate`: a fixed number of messages per second, round-robin over the connections on a 1 ms tick.
// - `count`: a fixed number per connection, as fast as the window allows (offline queues).
// QoS 1 never has more than `window` unacknowledged messages per connection, and a connection
// whose writes pile up in user space waits for `drain`. Clients that can send wait in a ring, so
// the work per turn is proportional to the messages sent, not to the number of clients.
import type { BenchClient, WorkerStats } from './client.js';
import type { PublishPlan } from './protocol.js';

const STALL_MS = 300;

/** A FIFO of clients with a fixed capacity (each client is in it at most once). */
class Ring {
  private readonly items: (BenchClient | undefined)[];
  private head = 0;
  size = 0;
  constructor(capacity: number) {
    this.items = new Array<BenchClient | undefined>(Math.max(1, capacity));
  }
  push(c: BenchClient): void {
    this.items[(this.head + this.size) % this.items.length] = c;
    this.size++;
  }
  shift(): BenchClient {
    const c = this.items[this.head]!;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.size--;
    return c;
  }
}

export class Pacer {
  private running = false;
  private ticker: NodeJS.Timeout | undefined;
  private staller: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private started = 0n;
  private issued = 0;
  private cursor = 0;
  private readonly ready: Ring;
  /** Closed loop: messages sent by this pacer, received count at start, deliveries written off. */
  private sent = 0;
  private received0 = 0;
  private lastReceived = -1;
  private lastProgressAt = 0;

  constructor(
    private readonly clients: BenchClient[],
    private readonly plan: PublishPlan,
    private readonly stats: WorkerStats,
  ) {
    this.ready = new Ring(clients.length);
  }

  start(): void {
    this.running = true;
    this.started = process.hrtime.bigint();
    if (this.plan.mode === 'rate') {
      this.ticker = setInterval(() => this.tick(), 1);
      return;
    }
    for (const c of this.clients) {
      c.ready = false;
      c.onProgress = (x) => {
        this.markReady(x);
        this.kick();
      };
      this.markReady(c);
    }
    if (this.plan.outstanding !== undefined) {
      this.received0 = this.stats.totalReceived;
      this.stats.onReceive = () => this.kick();
      this.lastProgressAt = Date.now();
      this.staller = setInterval(() => this.checkStall(), STALL_MS / 3);
    }
    this.kick();
  }

  stop(): void {
    this.running = false;
    for (const t of [this.ticker, this.staller]) if (t) clearInterval(t);
    if (this.immediate) clearImmediate(this.immediate);
    this.ticker = this.staller = this.immediate = undefined;
    for (const c of this.clients) c.onProgress = undefined;
    this.stats.onReceive = undefined;
    while (this.ready.size > 0) this.ready.shift().ready = false;
  }

  /** count mode: all sent and, for QoS 1, acknowledged. */
  get done(): boolean {
    if (this.plan.mode !== 'count') return !this.running;
    const n = this.plan.count ?? 0;
    return this.clients.every((c) => !c.connected || (c.sent >= n && c.inflight === 0));
  }

  /** Write completions, PUBACKs and deliveries come in bursts: pump once per turn, after I/O. */
  private kick(): void {
    if (!this.running || this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.pumpAll();
    });
  }

  /** Deliveries sent and not yet received, in the closed loop. */
  private inFlight(): number {
    return this.sent * (this.plan.copies ?? 1) - (this.stats.totalReceived - this.received0) - this.stats.forgiven;
  }

  /** Messages the closed loop lets us send now. */
  private budget(): number {
    if (this.plan.outstanding === undefined) return Infinity;
    return Math.floor((this.plan.outstanding - this.inFlight()) / (this.plan.copies ?? 1));
  }

  private room(c: BenchClient): number {
    let n = this.plan.batch;
    if (c.qos === 1) n = Math.min(n, this.plan.window - c.inflight);
    if (this.plan.mode === 'count') n = Math.min(n, (this.plan.count ?? 0) - c.sent);
    return n;
  }

  private markReady(c: BenchClient): void {
    if (!c.ready && c.writable && this.room(c) > 0) {
      c.ready = true;
      this.ready.push(c);
    }
  }

  /** One batch per ready client in turn while the closed loop has budget; a client that can
   * send more goes to the back of the ring. */
  private pumpAll(): void {
    let budget = this.budget();
    while (budget > 0 && this.ready.size > 0) {
      const c = this.ready.shift();
      c.ready = false;
      if (!c.writable) continue;
      const m = Math.min(this.room(c), budget);
      if (m <= 0) continue;
      c.sendBatch(m);
      this.sent += m;
      budget -= m;
      this.markReady(c);
    }
  }

  private checkStall(): void {
    const now = Date.now();
    if (this.stats.totalReceived !== this.lastReceived) {
      this.lastReceived = this.stats.totalReceived;
      this.lastProgressAt = now;
      return;
    }
    if (now - this.lastProgressAt < STALL_MS || this.budget() > 0) return;
    // Nothing arrived for a while and the loop is full: what is outstanding is not coming.
    this.stats.forgiven += Math.max(0, this.inFlight());
    this.lastProgressAt = now;
    this.kick();
  }

  private tick(): void {
    const elapsed = Number(process.hrtime.bigint() - this.started) / 1e9;
    let due = Math.floor((this.plan.rate ?? 0) * elapsed) - this.issued;
    const n = this.clients.length;
    if (due <= 0 || n === 0) return;
    // Hand out one message per client in turn; a client with a full QoS 1 window is skipped and
    // the message stays owed, so a slow broker shows up as latency, not as a lower offered rate.
    const perClient = new Map<BenchClient, number>();
    let skipped = 0;
    while (due > 0 && skipped < n) {
      const c = this.clients[this.cursor];
      this.cursor = (this.cursor + 1) % n;
      const queued = perClient.get(c) ?? 0;
      if (!c.connected || (c.qos === 1 && c.inflight + queued >= this.plan.window)) {
        skipped++;
        continue;
      }
      skipped = 0;
      perClient.set(c, queued + 1);
      due--;
      this.issued++;
    }
    for (const [c, k] of perClient) c.sendBatch(k);
  }
}
