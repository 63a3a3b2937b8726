// Scenarios 1 and 2, fan-in: 100 publishers → 1 subscriber on a wildcard filter, 64-byte payloads.
// Phases, in this order so no backlog from a throughput phase can inflate the latencies:
//   steady: 20,000 msgs/s offered, one message per write, for latency;
//   max: as fast as the broker delivers, one message per write (independent devices);
//   pipelined (QoS 0): the same with 32 messages per write (busy clients batching).
// At QoS 1 each publisher also keeps at most 100 messages unacknowledged, and every message is
// counted: the run reports any message acknowledged by the broker but never delivered. The max
// phases are closed-loop (see gen/pacer.ts), so no broker's queue needs to overflow: without the
// loop, publishers acknowledged on receipt outrun the one subscriber, every broker's queue grows
// to its limit and drops, and the run would measure the queue limit, not the broker.
import type { QoS } from '../../src/protocol/constants.js';
import type { ConnectResult } from '../gen/protocol.js';
import { startFleet, type Measured, type Scenario } from './scenario.js';
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

/** Closed-loop cap in max mode: deliveries sent and not yet received (50 per publisher). */
const MAX_OUTSTANDING = 5000;
/** QoS 1: how long to keep waiting for acknowledged messages while they are still arriving. */
const QOS1_DRAIN_MS = 20_000;

export function fanIn(qos: QoS): Scenario {
  return {
    id: qos === 0 ? 1 : 2,
    name: `fan-in QoS ${qos}`,
    summary: `100 publishers → 1 wildcard subscriber, QoS ${qos}, 64-byte payloads${qos === 1 ? ', inflight window 100 per publisher' : ''}`,
    metrics: [
      ...latencyMetrics,
      ...maxMetrics,
      ...(qos === 0 ? pipelinedMetrics : []),
      qos === 1
        ? { key: 'undelivered', label: 'acknowledged but not delivered (must be 0)', better: 'lower', digits: 0, noRatio: true }
        : { key: 'dropped', label: 'dropped at max (%)', better: 'lower', digits: 1, noRatio: true },
    ],
    async run(ctx): Promise<Measured> {
      const s = ctx.settings;
      // One worker holds both ends, so the closed loop of max mode stays inside it.
      const fleet = startFleet(ctx, 1);
      const notes: string[] = [];
      try {
        const sub = fleet.workers[0];
        const w = fleet.workers;
        const target = ctx.broker.target(ctx.transport);
        connectedOrThrow(
          await sub.request<ConnectResult>({
            op: 'connect',
            group: { target, first: 0, count: 1, clientIdPrefix: 'fanin-sub-', clean: true, keepalive: 60, subscribe: { filter: 'bench/in/+', qos }, concurrency: 1 },
          }),
          1,
          'subscriber',
        );
        connectedOrThrow(
          await w[0].request<ConnectResult>({
            op: 'connect',
            group: {
              target,
              first: 0,
              count: s.fanInPublishers,
              clientIdPrefix: 'fanin-pub-',
              clean: true,
              keepalive: 60,
              publish: { topic: 'bench/in/{i}', qos, payloadSize: s.payloadSize },
              concurrency: 50,
            },
          }),
          s.fanInPublishers,
          'publishers',
        );

        const steady = await phase(ctx, fleet, w, { mode: 'rate', rate: s.steadyRate, window: WINDOW, batch: 1 }, 1);
        const outstanding = MAX_OUTSTANDING;
        const max = await phase(ctx, fleet, w, { mode: 'max', window: WINDOW, batch: 1, outstanding, copies: 1 }, 1, qos === 1 ? QOS1_DRAIN_MS : undefined);
        const values: Record<string, number> = { ...steadyValues(steady), ...maxValues(max) };
        let last = max;
        if (qos === 0) {
          const piped = await phase(ctx, fleet, w, { mode: 'max', window: WINDOW, batch: PIPELINED, outstanding, copies: 1 }, 1);
          Object.assign(values, maxValues(piped, 'Pipelined'));
          values.dropped = Math.max(droppedPct(max, 1), droppedPct(piped, 1));
          last = piped;
        } else {
          const c = max.after;
          values.undelivered = c.sent - (c.received - c.duplicates);
          if (!steady.complete) notes.push('steady phase: not every message had arrived before the max phase began');
          if (c.gaps > 0) notes.push(`${c.gaps} acknowledged messages skipped: later messages of the same publishers arrived, these never did`);
          if (!max.complete && values.undelivered > c.gaps) {
            notes.push(
              c.inflight > 0
                ? `${c.inflight} publishes still unacknowledged ${QOS1_DRAIN_MS / 1000} s after publishing stopped`
                : `${values.undelivered - c.gaps} acknowledged messages still undelivered when the wait ended (${QOS1_DRAIN_MS / 1000} s)`,
            );
          }
        }
        notes.push(...countNotes(last.after));
        return { values, notes };
      } finally {
        await fleet.close();
      }
    },
  };
}
