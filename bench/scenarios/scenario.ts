// What a scenario is, the settings a run uses (full or --quick), and the measuring steps the
// scenarios share: warm up, open a window, read broker and generator CPU, wait for delivery.
import type { RunningBroker } from '../brokers/launch.js';
import type { BrokerLimits, BrokerName } from '../brokers/commands.js';
import type { TransportName } from '../gen/conn.js';
import { Fleet, sumSnapshots, type Window } from '../gen/fleet.js';
import type { GenWorker } from '../gen/fleet.js';
import type { Counts, Snapshot } from '../gen/protocol.js';
import { cpuTimes, machineUserSeconds } from '../system.js';

export interface MetricDef {
  key: string;
  label: string;
  /** For the ratio columns: which way is better; `info` rows get no ratio. */
  better: 'higher' | 'lower' | 'info';
  /** Digits after the decimal point in the table. */
  digits?: number;
  /** Counts that should be 0 (losses, drops): shown with their arrow but no ratio. */
  noRatio?: boolean;
}

export interface Measured {
  values: Record<string, number>;
  /** Facts worth a footnote: losses, dropped connections, unfinished drains. */
  notes: string[];
}

export interface Settings {
  quick: boolean;
  warmupMs: number;
  measureMs: number;
  /** Longest wait for in-flight messages to arrive after publishing stops. */
  drainMs: number;
  payloadSize: number;
  fanInPublishers: number;
  steadyRate: number;
  fanOutSubscribers: number;
  pairs: number;
  scaleSteps: number[];
  /** Scenario 5: how long each step's clients stay idle before the second memory reading (the metric's label says 45 s). */
  settleMs: number;
  offlineSessions: number;
  offlinePerSession: number;
}

export function settingsFor(quick: boolean, seconds?: number): Settings {
  const measureMs = seconds !== undefined ? seconds * 1000 : quick ? 1000 : 3000;
  return {
    quick,
    warmupMs: quick ? 300 : 1000,
    measureMs,
    drainMs: quick ? 2000 : 5000,
    payloadSize: 64,
    fanInPublishers: 100,
    steadyRate: 20_000,
    fanOutSubscribers: quick ? 100 : 1000,
    pairs: quick ? 100 : 1000,
    scaleSteps: quick ? [1000, 2000] : [10_000, 19_000],
    settleMs: 45_000,
    offlineSessions: quick ? 20 : 100,
    offlinePerSession: quick ? 100 : 500,
  };
}

export interface RunContext {
  broker: RunningBroker;
  transport: TransportName;
  settings: Settings;
  signal: AbortSignal;
  /** Registers a fleet so an abort (Ctrl-C) can stop it. */
  track(fleet: Fleet): void;
  /** Reports other processes' CPU during a window (the runner flags disturbed runs). */
  noteLoad?(otherCpu: number): void;
}

export interface Scenario {
  id: number;
  name: string;
  summary: string;
  metrics: MetricDef[];
  /** Brokers this scenario runs against (default: all). */
  brokers?: readonly BrokerName[];
  /** Each broker started with the bench's queue limits (default) or its own defaults. */
  limits?: BrokerLimits;
  run(ctx: RunContext): Promise<Measured>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function startFleet(ctx: RunContext, workers: number): Fleet {
  const fleet = Fleet.start(workers);
  ctx.track(fleet);
  return fleet;
}

export interface Measurement {
  window: Window;
  /** Broker CPU over the window, % of one core. */
  brokerCpu: number;
  /** All generator workers' CPU over the window, % of one core. */
  genCpu: number;
  /** User-space CPU of everything else on the machine over the window, % of one core (noise). */
  otherCpu: number;
}

/** Other processes' CPU above which a window's figures are flagged as disturbed, % of a core. */
export const DISTURBED_CPU = 25;

/** Warms up, then measures one window across every worker. */
export async function measureWindow(ctx: RunContext, fleet: Fleet): Promise<Measurement> {
  await sleep(ctx.settings.warmupMs, ctx.signal);
  await fleet.all({ op: 'reset' });
  const b0 = cpuTimes(ctx.broker.pid);
  const g0 = fleet.cpuTimes();
  const m0 = machineUserSeconds();
  const self0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await sleep(ctx.settings.measureMs, ctx.signal);
  const snaps = await fleet.all<Snapshot>({ op: 'snapshot' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const b1 = cpuTimes(ctx.broker.pid);
  const g1 = fleet.cpuTimes();
  const oursUser = b1.user - b0.user + (g1.user - g0.user) + process.cpuUsage(self0).user / 1e6;
  const m: Measurement = {
    window: sumSnapshots(snaps),
    brokerCpu: ((b1.user + b1.system - b0.user - b0.system) / seconds) * 100,
    genCpu: ((g1.user + g1.system - g0.user - g0.system) / seconds) * 100,
    otherCpu: Math.max(0, ((machineUserSeconds() - m0 - oursUser) / seconds) * 100),
  };
  ctx.noteLoad?.(m.otherCpu);
  return m;
}

/** Polls the workers until `done` holds or `ms` pass; returns the last counts and whether it held. */
export async function waitFor(
  ctx: RunContext,
  fleet: Fleet,
  done: (c: Counts) => boolean,
  ms: number,
  subset?: GenWorker[],
): Promise<{ counts: Counts; ok: boolean }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const counts = await fleet.counts(subset);
    if (done(counts)) return { counts, ok: true };
    if (Date.now() >= deadline) return { counts, ok: false };
    await sleep(20, ctx.signal);
  }
}

/**
 * After publishing stops: waits until every message sent has arrived `copies` times, or until
 * arrivals stop for a while (QoS 0 drops), within drainMs. `received` counts distinct arrivals.
 */
export async function drain(ctx: RunContext, fleet: Fleet, copies: number, ms = ctx.settings.drainMs): Promise<{ counts: Counts; complete: boolean }> {
  const deadline = Date.now() + ms;
  let last = -1;
  let still = 0;
  for (;;) {
    const c = await fleet.counts();
    const arrived = c.received - c.duplicates;
    if (c.inflight === 0 && arrived >= c.sent * copies) return { counts: c, complete: true };
    if (arrived === last) still++;
    else still = 0;
    last = arrived;
    // Nothing new for 500 ms and nothing in flight: what is missing was dropped.
    if ((still >= 25 && c.inflight === 0) || Date.now() >= deadline) return { counts: c, complete: false };
    await sleep(20, ctx.signal);
  }
}

/** Splits `total` clients over `workers` as [first, count] ranges. */
export function split(total: number, workers: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let first = 0;
  for (let w = 0; w < workers; w++) {
    const count = Math.floor(total / workers) + (w < total % workers ? 1 : 0);
    out.push([first, count]);
    first += count;
  }
  return out;
}

export const fmtCount = (n: number): string => Math.round(n).toLocaleString('en-US');
