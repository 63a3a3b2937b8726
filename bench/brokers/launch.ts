// Starts a broker under test as a child process on free ports, waits until both listeners accept
// connections, and stops it again (SIGTERM, then SIGKILL if it lingers).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Target, TransportName } from '../gen/conn.js';
import { freePort } from '../system.js';
import { brokerCommand, type BrokerLimits, type BrokerName } from './commands.js';

export interface RunningBroker {
  readonly name: BrokerName;
  readonly pid: number;
  readonly persistence: string;
  readonly ports: { tcp: number; ws: number };
  /** Where clients connect; `sub` is the second node of a cluster (the first otherwise). */
  target(transport: TransportName, role?: 'pub' | 'sub'): Target;
  alive(): boolean;
  /** The last lines the broker printed (stdout and stderr), for error messages. */
  logTail(): string;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  nodeFlags?: string[];
  /** Where the broker's files go; a fresh temporary folder (removed on stop) when omitted. */
  dir?: string;
  readyTimeoutMs?: number;
  /** The bench's queue limits (default) or each broker's own (see commands.ts). */
  limits?: BrokerLimits;
}

const WS_PATH = '/mqtt';

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function launchBroker(name: BrokerName, opts: LaunchOptions = {}): Promise<RunningBroker> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `starling-bench-${name}-`));
  const tcpPort = await freePort();
  let wsPort = await freePort();
  while (wsPort === tcpPort) wsPort = await freePort();
  const taken = new Set([tcpPort, wsPort]);
  const another = async (): Promise<number> => {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    return p;
  };
  const peer = name === 'starling-cluster' ? { tcp: await another(), ws: await another() } : undefined;
  const cmd = brokerCommand(name, { dir, tcpPort, wsPort, nodeFlags: opts.nodeFlags ?? [], limits: opts.limits ?? 'bench', ...(peer ? { peer } : {}) });
  const child = spawn(cmd.command, cmd.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.stdin!.on('error', () => {});
  let exited = false;
  // If the benchmark itself dies, the broker must not outlive it: the Node brokers also watch their
  // stdin, but Mosquitto cannot, so kill it on the way out ('exit' handlers run synchronously).
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exit = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      process.off('exit', killOnExit);
      r();
    }),
  );
  child.once('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)));

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (exited) throw new Error(`${name} exited before it was ready:\n${log}`);
    if ((await accepts(tcpPort)) && (await accepts(wsPort)) && (!peer || ((await accepts(peer.tcp)) && (await accepts(peer.ws))))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not open ports ${tcpPort}/${wsPort} in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let stopping: Promise<void> | undefined;
  return {
    name,
    pid: child.pid!,
    persistence: cmd.persistence,
    ports: { tcp: tcpPort, ws: wsPort },
    target: (transport, role) => {
      const ports = role === 'sub' && peer ? peer : { tcp: tcpPort, ws: wsPort };
      return { transport, host: '127.0.0.1', port: transport === 'tcp' ? ports.tcp : ports.ws, path: WS_PATH };
    },
    alive: () => !exited,
    logTail: () => log,
    stop: () =>
      (stopping ??= (async () => {
        if (!exited) {
          child.kill('SIGTERM');
          // A profiled broker writes its profile on the way out; give it time, then insist.
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exit;
          clearTimeout(timer);
        }
        if (ownDir) rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
