// `npm run bench -- --scenario soak [--minutes N]`: N minutes (default 2) of every hostile class of
// issue 12 beside healthy publishers and subscribers, against Starling in its own process. Prints
// the broker's exits (must be 0), the healthy clients' latency (p50/p99/max) and deliveries, the
// broker's RSS against the configured budgets, and what each hostile class met. Not a timed test:
// its figures go into docs/benchmarks.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../src/config/load.js';
import { schema, type Config } from '../../src/config/schema.js';
import type { ListenerInfo } from '../../src/transport/transport.js';
import { Histogram } from '../gen/histogram.js';
import { machineInfo, rssKiB } from '../system.js';
import {
  aliasFloodLoop, cycle, mps20Connections, newStats, oversizedStringConnections, randomBoundary, replayLoop, retainedFloodLoop, stallLoop,
  type ClassStats, type HostileContext,
} from './hostile.js';

export interface SoakOptions {
  minutes: number;
  log: (line: string) => void;
  signal: AbortSignal;
  seed?: number;
}

/**
 * The broker's configuration: defaults, three listeners (TCP, WebSocket, TLS with the generated
 * development certificate), the in-memory store (retained bytes show in RSS, not on disk), and
 * explicit connection limits.
 */
const SOAK_CONFIG: Record<string, string> = {
  persistence: 'memory',
  logLevel: 'error',
  logFormat: 'json',
  connectTimeoutSec: '5',
  maxConnections: '1000',
  maxConnectionsPerAddress: '0',
};

const HEALTHY = { publishers: 4, subscribers: 4, ratePerPublisher: 20 };
const MiB = 1024 * 1024;

interface HealthyStats {
  sent: number;
  received: number;
  disconnects: number;
  latency: Histogram;
}

/** One `MEM` line of the broker (bench/brokers/starling-entry.ts): its memory and what it counted. */
interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  retainedBytes: number;
  retainedCount: number;
  connections: number;
  admitted: number;
  clientMemory: number;
  clientMemoryMax: number;
  writeBuffered: number;
  /** Sessions (offline ones among them) and what they hold: subscription filters (UTF-16) and queued bytes. */
  sessions: number;
  offlineSessions: number;
  sessionBytes: number;
  /** Bytes all sessions' queues and in-flight windows hold, as the broker counts them against maxQueuedBytesTotal. */
  queuedBytesTotal?: number;
  /** Taken right after a full collection (the broker runs with --expose-gc): live memory only. */
  afterGc?: boolean;
}

async function startBroker(dir: string, log: (l: string) => void, onMemory: (m: MemorySample) => void): Promise<{ pid: number; listeners: ListenerInfo[]; config: Config; exit: Promise<{ code: number | null; signal: string | null }>; stop(): Promise<void>; tail(): string }> {
  const lines = ['mqttListeners=mqtt://127.0.0.1:0,ws://127.0.0.1:0,mqtt+ssl://127.0.0.1:0', `dataDir=${join(dir, 'data')}`, ...Object.entries(SOAK_CONFIG).map(([k, v]) => `${k}=${v}`)];
  const file = join(dir, 'starling.conf');
  writeFileSync(file, lines.join('\n') + '\n');
  const config = loadConfig({ file, env: {} });
  const entry = fileURLToPath(new URL('../brokers/starling-entry.js', import.meta.url));
  // SOAK_NODE_ARGS: flags for the broker's node (e.g. --heapsnapshot-signal=SIGUSR2); the
  // environment (MALLOC_ARENA_MAX…) is passed on as it is.
  const nodeArgs = (process.env.SOAK_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, entry, file], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, STARLING_BENCH_MEMORY_MS: '500' } });
  child.stdin!.on('error', () => {});
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-8000)));
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const listeners = await new Promise<ListenerInfo[]>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`broker not ready in 30 s: ${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('MEM ')) onMemory(JSON.parse(line.slice(4)) as MemorySample);
        else if (line.startsWith('READY ')) {
          clearTimeout(t);
          resolve(JSON.parse(line.slice(6)) as ListenerInfo[]);
        }
      }
    });
    void exit.then((e) => reject(new Error(`broker exited (${e.code}) before it was ready: ${err}`)));
  });
  log(`broker pid ${child.pid}: ${listeners.map((l) => l.url).join(', ')}`);
  return {
    pid: child.pid!,
    listeners,
    config,
    exit,
    tail: () => err,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(t);
    },
  };
}

/** Healthy MQTT.js clients: publishers at a steady rate (QoS 1), subscribers to all of them. */
async function startHealthy(urls: string[], stats: HealthyStats, signal: AbortSignal): Promise<() => Promise<void>> {
  const clients: MqttClient[] = [];
  const open = (url: string, id: string): Promise<MqttClient> =>
    new Promise((resolve, reject) => {
      const c = mqtt.connect(url, { clientId: id, protocolVersion: 5, reconnectPeriod: 1000, connectTimeout: 10_000 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
      c.on('offline', () => stats.disconnects++);
      clients.push(c);
    });
  for (let i = 0; i < HEALTHY.subscribers; i++) {
    const c = await open(urls[i % urls.length], `soak-healthy-sub-${i}`);
    c.on('message', (_t, payload) => {
      stats.received++;
      stats.latency.record((performance.now() - Number(payload.toString())) * 1000);
    });
    await c.subscribeAsync('soak/healthy/#', { qos: 1 });
  }
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < HEALTHY.publishers; i++) {
    const c = await open(urls[(i + 1) % urls.length], `soak-healthy-pub-${i}`);
    timers.push(
      setInterval(() => {
        if (signal.aborted || !c.connected) return;
        stats.sent++;
        c.publish(`soak/healthy/${i}`, String(performance.now()), { qos: 1 });
      }, 1000 / HEALTHY.ratePerPublisher),
    );
  }
  return async () => {
    timers.forEach(clearInterval);
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
  };
}

/** The configured byte budgets the broker has (the keys that exist in this build's schema). */
function budgets(config: Config): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.kind !== 'size' || !/retain|connection|budget|memory|alias|total/i.test(key)) continue;
    out.push([key, (config as unknown as Record<string, number>)[key]]);
  }
  return out;
}

const fmtMiB = (kib: number): string => `${(kib / 1024).toFixed(0)} MiB`;
const mib = (bytes: number | undefined): string => `${((bytes ?? 0) / MiB).toFixed(1)} MiB`;

/**
 * Node's own cost of one open socket that no budget of the broker's covers: its net.Socket, stream
 * states and libuv handle, the TLS session (OpenSSL's SSL object and record buffers) or the `ws`
 * objects, and the read buffer of a chunk being handed over. Measured (docs/benchmarks.md, "Soak
 * runs"): 52.5 KiB of RSS for a TLS socket stalled in its handshake, the costliest kind; a TLS MQTT
 * connection 30.6 KiB, a stalled WebSocket upgrade 3 KiB, idle MQTT connections 3.7–6 KiB.
 */
export const SOCKET_ALLOWANCE = 64 * 1024;

interface RssBudget {
  baseline: number;
  retained: number;
  /** maxQueuedBytesTotal: every session's queue and in-flight window together. */
  queued: number;
  sockets: number;
  perSocket: number;
  total: number;
}

/**
 * What the configuration promises the broker's RSS stays within: the baseline (healthy clients
 * connected) + maxRetainedBytes + maxQueuedBytesTotal (what all sessions' queues and in-flight
 * windows may hold, connected or offline; their number is bounded by maxSessions) + for the most
 * sockets admitted at once during the run, maxClientMemory and Node's own socket cost each. A
 * message queued for offline sessions may be the retained index's Buffer, so the two budgets can
 * count one payload twice: the sum is an upper bound, not an estimate. What a session holds besides
 * its queue (its subscriptions, bounded per session by maxSubscriptionsPerClient) has no byte budget;
 * the report shows it (`sessions … holding`).
 */
function rssBudget(config: Config, baseline: number, highest: Partial<MemorySample>): RssBudget {
  const sockets = highest.admitted ?? 0;
  const perSocket = config.maxClientMemory + SOCKET_ALLOWANCE;
  const queued = config.maxQueuedBytesTotal;
  return { baseline, retained: config.maxRetainedBytes, queued, sockets, perSocket, total: baseline + config.maxRetainedBytes + queued + sockets * perSocket };
}

/** What the broker counted at one sample, with the baseline and Node's allowance for each socket. */
function counted(b: RssBudget, m: MemorySample | undefined): number {
  // Queued bytes are not added: a queued entry's payload is often the retained index's own Buffer
  // (retained messages queued for offline `#` subscribers), already counted as retained.
  return b.baseline + (m?.retainedBytes ?? 0) + (m?.clientMemory ?? 0) + (m?.writeBuffered ?? 0) + (m?.admitted ?? 0) * SOCKET_ALLOWANCE;
}

function memoryReport(baseline: MemorySample | undefined, atPeak: MemorySample | undefined, highest: Partial<MemorySample>, highestLive: Partial<MemorySample>, b: RssBudget, peakRss: number, maxSessions: number): string[] {
  const row = (name: string, m: Partial<MemorySample> | undefined): string =>
    `  ${name}: rss ${mib(m?.rss)}, heapUsed ${mib(m?.heapUsed)}, heapTotal ${mib(m?.heapTotal)}, external ${mib(m?.external)} (arrayBuffers ${mib(m?.arrayBuffers)}), ` +
    `retained ${mib(m?.retainedBytes)} in ${m?.retainedCount ?? 0}, connections ${m?.connections ?? 0} of ${m?.admitted ?? 0} sockets admitted, ` +
    `client memory ${mib(m?.clientMemory)} (largest ${mib(m?.clientMemoryMax)}), write buffers ${mib(m?.writeBuffered)}, ` +
    `sessions ${m?.sessions ?? 0} (${m?.offlineSessions ?? 0} offline) holding ${mib(m?.sessionBytes)} (queues and windows ${mib(m?.queuedBytesTotal)})`;
  return [
    'Broker memory (process.memoryUsage() and the broker\'s own counts, sampled in the broker every 500 ms):',
    row('baseline', baseline),
    row('at peak RSS', atPeak),
    row('highest of each', highest),
    ...(highestLive.rss !== undefined ? [row('highest of each right after a full GC (--expose-gc: live memory)', highestLive)] : []),
    `Budgets: maxRetainedBytes ${mib(b.retained)}, counted at most ${mib(highest.retainedBytes)}; ` +
      `maxQueuedBytesTotal ${mib(b.queued)}, counted at most ${mib(highest.queuedBytesTotal)}; maxSessions ${maxSessions}, held at most ${highest.sessions ?? 0} (${highest.offlineSessions ?? 0} offline at most); ` +
      `maxClientMemory ${mib(b.perSocket - SOCKET_ALLOWANCE)} × ${b.sockets} sockets at most at once = ${mib((b.perSocket - SOCKET_ALLOWANCE) * b.sockets)}, counted at most ${mib(highest.clientMemory)} in all (${mib(highest.clientMemoryMax)} on one); ` +
      `Node's socket allowance ${(SOCKET_ALLOWANCE / 1024).toFixed(0)} KiB × ${b.sockets} = ${mib(SOCKET_ALLOWANCE * b.sockets)}`,
    `Counted at peak RSS (queues and windows, ${mib(atPeak?.queuedBytesTotal)}, not added: their payloads may be the retained ones): baseline ${mib(b.baseline)} + retained ${mib(atPeak?.retainedBytes)} + client memory ${mib(atPeak?.clientMemory)} + write buffers ${mib(atPeak?.writeBuffered)} + ` +
      `${atPeak?.admitted ?? 0} sockets × ${(SOCKET_ALLOWANCE / 1024).toFixed(0)} KiB = ${mib(counted(b, atPeak))}; the other ${mib((atPeak?.rss ?? 0) - counted(b, atPeak))} of RSS is ` +
      `JavaScript heap (${mib((atPeak?.heapTotal ?? 0) - (baseline?.heapTotal ?? 0))} grown since the baseline), garbage not yet collected and the allocator's own`,
    `RSS budget = baseline ${mib(b.baseline)} + maxRetainedBytes ${mib(b.retained)} + maxQueuedBytesTotal ${mib(b.queued)} + ${b.sockets} × (${mib(b.perSocket - SOCKET_ALLOWANCE)} + ${(SOCKET_ALLOWANCE / 1024).toFixed(0)} KiB) = ${mib(b.total)}; ` +
      `peak RSS ${mib(peakRss)}: ${peakRss <= b.total ? `within it (${mib(b.total - peakRss)} to spare)` : `OVER it by ${mib(peakRss - b.total)}`}`,
  ];
}

export async function runSoak(o: SoakOptions): Promise<{ text: string; ok: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-soak-'));
  const startedAt = new Date();
  // The broker's own samples: the latest, the one at the highest RSS, and each field's highest.
  let latest: MemorySample | undefined;
  let atPeak: MemorySample | undefined;
  const highest: Partial<MemorySample> = {};
  const highestLive: Partial<MemorySample> = {};
  let sampling = false;
  const broker = await startBroker(dir, o.log, (m) => {
    latest = m;
    if (!sampling) return;
    if (!atPeak || m.rss > atPeak.rss) atPeak = m;
    const most = (into: Partial<MemorySample>): void => {
      const t = into as Record<string, number>;
      for (const [k, v] of Object.entries(m)) if (typeof v === 'number') t[k] = Math.max(t[k] ?? 0, v);
    };
    most(highest);
    if (m.afterGc) most(highestLive);
  });
  const port = (scheme: string): number => broker.listeners.find((l) => l.scheme === scheme)!.port;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  const healthy: HealthyStats = { sent: 0, received: 0, disconnects: 0, latency: new Histogram() };
  let exitInfo: { code: number | null; signal: string | null } | undefined;
  let exitAt = 0;
  let hostileStart = Date.now();
  let stopping = false;
  void broker.exit.then((e) => {
    if (stopping) return;
    exitInfo = e;
    exitAt = Date.now();
    o.log(`broker exited: code ${e.code} signal ${e.signal}\n${broker.tail()}`);
    // Nothing more to learn: the soak stops and reports what happened until now.
    stop.abort();
  });
  const stopHealthy = await startHealthy([`mqtt://127.0.0.1:${port('mqtt')}`, `ws://127.0.0.1:${port('ws')}/mqtt`], healthy, stop.signal);

  // RSS: the baseline with the healthy clients running, then every 500 ms.
  await new Promise((r) => setTimeout(r, 3000));
  const baselineKiB = rssKiB(broker.pid);
  const baseline = latest;
  sampling = true;
  let peakKiB = baselineKiB;
  const rssTimer = setInterval(() => (peakKiB = Math.max(peakKiB, rssKiB(broker.pid))), 500);
  healthy.latency.reset();
  const h0 = { sent: healthy.sent, received: healthy.received };

  const ctx: HostileContext = {
    ports: { tcp: port('mqtt'), ws: port('ws'), tls: port('mqtt+ssl') },
    maxPacket: broker.config.mqttMessageMaxLength,
    boundMs: 10_000,
    signal: stop.signal,
    seed: o.seed ?? Date.now() % 1_000_000_000,
    retainedCapBytes: 256 * MiB,
  };
  const classes: Record<string, ClassStats> = {
    'oversized strings (65,500 B: auth method, will topic, topic, filter, $share group)': newStats(),
    'topic alias flood (60 KB topics, every granted alias)': newStats(),
    'TLS handshake stall (50 sockets)': newStats(),
    'WebSocket upgrade stall (50 sockets)': newStats(),
    'retained flood (900 KiB payloads)': newStats(),
    'Maximum Packet Size 20': newStats(),
    'random boundary packets (fuzzer generators)': newStats(),
  };
  const s = Object.values(classes);
  const deadline = setTimeout(() => stop.abort(), o.minutes * 60_000);
  hostileStart = Date.now();
  o.log(`soak: ${o.minutes} min, seed ${ctx.seed}, baseline RSS ${fmtMiB(baselineKiB)}`);
  const progress = setInterval(() => o.log(`  ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s: RSS ${fmtMiB(rssKiB(broker.pid))}, healthy ${healthy.received - h0.received} received, p99 ${(healthy.latency.percentile(99) / 1000).toFixed(1)} ms`), 15_000);
  const loops = [
    () => replayLoop(ctx, s[0], cycle(oversizedStringConnections())),
    () => aliasFloodLoop(ctx, s[1]),
    () => stallLoop(ctx, s[2], 'tls', 50),
    () => stallLoop(ctx, s[3], 'ws', 50),
    () => retainedFloodLoop(ctx, s[4]),
    () => replayLoop(ctx, s[5], cycle(mps20Connections())),
    () => replayLoop(ctx, s[6], randomBoundary(ctx)),
  ];
  // SOAK_ONLY=1,3 runs only those classes (numbered from 0 in the table's order), to look at one.
  const only = process.env.SOAK_ONLY?.split(',').map(Number);
  await Promise.all(loops.filter((_, i) => !only || only.includes(i)).map((run) => run()));
  clearTimeout(deadline);
  clearInterval(progress);
  // Deliveries in flight when publishing stopped.
  await new Promise((r) => setTimeout(r, 2000));
  clearInterval(rssTimer);
  const endKiB = exitInfo ? 0 : rssKiB(broker.pid);
  await stopHealthy();
  const exitedDuringRun = exitInfo !== undefined;
  stopping = true;
  await broker.stop();
  o.signal.removeEventListener('abort', onAbort);
  rmSync(dir, { recursive: true, force: true });

  const sent = healthy.sent - h0.sent;
  const received = healthy.received - h0.received;
  const b = budgets(broker.config);
  const m = machineInfo();
  const budget = rssBudget(broker.config, baselineKiB * 1024, highest);
  const lines = [
    `Soak (issue 12): ${o.minutes} min, started ${startedAt.toISOString()}, seed ${ctx.seed}`,
    `Machine: ${m.cpu}, ${m.cores} cores${'memory' in m ? `, ${(m as unknown as { memory: string }).memory}` : ''}; Node ${process.version}`,
    `Broker config: ${Object.entries(SOAK_CONFIG).map(([k, v]) => `${k}=${v}`).join(' ')}; listeners mqtt, ws, mqtt+ssl on 127.0.0.1`,
    '',
    `Broker process exits during the run: ${exitedDuringRun ? `1 (code ${exitInfo!.code}, signal ${exitInfo!.signal}) after ${((exitAt - hostileStart) / 1000).toFixed(1)} s of hostile traffic; the soak stopped there` : '0'}`,
    ...(exitedDuringRun ? [`  ${broker.tail().split('\n').filter((l) => /Error|throw|^\s+at /.test(l)).slice(0, 11).join('\n  ')}`] : []),
    `Healthy clients (${HEALTHY.publishers} publishers × ${HEALTHY.ratePerPublisher}/s QoS 1, ${HEALTHY.subscribers} subscribers, TCP and WebSocket): ` +
      `${received} of ${sent * HEALTHY.subscribers} deliveries, ${healthy.disconnects} disconnects, latency p50 ${(healthy.latency.percentile(50) / 1000).toFixed(1)} ms, ` +
      `p99 ${(healthy.latency.percentile(99) / 1000).toFixed(1)} ms, max ${(healthy.latency.max / 1000).toFixed(1)} ms`,
    `Broker RSS: baseline ${fmtMiB(baselineKiB)}, peak ${fmtMiB(peakKiB)} (+${fmtMiB(peakKiB - baselineKiB)}), end ${exitedDuringRun ? '(exited)' : fmtMiB(endKiB)}`,
    `Configured byte budgets: ${b.length ? b.map(([k, v]) => `${k}=${(v / MiB).toFixed(1)} MiB`).join(', ') : 'none in this build (no retained-bytes or per-connection memory budget keys in the schema)'}`,
    ...memoryReport(baseline, atPeak, highest, highestLive, budget, peakKiB * 1024, broker.config.maxSessions),
    '',
    'Hostile class | connections/attempts | closed by broker | longest open | broker spec failures | notes',
    '---|---:|---:|---:|---:|---',
    ...Object.entries(classes).map(
      ([name, c]) =>
        `${name} | ${c.attempts} | ${c.closedByBroker || '-'} | ${(c.longestOpenMs / 1000).toFixed(1)} s | ${c.failures} | ` +
        `${[...Object.entries(c.extra).map(([k, v]) => `${k} ${v}`), ...(c.openAtEnd ? [`still open at end ${c.openAtEnd}`] : [])].join(', ')}`,
    ),
    '',
    ...Object.entries(classes).flatMap(([name, c]) => c.examples.map((e) => `  ${name}: ${e}`)),
  ];
  const rssOk = peakKiB * 1024 <= budget.total;
  const ok = !exitedDuringRun && s.every((c) => c.failures === 0) && healthy.disconnects === 0 && rssOk;
  return { text: lines.join('\n') + '\n', ok };
}
