// Removes expired retained messages [MQTT-3.3.2-5]. RetainedIndex.match never hands out an expired
// one, but until it is removed it holds memory, a row in the store (reloaded at every start) and a
// place under maxRetainedMessages. A periodic, unref'd timer looks at a bounded slice of the index
// per tick, so a million retained topics cost a few milliseconds a tick, never one long pause.
import type { RetainedIndex } from '../router/retained.js';

export interface RetainedSweepOptions {
  /** Milliseconds between ticks. */
  intervalMs: number;
  /** Most retained messages looked at per tick. */
  maxScanPerTick: number;
}

export const defaultRetainedSweep: RetainedSweepOptions = { intervalMs: 1000, maxScanPerTick: 10_000 };

export class RetainedSweeper {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly retained: RetainedIndex,
    private readonly now: () => number,
    /** Told the topics removed by a tick (the broker turns them into retained.delete ops). */
    private readonly removed: (topics: string[]) => void,
    private readonly options: RetainedSweepOptions = defaultRetainedSweep,
  ) {}

  /**
   * Sweeps everything once now (start-up: what expired while the broker was down is not kept),
   * then a slice every interval.
   */
  start(): void {
    if (this.timer) return;
    this.sweep(Infinity);
    this.timer = setInterval(() => this.sweep(this.options.maxScanPerTick), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(maxScan: number): void {
    const gone = this.retained.sweepExpired(this.now(), maxScan);
    if (gone.length > 0) this.removed(gone);
  }
}
