// Runs Starling in a child process so a test can kill it (SIGKILL) and start it again.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ListenerInfo } from '../../src/transport/transport.js';
import { compiledRoot } from './paths.js';

export interface BrokerProcess {
  child: ChildProcess;
  listeners: ListenerInfo[];
  port(scheme?: string): number;
  /** The last 8 KB the broker wrote to stderr (its log, a crash's stack). */
  stderrTail(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startBrokerProcess(flags: Record<string, string>, timeoutMs = 15_000): Promise<BrokerProcess> {
  const entry = join(compiledRoot, 'test/helpers/run-broker.js');
  const child = spawn(process.execPath, [entry, JSON.stringify(flags)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-8192)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`broker did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (!line) return;
      clearTimeout(timer);
      const listeners = JSON.parse(line.slice(6)) as ListenerInfo[];
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      resolve({
        child,
        listeners,
        port: (scheme = 'mqtt') => listeners.find((l) => l.scheme === scheme)!.port,
        stderrTail: () => stderr,
        kill: async (signal = 'SIGKILL') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before it was ready: ${stderr}`));
    });
  });
}
