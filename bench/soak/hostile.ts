// The hostile classes of issue 12, each a loop that runs until the soak ends. Connections that the
// boundary fuzzer's model can describe are played by its runner (test/fuzz/runner.ts), so every one
// of them is also checked against the spec (answered or closed in time, DISCONNECT first, Maximum
// Packet Size kept); the rest (topic alias floods, retained floods, stalled handshakes) are here.
import { connect as tcpConnect, type Socket } from 'node:net';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { fuzzConnection, type FuzzConnection } from '../../test/fuzz/grammar.js';
import type { FuzzStep, PropSpec, StrSpec } from '../../test/fuzz/model.js';
import { runConnection, type Ports } from '../../test/fuzz/runner.js';

export interface ClassStats {
  /** Connections opened (or publishes, for the retained flood). */
  attempts: number;
  /** Spec violations by the broker seen by the fuzz runner's checks (hangs included). */
  failures: number;
  /** Connections the broker closed. */
  closedByBroker: number;
  /** Longest a connection of this class stayed open before the broker closed it, ms. */
  longestOpenMs: number;
  /** Still open when the soak ended (stalled sockets the broker never closed). */
  openAtEnd: number;
  /** Free-form counters (aliases sent, retained bytes accepted…). */
  extra: Record<string, number>;
  /** First few failure messages. */
  examples: string[];
}

export interface HostileContext {
  ports: Ports & { tls: number };
  maxPacket: number;
  boundMs: number;
  signal: AbortSignal;
  seed: number;
  /** Cap on retained payload bytes the retained flood sends in all. */
  retainedCapBytes: number;
}

export const newStats = (): ClassStats => ({ attempts: 0, failures: 0, closedByBroker: 0, longestOpenMs: 0, openAtEnd: 0, extra: {}, examples: [] });

const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((r) => {
    if (signal.aborted) return r();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      r();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

function note(stats: ClassStats, failures: string[]): void {
  stats.failures += failures.length;
  for (const f of failures) if (stats.examples.length < 3 && !stats.examples.includes(f.slice(0, 300))) stats.examples.push(f.slice(0, 300));
}

const big = (bytes: number, prefix = '', suffix = ''): StrSpec => ({ bytes, fill: 'ascii', prefix, suffix });
const lit = (literal: string): StrSpec => ({ bytes: 0, fill: 'ascii', literal });
const connect = (version: 4 | 5, props: PropSpec[] = [], extra: object = {}): FuzzStep => ({
  packet: { type: 'connect', version, clientId: lit(`soak-${Math.floor(Math.random() * 1e9)}`), keepalive: 60, clean: true, props, ...extra } as FuzzStep['packet'],
});

/** The one-packet crashes: ~65,500-byte strings in five places, over TCP and WebSocket, 3.1.1 and 5. */
export function oversizedStringConnections(): FuzzConnection[] {
  const N = 65_500;
  const out: FuzzConnection[] = [];
  for (const transport of ['tcp', 'ws'] as const) {
    out.push({ version: 5, transport, connect: connect(5, [{ id: 0x15, value: big(N) }]), steps: [] });
    for (const version of [4, 5] as const) {
      out.push({
        version, transport,
        connect: { ...connect(version, [], { will: { topic: big(N, '', '+'), payload: { bytes: 1, byte: 0x61 }, qos: 0, retain: false, props: [] } }), violation: { name: 'will topic holding +' } },
        steps: [],
      });
      out.push({
        version, transport, connect: connect(version), steps: [],
        final: { packet: { type: 'publish', qos: 0, dup: false, retain: false, topic: big(N, 'a/', '/#'), packetId: 1, props: [], payload: { bytes: 1, byte: 0x61 } }, violation: { name: 'wildcard in PUBLISH topic' } },
      });
      out.push({ version, transport, connect: connect(version), steps: [{ packet: { type: 'subscribe', packetId: 1, subs: [{ filter: big(N, '', '#'), options: 0 }], props: [] } }] });
      out.push({ version, transport, connect: connect(version), steps: [{ packet: { type: 'subscribe', packetId: 1, subs: [{ filter: big(N, '$share/'), options: 0 }], props: [] } }] });
    }
  }
  return out;
}

/** Plays the given connections over and over (two at a time). */
export async function replayLoop(ctx: HostileContext, stats: ClassStats, conns: () => FuzzConnection): Promise<void> {
  const worker = async (): Promise<void> => {
    while (!ctx.signal.aborted) {
      stats.attempts++;
      const t0 = Date.now();
      const o = await runConnection(conns(), ctx.ports, { maxPacket: ctx.maxPacket, boundMs: ctx.boundMs });
      stats.longestOpenMs = Math.max(stats.longestOpenMs, Date.now() - t0);
      if (o.closed) stats.closedByBroker++;
      note(stats, o.failures);
      await pause(20, ctx.signal);
    }
  };
  await Promise.all([worker(), worker()]);
}

export function cycle<T>(items: T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length];
}

/** Connections from the fuzzer's generators, a new seed each time. */
export function randomBoundary(ctx: HostileContext): () => FuzzConnection {
  let n = 0;
  return () => {
    n++;
    return fc.sample(fuzzConnection(n % 2 === 0 ? 'tcp' : 'ws', ctx.maxPacket), { seed: ctx.seed + n, numRuns: 1 })[0];
  };
}

/** A client announcing Maximum Packet Size 20 (3.1.1's clients cannot): must get a CONNACK that fits, or a close. */
export function mps20Connections(): FuzzConnection[] {
  return (['tcp', 'ws'] as const).map((transport) => ({
    version: 5 as const, transport, connect: connect(5, [{ id: 0x27, value: 20 }]),
    steps: [{ packet: { type: 'subscribe' as const, packetId: 1, subs: [{ filter: lit('soak/healthy/#'), options: 0 }], props: [] } }],
  }));
}

/** A raw TCP connection that reports what it was sent and when the broker closed it. */
function rawSocket(port: number): Promise<{ socket: Socket; closed: Promise<number>; received: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const received: Buffer[] = [];
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    socket.once('error', reject);
    socket.on('data', (d) => received.push(d));
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)));
    socket.once('connect', () => resolve({ socket, closed, received }));
  });
}

/**
 * Sockets that open and then stall: in the TLS handshake (a ClientHello record header and nothing
 * more) or in the WebSocket upgrade (half an HTTP request). Keeps `count` of them open; the broker
 * should close each within connectTimeoutSec.
 */
export async function stallLoop(ctx: HostileContext, stats: ClassStats, kind: 'tls' | 'ws', count: number): Promise<void> {
  const port = kind === 'tls' ? ctx.ports.tls : ctx.ports.ws;
  const stall = kind === 'tls' ? Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]) : Buffer.from('GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
  let open = 0;
  const sockets = new Map<Socket, number>();
  const aborted = new Promise<undefined>((r) => (ctx.signal.aborted ? r(undefined) : ctx.signal.addEventListener('abort', () => r(undefined), { once: true })));
  const one = async (): Promise<void> => {
    while (!ctx.signal.aborted) {
      let s: Awaited<ReturnType<typeof rawSocket>>;
      try {
        s = await rawSocket(port);
      } catch {
        stats.extra.refusedAtConnect = (stats.extra.refusedAtConnect ?? 0) + 1;
        await pause(200, ctx.signal);
        continue;
      }
      stats.attempts++;
      open++;
      sockets.set(s.socket, Date.now());
      s.socket.write(stall);
      const lifetime = await Promise.race([s.closed, aborted]);
      if (lifetime === undefined) break;
      open--;
      sockets.delete(s.socket);
      stats.closedByBroker++;
      stats.longestOpenMs = Math.max(stats.longestOpenMs, lifetime);
    }
  };
  const sampler = setInterval(() => (stats.extra.mostOpenAtOnce = Math.max(stats.extra.mostOpenAtOnce ?? 0, open)), 250);
  await Promise.all(Array.from({ length: count }, one));
  clearInterval(sampler);
  stats.openAtEnd = sockets.size;
  // Sockets the broker never closed are the longest-lived: their age counts too.
  for (const [s, since] of sockets) {
    stats.longestOpenMs = Math.max(stats.longestOpenMs, Date.now() - since);
    s.destroy();
  }
}

/** Reads packets from a socket with mqtt-packet. */
function mqttSocket(port: number, version: 4 | 5): Promise<{ socket: Socket; packets: Array<Record<string, any>>; closed: Promise<void>; wait(cmd: string, ms: number): Promise<Record<string, any> | undefined> }> {
  return rawSocket(port).then(({ socket, closed }) => {
    const parser = mqttPacket.parser({ protocolVersion: version });
    const packets: Array<Record<string, any>> = [];
    const waiters: Array<() => void> = [];
    parser.on('packet', (p) => {
      packets.push(p as unknown as Record<string, any>);
      waiters.splice(0).forEach((w) => w());
    });
    parser.on('error', () => {});
    socket.on('data', (d) => parser.parse(d));
    let isClosed = false;
    void closed.then(() => {
      isClosed = true;
      waiters.splice(0).forEach((w) => w());
    });
    const wait = (cmd: string, ms: number): Promise<Record<string, any> | undefined> =>
      new Promise((resolve) => {
        const t = setTimeout(() => resolve(packets.find((p) => p.cmd === cmd)), ms);
        const check = (): void => {
          const p = packets.find((x) => x.cmd === cmd);
          if (p || isClosed) {
            clearTimeout(t);
            resolve(p);
          } else waiters.push(check);
        };
        check();
      });
    return { socket, packets, closed: closed.then(() => undefined), wait };
  });
}

const gen = (packet: Record<string, unknown>): Buffer => mqttPacket.generate(packet as unknown as mqttPacket.Packet, { protocolVersion: 5 });

/**
 * Topic alias floods: an MQTT 5 client sets every alias it was granted (up to 2,000) to a distinct
 * 60,000-byte topic, holds the connection for 3 s, and starts again.
 */
export async function aliasFloodLoop(ctx: HostileContext, stats: ClassStats): Promise<void> {
  const worker = async (w: number): Promise<void> => {
    while (!ctx.signal.aborted) {
      stats.attempts++;
      let c: Awaited<ReturnType<typeof mqttSocket>>;
      try {
        c = await mqttSocket(ctx.ports.tcp, 5);
      } catch {
        await pause(500, ctx.signal);
        continue;
      }
      c.socket.write(gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: `soak-alias-${w}`, properties: { topicAliasMaximum: 10 } }));
      const connack = await c.wait('connack', ctx.boundMs);
      const granted = Number(connack?.properties?.topicAliasMaximum ?? 0);
      stats.extra.grantedAliases = granted;
      let sent = 0;
      let closedEarly = false;
      void c.closed.then(() => (closedEarly = true));
      for (let a = 1; a <= Math.min(granted, 2000) && !closedEarly && !ctx.signal.aborted; a++) {
        const pad = 'x'.repeat(60_000);
        c.socket.write(gen({ cmd: 'publish', topic: `soak/alias/${w}/${a}/${pad}`, payload: Buffer.from('a'), qos: 0, properties: { topicAlias: a } }));
        sent++;
        if (a % 50 === 0) await pause(10, ctx.signal);
      }
      stats.extra.aliasesSent = (stats.extra.aliasesSent ?? 0) + sent;
      await Promise.race([c.closed, pause(3000, ctx.signal)]);
      if (closedEarly) {
        stats.closedByBroker++;
        const d = c.packets.find((p) => p.cmd === 'disconnect');
        stats.extra[`disconnect 0x${Number(d?.reasonCode ?? 0).toString(16)}`] = (stats.extra[`disconnect 0x${Number(d?.reasonCode ?? 0).toString(16)}`] ?? 0) + 1;
      }
      c.socket.destroy();
      await pause(200, ctx.signal);
    }
  };
  await Promise.all([worker(1), worker(2)]);
}

/** Retained floods: ~900 KiB payloads retained on new topics, QoS 1, until retainedCapBytes are sent. */
export async function retainedFloodLoop(ctx: HostileContext, stats: ClassStats): Promise<void> {
  const payload = Buffer.alloc(900 * 1024, 0x72);
  let sentBytes = 0;
  let n = 0;
  while (!ctx.signal.aborted && sentBytes < ctx.retainedCapBytes) {
    let c: Awaited<ReturnType<typeof mqttSocket>>;
    try {
      c = await mqttSocket(ctx.ports.tcp, 5);
    } catch {
      await pause(500, ctx.signal);
      continue;
    }
    c.socket.write(gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: `soak-retained-${n}` }));
    if (!(await c.wait('connack', ctx.boundMs))) {
      c.socket.destroy();
      continue;
    }
    // 20 retained messages per connection, one at a time (each waits for its PUBACK).
    for (let i = 0; i < 20 && !ctx.signal.aborted && sentBytes < ctx.retainedCapBytes; i++) {
      n++;
      stats.attempts++;
      c.socket.write(gen({ cmd: 'publish', topic: `soak/retained/${n}`, payload, qos: 1, messageId: (n % 65_535) + 1, retain: true }));
      sentBytes += payload.length;
      const before = c.packets.length;
      const ack = await new Promise<Record<string, any> | undefined>((resolve) => {
        const t0 = Date.now();
        const poll = (): void => {
          const p = c.packets.slice(before).find((x) => x.cmd === 'puback');
          if (p || c.socket.destroyed || Date.now() - t0 > ctx.boundMs) return resolve(p);
          setTimeout(poll, 10);
        };
        poll();
      });
      const rc = Number(ack?.reasonCode ?? (ack ? 0 : -1));
      const key = rc < 0 ? 'no PUBACK' : `PUBACK 0x${rc.toString(16)}`;
      stats.extra[key] = (stats.extra[key] ?? 0) + 1;
      if (rc >= 0 && rc < 0x80) stats.extra.acceptedMiB = Math.round(((stats.extra.acceptedMiB ?? 0) + payload.length / 1048576) * 10) / 10;
      if (!ack) break;
      await pause(150, ctx.signal);
    }
    c.socket.destroy();
  }
  stats.extra.sentMiB = Math.round(sentBytes / 1048576);
}
