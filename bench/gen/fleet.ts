// The parent's side of the load generator: forks worker processes, sends them commands and
// gathers their answers. Workers exit when the parent disconnects, so none outlives the run.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuTimes, type CpuTimes } from '../system.js';
import { Histogram } from './histogram.js';
import type { Command, Counts, Reply, Snapshot } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const COMMAND_TIMEOUT_MS = 120_000;

export class GenWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(m.error));
    });
    child.once('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`generator worker exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T>(cmd: Command, timeoutMs = COMMAND_TIMEOUT_MS): Promise<T> {
    if (this.exited) return Promise.reject(new Error('generator worker has exited'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`generator worker did not answer ${cmd.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...cmd, id });
    });
  }

  async exit(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.request({ op: 'exit' }, 2000).catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}

export class Fleet {
  /** CPU the workers had used when the fleet closed (it cannot be read after they exit). */
  private spent: CpuTimes | undefined;

  private constructor(readonly workers: GenWorker[]) {}

  static start(n: number): Fleet {
    // No inherited --cpu-prof or inspector flags: only the broker is profiled.
    return new Fleet(Array.from({ length: n }, () => new GenWorker(fork(WORKER, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))));
  }

  all<T>(cmd: Command, subset: GenWorker[] = this.workers, timeoutMs?: number): Promise<T[]> {
    return Promise.all(subset.map((w) => w.request<T>(cmd, timeoutMs)));
  }

  /** CPU used by all workers so far (or in all, once closed). */
  cpuTimes(): CpuTimes {
    if (this.spent) return this.spent;
    const sum = { user: 0, system: 0 };
    for (const w of this.workers) {
      const t = cpuTimes(w.pid);
      sum.user += t.user;
      sum.system += t.system;
    }
    return sum;
  }

  async counts(subset: GenWorker[] = this.workers): Promise<Counts> {
    const all = await this.all<Counts>({ op: 'counts' }, subset);
    return sumCounts(all);
  }

  async close(): Promise<void> {
    this.spent ??= this.cpuTimes();
    await Promise.all(this.workers.map((w) => w.exit()));
  }
}

export function sumCounts(all: Counts[]): Counts {
  const hasSubscribers = all.filter((c) => c.subscribers > 0);
  return {
    sent: all.reduce((s, c) => s + c.sent, 0),
    acked: all.reduce((s, c) => s + c.acked, 0),
    inflight: all.reduce((s, c) => s + c.inflight, 0),
    received: all.reduce((s, c) => s + c.received, 0),
    duplicates: all.reduce((s, c) => s + c.duplicates, 0),
    gaps: all.reduce((s, c) => s + c.gaps, 0),
    forgiven: all.reduce((s, c) => s + c.forgiven, 0),
    dropped: all.reduce((s, c) => s + c.dropped, 0),
    subscribers: all.reduce((s, c) => s + c.subscribers, 0),
    minPerSubscriber: hasSubscribers.length ? Math.min(...hasSubscribers.map((c) => c.minPerSubscriber)) : 0,
    connected: all.reduce((s, c) => s + c.connected, 0),
    done: all.every((c) => c.done),
  };
}

/** A measurement window summed over workers: rates use each worker's own window length. */
export interface Window {
  received: number;
  receivedPerSec: number;
  sentPerSec: number;
  latency: Histogram;
}

export function sumSnapshots(all: Snapshot[]): Window {
  const latency = new Histogram();
  let receivedPerSec = 0;
  let sentPerSec = 0;
  let received = 0;
  for (const s of all) {
    latency.merge(s.latency);
    received += s.received;
    if (s.elapsedMs > 0) {
      receivedPerSec += (s.received * 1000) / s.elapsedMs;
      sentPerSec += (s.sent * 1000) / s.elapsedMs;
    }
  }
  return { received, receivedPerSec, sentPerSec, latency };
}
