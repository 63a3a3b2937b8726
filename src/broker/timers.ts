// Keyed one-shot timers for session expiry and will delay. Delays may exceed setTimeout's
// 24.8-day limit (session expiry can be 0xFFFFFFFE seconds), so long waits are re-armed in steps.

const MAX_STEP_MS = 2 ** 31 - 1;

export class KeyedTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  get size(): number {
    return this.timers.size;
  }

  set(key: string, delayMs: number, fire: () => void): void {
    this.clear(key);
    const due = Date.now() + Math.max(0, delayMs);
    const arm = (): void => {
      const left = due - Date.now();
      const t = setTimeout(
        () => {
          if (left > MAX_STEP_MS) return arm();
          this.timers.delete(key);
          fire();
        },
        Math.min(Math.max(0, left), MAX_STEP_MS),
      );
      t.unref();
      this.timers.set(key, t);
    };
    arm();
  }

  clear(key: string): boolean {
    const t = this.timers.get(key);
    if (!t) return false;
    clearTimeout(t);
    this.timers.delete(key);
    return true;
  }

  has(key: string): boolean {
    return this.timers.has(key);
  }

  clearAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
