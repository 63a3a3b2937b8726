// Scenario 6, persistent sessions: 100 subscribers with persistent sessions (Clean Session 0)
// subscribe at QoS 1 and go offline; 100 publishers then send 500 QoS 1 messages each (window 100)
// to them; the subscribers reconnect and drain their queues. Measures how fast messages are
// accepted into offline queues (PUBACKed) and drained, and checks that every one arrives. The same
// again with MQTT 5 clients (Clean Start 0, a Session Expiry Interval that never ends), as rows of
// their own; the protocol is independent of the transport, so both run over tcp and ws.
// Both measured passes come after warm-up passes (one at each protocol level, the same shape, their
// own client ids), as the rate scenarios (1-4, 7, 8) measure after a warm-up window: on a fresh
// process whichever pass ran first paid V8 compiling the broker's code on its background threads,
// about 5 µs of CPU per message more, whatever its protocol, and the first MQTT 5 pass paid about
// 1.6 µs more for the code only MQTT 5 packets reach (docs/benchmarks.md, "Why the first pass
// costs more" and "WebSocket frames both ways, scenario 6 warmed up at MQTT 5 too"). The first
// warm-up's figures are kept as info rows (a broker's first minute is real too), and every
// warm-up's losses count.
import type { ConnectResult, GroupSpec } from '../gen/protocol.js';
import { sleep, startFleet, waitFor, type Measured, type RunContext, type Scenario } from './scenario.js';
import { connectedOrThrow, WINDOW } from './common.js';
import { cpuSeconds } from '../system.js';

const DRAIN_TIMEOUT_MS = 120_000;

/** One pass of the scenario at one protocol level, on a fleet of its own (its counters start at 0). */
async function pass(ctx: RunContext, protocolVersion: 4 | 5, prefix: string): Promise<Measured> {
  const s = ctx.settings;
  const n = s.offlineSessions;
  const total = n * s.offlinePerSession;
  const fleet = startFleet(ctx, 2);
  const notes: string[] = [];
  try {
    const [subW, pubW] = fleet.workers;
    const target = ctx.broker.target(ctx.transport);
    const subs: GroupSpec = {
      target,
      first: 0,
      count: n,
      clientIdPrefix: `${prefix}sub-`,
      clean: false,
      keepalive: 60,
      protocolVersion,
      subscribe: { filter: `bench/${prefix}{i}`, qos: 1 },
      concurrency: 20,
    };
    connectedOrThrow(await subW.request<ConnectResult>({ op: 'connect', group: subs }), n, 'subscribers');
    await subW.request({ op: 'disconnect' });
    await sleep(500, ctx.signal);

    connectedOrThrow(
      await pubW.request<ConnectResult>({
        op: 'connect',
        group: { target, first: 0, count: n, clientIdPrefix: `${prefix}pub-`, clean: true, keepalive: 60, protocolVersion, publish: { topic: `bench/${prefix}{i}`, qos: 1, payloadSize: s.payloadSize }, concurrency: 20 },
      }),
      n,
      'publishers',
    );
    const cpu = (): number => cpuSeconds(ctx.broker.pid);
    let c0 = cpu();
    let t0 = process.hrtime.bigint();
    await pubW.request({ op: 'publish', plan: { mode: 'count', count: s.offlinePerSession, window: WINDOW, batch: 50 } });
    const queued = await waitFor(ctx, fleet, (c) => c.done && c.acked >= total, DRAIN_TIMEOUT_MS, [pubW]);
    const queueSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const queueCpu = cpu() - c0;
    if (!queued.ok) notes.push(`only ${queued.counts.acked} of ${total} publishes acknowledged`);

    c0 = cpu();
    t0 = process.hrtime.bigint();
    const again = await subW.request<ConnectResult>({ op: 'connect', group: subs });
    connectedOrThrow(again, n, 'reconnecting subscribers');
    if (again.sessionPresent < n) notes.push(`${n - again.sessionPresent} sessions not present on reconnect`);
    const drained = await waitFor(ctx, fleet, (c) => c.minPerSubscriber >= s.offlinePerSession, DRAIN_TIMEOUT_MS, [subW]);
    const drainSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const drainCpu = cpu() - c0;
    const c = drained.counts;
    const arrived = c.received - c.duplicates;
    if (c.duplicates > 0) notes.push(`${c.duplicates} duplicate deliveries`);
    if (!drained.ok) notes.push(`drain incomplete after ${DRAIN_TIMEOUT_MS / 1000} s`);
    return {
      values: {
        queueRate: queued.counts.acked / queueSeconds,
        drainRate: arrived / drainSeconds,
        lost: Math.max(0, queued.counts.acked - arrived),
        // CPU per message: what a busy machine distorts least (rates also measure waiting for a core).
        queueCpu: (queueCpu * 1e6) / Math.max(1, queued.counts.acked),
        drainCpu: (drainCpu * 1e6) / Math.max(1, arrived),
      },
      notes,
    };
  } finally {
    await fleet.close();
  }
}

export const offline: Scenario = {
  id: 6,
  name: 'offline queue',
  summary: '100 persistent QoS 1 sessions offline, 500 messages each queued, then drained on reconnect; after a warm-up pass at each protocol level, MQTT 3.1.1, then again with MQTT 5',
  metrics: [
    { key: 'queueRate', label: 'msgs/s queued (PUBACKed)', better: 'higher' },
    { key: 'drainRate', label: 'msgs/s drained on reconnect', better: 'higher' },
    { key: 'lost', label: 'messages lost, warm-up included (must be 0)', better: 'lower', digits: 0, noRatio: true },
    { key: 'queueCpu', label: '  broker CPU per message queued (µs)', better: 'info', digits: 1 },
    { key: 'drainCpu', label: '  broker CPU per message drained (µs)', better: 'info', digits: 1 },
    { key: 'coldQueueCpu', label: '  warm-up pass, first on a fresh process: CPU per message queued (µs)', better: 'info', digits: 1 },
    { key: 'coldDrainCpu', label: '  warm-up pass, first on a fresh process: CPU per message drained (µs)', better: 'info', digits: 1 },
    { key: 'queueRate5', label: 'MQTT 5: msgs/s queued (PUBACKed)', better: 'higher' },
    { key: 'drainRate5', label: 'MQTT 5: msgs/s drained on reconnect', better: 'higher' },
    { key: 'lost5', label: 'MQTT 5: messages lost (must be 0)', better: 'lower', digits: 0, noRatio: true },
    { key: 'queueCpu5', label: '  broker CPU per message queued (µs)', better: 'info', digits: 1 },
    { key: 'drainCpu5', label: '  broker CPU per message drained (µs)', better: 'info', digits: 1 },
  ],
  async run(ctx): Promise<Measured> {
    const warm = await pass(ctx, 4, 'offline-warm-');
    const notes = warm.notes.map((n) => `warm-up: ${n}`);
    // A broker without MQTT 5 (Aedes) refuses these clients: noted, as the MQTT 5 pass below is.
    let warmLost5 = 0;
    try {
      const warm5 = await pass(ctx, 5, 'offline-warm5-');
      warmLost5 = warm5.values.lost;
      notes.push(...warm5.notes.map((n) => `MQTT 5 warm-up: ${n}`));
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      notes.push(`MQTT 5 warm-up: ${(err as Error).message}`);
    }
    const v4 = await pass(ctx, 4, 'offline-');
    const values: Record<string, number> = { ...v4.values };
    values.lost += warm.values.lost + warmLost5;
    values.coldQueueCpu = warm.values.queueCpu;
    values.coldDrainCpu = warm.values.drainCpu;
    notes.push(...v4.notes);
    // Own client ids and topics: the 3.1.1 sessions stay on the broker, drained and idle. A broker
    // without MQTT 5 (Aedes) gets n/a in these rows and a note saying why.
    try {
      const v5 = await pass(ctx, 5, 'offline5-');
      for (const [k, v] of Object.entries(v5.values)) values[`${k}5`] = v;
      notes.push(...v5.notes.map((n) => `MQTT 5: ${n}`));
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      notes.push(`MQTT 5: ${(err as Error).message}`);
    }
    return { values, notes };
  },
};
