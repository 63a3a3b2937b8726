// Pieces several scenarios share: the QoS 1 window, the usual metrics, connection checks, and the
// publishing phases (steady rate for latency, closed-loop max for throughput).
import type { GenWorker } from '../gen/fleet.js';
import type { Fleet } from '../gen/fleet.js';
import type { ConnectResult, Counts, PublishPlan } from '../gen/protocol.js';
import { drain, measureWindow, type Measurement, type MetricDef, type RunContext } from './scenario.js';

/** Unacknowledged QoS 1 PUBLISHes allowed per publishing client. */
export const WINDOW = 100;
/** Messages per write in the pipelined max phase. */
export const PIPELINED = 32;

export const maxMetrics: MetricDef[] = [
  { key: 'rate', label: 'max msgs/s, 1 msg per write', better: 'higher' },
  { key: 'brokerCpu', label: '  broker CPU (% of a core)', better: 'info' },
  { key: 'genCpu', label: '  generator CPU (% of a core)', better: 'info' },
  { key: 'maxP99', label: '  latency p99 at max (ms)', better: 'info', digits: 1 },
];

export const pipelinedMetrics: MetricDef[] = [
  { key: 'ratePipelined', label: `max msgs/s, ${PIPELINED} msgs per write`, better: 'higher' },
  { key: 'brokerCpuPipelined', label: '  broker CPU (% of a core)', better: 'info' },
];

export const latencyMetrics: MetricDef[] = [
  { key: 'steadyRate', label: 'msgs/s delivered at 20k/s offered', better: 'info' },
  { key: 'p50', label: 'latency p50 at 20k/s (ms)', better: 'lower', digits: 2 },
  { key: 'p99', label: 'latency p99 at 20k/s (ms)', better: 'lower', digits: 2 },
];

/** Throws unless every client of the group(s) connected. */
export function connectedOrThrow(results: ConnectResult | ConnectResult[], expected: number, what: string): void {
  const all = Array.isArray(results) ? results : [results];
  const connected = all.reduce((s, r) => s + r.connected, 0);
  if (connected < expected) {
    const err = all.find((r) => r.firstError)?.firstError ?? 'unknown';
    throw new Error(`${what}: ${connected} of ${expected} connected (${err})`);
  }
}

export interface Phase {
  m: Measurement;
  /** Counts as the phase began. */
  before: Counts;
  /** Counts after the phase's messages had time to arrive. */
  after: Counts;
  /** Every message sent arrived (`copies` times). */
  complete: boolean;
  /** Messages sent and distinct deliveries during the phase (for drop rates). */
  sent: number;
  arrived: number;
}

/**
 * Publishes by `plan` from `publishers`, measures one window, stops and waits for delivery.
 * `atWindowEnd` runs as the window closes, while the publishers still send (to sample state).
 */
export async function phase(
  ctx: RunContext,
  fleet: Fleet,
  publishers: GenWorker[],
  plan: PublishPlan,
  copies: number,
  drainMs?: number,
  atWindowEnd?: () => Promise<void>,
): Promise<Phase> {
  const before = await fleet.counts();
  await fleet.all({ op: 'publish', plan }, publishers);
  const m = await measureWindow(ctx, fleet);
  await atWindowEnd?.();
  await fleet.all({ op: 'stop' }, publishers);
  const d = await drain(ctx, fleet, copies, drainMs);
  const arrived = (c: Counts): number => c.received - c.duplicates;
  return { m, before, after: d.counts, complete: d.complete, sent: d.counts.sent - before.sent, arrived: arrived(d.counts) - arrived(before) };
}

/** Share of deliveries that never arrived, in %. */
export function droppedPct(p: Phase, copies: number): number {
  const expected = p.sent * copies;
  return expected > 0 ? (100 * Math.max(0, expected - p.arrived)) / expected : 0;
}

export function maxValues(p: Phase, suffix = ''): Record<string, number> {
  return {
    [`rate${suffix}`]: p.m.window.receivedPerSec,
    [`brokerCpu${suffix}`]: p.m.brokerCpu,
    [`genCpu${suffix}`]: p.m.genCpu,
    [`maxP99${suffix}`]: p.m.window.latency.percentile(99) / 1000,
  };
}

export function steadyValues(p: Phase): Record<string, number> {
  return {
    steadyRate: p.m.window.receivedPerSec,
    p50: p.m.window.latency.percentile(50) / 1000,
    p99: p.m.window.latency.percentile(99) / 1000,
  };
}

/** Notes about a run's counts worth printing under the table. */
export function countNotes(c: Counts): string[] {
  const notes: string[] = [];
  if (c.forgiven > 0) notes.push(`${c.forgiven} deliveries stopped arriving in a max phase (written off by the closed loop)`);
  if (c.duplicates > 0) notes.push(`${c.duplicates} duplicate deliveries`);
  if (c.dropped > 0) notes.push(`${c.dropped} connections closed by the broker`);
  return notes;
}
