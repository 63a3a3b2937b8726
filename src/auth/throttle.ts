// Slows down credential guessing from one address: each login attempt from an address with recent
// failures waits first, longer as failures pile up, bounded, and the count decays over time so a
// user who mistyped is back to full speed soon. The wait comes *before* the check, success or not,
// so an attacker cannot cut a slow answer short to learn that it was a failure.
//
// Memory stays bounded: at most `maxTracked` addresses are remembered (least recently failed go
// first), and IPv6 clients are tracked per /64, since one host usually owns a whole /64.
import { isIPv6 } from 'node:net';

export interface ThrottleOptions {
  /** Failures (after decay) that cost nothing: typos are not attacks. */
  freeFailures: number;
  /** Wait after the first failure beyond the free ones; doubles with each further failure. */
  baseDelayMs: number;
  /** Upper bound of the wait. */
  maxDelayMs: number;
  /** Time in which a failure's weight halves. */
  halfLifeMs: number;
  /** Most addresses remembered at once. */
  maxTracked: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  freeFailures: 3,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
  halfLifeMs: 60_000,
  maxTracked: 10_000,
};

interface Record {
  /** Failure weight as of `at`. */
  score: number;
  at: number;
}

/** Scores below this are forgotten. */
const FORGET_BELOW = 0.05;

/** Expands an IPv6 address to its eight groups (handles `::`, a zone and a trailing dotted IPv4). */
function ipv6Groups(addr: string): string[] | undefined {
  let a = addr.split('%')[0];
  let tail: string[] = [];
  const lastColon = a.lastIndexOf(':');
  const last = a.slice(lastColon + 1);
  if (last.includes('.')) {
    const o = last.split('.').map(Number);
    if (o.length !== 4) return undefined;
    tail = [((o[0] << 8) | o[1]).toString(16), ((o[2] << 8) | o[3]).toString(16)];
    a = a.slice(0, lastColon + 1);
    if (!a.endsWith('::')) a = a.slice(0, -1);
  }
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? Array<string>(Math.max(0, 8 - tail.length - head.length - rest.length)).fill('0') : [];
  const all = [...head, ...fill, ...rest, ...tail];
  return all.length === 8 ? all.map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')) : undefined;
}

/**
 * The key failures are counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix.
 */
export function addressKey(remoteAddress: string): string {
  if (remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.')) return remoteAddress.slice(7);
  if (!isIPv6(remoteAddress)) return remoteAddress;
  const g = ipv6Groups(remoteAddress);
  return g ? `${g.slice(0, 4).join(':')}::/64` : remoteAddress;
}

export class FailureThrottle {
  private readonly records = new Map<string, Record>();
  readonly options: ThrottleOptions;

  constructor(
    options: Partial<ThrottleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.records.size;
  }

  /** The failure weight of an address now, after decay. */
  score(remoteAddress: string): number {
    const key = addressKey(remoteAddress);
    const rec = this.records.get(key);
    if (!rec) return 0;
    const score = this.decayed(rec);
    if (score < FORGET_BELOW) {
      this.records.delete(key);
      return 0;
    }
    return score;
  }

  /** How long an attempt from this address waits before its credentials are checked. */
  delayMs(remoteAddress: string): number {
    const { freeFailures, baseDelayMs, maxDelayMs } = this.options;
    const over = this.score(remoteAddress) - freeFailures;
    if (over <= 0) return 0;
    return Math.min(maxDelayMs, Math.round(baseDelayMs * 2 ** (over - 1)));
  }

  /** Waits the delay for this address (resolves at once when there is none). */
  wait(remoteAddress: string): Promise<void> {
    const ms = this.delayMs(remoteAddress);
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /**
   * Records a failed login. A success is deliberately *not* recorded as a reset: an attacker
   * holding one valid account could otherwise clear the count between guesses.
   */
  failure(remoteAddress: string): void {
    const key = addressKey(remoteAddress);
    const rec = this.records.get(key);
    const score = (rec ? this.decayed(rec) : 0) + 1;
    // Re-inserting moves the address to the end, so the first key is the least recently failed.
    this.records.delete(key);
    this.records.set(key, { score, at: this.now() });
    while (this.records.size > this.options.maxTracked) {
      const oldest = this.records.keys().next().value as string;
      this.records.delete(oldest);
    }
  }

  private decayed(rec: Record): number {
    const elapsed = Math.max(0, this.now() - rec.at);
    return rec.score * 2 ** (-elapsed / this.options.halfLifeMs);
  }
}
