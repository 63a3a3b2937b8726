// `workers=N`: N broker processes on one machine acting as one broker, so every core is used
// without running a cluster. Node's cluster module lets the workers share the listening sockets
// (the primary accepts and hands each connection to a worker in turn); the hub in the primary
// (src/cluster/workers/ipc-hub.ts) routes messages, claims and sessions between them as NATS does for
// cluster nodes (src/cluster/workers/ipc-link.ts is each worker's side).
//
// The primary runs no broker. It makes the development certificate once (workers would race to
// write it; they use it from the primary's data folder), starts the workers, restarts one that dies, and stops them all on shutdown. Workers
// ignore SIGINT/SIGTERM (a terminal's Ctrl-C reaches the whole process group) and stop when the
// primary tells them to, or when the primary is gone.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ListenerInfo } from '../transport/transport.js';
import { IpcClusterLink, IpcHub, isBatch, isFrame, PrimaryOutbox, processChannel, type PrimaryMessage, type WorkerMessage } from '../cluster/workers/index.js';
import { startServer, withDevCertificate, type RunningServer } from './server.js';
import { isFanOut, WorkerFanOut } from './worker-fanout.js';
import { workersHubRegistry } from '../observe/metrics.js';

/** The environment variable that tells a forked process which worker it is (1..N). */
const WORKER_ENV = 'STARLING_WORKER_NUMBER';
/** A worker that dies is started again after this long (doubling while it keeps dying at once). */
const RESTART_MS = 500;
const MAX_RESTART_MS = 30_000;
/** How often the hub's counters are sent to the workers when they changed (for their $SYS trees). */
const HUB_COUNTERS_MS = 1000;

/** Worker processes to run: `workers`, or one per core for 0. */
export function workerCount(config: Config): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

/** The number of this worker process, or undefined in the primary or a single process. */
export function workerNumber(): number | undefined {
  const n = Number(process.env[WORKER_ENV]);
  return cluster.isWorker && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * A worker's data folder: worker 1 uses `dataDir` itself, so going from one process to several
 * keeps the sessions and retained messages; the others use `dataDir/worker-N`.
 */
export function workerDataDir(dataDir: string, n: number): string {
  return n === 1 ? dataDir : join(dataDir, `worker-${n}`);
}

/** Control messages outside the hub's batches. */
type Control = { starlingReady: ListenerInfo[] } | { starlingStop: true };

function isControl(m: unknown): m is Control {
  return typeof m === 'object' && m !== null && ('starlingReady' in m || 'starlingStop' in m);
}

export interface WorkerPool {
  /** The listeners as worker 1 opened them (all workers share them). */
  readonly listeners: ListenerInfo[];
  readonly count: number;
  readonly hub: IpcHub;
  /** Stops every worker gracefully; resolves when all have exited. */
  close(): Promise<void>;
  /** Kills every worker at once (a second signal). */
  kill(): void;
}

/** In the primary: starts the workers and resolves once every one has opened its listeners. */
export async function startWorkerPool(config: Config, log: Logger, readyTimeoutMs = 60_000): Promise<WorkerPool> {
  const count = workerCount(config);
  await withDevCertificate(config, join(config.dataDir, 'certs'));
  cluster.setupPrimary({ serialization: 'advanced' });
  const workers = new Map<number, { worker: Worker; outbox: PrimaryOutbox; ready: boolean }>();
  const hub = new IpcHub((n, m) => workers.get(n)?.outbox.push(m), { log });
  const hubMetrics = workersHubRegistry(() => ({ ...hub.counters }));
  const fanOut = new WorkerFanOut((n, m) => workers.get(n)?.outbox.push(m), () => [...workers].filter(([, w]) => w.ready).map(([n]) => n), log, {
    primaryMetrics: async () => (await hubMetrics.getMetricsAsJSON()) as unknown[],
  });
  // Each worker shows the hub's counters in its $SYS tree; they reach it when they change.
  const sharing = setInterval(() => hub.shareCounters(), HUB_COUNTERS_MS);
  sharing.unref();
  let stopping = false;
  let listeners: ListenerInfo[] = [];
  let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
  const delays = new Map<number, number>();

  const fork = (n: number): void => {
    const worker = cluster.fork({ [WORKER_ENV]: String(n) });
    // A worker that dies (killed, out of memory) is written to until its exit is noticed: those
    // writes fail (EPIPE, or the channel closed). Without a callback Node reports that as an 'error'
    // event on the Worker, and unhandled it would end the primary and every other worker with it.
    // What was not written is lost to that worker only, as anything in flight to a process that died
    // is; its exit handler below starts it again, and the hub keeps its place meanwhile.
    const sent = (err: Error | null): void => {
      if (err) log.debug({ worker: n, err: err.message }, 'workers: a batch for a worker that is going could not be written');
    };
    worker.on('error', (err: Error) => log.warn({ worker: n, err: err.message }, 'workers: error on a worker\'s channel'));
    const outbox = new PrimaryOutbox((batch) => {
      if (worker.isConnected()) worker.send(batch, sent);
    });
    const entry = { worker, outbox, ready: false };
    workers.set(n, entry);
    worker.on('message', (m: unknown) => {
      if (isBatch<WorkerMessage>(m)) {
        for (const message of m.starling) {
          if (isFrame(message)) hub.receiveFrame(n, message);
          else if (isFanOut(message)) fanOut.receive(n, message);
          else hub.receive(n, message);
        }
      } else if (isControl(m) && 'starlingReady' in m) {
        entry.ready = true;
        delays.delete(n);
        if (n === 1 || listeners.length === 0) listeners = m.starlingReady;
        log.info({ worker: n, pid: worker.process.pid }, 'worker ready');
        if ([...workers.values()].every((w) => w.ready)) settle?.resolve();
      }
    });
    worker.on('exit', (code, signal) => {
      if (workers.get(n)?.worker !== worker) return;
      // A worker that died is started again: the hub keeps its place (interest, messages for it,
      // claims of its clients) until it is back.
      hub.workerGone(n, !stopping && entry.ready);
      workers.delete(n);
      if (stopping) return;
      if (!entry.ready && settle) {
        settle.reject(new Error(`worker ${n} exited during start-up (${signal ?? `code ${code}`}); see its log above`));
        return;
      }
      const delay = Math.min(delays.get(n) ?? RESTART_MS, MAX_RESTART_MS);
      delays.set(n, delay * 2);
      log.error({ worker: n, code, signal, restartInMs: delay }, 'worker died; starting it again');
      setTimeout(() => {
        if (!stopping && !workers.has(n)) fork(n);
      }, delay).unref();
    });
  };

  const killAll = (): void => {
    stopping = true;
    clearInterval(sharing);
    for (const { worker } of workers.values()) worker.process.kill('SIGKILL');
  };

  try {
    await new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
      const timer = setTimeout(() => reject(new Error(`workers not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      timer.unref();
      for (let n = 1; n <= count; n++) fork(n);
    }).finally(() => (settle = undefined));
  } catch (err) {
    killAll();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    listeners,
    count,
    hub,
    kill: killAll,
    close: () =>
      (closing ??= (async () => {
        stopping = true;
        clearInterval(sharing);
        const exits = [...workers.values()].map(
          ({ worker }) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once('exit', () => resolve());
              const stop: Control = { starlingStop: true };
              if (worker.isConnected()) worker.send(stop, () => {});
              else worker.process.kill('SIGTERM');
            }),
        );
        await Promise.all(exits);
      })()),
  };
}

/**
 * In a worker process: runs a broker on this worker's data folder joined to the others through the
 * primary, tells the primary when it is listening, and stops when told (or orphaned).
 */
export async function runWorker(config: Config, parentLog: Logger, n: number): Promise<RunningServer> {
  const log = parentLog.child({ worker: n });
  const own: Config = { ...config, dataDir: workerDataDir(config.dataDir, n) };
  let link: IpcClusterLink | undefined;
  let server: RunningServer | undefined;
  server = await startServer(own, log, {
    // The primary's development certificate (made before the workers started), not one per worker.
    certsDir: join(config.dataDir, 'certs'),
    // One server secret for all workers, or an unknown user's SCRAM salt would differ between them.
    secretDir: config.dataDir,
    link: async (broker) =>
      (link = await IpcClusterLink.start({
        channel: processChannel(),
        broker,
        retained: broker.localRetained(),
        log,
        sessions: () => [...broker.sessions.keys()],
        metrics: async () => (server ? ((await server.metrics.registry.getMetricsAsJSON()) as unknown[]) : []),
        admin: (op, clientId) => server?.adminAnswer(op, clientId) ?? {},
      })),
    // The admin API on any worker lists and kicks the clients of all of them.
    adminPeers: { ask: (op, clientId) => (link ? link.askAdmin(op, clientId) : Promise.resolve({})) },
    // /metrics on any worker answers for all of them (the primary adds up every worker's registry).
    metricsText: () => (link ? link.metricsText() : Promise.reject(new Error('workers: not joined yet'))),
    workersHub: () => link?.workersHub ?? {},
  });
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'worker stopping');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'worker shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('message', (m: unknown) => {
    if (isControl(m) && 'starlingStop' in m) stop('asked by the primary');
  });
  process.on('disconnect', () => stop('the primary is gone'));
  const ready: Control = { starlingReady: server.listeners };
  // A primary that is gone cannot be told; 'disconnect' above stops this worker.
  process.send?.(ready, undefined, undefined, () => {});
  return server;
}
