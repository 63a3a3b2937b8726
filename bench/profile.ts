// `--profile`: runs a scenario (fan-in, scenario 1, unless told otherwise) against Starling
// started with `node --cpu-prof`, and
// summarises the profile: self time by function (mapped back to the .ts source through the
// compiled source maps), by area (Starling layer, Node internals, libraries, GC), and the Starling
// functions with the most inclusive time.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBroker } from './brokers/launch.js';
import type { TransportName } from './gen/conn.js';
import type { Fleet } from './gen/fleet.js';
import { formatValue } from './report.js';
import { scenarioById } from './scenarios/index.js';
import { settingsFor, type Scenario, type Settings } from './scenarios/scenario.js';
import { repoRoot } from './system.js';

export interface ProfileOptions {
  scenarios: number[];
  transports: TransportName[];
  quick: boolean;
  seconds?: number;
  /** Keep the .cpuprofile files here (else a temporary folder, removed afterwards). */
  keepDir?: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  area: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Time not spent idle (waiting for I/O). */
  busyMs: number;
  functions: FunctionTime[];
  areas: Array<{ area: string; selfMs: number }>;
}

const compiledRoot = fileURLToPath(new URL('..', import.meta.url));

/** Source maps of compiled Starling files, loaded once each. */
const maps = new Map<string, SourceMap | null>();
function mapFor(file: string): SourceMap | null {
  if (!maps.has(file)) {
    let m: SourceMap | null = null;
    try {
      if (existsSync(file + '.map')) m = new SourceMap(JSON.parse(readFileSync(file + '.map', 'utf8')));
    } catch {
      m = null;
    }
    maps.set(file, m);
  }
  return maps.get(file)!;
}

/** Where a frame is, as `src/x/y.ts:line` for our code; its area for the by-area table. */
function locate(cf: CallFrame): { where: string; area: string } {
  const url = cf.url;
  if (url === '') return { where: '', area: cf.functionName.startsWith('(') ? cf.functionName : 'V8 / native' };
  if (url.startsWith('node:')) return { where: `${url}:${cf.lineNumber + 1}`, area: `node: ${url.slice(5).split('/').slice(0, 2).join('/')}` };
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + 14).split('/');
    const pkg = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    return { where: `${pkg}/${parts.slice(pkg.includes('/') ? 2 : 1).join('/')}:${cf.lineNumber + 1}`, area: pkg };
  }
  const rel = relative(compiledRoot, file);
  if (!rel.startsWith('..')) {
    let line = cf.lineNumber + 1;
    let src = rel.replace(/\.js$/, '.ts');
    const entry = mapFor(file)?.findEntry(cf.lineNumber, cf.columnNumber);
    if (entry && 'originalLine' in entry && entry.originalSource) {
      line = entry.originalLine + 1;
      src = relative(repoRoot(), fileURLToPath(new URL(entry.originalSource, url)));
    }
    const area = src.startsWith('src/') ? `starling ${src.split('/').slice(0, 2).join('/')}` : src;
    return { where: `${src}:${line}`, area };
  }
  return { where: `${file}:${cf.lineNumber + 1}`, area: 'other' };
}

export function summarise(p: CpuProfile): ProfileSummary {
  const self = new Map<number, number>();
  // timeDeltas[i] is the time since the previous sample; it belongs to the sample before i.
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const total = new Map<number, number>();
  const totalOf = (id: number): number => {
    const known = total.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const t = (self.get(id) ?? 0) + (n.children ?? []).reduce((s, c) => s + totalOf(c), 0);
    total.set(id, t);
    return t;
  };
  const roots = p.nodes.filter((n) => !p.nodes.some((m) => m.children?.includes(n.id)));
  for (const r of roots) totalOf(r.id);

  const fns = new Map<string, FunctionTime>();
  const areas = new Map<string, number>();
  // Inclusive time per function counts each call stack once, however often the function recurses.
  const visit = (id: number, onStack: Set<string>): void => {
    const n = byId.get(id)!;
    const { where, area } = locate(n.callFrame);
    const name = n.callFrame.functionName || '(anonymous)';
    const key = `${name}@${where}`;
    let f = fns.get(key);
    if (!f) fns.set(key, (f = { name, where, area, selfMs: 0, totalMs: 0 }));
    const s = self.get(id) ?? 0;
    f.selfMs += s;
    areas.set(area, (areas.get(area) ?? 0) + s);
    const fresh = !onStack.has(key);
    if (fresh) {
      f.totalMs += total.get(id) ?? 0;
      onStack.add(key);
    }
    for (const c of n.children ?? []) visit(c, onStack);
    if (fresh) onStack.delete(key);
  };
  for (const r of roots) visit(r.id, new Set());
  const totalMs = (p.endTime - p.startTime) / 1000;
  const idle = areas.get('(idle)') ?? 0;
  return {
    totalMs,
    busyMs: totalMs - idle,
    functions: [...fns.values()],
    areas: [...areas.entries()].map(([area, selfMs]) => ({ area, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function formatSummary(s: ProfileSummary, title: string): string {
  const pct = (ms: number): string => `${((100 * ms) / Math.max(1, s.busyMs)).toFixed(1)} %`;
  const out: string[] = [];
  out.push(`### ${title}`);
  out.push('');
  out.push(`Profile: ${formatValue(s.totalMs)} ms, of which ${formatValue(s.busyMs)} ms busy (not idle). Percentages are of busy time.`);
  out.push('');
  out.push('Top functions by self time:');
  out.push('');
  out.push('| self | % | function | where |');
  out.push('|---:|---:|---|---|');
  const top = s.functions.filter((f) => f.name !== '(idle)').sort((a, b) => b.selfMs - a.selfMs).slice(0, 25);
  for (const f of top) out.push(`| ${formatValue(f.selfMs)} ms | ${pct(f.selfMs)} | ${f.name} | ${f.where} |`);
  out.push('');
  out.push('Self time by area:');
  out.push('');
  out.push('| area | self | % |');
  out.push('|---|---:|---:|');
  for (const a of s.areas.filter((x) => x.area !== '(idle)').slice(0, 20)) out.push(`| ${a.area} | ${formatValue(a.selfMs)} ms | ${pct(a.selfMs)} |`);
  out.push('');
  out.push('Starling functions by inclusive time (self + callees):');
  out.push('');
  out.push('| total | % | self | function | where |');
  out.push('|---:|---:|---:|---|---|');
  const ours = s.functions.filter((f) => f.area.startsWith('starling')).sort((a, b) => b.totalMs - a.totalMs).slice(0, 20);
  for (const f of ours) out.push(`| ${formatValue(f.totalMs)} ms | ${pct(f.totalMs)} | ${formatValue(f.selfMs)} ms | ${f.name} | ${f.where} |`);
  out.push('');
  return out.join('\n');
}

export async function runProfile(o: ProfileOptions): Promise<string> {
  const settings = settingsFor(o.quick, o.seconds);
  const parts: string[] = [];
  for (const id of o.scenarios) {
    const scenario = scenarioById(id);
    if (!scenario) throw new Error(`no scenario ${id}`);
    for (const transport of o.transports) parts.push(await profileOne(o, scenario, transport, settings));
  }
  return parts.join('\n');
}

async function profileOne(o: ProfileOptions, scenario: Scenario, transport: TransportName, settings: Settings): Promise<string> {
  const dir = o.keepDir ? join(o.keepDir, `${scenario.id}-${transport}`) : mkdtempSync(join(tmpdir(), 'starling-bench-prof-'));
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  const broker = await launchBroker('starling', { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`], limits: scenario.limits ?? 'bench' });
  const fleets: Fleet[] = [];
  const onAbort = (): void => {
    for (const f of fleets) void f.close();
    void broker.stop();
  };
  o.signal.addEventListener('abort', onAbort, { once: true });
  let figures = '';
  try {
    o.log(`profiling Starling during ${scenario.name} over ${transport}…`);
    const m = await scenario.run({ broker, transport, settings, signal: o.signal, track: (f) => fleets.push(f) });
    figures = scenario.metrics
      .filter((x) => x.better !== 'info' && m.values[x.key] !== undefined)
      .slice(0, 3)
      .map((x) => `${x.label.trim()} ${formatValue(m.values[x.key], x.digits)}`)
      .join('; ');
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    await broker.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
  if (!file) throw new Error(`Starling wrote no CPU profile into ${dir}:\n${broker.logTail()}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  let text = formatSummary(summarise(profile), `Starling CPU profile, ${scenario.name} over ${transport} (${figures})`);
  if (o.keepDir) text += `Raw profile: ${join(dir, file)} (open in Chrome DevTools → Performance).\n`;
  else rmSync(dir, { recursive: true, force: true });
  return text;
}
