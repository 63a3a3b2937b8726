// The results as a Markdown table: absolute figures per broker and the Starling/Mosquitto and
// Starling/Aedes ratios, with the machine and versions above and footnotes below.
import type { BrokerName } from './brokers/commands.js';
import type { TransportName } from './gen/conn.js';
import type { Measured, Scenario, Settings } from './scenarios/scenario.js';
import type { MachineInfo } from './system.js';

export interface RunRecord {
  scenario: number;
  transport: TransportName;
  broker: BrokerName;
  measured?: Measured;
  error?: string;
  /** Seconds the run took, broker start to stop. */
  seconds: number;
  /** Most CPU other processes used during one of its measured windows, % of a core. */
  otherCpu?: number;
}

export interface BenchReport {
  startedAt: string;
  machine: MachineInfo;
  versions: Record<string, string>;
  persistence: Partial<Record<BrokerName, string>>;
  settings: Settings;
  records: RunRecord[];
}

const NAMES: Record<BrokerName, string> = {
  starling: 'Starling',
  'starling-workers': 'Starling workers=2',
  'starling-cluster': 'Starling 2 nodes',
  mosquitto: 'Mosquitto',
  aedes: 'Aedes',
};

export function formatValue(v: number | undefined, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return '';
  if (b === 0) return a === 0 ? '=' : '';
  return `${(a / b).toFixed(2)}×`;
}

export function formatReport(report: BenchReport, scenarios: readonly Scenario[]): string {
  const m = report.machine;
  const lines: string[] = [];
  const brokers = [...new Set(report.records.map((r) => r.broker))];
  lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, fd limit ${m.fdLimit}`);
  lines.push(`Versions: ${Object.entries(report.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`Persistence: ${brokers.map((b) => `${NAMES[b]} ${report.persistence[b] ?? '?'}`).join(', ')}`);
  const s = report.settings;
  lines.push(
    `Run: ${report.startedAt}, ${s.quick ? 'quick' : 'full'}; windows ${s.warmupMs / 1000} s warm-up + ${s.measureMs / 1000} s measured; ` +
      `generator and brokers share the machine's cores.`,
  );
  lines.push('');
  const ratios = brokers.includes('starling') ? brokers.filter((b) => !b.startsWith('starling')) : [];
  const head = ['#', 'Scenario', 'Transport', 'Metric', ...brokers.map((b) => NAMES[b]), ...ratios.map((b) => `Starling/${NAMES[b]}`)];
  lines.push(`| ${head.join(' | ')} |`);
  lines.push(`|${head.map((_, i) => (i >= 4 ? '---:' : '---')).join('|')}|`);
  const notes: string[] = [];
  for (const sc of scenarios) {
    const mine = report.records.filter((r) => r.scenario === sc.id);
    if (mine.length === 0) continue;
    for (const t of [...new Set(mine.map((r) => r.transport))]) {
      const byBroker = new Map(mine.filter((r) => r.transport === t).map((r) => [r.broker, r]));
      for (const [b, r] of byBroker) {
        if (r.error) notes.push(`${sc.id} ${sc.name}, ${t}, ${NAMES[b]}: failed: ${r.error.split('\n')[0]}`);
        for (const n of r.measured?.notes ?? []) notes.push(`${sc.id} ${sc.name}, ${t}, ${NAMES[b]}: ${n}`);
      }
      for (const metric of sc.metrics) {
        const value = (b: BrokerName): number | undefined => byBroker.get(b)?.measured?.values[metric.key];
        const cells = brokers.map((b) => (byBroker.get(b)?.error ? 'failed' : formatValue(value(b), metric.digits)));
        const arrow = metric.better === 'higher' ? ' ↑' : metric.better === 'lower' ? ' ↓' : '';
        const rs = ratios.map((b) => (metric.better === 'info' || metric.noRatio ? '' : ratio(value('starling'), value(b))));
        lines.push(`| ${sc.id} | ${sc.name} | ${t} | ${metric.label}${arrow} | ${cells.join(' | ')} | ${rs.join(' | ')} |`);
      }
    }
  }
  lines.push('');
  lines.push('↑ higher is better, ↓ lower is better; ratios are Starling ÷ the other broker.');
  if (notes.length > 0) {
    lines.push('');
    lines.push('Notes:');
    for (const n of notes) lines.push(`- ${n}`);
  }
  return lines.join('\n') + '\n';
}
