// Where one MQTT handshake's time goes (issue 18: the TCP connect rate of scenario 5). Starts
// Starling in this process with probes on its handshake steps, and a client process that opens
// `--count` TCP connections, `--inflight` at a time, each sending CONNECT (clean, keepalive 30 s),
// waiting for CONNACK and staying open (idle) until all are made, as scenario 5 does. Prints, per
// step, the median and p90 over the connections (milliseconds, one clock in both processes:
// performance.timeOrigin + now()), the broker's CPU per handshake and its event-loop delay:
//
//   client connect() → accept → first data → CONNECT parsed → Broker.connect resolved →
//   CONNACK written → handed to the socket (at once, or uncorked at the end of the turn) →
//   CONNACK read by the client
//
// With `--port P` only the client runs, against a broker already listening on 127.0.0.1:P (e.g.
// Mosquitto), and only the client's total is printed: the same handshake, the same client.
//
//   node dist/bench/handshake.js [--count 4000] [--inflight 80] [--rounds 3] [--port P]
import { fork } from 'node:child_process';
import { connect as tcpConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { connectPacket } from './gen/wire.js';

const now = (): number => performance.timeOrigin + performance.now();

interface ClientTimes {
  localPort: number;
  start: number;
  connected: number;
  connack: number;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/**
 * The client side: `count` handshakes, `inflight` at once. As in scenario 5, every connection stays
 * open (idle) until all are made; then all are closed, outside the timed part.
 */
async function runClients(port: number, count: number, inflight: number, held: Socket[]): Promise<ClientTimes[]> {
  const out: ClientTimes[] = [];
  let next = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const t: ClientTimes = { localPort: 0, start: now(), connected: 0, connack: 0 };
      const s = tcpConnect({ host: '127.0.0.1', port });
      s.setNoDelay(true);
      const timer = setTimeout(() => (s.destroy(), reject(new Error('no CONNACK in 10 s'))), 10_000);
      s.once('connect', () => {
        t.connected = now();
        t.localPort = s.localPort ?? 0;
        s.write(connectPacket(`hs-${process.pid}-${i}`, true, 30));
      });
      s.once('data', () => {
        t.connack = now();
        clearTimeout(timer);
        out.push(t);
        held.push(s);
        resolve();
      });
      s.once('error', (err) => (clearTimeout(timer), reject(err)));
    });
  const lane = async (): Promise<void> => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  return out;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};
const fmt = (xs: number[]): string => `median ${pct(xs, 50).toFixed(3)}  p90 ${pct(xs, 90).toFixed(3)}`;

function clientProcess(port: number, count: number, inflight: number): Promise<{ times: ClientTimes[]; seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--client', String(port), String(count), String(inflight)], { stdio: 'inherit', execArgv: [] });
    child.once('message', (m) => resolve(m as { times: ClientTimes[]; seconds: number }));
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`client exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--client') {
    const [port, count, inflight] = process.argv.slice(3, 6).map(Number);
    const started = now();
    const held: Socket[] = [];
    const times = await runClients(port, count, inflight, held);
    const seconds = (now() - started) / 1000;
    // Reported before closing, so the broker's work on the closes is not counted in the round.
    process.send!({ times, seconds }, () => {
      for (const s of held) s.destroy();
      process.disconnect();
    });
    return;
  }
  const count = arg('count', 4000);
  const inflight = arg('inflight', 80);
  const rounds = arg('rounds', 3);
  const external = arg('port', 0);
  if (external) {
    for (let r = 0; r < rounds; r++) {
      const { times, seconds } = await clientProcess(external, count, inflight);
      console.log(`port ${external} round ${r + 1}: ${(times.length / seconds).toFixed(0)} handshakes/s; client connect()→CONNACK ${fmt(times.map((t) => t.connack - t.start))}; connected→CONNACK ${fmt(times.map((t) => t.connack - t.connected))}`);
    }
    return;
  }

  // Probes on the server's handshake steps, keyed by the client's port.
  const { loadConfig } = await import('../src/config/load.js');
  const { startServer } = await import('../src/server/server.js');
  const { Connection } = await import('../src/server/connection.js');
  const { Broker } = await import('../src/broker/broker.js');
  interface ServerTimes {
    accept: number;
    data?: number;
    parsed?: number;
    resolved?: number;
    written?: number;
    uncorked?: number;
  }
  const byConn = new WeakMap<object, ServerTimes>();
  const byPort = new Map<number, ServerTimes>();
  const C = Connection.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const wrap = (proto: Record<string, (...a: unknown[]) => unknown>, name: string, before: (self: object, args: unknown[]) => void): void => {
    const orig = proto[name];
    proto[name] = function (this: object, ...args: unknown[]) {
      before(this, args);
      return orig.apply(this, args);
    };
  };
  wrap(C, 'start', (self) => {
    const t: ServerTimes = { accept: now() };
    byConn.set(self, t);
    byPort.set((self as { remotePort: number }).remotePort, t);
  });
  wrap(C, 'received', (self) => {
    const t = byConn.get(self);
    if (t && t.data === undefined) t.data = now();
  });
  const write = C.write;
  C.write = function (this: object, ...args: unknown[]) {
    const t = byConn.get(this);
    const first = t !== undefined && t.written === undefined;
    if (first) t.written = now();
    const r = write.apply(this, args);
    // Not corked after it: the packet went to the socket at once (no wait for the end of the turn).
    if (first && !(this as { corked: boolean }).corked) t.uncorked = t.written;
    return r;
  };
  wrap(C, 'uncork', (self) => {
    const t = byConn.get(self);
    if (t && t.written !== undefined && t.uncorked === undefined) t.uncorked = now();
  });
  const B = Broker.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const connect = B.connect;
  B.connect = function (this: unknown, client: unknown, req: unknown) {
    const t = byConn.get((client as { io: object }).io);
    if (t) t.parsed = now();
    const done = (v: unknown): unknown => {
      if (t) t.resolved = now();
      return v;
    };
    const r = connect.call(this, client, req);
    return r instanceof Promise ? r.then(done) : done(r);
  };

  const config = loadConfig({ env: {}, flags: { mqttListeners: 'mqtt://127.0.0.1:0', persistence: 'memory', sysIntervalSec: '0', logLevel: 'warn' } });
  const server = await startServer(config, pino({ level: 'warn' }));
  const port = server.listeners[0].port;
  try {
    for (let r = 0; r < rounds; r++) {
      byPort.clear();
      const loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      const cpu = process.cpuUsage();
      const { times, seconds } = await clientProcess(port, count, inflight);
      const used = process.cpuUsage(cpu);
      loop.disable();
      // The client closes everything once it reported: wait for that before the next round.
      for (const until = Date.now() + 60_000; server.connections.size > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
      const steps: Record<string, number[]> = {
        'connect() → accept': [],
        'accept → first data': [],
        'first data → CONNECT parsed': [],
        'parsed → Broker.connect resolved': [],
        'resolved → CONNACK written (corked)': [],
        'written → to the socket (uncorked)': [],
        'to the socket → client read CONNACK': [],
        'client connect() → CONNACK': [],
        'client connected → first data on server': [],
      };
      let matched = 0;
      for (const c of times) {
        const s = byPort.get(c.localPort);
        steps['client connect() → CONNACK'].push(c.connack - c.start);
        if (!s || s.data === undefined || s.parsed === undefined || s.resolved === undefined || s.written === undefined || s.uncorked === undefined) continue;
        matched++;
        steps['connect() → accept'].push(s.accept - c.start);
        steps['accept → first data'].push(s.data - s.accept);
        steps['first data → CONNECT parsed'].push(s.parsed - s.data);
        steps['parsed → Broker.connect resolved'].push(s.resolved - s.parsed);
        steps['resolved → CONNACK written (corked)'].push(s.written - s.resolved);
        steps['written → to the socket (uncorked)'].push(s.uncorked - s.written);
        steps['to the socket → client read CONNACK'].push(c.connack - s.uncorked);
        steps['client connected → first data on server'].push(s.data - c.connected);
      }
      console.log(`round ${r + 1}: ${(times.length / seconds).toFixed(0)} handshakes/s (${matched} of ${times.length} matched); server CPU ${((used.user + used.system) / 1000 / times.length).toFixed(3)} ms per handshake (${(((used.user + used.system) / 1e6 / seconds) * 100).toFixed(0)} % of a core); event-loop delay p50 ${(loop.percentile(50) / 1e6).toFixed(1)} p99 ${(loop.percentile(99) / 1e6).toFixed(1)} max ${(loop.max / 1e6).toFixed(1)} ms; times in ms:`);
      for (const [name, xs] of Object.entries(steps)) console.log(`  ${name.padEnd(42)} ${fmt(xs)}`);
    }
  } finally {
    await server.close();
  }
}

await main();
