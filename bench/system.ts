// What the benchmark reads from the machine: free ports, process CPU time and memory from /proc,
// and the machine description printed above the results.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository checkout (holds package.json and src/), found above the compiled bench files. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('repository root not found above the compiled benchmark');
}

/** A port nobody listens on: bind port 0 on 127.0.0.1, note the port, release it. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
  });
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export interface CpuTimes {
  user: number;
  system: number;
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces); state is [0]. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * The process and all its descendants (a broker with `workers=N` is a primary and N workers), so
 * CPU and memory are those of the whole broker.
 */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return [pid];
  }
  for (const name of entries) {
    const ppid = Number(statFields(Number(name))?.[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0 && out.length < 1024) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** User and system CPU seconds a process and its descendants have used so far; zeros once gone. */
export function cpuTimes(pid: number): CpuTimes {
  const t = { user: 0, system: 0 };
  for (const p of processTree(pid)) {
    // utime and stime are fields 14 and 15 of the line, [11] and [12] from state.
    const f = statFields(p);
    if (!f) continue;
    t.user += Number(f[11]) / clockTicks();
    t.system += Number(f[12]) / clockTicks();
  }
  return t;
}

/** User + system CPU seconds a process has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/**
 * Machine-wide CPU seconds spent in user space (user + nice), all cores. The disturbance check
 * compares this with the user time of the benchmark's own processes: system time is left out
 * because the kernel work of the benchmark's own traffic (19,000 sockets closing, say) partly runs
 * in kernel threads that no benchmark process is charged for.
 */
export function machineUserSeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    // cpu user nice system idle iowait irq softirq steal ...
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    return ((f[0] ?? 0) + (f[1] ?? 0)) / clockTicks();
  } catch {
    return 0;
  }
}

/**
 * Waits (at most `maxMs`) until other processes have used under `limitPct` % of a core for two
 * seconds in a row, so a run does not start while something else (a test suite) is busy. Resolves
 * with whether it got quiet.
 */
export async function waitForQuiet(maxMs: number, limitPct = 15, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  let calm = 0;
  while (!signal?.aborted) {
    const m0 = machineUserSeconds();
    const c0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1000));
    const other = (machineUserSeconds() - m0 - process.cpuUsage(c0).user / 1e6) * 100;
    calm = other < limitPct ? calm + 1 : 0;
    if (calm >= 2) return true;
    if (Date.now() >= deadline) return false;
  }
  return false;
}

/** Resident set size in KiB (VmRSS) of a process and its descendants, 0 once gone. */
export function rssKiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kib;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  fdLimit: string;
}

export function machineInfo(): MachineInfo {
  let fdLimit = '?';
  try {
    const m = /Max open files\s+(\d+)\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) fdLimit = m[1];
  } catch {
    /* not Linux */
  }
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    fdLimit,
  };
}
