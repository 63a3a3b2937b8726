// Scenario 5, connection scale: 10,000 then 19,000 idle clients (keepalive 30 s, pinged by the
// generator), connected by 4 generator processes from 16 loopback addresses 127.0.0.2–17 so no
// process nears its file-descriptor limit and no source address runs short of ports. Measures how
// fast the broker accepts them and what each costs in broker memory (VmRSS growth / clients).
import type { ConnectResult } from '../gen/protocol.js';
import { rssKiB } from '../system.js';
import { sleep, split, startFleet, waitFor, type Measured, type Scenario } from './scenario.js';

const WORKERS = 4;
const ADDRESSES_PER_WORKER = 4;
const KEEPALIVE = 30;
/** Handshakes in progress per worker: 80 in all, under Mosquitto's TCP listen backlog of 100, so no
 * broker's connect rate includes SYN retransmission delays caused by the generator. */
const CONCURRENCY = 20;

export const connections: Scenario = {
  id: 5,
  name: 'connection scale',
  summary: '10,000 then 19,000 idle clients with keepalive 30 s: connect rate and broker memory per connection',
  metrics: [
    { key: 'rate1', label: 'connects/s, first step', better: 'higher' },
    { key: 'kib1', label: 'broker KiB per connection, first step', better: 'lower', digits: 1 },
    { key: 'rate2', label: 'connects/s, second step', better: 'higher' },
    { key: 'kib2', label: 'broker KiB per connection, second step', better: 'lower', digits: 1 },
    { key: 'rss2', label: 'broker RSS with all clients (MiB)', better: 'lower', digits: 0 },
  ],
  async run(ctx): Promise<Measured> {
    const s = ctx.settings;
    const fleet = startFleet(ctx, WORKERS);
    const notes: string[] = [];
    try {
      const target = ctx.broker.target(ctx.transport);
      const pid = ctx.broker.pid;
      await sleep(500, ctx.signal);
      const rss0 = rssKiB(pid);
      const values: Record<string, number> = {};
      let done = 0;
      for (const [step, total] of s.scaleSteps.entries()) {
        const adding = total - done;
        const ranges = split(adding, WORKERS);
        const started = process.hrtime.bigint();
        const results = await Promise.all(
          fleet.workers.map((w, k) =>
            w.request<ConnectResult>({
              op: 'connect',
              group: {
                target,
                first: done + ranges[k][0],
                count: ranges[k][1],
                clientIdPrefix: 'idle-',
                clean: true,
                keepalive: KEEPALIVE,
                localAddresses: Array.from({ length: ADDRESSES_PER_WORKER }, (_, a) => `127.0.0.${2 + k * ADDRESSES_PER_WORKER + a}`),
                concurrency: CONCURRENCY,
              },
            }),
          ),
        );
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const connected = results.reduce((n, r) => n + r.connected, 0);
        const failed = results.reduce((n, r) => n + r.failed, 0);
        if (failed > 0) notes.push(`step ${step + 1}: ${failed} of ${adding} failed to connect (${results.find((r) => r.firstError)?.firstError})`);
        done = total;
        // Let the broker finish its per-connection work (timers, buffers) before reading memory.
        await sleep(1500, ctx.signal);
        const { counts } = await waitFor(ctx, fleet, (c) => c.connected >= total, 2000);
        if (counts.connected < total) notes.push(`step ${step + 1}: ${counts.connected} of ${total} clients connected at the memory reading`);
        const rss = rssKiB(pid);
        values[`rate${step + 1}`] = connected / seconds;
        values[`kib${step + 1}`] = (rss - rss0) / Math.max(1, counts.connected);
        values[`rss${step + 1}`] = rss / 1024;
      }
      return { values, notes };
    } finally {
      await fleet.close();
    }
  },
};
