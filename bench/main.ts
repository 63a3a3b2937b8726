// `starling bench` / `npm run bench` / `node dist/bench/main.js`: parses the options, runs the
// scenarios (or the profile), prints the table. runBench returns the exit code instead of exiting.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { BROKER_NAMES, DEFAULT_BROKERS, type BrokerName } from './brokers/commands.js';
import type { TransportName } from './gen/conn.js';
import { formatReport } from './report.js';
import { runScenarios } from './run.js';
import { runProfile } from './profile.js';
import { runSoak } from './soak/soak.js';
import { SCENARIOS } from './scenarios/index.js';

const USAGE = `Usage: starling bench [options]

Starts Starling, Mosquitto and Aedes on free 127.0.0.1 ports, runs each scenario against each
broker in turn, over TCP and over WebSocket, and prints a table with ratios.

Options:
  --quick              short smoke run (1 s windows, fewer clients)
  --scenario N         run only scenario N (repeat or comma-separate: --scenario 1,3)
  --scenario soak      instead of the scenarios: the hostile-client soak of issue 12 against
                       Starling alone (every hostile class beside healthy clients; prints broker
                       exits, healthy p99 latency, RSS against the configured budgets)
  --minutes N          length of the soak (default 2)
  --broker NAME        only these brokers: starling, starling-workers (workers=2), starling-cluster (two
                       nodes over nats-server, scenario 7 only), mosquitto, aedes (repeatable;
                       default: starling, starling-cluster, mosquitto, aedes)
  --transport T        only tcp or ws (repeatable)
  --seconds S          length of each measured window (default 3, quick 1)
  --json FILE          also write the results as JSON
  --no-wait            start each run at once, without waiting for other
                       processes to go quiet (default: wait up to 60 s, and
                       repeat a run that other processes disturbed, twice at most)
  --profile            profile Starling (node --cpu-prof) during a scenario (default
                       1, fan-in) and summarise where it spends time; takes
                       --scenario, --transport (default tcp), --seconds, --quick
  --profile-out DIR    keep the raw .cpuprofile files in DIR
  -h, --help           this text

Scenarios:
${SCENARIOS.map((s) => `  ${s.id}  ${s.name}: ${s.summary}`).join('\n')}
`;

interface CliOptions {
  help: boolean;
  wait: boolean;
  quick: boolean;
  profile: boolean;
  soak: boolean;
  minutes: number;
  profileOut?: string;
  scenarios: number[];
  brokers: BrokerName[];
  transports: TransportName[];
  seconds?: number;
  json?: string;
}

export function parseBenchArgs(args: string[]): CliOptions {
  const o: CliOptions = { help: false, wait: true, quick: false, profile: false, soak: false, minutes: 2, scenarios: [], brokers: [], transports: [] };
  const value = (i: number, flag: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const take = (): string => inline ?? value(i++, flag);
    switch (flag) {
      case '-h':
      case '--help':
        o.help = true;
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--no-wait':
        o.wait = false;
        break;
      case '--profile':
        o.profile = true;
        break;
      case '--profile-out':
        o.profileOut = take();
        break;
      case '--json':
        o.json = take();
        break;
      case '--seconds': {
        const n = Number(take());
        if (!(n > 0 && n <= 600)) throw new Error('--seconds must be a number of seconds between 0 and 600');
        o.seconds = n;
        break;
      }
      case '--minutes': {
        const n = Number(take());
        if (!(n > 0 && n <= 24 * 60)) throw new Error('--minutes must be a number of minutes between 0 and 1440');
        o.minutes = n;
        break;
      }
      case '--scenario':
        for (const part of take().split(',')) {
          if (part.trim().toLowerCase() === 'soak') {
            o.soak = true;
            continue;
          }
          const n = Number(part);
          if (!SCENARIOS.some((s) => s.id === n)) throw new Error(`no scenario "${part}" (1–${SCENARIOS.length})`);
          o.scenarios.push(n);
        }
        break;
      case '--broker':
        for (const part of take().split(',')) {
          const b = part.trim().toLowerCase() as BrokerName;
          if (!BROKER_NAMES.includes(b)) throw new Error(`unknown broker "${part}" (${BROKER_NAMES.join(', ')})`);
          o.brokers.push(b);
        }
        break;
      case '--transport':
        for (const part of take().split(',')) {
          const t = part.trim().toLowerCase();
          if (t !== 'tcp' && t !== 'ws') throw new Error(`unknown transport "${part}" (tcp, ws)`);
          o.transports.push(t);
        }
        break;
      default:
        throw new Error(`unknown option "${a}"`);
    }
  }
  if (o.soak && (o.scenarios.length > 0 || o.profile)) throw new Error('--scenario soak runs on its own (no other scenario, no --profile)');
  if (o.scenarios.length === 0) o.scenarios = o.profile ? [1] : SCENARIOS.map((s) => s.id);
  if (o.brokers.length === 0) o.brokers = [...DEFAULT_BROKERS];
  if (o.transports.length === 0) o.transports = o.profile ? ['tcp'] : ['tcp', 'ws'];
  return o;
}

/** The benchmark command; returns the process exit code. */
export async function runBench(args: string[]): Promise<number> {
  let o: CliOptions;
  try {
    o = parseBenchArgs(args);
  } catch (err) {
    process.stderr.write(`starling bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  // Ctrl-C / SIGTERM: stop the brokers and generators we started, then report what finished.
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping (again to force)…\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const log = (line: string): void => void process.stderr.write(line + '\n');
  try {
    if (o.soak) {
      const { text, ok } = await runSoak({ minutes: o.minutes, log, signal: abort.signal });
      process.stdout.write('\n' + text);
      return abort.signal.aborted ? 130 : ok ? 0 : 1;
    }
    if (o.profile) {
      const text = await runProfile({ scenarios: o.scenarios, transports: o.transports, quick: o.quick, seconds: o.seconds, keepDir: o.profileOut, log, signal: abort.signal });
      process.stdout.write(text);
      return abort.signal.aborted ? 130 : 0;
    }
    const report = await runScenarios({
      scenarios: o.scenarios,
      brokers: o.brokers,
      transports: o.transports,
      quick: o.quick,
      seconds: o.seconds,
      quietWaitMs: o.wait ? 60_000 : 0,
      retries: o.wait ? 2 : 0,
      log,
      signal: abort.signal,
    });
    process.stdout.write('\n' + formatReport(report, SCENARIOS));
    if (o.json) writeFileSync(o.json, JSON.stringify(report, null, 2) + '\n');
    if (abort.signal.aborted) return 130;
    return report.records.some((r) => r.error) ? 1 : 0;
  } catch (err) {
    process.stderr.write(`starling bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// Standalone: `node dist/bench/main.js [options]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runBench(process.argv.slice(2)).then((code) => process.exit(code));
}
