// queueOverflowPolicy=backPressure: a QoS 1/2 publish that finds an online subscriber's queue full
// is queued anyway and its publisher is held (its PUBACK/PUBREC waits, and the channel stops
// reading it behind the held packet) until that queue drained to half its limits (Queues.roomMade). A hold is bounded:
// a session that stays over its limits for `timeoutMs` is given up on (the broker then drops its
// oldest messages, counted, and stops holding for it until it drains), so one stuck subscriber
// stalls its publishers for at most that long. Timers exist only for sessions being waited on.
import type { Session } from '../session/session.js';

interface Hold {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

export class PublisherHolds {
  private readonly holds = new Map<Session, Hold>();
  private readonly timeoutMs: number;
  private readonly gaveUp: (s: Session) => void;

  /** `gaveUp` runs when a session stayed over its limits for `timeoutMs`; its publishers are let go after it. */
  constructor(timeoutMs: number, gaveUp: (s: Session) => void) {
    this.timeoutMs = timeoutMs;
    this.gaveUp = gaveUp;
  }

  /** Sessions publishers are waiting on now. */
  get size(): number {
    return this.holds.size;
  }

  /**
   * Resolves once each of `sessions` has room again (or was given up on, or went away); undefined
   * when none has to be waited for. The clock of a session starts at its first hold, not per publish.
   */
  wait(sessions: readonly Session[]): Promise<void> | undefined {
    let first: Promise<void> | undefined;
    let all: Promise<void>[] | undefined;
    for (const s of sessions) {
      const p = this.holdFor(s).promise;
      if (first === undefined) first = p;
      else if (p !== first) (all ??= [first]).push(p);
    }
    return all ? Promise.all(all).then(() => undefined) : first;
  }

  /** The session has room again, went offline or ended: its publishers go on. */
  letGo(s: Session): void {
    const h = this.holds.get(s);
    if (!h) return;
    this.holds.delete(s);
    clearTimeout(h.timer);
    h.resolve();
  }

  /** Releases the publishers of every session `hasRoom` says has room again (the broker-wide budget freed up). */
  letGoWhere(hasRoom: (s: Session) => boolean): void {
    for (const s of [...this.holds.keys()]) if (hasRoom(s)) this.letGo(s);
  }

  /** Whether publishers are waiting on this session. */
  holding(s: Session): boolean {
    return this.holds.has(s);
  }

  /** Lets everyone go (the broker is closing). */
  clear(): void {
    for (const s of [...this.holds.keys()]) this.letGo(s);
  }

  private holdFor(s: Session): Hold {
    const existing = this.holds.get(s);
    if (existing) return existing;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    const timer = setTimeout(() => {
      if (this.holds.get(s)?.timer !== timer) return;
      try {
        this.gaveUp(s);
      } finally {
        this.letGo(s);
      }
    }, this.timeoutMs);
    timer.unref();
    const h: Hold = { promise, resolve, timer };
    this.holds.set(s, h);
    return h;
  }
}
