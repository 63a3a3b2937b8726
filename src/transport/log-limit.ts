// Log lines a client can provoke at will (a refused browser origin, a failed TLS handshake) are
// written at most once per key per window, and the keys remembered are bounded, so neither the
// log nor the memory grows with what a hostile client sends.

export class OncePerWindow {
  /** Key → end of its quiet window and how many lines were held back in it (insertion = age order). */
  private readonly keys = new Map<string, { until: number; held: number }>();
  private windowStart = 0;
  private linesInWindow = 0;

  /**
   * @param windowMs  one line per key per this many ms
   * @param maxKeys   keys remembered; past it the oldest is forgotten (its next line comes early)
   * @param maxLines  lines per window over all keys, so a flood of distinct keys is not a log flood
   */
  constructor(
    private readonly windowMs = 60_000,
    private readonly maxKeys = 1024,
    private readonly maxLines = 100,
  ) {}

  /** undefined: stay quiet; a number: write the line now, saying this many like it were held back. */
  take(key: string, now = Date.now()): number | undefined {
    const seen = this.keys.get(key);
    if (seen && now < seen.until) {
      seen.held++;
      return undefined;
    }
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= this.maxLines) return undefined;
    this.linesInWindow++;
    const held = seen?.held ?? 0;
    this.keys.delete(key);
    if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value as string);
    this.keys.set(key, { until: now + this.windowMs, held: 0 });
    return held;
  }

  /** Keys remembered now (for tests: never more than maxKeys). */
  get size(): number {
    return this.keys.size;
  }
}

/** A client-supplied string cut to `max` characters before it is logged or used as a key. */
export { clip } from '../protocol/reason-string.js';

/** What `logLimited` writes through. */
export interface LimitedLog {
  error(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  debug(fields: object, msg: string): void;
}

/**
 * Writes a line a client can provoke at `level` at most once per window per `key` (its address,
 * usually), saying in `heldField` how many like it were held back; the held-back ones go to debug.
 */
export function logLimited(
  lines: OncePerWindow,
  log: LimitedLog,
  level: 'error' | 'warn' | 'info',
  key: string,
  fields: Record<string, unknown>,
  msg: string,
  heldField = 'refusedSinceLastLine',
): void {
  const held = lines.take(key);
  if (held === undefined) log.debug(fields, msg);
  else log[level](held > 0 ? { ...fields, [heldField]: held } : fields, msg);
}
