// Scenario 8: fan-in QoS 1 with 2,000 messages in flight, on each broker's default limits (issue 18:
// "0 acknowledged messages lost on the default configuration, p99 within 2× of QoS 0's").
// 100 publishers → 1 subscriber of bench/in/+ (QoS 1 subscription), 64-byte payloads, one broker
// started with its own in-flight and queue limits (Starling maxQueuedMessages=1000 with
// queueOverflowPolicy=backPressure, Mosquitto max_queued_messages 1000, Aedes as it comes).
// Two phases, each a warm-up and a measured window, then a bounded wait for what is owed:
//   QoS 1, open loop: each publisher keeps 20 PUBLISHes unacknowledged, 2,000 in all, and sends the
//     next as soon as a PUBACK frees a slot, however far behind the subscriber is (the publishers
//     are bounded by the in-flight count, not by deliveries). A broker that acknowledges faster
//     than it delivers lets its subscriber's queue grow to the limit; what it does then is the
//     point: drop acknowledged messages, or hold the publishers. Every message is counted.
//   QoS 0, the same publishers reconnected at QoS 0: there is no acknowledgement to bound them by,
//     so at most the same 2,000 messages are kept between publishers and subscriber (sent, not
//     yet received: the closed loop of gen/pacer.ts). Its p99 is the yardstick for QoS 1's.
// Each phase also reports its messages on the way (rate × mean latency, Little's law): how many
// it really kept between the publishers' sends and the subscriber, which with the rates says
// where a p99 ratio comes from.
// QoS 1 runs first, so QoS 0's drops (sequence gaps) cannot be counted against it.
import type { QoS } from '../../src/protocol/constants.js';
import type { Fleet, GenWorker } from '../gen/fleet.js';
import type { ConnectResult, Counts, GroupSpec } from '../gen/protocol.js';
import { countNotes, connectedOrThrow, droppedPct, phase, type Phase } from './common.js';
import { fmtCount, sleep, startFleet, type Measured, type MetricDef, type RunContext, type Scenario } from './scenario.js';

export const IN_FLIGHT = 2000;
const PUBLISHERS = 100;
/** Unacknowledged QoS 1 PUBLISHes per publisher: IN_FLIGHT over the publishers. */
const PER_PUBLISHER = IN_FLIGHT / PUBLISHERS;
/** Longest wait for acknowledged messages still arriving after the QoS 1 phase. */
const QOS1_DRAIN_MS = 15_000;
const PUB_PREFIX = 'inflight-pub-';

export const inFlight: Scenario = {
  id: 8,
  name: 'fan-in QoS 1, 2,000 in flight, default limits',
  summary:
    `100 publishers → 1 wildcard subscriber, 64-byte payloads, each broker on its own default queue limits: ` +
    `QoS 1 open loop with ${fmtCount(IN_FLIGHT)} PUBLISHes unacknowledged (20 per publisher), then QoS 0 with ${fmtCount(IN_FLIGHT)} undelivered; ` +
    `loss and p99(QoS 1)/p99(QoS 0)`,
  limits: 'defaults',
  metrics: [
    ...phaseMetrics('q1'),
    { key: 'q1InFlight', label: '  PUBLISHes unacknowledged at the window end', better: 'info' },
    { key: 'undelivered', label: 'QoS 1: acknowledged but not delivered (must be 0)', better: 'lower', digits: 0, noRatio: true },
    ...phaseMetrics('q0'),
    { key: 'q0Dropped', label: '  dropped (%)', better: 'lower', digits: 1, noRatio: true },
    { key: 'p99Ratio', label: 'p99 QoS 1 ÷ p99 QoS 0 (target ≤ 2)', better: 'lower', digits: 2, noRatio: true },
  ],
  async run(ctx): Promise<Measured> {
    // One worker holds both ends, so QoS 0's closed loop stays inside it.
    const fleet = startFleet(ctx, 1);
    const notes: string[] = [];
    try {
      const [w] = fleet.workers;
      const target = ctx.broker.target(ctx.transport);
      connectedOrThrow(
        await w.request<ConnectResult>({
          op: 'connect',
          group: { target, first: 0, count: 1, clientIdPrefix: 'inflight-sub-', clean: true, keepalive: 60, subscribe: { filter: 'bench/in/+', qos: 1 }, concurrency: 1 },
        }),
        1,
        'subscriber',
      );
      await connectPublishers(w, publishers(ctx, 1));

      const q1 = await qos1Phase(ctx, fleet, w);
      const values: Record<string, number> = { ...phaseValues('q1', q1.p), q1InFlight: q1.inFlight };
      const acked = q1.p.after.acked - q1.before.acked;
      values.undelivered = Math.max(0, acked - q1.p.arrived);
      const gaps = q1.p.after.gaps - q1.before.gaps;
      if (gaps > 0) notes.push(`QoS 1: ${fmtCount(gaps)} messages skipped (later messages of the same publishers arrived, these never did)`);
      if (q1.p.after.inflight > 0) notes.push(`QoS 1: ${fmtCount(q1.p.after.inflight)} publishes still unacknowledged ${QOS1_DRAIN_MS / 1000} s after publishing stopped`);
      else if (!q1.p.complete && values.undelivered > 0) notes.push(`QoS 1: ${fmtCount(values.undelivered)} acknowledged messages never arrived (arrivals had stopped, or ${QOS1_DRAIN_MS / 1000} s passed, after publishing stopped)`);
      notes.push(...countNotes(q1.p.after).map((n) => `QoS 1: ${n}`));

      // The same publishers (same client ids, topics and sequence numbers) again at QoS 0.
      await w.request({ op: 'disconnect', prefix: PUB_PREFIX });
      await sleep(200, ctx.signal);
      await connectPublishers(w, publishers(ctx, 0));
      const q0 = await phase(ctx, fleet, [w], { mode: 'max', window: PER_PUBLISHER, batch: 1, outstanding: IN_FLIGHT, copies: 1 }, 1);
      Object.assign(values, phaseValues('q0', q0));
      values.q0Dropped = droppedPct(q0, 1);
      values.p99Ratio = values.q0P99 > 0 ? values.q1P99 / values.q0P99 : NaN;
      if (q0.after.forgiven > q1.p.after.forgiven) notes.push(`QoS 0: ${fmtCount(q0.after.forgiven - q1.p.after.forgiven)} deliveries stopped arriving (written off by the closed loop)`);
      if (q0.after.dropped > q1.p.after.dropped) notes.push(`QoS 0: ${q0.after.dropped - q1.p.after.dropped} connections closed by the broker`);
      return { values, notes };
    } finally {
      await fleet.close();
    }
  },
};

function publishers(ctx: RunContext, qos: QoS): GroupSpec {
  return {
    target: ctx.broker.target(ctx.transport),
    first: 0,
    count: PUBLISHERS,
    clientIdPrefix: PUB_PREFIX,
    clean: true,
    keepalive: 60,
    publish: { topic: 'bench/in/{i}', qos, payloadSize: ctx.settings.payloadSize },
    concurrency: 50,
  };
}

async function connectPublishers(w: GenWorker, group: GroupSpec): Promise<void> {
  connectedOrThrow(await w.request<ConnectResult>({ op: 'connect', group }), group.count, `publishers (QoS ${group.publish!.qos})`);
}

/** The QoS 1 phase, open loop; also samples the PUBLISHes unacknowledged as the window ends. */
async function qos1Phase(ctx: RunContext, fleet: Fleet, w: GenWorker): Promise<{ p: Phase; before: Counts; inFlight: number }> {
  let inFlight = NaN;
  const p = await phase(ctx, fleet, [w], { mode: 'max', window: PER_PUBLISHER, batch: 1 }, 1, QOS1_DRAIN_MS, async () => {
    inFlight = (await fleet.counts()).inflight;
  });
  return { p, before: p.before, inFlight };
}

/** The rows of one phase (see phaseValues). */
function phaseMetrics(prefix: 'q0' | 'q1'): MetricDef[] {
  return [
    { key: `${prefix}Rate`, label: `QoS ${prefix[1]}: msgs/s delivered`, better: 'higher' },
    { key: `${prefix}P50`, label: '  latency p50 (ms)', better: 'lower', digits: 1 },
    { key: `${prefix}P99`, label: '  latency p99 (ms)', better: 'lower', digits: 1 },
    { key: `${prefix}OnTheWay`, label: '  messages on the way (rate × mean latency)', better: 'info' },
    { key: `${prefix}Cpu`, label: '  broker CPU (% of a core)', better: 'info' },
    { key: `${prefix}CpuUs`, label: '  broker CPU µs per message published', better: 'lower', digits: 1 },
    { key: `${prefix}GenCpu`, label: '  generator CPU (% of a core)', better: 'info' },
  ];
}

/**
 * A phase's window as figures. By Little's law the messages on the way (sent, not yet received)
 * are the delivery rate times the mean latency, so the latencies of two phases compare as their
 * messages on the way over their rates.
 */
function phaseValues(prefix: 'q0' | 'q1', p: Phase): Record<string, number> {
  const w = p.m.window;
  const perSec = w.receivedPerSec;
  return {
    [`${prefix}Rate`]: perSec,
    [`${prefix}P50`]: w.latency.percentile(50) / 1000,
    [`${prefix}P99`]: w.latency.percentile(99) / 1000,
    [`${prefix}OnTheWay`]: (perSec * w.latency.mean) / 1e6,
    [`${prefix}Cpu`]: p.m.brokerCpu,
    // Broker CPU per message published over the window, µs: per message the broker took in, so a
    // broker that drops most of them is not charged its whole CPU against the few it delivered.
    [`${prefix}CpuUs`]: w.sentPerSec > 0 ? (p.m.brokerCpu / 100 / w.sentPerSec) * 1e6 : NaN,
    [`${prefix}GenCpu`]: p.m.genCpu,
  };
}
