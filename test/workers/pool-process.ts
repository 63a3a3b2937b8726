// Runs `starling start` with `workers=N` in a child process and reads what it prints: JSON log
// lines only (with the `worker` each came from), standard output being a pipe.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledRoot } from '../helpers/paths.js';

export interface LogLine {
  level: number;
  msg: string;
  worker?: number;
  pid?: number;
  clientId?: string;
  [key: string]: unknown;
}

export interface PoolProcess {
  child: ChildProcess;
  dir: string;
  /** Client URL per scheme, from the primary's `ready` log line. */
  url(scheme: 'mqtt' | 'ws' | 'mqtts' | 'wss'): string;
  readonly logs: LogLine[];
  /** Resolves with the first log line (from now or earlier) that `match` accepts; bounded. */
  waitForLog(match: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** The worker that served the `nth` CONNECT (from 1) of `clientId`. */
  workerOf(clientId: string, nth?: number): Promise<number>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export async function startPool(settings: Record<string, string>, timeoutMs = 30_000): Promise<PoolProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-workers-'));
  const conf = join(dir, 'starling.conf');
  const lines = {
    mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0',
    dataDir: join(dir, 'data'),
    logFormat: 'json',
    logLevel: 'debug',
    sysIntervalSec: '0',
    ...settings,
  };
  writeFileSync(conf, Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const child = spawn(process.execPath, [join(compiledRoot, 'test/helpers/run-cli.js'), 'start', '--config', conf], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '' },
  });
  const logs: LogLine[] = [];
  const urls = new Map<string, string>();
  let listeners: ((l: LogLine) => void)[] = [];
  let stderr = '';
  let pending = '';
  let printedAll: () => void = () => {};
  const printed = new Promise<void>((r) => (printedAll = r));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const l = JSON.parse(line) as LogLine;
      // The primary's `ready` line lists the URLs once every worker listens.
      if (l.worker === undefined && typeof l.msg === 'string' && l.msg.startsWith('ready') && Array.isArray(l.listeners)) {
        for (const u of l.listeners as string[]) urls.set(new URL(u).protocol.replace(':', ''), u);
        printedAll();
      }
      logs.push(l);
      for (const f of listeners) f(l);
    }
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    printed,
    exited.then((code) => Promise.reject(new Error(`starling exited with ${code} before it was ready: ${stderr}`))),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms: ${stderr}`)), timeoutMs))),
  ]).finally(() => clearTimeout(timer));

  const waitForLog = (match: (l: LogLine) => boolean, what: string, ms = 10_000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        listeners = listeners.filter((f) => f !== check);
        // A primary that died meanwhile says why on stderr: part of the message, not lost.
        const gone = child.exitCode !== null || child.signalCode !== null ? ` (starling exited with ${child.exitCode ?? child.signalCode}: ${stderr.slice(-2000)})` : '';
        reject(new Error(`no log line for ${what} within ${ms} ms${gone}`));
      }, ms);
      const check = (l: LogLine): void => {
        if (!match(l)) return;
        clearTimeout(t);
        listeners = listeners.filter((f) => f !== check);
        resolve(l);
      };
      listeners.push(check);
    });
  };
  return {
    child,
    dir,
    logs,
    url: (scheme) => {
      const u = urls.get(scheme);
      if (!u) throw new Error(`no ${scheme} listener printed`);
      return u;
    },
    waitForLog,
    async workerOf(clientId, nth = 1) {
      const connected = (l: LogLine): boolean => l.msg === 'client connected' && l.clientId === clientId;
      let count = 0;
      const line = await waitForLog((l) => connected(l) && ++count === nth, `connect #${nth} of ${clientId}`);
      return line.worker!;
    },
    async stop(signal = 'SIGTERM', ms = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      let t: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<'late'>((r) => (t = setTimeout(() => r('late'), ms)))]);
      clearTimeout(t);
      if (code === 'late') {
        child.kill('SIGKILL');
        throw new Error(`starling did not stop within ${ms} ms of ${signal}`);
      }
      return code;
    },
  };
}
