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
