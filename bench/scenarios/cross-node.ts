// Scenario 7, cross-node: the 1-to-1 pairs of scenario 4 with every publisher on node 1 and every
// subscriber on node 2 of a two-node cluster (over one nats-server), QoS 0, 64-byte payloads:
// latency at 20,000 msgs/s offered and throughput at 1 and 32 msgs per write. Each message crosses
// NATS once (node 1 → nats-server → node 2), so this is the price of a cluster hop.
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

export const crossNode: Scenario = {
  id: 7,
  name: 'cross-node pairs',
  summary: 'publisher on node 1, subscriber on node 2 of a 2-node cluster; 1,000 pairs, QoS 0, 64-byte payloads',
  brokers: ['starling-cluster'],
  metrics: [...latencyMetrics, ...maxMetrics, ...pipelinedMetrics, { key: 'dropped', label: 'dropped at max (%)', better: 'lower', digits: 1, noRatio: true }],
  async run(ctx): Promise<Measured> {
    const s = ctx.settings;
    const fleet = startFleet(ctx, 2);
    try {
      const w = fleet.workers;
      const ranges = split(s.pairs, w.length);
      const group = (k: number, role: 'sub' | 'pub') => ({
        target: ctx.broker.target(ctx.transport, role),
        first: ranges[k][0],
        count: ranges[k][1],
        clientIdPrefix: `xpair-${role}-`,
        clean: true,
        keepalive: 60,
        concurrency: 50,
        ...(role === 'sub'
          ? { subscribe: { filter: 'bench/xpair/{i}', qos: 0 as const } }
          : { publish: { topic: 'bench/xpair/{i}', qos: 0 as const, payloadSize: s.payloadSize } }),
      });
      connectedOrThrow(await Promise.all(w.map((x, k) => x.request<ConnectResult>({ op: 'connect', group: group(k, 'sub') }))), s.pairs, 'subscribers');
      // The subscriptions reach the other node through NATS: give them a moment before publishing.
      await new Promise((r) => setTimeout(r, 500));
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
