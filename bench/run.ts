// Runs the chosen scenarios: for each scenario and transport, each broker in turn on a fresh
// process (so no broker inherits another run's backlog or heap, and only one runs at a time).
// Everything started is stopped again, also when the run is aborted.
import { BROKER_NAMES, SINGLE_BROKERS, brokerVersion, type BrokerName } from './brokers/commands.js';
import { launchBroker, type RunningBroker } from './brokers/launch.js';
import type { TransportName } from './gen/conn.js';
import type { Fleet } from './gen/fleet.js';
import type { BenchReport, RunRecord } from './report.js';
import { SCENARIOS } from './scenarios/index.js';
import { DISTURBED_CPU, settingsFor, sleep, type Scenario, type Settings } from './scenarios/scenario.js';
import { formatValue } from './report.js';
import { cpuTimes, machineInfo, machineUserSeconds, waitForQuiet } from './system.js';

export interface RunOptions {
  scenarios: number[];
  brokers: BrokerName[];
  transports: TransportName[];
  quick: boolean;
  /** Length of each measured window, seconds (default: 3, or 1 with quick). */
  seconds?: number;
  /** Before each broker run, wait up to this long for other processes to go quiet (default 0). */
  quietWaitMs?: number;
  /** Runs disturbed by other processes are repeated up to this many times (default 0). */
  retries?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** Things to stop if the run is aborted. */
class Running {
  readonly brokers = new Set<RunningBroker>();
  readonly fleets = new Set<Fleet>();

  async stopAll(): Promise<void> {
    await Promise.allSettled([...[...this.fleets].map((f) => f.close()), ...[...this.brokers].map((b) => b.stop())]);
    this.fleets.clear();
    this.brokers.clear();
  }
}

export async function runScenarios(opts: RunOptions): Promise<BenchReport> {
  const log = opts.log ?? (() => {});
  const signal = opts.signal ?? new AbortController().signal;
  const settings = settingsFor(opts.quick, opts.seconds);
  const scenarios: Scenario[] = SCENARIOS.filter((s) => opts.scenarios.includes(s.id));
  const versions: Record<string, string> = {};
  for (const b of BROKER_NAMES) if (opts.brokers.includes(b) && !b.startsWith('starling-')) versions[b[0].toUpperCase() + b.slice(1)] = brokerVersion(b);
  if (opts.brokers.some((b) => b.startsWith('starling-')) && !versions.Starling) versions.Starling = brokerVersion('starling');
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    versions,
    persistence: {},
    settings,
    records: [],
  };
  const running = new Running();
  const onAbort = (): void => void running.stopAll();
  signal.addEventListener('abort', onAbort, { once: true });
  const total = scenarios.reduce((n, s) => n + (s.brokers ?? SINGLE_BROKERS).filter((b) => opts.brokers.includes(b)).length * opts.transports.length, 0);
  let step = 0;
  try {
    for (const sc of scenarios) {
      for (const transport of opts.transports) {
        for (const name of (sc.brokers ?? SINGLE_BROKERS).filter((b) => opts.brokers.includes(b))) {
          if (signal.aborted) return report;
          step++;
          let record: RunRecord | undefined;
          for (let attempt = 0; attempt <= (opts.retries ?? 0) && !signal.aborted; attempt++) {
            if (opts.quietWaitMs && !(await waitForQuiet(opts.quietWaitMs, 15, signal))) {
              log(`  (the machine is still busy after ${opts.quietWaitMs / 1000} s; running anyway)`);
            }
            const r = await runOnce(sc, transport, name, settings, signal, running, report);
            // Keep the least disturbed attempt; stop once one was not disturbed.
            if (!record || (r.otherCpu ?? 0) < (record.otherCpu ?? 0) || (record.error && !r.error)) record = r;
            if (r.error || (r.otherCpu ?? 0) <= DISTURBED_CPU) break;
            log(`  disturbed (other processes used ${Math.round(r.otherCpu ?? 0)} % of a core)${attempt < (opts.retries ?? 0) ? '; running it again' : ''}`);
          }
          if (!record) return report;
          if ((record.otherCpu ?? 0) > DISTURBED_CPU && record.measured) {
            record.measured.notes.push(`disturbed: other processes used up to ${Math.round(record.otherCpu ?? 0)} % of a core during a measured window`);
          }
          report.records.push(record);
          log(`[${step}/${total}] ${sc.id} ${sc.name} ${transport} ${name}: ${describe(record, sc)}`);
          // Let sockets close and the kernel settle before the next broker starts.
          if (!signal.aborted) await sleep(300).catch(() => {});
        }
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await running.stopAll();
  }
  return report;
}

/** One scenario against one freshly started broker. */
async function runOnce(
  sc: Scenario,
  transport: TransportName,
  name: BrokerName,
  settings: Settings,
  signal: AbortSignal,
  running: Running,
  report: BenchReport,
): Promise<RunRecord> {
  const started = Date.now();
  const record: RunRecord = { scenario: sc.id, transport, broker: name, seconds: 0, otherCpu: 0 };
  let broker: RunningBroker | undefined;
  const fleets: Fleet[] = [];
  // Other processes' CPU over the whole run too, for scenarios without measured windows.
  let m0 = 0;
  let own0 = process.cpuUsage();
  let t0 = 0n;
  try {
    broker = await launchBroker(name, { limits: sc.limits ?? 'bench' });
    running.brokers.add(broker);
    report.persistence[name] = broker.persistence;
    const b = broker;
    m0 = machineUserSeconds();
    own0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
    const b0 = cpuTimes(b.pid).user;
    record.measured = await sc.run({
      broker: b,
      transport,
      settings,
      signal,
      track: (f) => {
        fleets.push(f);
        running.fleets.add(f);
      },
      noteLoad: (cpu) => (record.otherCpu = Math.max(record.otherCpu ?? 0, cpu)),
    });
    const brokerUser = cpuTimes(b.pid).user - b0;
    if (!b.alive()) throw new Error(`${name} exited during the run:\n${b.logTail()}`);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const genUser = fleets.reduce((n, f) => n + f.cpuTimes().user, 0);
    const other = ((machineUserSeconds() - m0 - brokerUser - genUser - process.cpuUsage(own0).user / 1e6) / seconds) * 100;
    record.otherCpu = Math.max(record.otherCpu ?? 0, other);
  } catch (err) {
    record.error = signal.aborted ? 'aborted' : err instanceof Error ? err.message : String(err);
  } finally {
    if (broker) {
      await broker.stop();
      running.brokers.delete(broker);
    }
    for (const f of fleets) running.fleets.delete(f);
  }
  record.seconds = (Date.now() - started) / 1000;
  return record;
}

function describe(r: RunRecord, sc: Scenario): string {
  if (r.error) return `FAILED: ${r.error.split('\n')[0]}`;
  const parts = sc.metrics
    .filter((m) => r.measured?.values[m.key] !== undefined)
    .slice(0, 4)
    .map((m) => `${m.label} ${formatValue(r.measured!.values[m.key], m.digits)}`);
  return `${parts.join(', ')} (${r.seconds.toFixed(1)} s)`;
}
