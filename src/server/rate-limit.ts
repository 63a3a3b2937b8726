// A token bucket for per-client publish rates. Over budget, the connection stops reading for as
// long as it takes to refill: TCP backpressure slows the client, nothing is dropped.

export class TokenBucket {
  private tokens: number;
  private last: number;

  /** `rate` tokens per second, up to `burst` saved up; rate 0 means unlimited. */
  constructor(
    private readonly rate: number,
    private readonly burst: number = rate,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  get unlimited(): boolean {
    return this.rate <= 0;
  }

  /** Takes `n` tokens; returns how many ms to wait before the balance is positive again (0 = none). */
  take(n: number, now = Date.now()): number {
    if (this.rate <= 0) return 0;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate);
  }
}
