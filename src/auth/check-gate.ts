// How many credential checks run at once, and whose go next. A password check is a memory-hard
// scrypt on libuv's small thread pool (4 threads by default), shared with file I/O: an audit opened
// 300 CONNECTs with wrong passwords from one address at once, all of them passed the failure
// slow-down (it counts failures, and none had failed yet), and a user logging in from elsewhere
// waited behind them until the connect timeout closed her. So:
//  - at most `maxRunning` checks run at once, broker-wide;
//  - the ones waiting are taken in turn by address (round robin), not in arrival order, so one
//    address's burst delays another address's login by one check at most per address ahead of it;
//  - one address has at most `maxPerAddress` checks running or waiting: the next is refused at once
//    (CONNACK 0x89 Server busy / 3.1.1 return code 3) without doing the work.
// An attempt waiting here holds nothing but its place; the connect timeout still bounds it.
import { addressKey } from './throttle.js';

export interface CheckGateOptions {
  /** Checks running at once. Default 4 (libuv's default thread pool). */
  maxRunning: number;
  /** Checks running or waiting per address (IPv6 per /64). Default 8. */
  maxPerAddress: number;
}

export const DEFAULT_CHECK_GATE: CheckGateOptions = { maxRunning: 4, maxPerAddress: 8 };

/** Thrown (rejected) when an address already has its most checks under way. */
export class TooManyChecks extends Error {
  constructor(readonly address: string) {
    super(`too many credential checks under way from ${address}`);
  }
}

interface Waiting {
  start: () => void;
}

export class CheckGate {
  readonly options: CheckGateOptions;
  private running = 0;
  /** Checks running or waiting, by address key. */
  private readonly perAddress = new Map<string, number>();
  /** Waiting checks by address key; the Map's order is the round robin. */
  private readonly waiting = new Map<string, Waiting[]>();

  constructor(options: Partial<CheckGateOptions> = {}) {
    this.options = { ...DEFAULT_CHECK_GATE, ...options };
  }

  /** Checks running now. */
  get active(): number {
    return this.running;
  }

  /** Checks waiting for a turn. */
  get queued(): number {
    let n = 0;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }

  /** Runs `check` when its address's turn comes; rejects with TooManyChecks past maxPerAddress. */
  run<T>(remoteAddress: string, check: () => Promise<T>): Promise<T> {
    const key = addressKey(remoteAddress);
    const held = this.perAddress.get(key) ?? 0;
    if (held >= this.options.maxPerAddress) return Promise.reject(new TooManyChecks(key));
    this.perAddress.set(key, held + 1);
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        // The turn is given back before the caller hears the outcome (and before the next check starts).
        let p: Promise<T>;
        try {
          p = check();
        } catch (err) {
          this.done(key);
          return reject(err);
        }
        p.then(
          (v) => {
            this.done(key);
            resolve(v);
          },
          (err: unknown) => {
            this.done(key);
            reject(err);
          },
        );
      };
      if (this.running < this.options.maxRunning) return start();
      const list = this.waiting.get(key);
      if (list) list.push({ start });
      else this.waiting.set(key, [{ start }]);
    });
  }

  private done(key: string): void {
    this.running--;
    const held = (this.perAddress.get(key) ?? 1) - 1;
    if (held <= 0) this.perAddress.delete(key);
    else this.perAddress.set(key, held);
    // The next address in turn: its first waiting check starts, and the address goes to the back.
    const next = this.waiting.entries().next();
    if (next.done) return;
    const [k, list] = next.value;
    this.waiting.delete(k);
    const first = list.shift()!;
    if (list.length > 0) this.waiting.set(k, list);
    first.start();
  }
}
