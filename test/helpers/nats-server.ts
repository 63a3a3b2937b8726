// Real nats-server processes for tests: one server with JetStream, or a 3-node JetStream cluster,
// each on free loopback ports with its own temporary store directory. Every wait is bounded.
//
// The binary is /usr/sbin/nats-server (Debian package `nats-server`), or NATS_SERVER_BIN. When it is
// missing, starting a server throws an Error that says so: tests that need it fail, never skip.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

export interface NatsServerHandle {
  /** nats://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Server name (-n), unique within a cluster. */
  name: string;
  /** The JetStream store directory (-sd). */
  storeDir: string;
  /** SIGTERM, then SIGKILL after a bound; removes the store directory. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL at once, keeping the store directory (simulates losing the node); stop() still cleans up. */
  kill(): void;
  /** Resolves once the process has exited (bounded by `timeoutMs`). */
  exited(timeoutMs?: number): Promise<void>;
  /** Sends a signal to the process (SIGSTOP/SIGCONT freeze and thaw it: a server that stops answering). */
  signal(sig: NodeJS.Signals): void;
  /**
   * After kill(): starts the server again on the same port, name, arguments and store directory (its
   * JetStream state kept). The returned handle replaces this one (stop the new one, not this).
   */
  restart(): Promise<NatsServerHandle>;
  /** The last lines the server printed, for error messages. */
  log(): string;
}

export interface NatsClusterHandle {
  servers: NatsServerHandle[];
  /** Client URLs of every node, for the `servers` option of a client. */
  urls: string[];
  /** Stops every node still running and removes their directories. */
  stop(): Promise<void>;
}

export interface StartNatsOptions {
  /** Extra command-line arguments. */
  args?: string[];
  /** Bound on waiting for the server to accept connections. Default 10 s. */
  readyTimeoutMs?: number;
}

const LOG_LIMIT = 64 * 1024;

/** Path of the nats-server binary; throws a clear Error when it is not installed. */
export function natsServerBinary(): string {
  const candidates = [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
  for (const c of candidates) {
    if (c && fs.existsSync(c)) return c;
  }
  throw new Error(
    'nats-server is not installed: looked for NATS_SERVER_BIN, /usr/sbin/nats-server, /usr/bin/nats-server and /usr/local/bin/nats-server. ' +
      'Install the Debian package `nats-server` (apt-get install nats-server); .ci/run does so on CI.',
  );
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the caller retries if it is taken by then). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  for (let i = 0; i < n * 10 && out.size < n; i++) out.add(await freePort());
  if (out.size < n) throw new Error(`could not find ${n} distinct free ports`);
  return [...out];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when a TCP connection to the port gets the server's INFO line; false after the deadline. */
async function waitForInfo(port: number, deadline: number, proc: ChildProcess): Promise<boolean> {
  while (Date.now() < deadline && proc.exitCode === null && proc.signalCode === null) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => finish(false), 1000);
      let buf = '';
      function finish(v: boolean) {
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      }
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.startsWith('INFO ')) finish(true);
      });
      sock.on('error', () => finish(false));
      sock.on('close', () => finish(false));
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

interface Launch {
  port: number;
  name: string;
  args: string[];
  readyTimeoutMs: number;
  /** An existing store directory (a restart); a new temporary one otherwise. */
  storeDir?: string;
}

class PortInUse extends Error {}

/** Spawns one server and waits until it accepts connections; throws PortInUse when a port was taken. */
async function launch(l: Launch): Promise<NatsServerHandle> {
  const bin = natsServerBinary();
  const storeDir = l.storeDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `starling-nats-${l.name}-`));
  const argv = ['-a', '127.0.0.1', '-p', String(l.port), '-n', l.name, '-js', '-sd', storeDir, ...l.args];
  const proc = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const onOut = (d: Buffer) => {
    output += d.toString();
    if (output.length > LOG_LIMIT) output = output.slice(-LOG_LIMIT);
  };
  proc.stdout?.on('data', onOut);
  proc.stderr?.on('data', onOut);
  const exit = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  proc.once('error', (err) => onOut(Buffer.from(`spawn error: ${err.message}\n`)));

  const exited = async (timeoutMs = 5000) => {
    await Promise.race([exit, sleep(timeoutMs)]);
  };
  let stopped = false;
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${l.port}`,
    port: l.port,
    name: l.name,
    storeDir,
    log: () => output,
    exited,
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
    signal: (sig) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    },
    restart: async () => {
      handle.kill();
      await exited();
      stopped = true; // the directory now belongs to the new handle
      return launch({ ...l, storeDir });
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exit, sleep(5000)]);
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGKILL');
          await Promise.race([exit, sleep(5000)]);
        }
      }
      fs.rmSync(storeDir, { recursive: true, force: true });
    },
  };

  const ready = await waitForInfo(l.port, Date.now() + l.readyTimeoutMs, proc);
  if (!ready) {
    const alive = proc.exitCode === null && proc.signalCode === null;
    await handle.stop();
    if (/address already in use/i.test(output)) throw new PortInUse(output);
    throw new Error(`nats-server ${l.name} ${alive ? `did not accept connections within ${l.readyTimeoutMs} ms` : 'exited'}: ${argv.join(' ')}\n${output}`);
  }
  return handle;
}

/** Starts one nats-server with JetStream on a free 127.0.0.1 port. */
export async function startNatsServer(opts: StartNatsOptions = {}): Promise<NatsServerHandle> {
  natsServerBinary(); // fail fast and clearly
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await launch({ port, name: `starling-${port}`, args: opts.args ?? [], readyTimeoutMs: opts.readyTimeoutMs ?? 10_000 });
    } catch (err) {
      if (!(err instanceof PortInUse) || attempt >= 5) throw err;
    }
  }
}

/**
 * Starts an n-node JetStream cluster (n = 3 by default) on free loopback ports, with full-mesh
 * routes, and waits until JetStream has a meta leader (so streams can be created at once).
 */
export async function startNatsCluster(n = 3, opts: StartNatsOptions & { jetStreamReadyTimeoutMs?: number } = {}): Promise<NatsClusterHandle> {
  natsServerBinary();
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(2 * n);
    const clientPorts = ports.slice(0, n);
    const routePorts = ports.slice(n);
    const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
    const clusterName = `starling-test-${clientPorts[0]}`;
    const servers: NatsServerHandle[] = [];
    try {
      // Started together: JetStream needs a quorum of the cluster before it elects a meta leader.
      const started = await Promise.allSettled(
        clientPorts.map((port, i) =>
          launch({
            port,
            name: `n${i + 1}-${port}`,
            args: ['--cluster_name', clusterName, '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes, ...(opts.args ?? [])],
            readyTimeoutMs: opts.readyTimeoutMs ?? 10_000,
          }),
        ),
      );
      for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const cluster: NatsClusterHandle = {
        servers,
        urls: servers.map((s) => s.url),
        stop: async () => {
          await Promise.all(servers.map((s) => s.stop()));
        },
      };
      await waitForJetStream(cluster.urls, opts.jetStreamReadyTimeoutMs ?? 30_000);
      return cluster;
    } catch (err) {
      await Promise.all(servers.map((s) => s.stop()));
      if (!(err instanceof PortInUse) || attempt >= 5) throw err;
    }
  }
}

/** Waits until the JetStream API answers (a meta leader exists); throws after the bound. */
export async function waitForJetStream(servers: string | string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  const nc = await connect({ servers, timeout: Math.min(5000, timeoutMs) });
  try {
    while (Date.now() < deadline) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.getAccountInfo();
        return;
      } catch (err) {
        last = err;
        await sleep(200);
      }
    }
  } finally {
    await nc.close();
  }
  throw new Error(`JetStream not ready within ${timeoutMs} ms: ${String((last as Error)?.message ?? last)}`);
}
