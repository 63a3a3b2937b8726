// Slows down credential guessing from one address: each login attempt from an address with recent
// failures waits first, longer as failures pile up, bounded, and the count decays over time so a
// user who mistyped is back to full speed soon. The wait comes *before* the check, success or not,
// so an attacker cannot cut a slow answer short to learn that it was a failure.
//
// Failures count against the client's address and against the user name it tried, so neither one
// address trying many names nor many addresses trying one name go fast. Memory stays bounded: at
// most `maxTracked` addresses and as many user names are remembered (least recently failed go
// first), and IPv6 clients are tracked per /64, since one host usually owns a whole /64.
import { createHash } from 'node:crypto';
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

/** Failure weights by key, decaying, at most `maxTracked` keys (least recently failed go first). */
class DecayingScores {
  private readonly records = new Map<string, Record>();

  constructor(
    private readonly options: ThrottleOptions,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.records.size;
  }

  score(key: string): number {
    const rec = this.records.get(key);
    if (!rec) return 0;
    const score = this.decayed(rec);
    if (score < FORGET_BELOW) {
      this.records.delete(key);
      return 0;
    }
    return score;
  }

  add(key: string, weight: number): void {
    const rec = this.records.get(key);
    const score = (rec ? this.decayed(rec) : 0) + weight;
    // Re-inserting moves the key to the end, so the first key is the least recently failed.
    this.records.delete(key);
    if (score < FORGET_BELOW) return;
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

/**
 * The key a user name's failures are counted under: the name, or for a long one its hash, so
 * memory per key stays small. A NUL (never in an MQTT string [MQTT-1.5.4-2]) keeps the two apart.
 */
const userKey = (user: string): string => (user.length <= 128 ? user : `\0${createHash('sha256').update(user).digest('base64')}`);

/** What `failure` counted, so that `refund` can take exactly that back. */
export interface FailureReceipt {
  remoteAddress: string;
  user?: string;
  at: number;
}

export class FailureThrottle {
  readonly options: ThrottleOptions;
  /** By address (IPv6 by /64): one client guessing many names. */
  private readonly addresses: DecayingScores;
  /** By claimed user name: many addresses guessing one name. */
  private readonly users: DecayingScores;

  constructor(
    options: Partial<ThrottleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
    this.addresses = new DecayingScores(this.options, now);
    this.users = new DecayingScores(this.options, now);
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.addresses.size;
  }

  /** User names currently remembered. */
  get usersTracked(): number {
    return this.users.size;
  }

  /** The failure weight of an address now, after decay. */
  score(remoteAddress: string): number {
    return this.addresses.score(addressKey(remoteAddress));
  }

  /** The failure weight of a user name now, after decay. */
  userScore(user: string): number {
    return this.users.score(userKey(user));
  }

  /**
   * How long an attempt from this address (and, when given, for this user name) waits before its
   * credentials are checked: the longer of the two.
   */
  delayMs(remoteAddress: string, user?: string): number {
    const score = Math.max(this.score(remoteAddress), user === undefined ? 0 : this.userScore(user));
    return this.delayFor(score);
  }

  /** How long an attempt for this user name waits, whatever the address. */
  userDelayMs(user: string): number {
    return this.delayFor(this.userScore(user));
  }

  /** Waits the delay for this address and user name (resolves at once when there is none). */
  wait(remoteAddress: string, user?: string): Promise<void> {
    return sleep(this.delayMs(remoteAddress, user));
  }

  /** Waits the delay of the user name alone (the address's was waited for already). */
  waitForUser(user: string): Promise<void> {
    return sleep(this.userDelayMs(user));
  }

  /**
   * Records a failed login against the address and, when given, the user name. A success is
   * deliberately *not* recorded as a reset: an attacker holding one valid account could otherwise
   * clear the count between guesses.
   */
  failure(remoteAddress: string, user?: string): FailureReceipt {
    this.addresses.add(addressKey(remoteAddress), 1);
    if (user !== undefined) this.users.add(userKey(user), 1);
    return user === undefined ? { remoteAddress, at: this.now() } : { remoteAddress, user, at: this.now() };
  }

  /**
   * Takes back a failure counted in advance for an attempt that then succeeded (an enhanced
   * authentication exchange counts as failed from its start, so that one abandoned half-way is
   * counted too): what that failure still weighs, after decay, is removed.
   */
  refund(receipt: FailureReceipt): void {
    const weight = -(2 ** (-Math.max(0, this.now() - receipt.at) / this.options.halfLifeMs));
    this.addresses.add(addressKey(receipt.remoteAddress), weight);
    if (receipt.user !== undefined) this.users.add(userKey(receipt.user), weight);
  }

  private delayFor(score: number): number {
    const { freeFailures, baseDelayMs, maxDelayMs } = this.options;
    const over = score - freeFailures;
    if (over <= 0) return 0;
    return Math.min(maxDelayMs, Math.round(baseDelayMs * 2 ** (over - 1)));
  }
}

const sleep = (ms: number): Promise<void> => (ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms)));
