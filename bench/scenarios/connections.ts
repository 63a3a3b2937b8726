// Scenario 5, connection scale: 10,000 then 19,000 idle clients (keepalive 30 s, pinged by the
// generator), connected by 4 generator processes from 16 loopback addresses so no process nears its
// file-descriptor limit and no source address runs short of ports. Measures how fast the broker
// accepts them and what each costs in broker memory (VmRSS growth / clients), read twice per step:
// 1.5 s after the last handshake, and again once the clients have sat idle for `settleMs` (45 s).
// A Node broker's first reading carries V8's young generation at the size the connect storm grew
// it to; V8's memory reducer gives that back some time after the storm (about 12 s in one
// in-process measurement, 38-40 s with the bench's broker on 2026-12-08: docs/benchmarks.md, "The
// young generation after a connect storm"), so the second reading is what a broker holding idle
// clients keeps. Both are reported for every broker.
//
// The 16 addresses are new for each run (127.<random>.<worker>.<2-5>): a client socket bound to a
// source address finds its port by a search in the kernel that must pass over every port that
// address still holds in TIME_WAIT, 60 s after the run before closed its 19,000 connections. With
// the same addresses every run, that search took the generators to 170-190 % of the 2 cores in
// system time, and a step ran at 1-3k connects/s with the broker nearly idle (measured:
// docs/benchmarks.md, "Scenario 5's slow steps").
import type { ConnectResult } from '../gen/protocol.js';
import { cpuSeconds, rssKiB } from '../system.js';
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
    { key: 'cpu1', label: '  broker CPU per connect (µs), first step', better: 'info', digits: 0 },
    { key: 'kib1', label: 'broker KiB per connection, first step', better: 'lower', digits: 1 },
    { key: 'kibIdle1', label: 'broker KiB per connection, first step, after the clients idled (45 s)', better: 'lower', digits: 1 },
    { key: 'rate2', label: 'connects/s, second step', better: 'higher' },
    { key: 'cpu2', label: '  broker CPU per connect (µs), second step', better: 'info', digits: 0 },
    { key: 'kib2', label: 'broker KiB per connection, second step', better: 'lower', digits: 1 },
    { key: 'kibIdle2', label: 'broker KiB per connection, second step, after the clients idled (45 s)', better: 'lower', digits: 1 },
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
      // Source addresses no earlier run left ports in TIME_WAIT on (see the top of this file).
      const net = 1 + Math.floor(Math.random() * 254);
      const values: Record<string, number> = {};
      let done = 0;
      for (const [step, total] of s.scaleSteps.entries()) {
        const adding = total - done;
        const ranges = split(adding, WORKERS);
        const started = process.hrtime.bigint();
        // The generators share the 2 cores with the broker, and a connect costs them more than it
        // costs any broker here: the rate is the machine's, the CPU per connect the broker's own.
        const cpuBefore = cpuSeconds(pid);
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
                localAddresses: Array.from({ length: ADDRESSES_PER_WORKER }, (_, a) => `127.${net}.${k}.${2 + a}`),
                concurrency: CONCURRENCY,
              },
            }),
          ),
        );
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const cpuSpent = cpuSeconds(pid) - cpuBefore;
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
        values[`cpu${step + 1}`] = (cpuSpent * 1e6) / Math.max(1, connected);
        values[`kib${step + 1}`] = (rss - rss0) / Math.max(1, counts.connected);
        values[`rss${step + 1}`] = rss / 1024;
        // The same clients once idle (no connect has happened since the reading above).
        await sleep(s.settleMs, ctx.signal);
        const idle = await waitFor(ctx, fleet, (c) => c.connected >= total, 2000);
        if (idle.counts.connected < total) notes.push(`step ${step + 1}: ${idle.counts.connected} of ${total} clients connected at the idle reading`);
        values[`kibIdle${step + 1}`] = (rssKiB(pid) - rss0) / Math.max(1, idle.counts.connected);
      }
      return { values, notes };
    } finally {
      await fleet.close();
    }
  },
};
