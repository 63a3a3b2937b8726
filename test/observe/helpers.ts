// Helpers for the observation tests: an HTTP server around a handler, raw requests, a small
// Prometheus text-format parser, and a fake broker/connections view.
import { retainedBytes } from '../../src/router/retained.js';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { HttpHandler } from '../../src/observe/http.js';
import type { ClientView, ConnectionsView, SessionView, SysSource } from '../../src/observe/ports.js';
import type { StoredMessage, SubscriptionRecord } from '../../src/store/ports.js';
import type { ListenerInfo } from '../../src/transport/transport.js';

export interface Served {
  port: number;
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1:0; what it does not handle is answered 404 "fell through". */
export async function serve(handler: HttpHandler): Promise<Served> {
  const server: Server = createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('fell through');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json(): any;
}

/** One HTTP request; the path is sent exactly as given. Bounded by a 5 s timeout. */
export function http(
  port: number,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: body.toString('utf8'),
          json: () => JSON.parse(body.toString('utf8')),
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${path} timed out`)));
    req.on('error', reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/** Sends a raw request line (for paths an HTTP client library might tidy) and returns status and body. */
export function rawGet(port: number, target: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('raw request timed out')), 5000);
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
    });
  });
}

// ---- Prometheus text exposition format (0.0.4) ----

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromText {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: PromSample[];
}

function parseValue(s: string): number {
  switch (s.toLowerCase()) {
    case '+inf':
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    case 'nan':
      return NaN;
  }
  const n = Number(s);
  if (Number.isNaN(n)) throw new Error(`bad sample value "${s}"`);
  return n;
}

/** Parses the text format strictly enough that a malformed line fails the test. */
export function parsePrometheus(text: string): PromText {
  const out: PromText = { types: new Map(), help: new Map(), samples: [] };
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3])) throw new Error(`line ${i + 1}: bad type ${meta[3]}`);
        out.types.set(meta[2], meta[3]);
      } else out.help.set(meta[2], meta[3]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (!m) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,\s*|$)/y;
      let pos = 0;
      while (pos < m[2].length) {
        labelRe.lastIndex = pos;
        const l = labelRe.exec(m[2]);
        if (!l) throw new Error(`line ${i + 1}: bad labels: ${m[2]}`);
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        pos = labelRe.lastIndex;
      }
    }
    out.samples.push({ name: m[1], labels, value: parseValue(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name and these labels; throws when absent. */
export function sampleValue(p: PromText, name: string, labels: Record<string, string> = {}): number {
  const found = p.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0].value;
}

// ---- a fake broker ----

export function fakeSession(clientId: string, o: { online?: boolean; queued?: number; inflight?: number; filters?: string[] } = {}): SessionView {
  const subscriptions = new Map<string, SubscriptionRecord>();
  for (const filter of o.filters ?? []) subscriptions.set(filter, { filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 });
  return { clientId, online: o.online ?? true, protocolVersion: 4, queuedCount: o.queued ?? 0, inflight: { size: o.inflight ?? 0 }, subscriptions };
}

export class FakeBroker implements SysSource {
  stats = {
    startedAt: 1_000_000,
    messagesReceived: 0,
    messagesSent: 0,
    bytesReceived: 0,
    bytesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    willsPublished: 0,
    connectionsTotal: 0,
    authFailures: 0,
    connectionsRefused: 0,
    slowConsumersDisconnected: 0,
    drops: { queueFull: 0, expired: 0, retainedLimit: 0, tooLarge: 0, slowConsumer: 0, notAuthorized: 0 } as Record<string, number>,
  };
  clients = { size: 0 };
  sessions = new Map<string, SessionView>();
  private readonly retainedMap = new Map<string, StoredMessage>();
  retained = {
    get size() {
      return this.map.size;
    },
    get bytes() {
      let n = 0;
      for (const m of this.map.values()) n += retainedBytes(m);
      return n;
    },
    map: this.retainedMap,
    get: (t: string) => this.retainedMap.get(t),
    match: (filter: string) => [...this.retainedMap.values()].filter((m) => filter === '#' ? !m.topic.startsWith('$') : m.topic === filter),
  };
  published: StoredMessage[] = [];
  private n = 0;
  ids = { next: () => `id-${this.n++}` };
  clock = 1_000_000;
  now = (): number => this.clock;
  route(message: StoredMessage): number {
    this.stats.messagesReceived++;
    this.published.push(message);
    if (message.retain) {
      if (message.payload.length === 0) this.retainedMap.delete(message.topic);
      else this.retainedMap.set(message.topic, message);
    }
    return 0;
  }
}

export class FakeConnections implements ConnectionsView {
  clients: ClientView[] = [];
  kicked: string[] = [];
  listenerList: ListenerInfo[] = [{ url: 'ws://127.0.0.1:0', scheme: 'ws', host: '127.0.0.1', port: 8083 }];
  connectedClients(): Iterable<ClientView> {
    return this.clients;
  }
  kick(clientId: string): boolean {
    const i = this.clients.findIndex((c) => c.clientId === clientId);
    if (i < 0) return false;
    this.clients.splice(i, 1);
    this.kicked.push(clientId);
    return true;
  }
  listeners(): readonly ListenerInfo[] {
    return this.listenerList;
  }
}
