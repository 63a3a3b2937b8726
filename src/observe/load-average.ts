// Load averages in the Mosquitto $SYS sense: for a monotonically growing counter, the rate per
// minute smoothed by exponential decay over 1, 5 and 15 minutes (like Unix load averages).

export const LOAD_WINDOWS = [
  { name: '1min', seconds: 60 },
  { name: '5min', seconds: 300 },
  { name: '15min', seconds: 900 },
] as const;

export type LoadWindow = (typeof LOAD_WINDOWS)[number]['name'];

export class LoadAverage {
  private last: number | undefined;
  private readonly values = new Map<LoadWindow, number>(LOAD_WINDOWS.map((w) => [w.name, 0]));

  /**
   * Adds a reading of the counter taken `elapsedSec` after the previous one. The first reading
   * only sets the baseline. A counter that went backwards (a reset) restarts from the new value.
   */
  sample(count: number, elapsedSec: number): void {
    const previous = this.last;
    this.last = count;
    if (previous === undefined || elapsedSec <= 0) return;
    const perMinute = (Math.max(0, count - previous) * 60) / elapsedSec;
    for (const w of LOAD_WINDOWS) {
      // Each reading moves the average towards the current rate by 1 - e^(-Δt/window).
      const decay = Math.exp(-elapsedSec / w.seconds);
      const old = this.values.get(w.name)!;
      this.values.set(w.name, perMinute + decay * (old - perMinute));
    }
  }

  get(window: LoadWindow): number {
    return this.values.get(window)!;
  }
}
