// Scenario 3, fan-out: 1 publisher → 1,000 subscribers of one topic, QoS 0, 64-byte payloads.
// The publisher sends one message per write as fast as the broker delivers (closed loop: at most
// 50 messages not yet received by every subscriber); what counts is copies delivered per second.
import type { ConnectResult } from '../gen/protocol.js';
import { split, startFleet, type Measured, type Scenario } from './scenario.js';
import { WINDOW, connectedOrThrow, countNotes, droppedPct, maxValues, phase } from './common.js';

/** Closed-loop cap in max mode, in published messages not yet delivered to every subscriber. */
const OUTSTANDING_MESSAGES = 50;

export const fanOut: Scenario = {
  id: 3,
  name: 'fan-out',
  summary: '1 publisher → 1,000 subscribers on one topic, QoS 0, 64-byte payloads',
  metrics: [
    { key: 'rate', label: 'max msgs/s delivered (all subscribers)', better: 'higher' },
    { key: 'pubRate', label: '  publishes/s routed', better: 'higher' },
    { key: 'brokerCpu', label: '  broker CPU (% of a core)', better: 'info' },
    { key: 'genCpu', label: '  generator CPU (% of a core)', better: 'info' },
    { key: 'maxP99', label: '  latency p99 at max (ms)', better: 'info', digits: 1 },
    { key: 'dropped', label: 'dropped at max (%)', better: 'lower', digits: 1, noRatio: true },
  ],
  async run(ctx): Promise<Measured> {
    const s = ctx.settings;
    // Two workers share the subscribers; the first also runs the publisher and paces it by what
    // its own half receives.
    const fleet = startFleet(ctx, 2);
    try {
      const pubW = fleet.workers[0];
      const target = ctx.broker.target(ctx.transport);
      const ranges = split(s.fanOutSubscribers, fleet.workers.length);
      const subs = await Promise.all(
        fleet.workers.map((w, k) =>
          w.request<ConnectResult>({
            op: 'connect',
            group: { target, first: ranges[k][0], count: ranges[k][1], clientIdPrefix: 'fanout-sub-', clean: true, keepalive: 60, subscribe: { filter: 'bench/out', qos: 0 }, concurrency: 50 },
          }),
        ),
      );
      connectedOrThrow(subs, s.fanOutSubscribers, 'subscribers');
      connectedOrThrow(
        await pubW.request<ConnectResult>({
          op: 'connect',
          group: { target, first: 0, count: 1, clientIdPrefix: 'fanout-pub-', clean: true, keepalive: 60, publish: { topic: 'bench/out', qos: 0, payloadSize: s.payloadSize }, concurrency: 1 },
        }),
        1,
        'publisher',
      );
      const copies = ranges[0][1];
      const max = await phase(ctx, fleet, [pubW], { mode: 'max', window: WINDOW, batch: 1, outstanding: OUTSTANDING_MESSAGES * copies, copies }, s.fanOutSubscribers);
      return {
        values: { ...maxValues(max), pubRate: max.m.window.receivedPerSec / s.fanOutSubscribers, dropped: droppedPct(max, s.fanOutSubscribers) },
        notes: countNotes(max.after),
      };
    } finally {
      await fleet.close();
    }
  },
};
