// Runs Starling for the benchmark in its own process, so its CPU and memory can be read from
// /proc and profiled with --cpu-prof. Equivalent to `starling start --config <file>`, but runs the
// compiled tree this file belongs to (a build in .build/NAME benchmarks that build, not dist/).
// With `workers=N` in the file it is the primary, and (forked again by the cluster module) each worker.
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/server/server.js';
import { runWorker, startWorkerPool, workerCount, workerNumber } from '../../src/server/workers.js';

const config = loadConfig({ file: process.argv[2], env: {} });
const log = pino({ level: config.logLevel }, pino.destination(2));
const worker = workerNumber();
if (worker !== undefined) {
  await runWorker(config, log, worker);
  // The primary stops it; nothing below is for a worker.
  await new Promise(() => {});
}
const server = workerCount(config) > 1 ? await startWorkerPool(config, log) : await startServer(config, log);
process.stdout.write(`READY ${JSON.stringify(server.listeners)}\n`);

// STARLING_BENCH_MEMORY_MS=N (the soak): every N ms a `MEM {…}` line with this process's memory
// (process.memoryUsage) beside what the broker counted against its budgets: retained bytes
// (maxRetainedBytes), and per connection the bytes held against maxClientMemory (their sum and the
// largest), the connections open and the sockets admitted (handshakes and upgrades included).
const memoryMs = Number(process.env.STARLING_BENCH_MEMORY_MS ?? 0);
if (memoryMs > 0 && 'broker' in server) {
  const s = server;
  // With --expose-gc (a diagnostic run: SOAK_NODE_ARGS=--expose-gc), every tenth sample is taken
  // after a full collection, so what is live can be told from garbage not yet collected.
  const gc = (globalThis as { gc?: () => void }).gc;
  let n = 0;
  setInterval(() => {
    const collected = gc !== undefined && ++n % 10 === 0;
    if (collected) gc();
    const m = process.memoryUsage();
    let clientMemory = 0;
    let clientMemoryMax = 0;
    let queuedBytes = 0;
    for (const c of s.connections) {
      const held = c.channel.memoryHeld;
      clientMemory += held;
      clientMemoryMax = Math.max(clientMemoryMax, held);
      queuedBytes += c.bufferedBytes;
    }
    // Sessions outlive their connections (clean start off, a session expiry): what they hold.
    let offlineSessions = 0;
    let sessionBytes = 0;
    for (const session of s.broker.sessions.values()) {
      if (!session.online) offlineSessions++;
      sessionBytes += session.queuedBytes;
      for (const filter of session.subscriptions.keys()) sessionBytes += 2 * filter.length;
    }
    const row = {
      rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers,
      retainedBytes: s.broker.retained.bytes, retainedCount: s.broker.retained.size,
      connections: s.connections.size, admitted: s.admitted(), clientMemory, clientMemoryMax, writeBuffered: queuedBytes,
      sessions: s.broker.sessions.size, offlineSessions, sessionBytes, queuedBytesTotal: s.broker.queuedBytes(),
      ...(collected ? { afterGc: true } : {}),
    };
    process.stdout.write(`MEM ${JSON.stringify(row)}\n`);
  }, memoryMs).unref();
}

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  // A normal exit (not a signal death) is what lets --cpu-prof write its profile.
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// stdin is a pipe from the benchmark: when it closes, the benchmark is gone and so should we be.
process.stdin.on('end', stop).resume();
