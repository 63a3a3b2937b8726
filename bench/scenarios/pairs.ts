// Scenario 4, 1-to-1: 1,000 publisher/subscriber pairs, each pair on its own topic, QoS 0,
// 64-byte payloads. Latency at 20,000 msgs/s offered in total (20 per pair per second), then
// throughput as fast as the broker delivers, one message per write and 32 per write.
import type { ConnectResult } from '../gen/protocol.js';
import { split, startFleet, type Measured, type Scenario } from './scenario.js';
import {
  PIPELINED,
  WINDOW,
  connectedOrThrow,
  countNotes,
  droppedPct,
  latencyMetrics,
  maxMetrics,
  maxValues,
  phase,
  pipelinedMetrics,
  steadyValues,
} from './common.js';

/** Closed-loop cap in max mode: messages per pair sent and not yet received. */
const OUTSTANDING_PER_PAIR = 10;

/** What differs between the single-broker pairs and the cross-node pairs. */
export interface PairsVariant {
  id: number;
  name: string;
  summary: string;
  brokers?: Scenario['brokers'];
  /** Topic and client id stem; distinct per scenario. */
  stem: string;
  /** Subscribers connect to the second node of a cluster (`target(transport, 'sub')`). */
  crossNode?: boolean;
}

export function pairsScenario(v: PairsVariant): Scenario {
  return {
    id: v.id,
    name: v.name,
    summary: v.summary,
    ...(v.brokers ? { brokers: v.brokers } : {}),
    metrics: [...latencyMetrics, ...maxMetrics, ...pipelinedMetrics, { key: 'dropped', label: 'dropped at max (%)', better: 'lower', digits: 1, noRatio: true }],
    async run(ctx): Promise<Measured> {
      const s = ctx.settings;
      // Each of two workers holds whole pairs, so max mode's closed loop stays inside a worker.
      const fleet = startFleet(ctx, 2);
      try {
        const w = fleet.workers;
        const ranges = split(s.pairs, w.length);
        const group = (k: number, role: 'sub' | 'pub') => ({
          target: ctx.broker.target(ctx.transport, v.crossNode ? role : undefined),
          first: ranges[k][0],
          count: ranges[k][1],
          clientIdPrefix: `${v.stem}-${role}-`,
          clean: true,
          keepalive: 60,
          concurrency: 50,
          ...(role === 'sub'
            ? { subscribe: { filter: `bench/${v.stem}/{i}`, qos: 0 as const } }
            : { publish: { topic: `bench/${v.stem}/{i}`, qos: 0 as const, payloadSize: s.payloadSize } }),
        });
        connectedOrThrow(await Promise.all(w.map((x, k) => x.request<ConnectResult>({ op: 'connect', group: group(k, 'sub') }))), s.pairs, 'subscribers');
        // Across nodes the subscriptions reach the other node through NATS: give them a moment.
        if (v.crossNode) await new Promise((r) => setTimeout(r, 500));
        connectedOrThrow(await Promise.all(w.map((x, k) => x.request<ConnectResult>({ op: 'connect', group: group(k, 'pub') }))), s.pairs, 'publishers');

        const steady = await phase(ctx, fleet, w, { mode: 'rate', rate: s.steadyRate / w.length, window: WINDOW, batch: 1 }, 1);
        const outstanding = OUTSTANDING_PER_PAIR * ranges[0][1];
        const max = await phase(ctx, fleet, w, { mode: 'max', window: WINDOW, batch: 1, outstanding, copies: 1 }, 1);
        const piped = await phase(ctx, fleet, w, { mode: 'max', window: WINDOW, batch: PIPELINED, outstanding, copies: 1 }, 1);
        return {
          values: {
            ...steadyValues(steady),
            ...maxValues(max),
            ...maxValues(piped, 'Pipelined'),
            dropped: Math.max(droppedPct(max, 1), droppedPct(piped, 1)),
          },
          notes: countNotes(piped.after),
        };
      } finally {
        await fleet.close();
      }
    },
  };
}

export const pairs: Scenario = pairsScenario({
  id: 4,
  name: '1-to-1 pairs',
  summary: '1,000 publisher/subscriber pairs on distinct topics, QoS 0, 64-byte payloads',
  stem: 'pair',
});
