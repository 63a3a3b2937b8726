// Running other people's MQTT clients (mosquitto_pub/mosquitto_sub, Python paho-mqtt) as child
// processes in interop tests. Every process is bounded in time and killed when it overstays.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process was killed for running past its time limit. */
  timedOut: boolean;
}

/**
 * Fails (never skips) when an executable is missing, naming the Debian package that provides it:
 * an interop test that silently passes without its peer proves nothing.
 */
export function requireExecutable(path: string, debianPackage: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`);
  }
}

/** Fails when `python` cannot import `module`, naming the Debian package that provides it. */
export function requirePythonModule(python: string, module: string, debianPackage: string): void {
  requireExecutable(python, 'python3');
  const r = spawnSync(python, ['-c', `import ${module}`], { timeout: 10_000, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${python} cannot import ${module}: install the Debian package ${debianPackage} (apt-get install ${debianPackage})\n${r.stderr}`);
  }
}

/** A child process whose output is collected, with a hard time limit. */
export class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly done: Promise<RunResult>;
  private timedOut = false;
  private readonly watchers: Array<() => void> = [];

  constructor(cmd: string, args: string[], timeoutMs: number, input?: string) {
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      for (const w of [...this.watchers]) w();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.proc.stdin!.on('error', () => {});
    this.proc.stdin!.end(input ?? '');
    const timer = setTimeout(() => {
      this.timedOut = true;
      this.proc.kill('SIGKILL');
    }, timeoutMs);
    this.done = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        clearTimeout(timer);
        for (const w of [...this.watchers]) w();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, timedOut: this.timedOut });
      });
      this.proc.on('error', (err) => {
        clearTimeout(timer);
        this.stderr += String(err);
        resolve({ code: null, signal: null, stdout: this.stdout, stderr: this.stderr, timedOut: false });
      });
    });
  }

  /** Resolves once stdout matches `re`; rejects if the process ends or the time passes first. */
  waitFor(re: RegExp, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (re.test(this.stdout)) return finish();
        if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
          finish(new Error(`process ended before printing ${re}; stdout: ${this.stdout}\nstderr: ${this.stderr}`));
        }
      };
      const timer = setTimeout(() => finish(new Error(`no ${re} within ${timeoutMs} ms; stdout: ${this.stdout}\nstderr: ${this.stderr}`)), timeoutMs);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        const i = this.watchers.indexOf(check);
        if (i >= 0) this.watchers.splice(i, 1);
        if (err) reject(err);
        else resolve();
      };
      this.watchers.push(check);
      check();
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}

/** Runs a command to completion (or its time limit) and returns what it printed. */
export function run(cmd: string, args: string[], timeoutMs = 10_000, input?: string): Promise<RunResult> {
  return new Child(cmd, args, timeoutMs, input).done;
}

/** Formats a RunResult for an assertion message. */
export function describeRun(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' after timing out' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}
