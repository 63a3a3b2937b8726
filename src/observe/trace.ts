// Live packet trace for the console: an admin watches the packets of one client id, or those
// about one topic filter, as decoded rows. Connections call `inbound`/`outbound` only while
// `active` is true, so with no trace running a packet costs one boolean check. Each watcher is
// bounded: rows per second (a token bucket), a row buffer, and a sink that may refuse when the
// browser reads too slowly; whatever does not fit is dropped and counted, never queued without end.
import type { ProtocolVersion } from '../protocol/constants.js';
import type { Packet, Properties } from '../protocol/packets.js';
import { overlaps } from '../topics/cover.js';
import { PacketParser } from '../protocol/parser.js';

/** What a connection shows the trace: its client id (empty before CONNECT) and protocol version. */
export interface TracedConnection {
  readonly channel: { readonly clientId: string; readonly version: ProtocolVersion };
  readonly remoteAddress: string;
}

/** What to watch: packets of this client id, or about topics matching this filter (or both). */
export interface TraceWatch {
  clientId?: string;
  filter?: string;
}

export interface TraceLimits {
  /** Watchers at once; more are refused. */
  maxWatchers: number;
  /** Rows per second per watcher; beyond it rows are dropped (counted as `rateLimited`). */
  rowsPerSecond: number;
  /** Rows held for a watcher between flushes; beyond it rows are dropped (`bufferFull`). */
  bufferRows: number;
  /** Payload characters shown in a PUBLISH row. */
  previewChars: number;
}

export const DEFAULT_TRACE_LIMITS: TraceLimits = { maxWatchers: 4, rowsPerSecond: 500, bufferRows: 2000, previewChars: 200 };

export type TraceRow = Record<string, unknown> & { at: number; dir: 'in' | 'out'; clientId: string; type: string };

export interface TraceDrops {
  rateLimited: number;
  bufferFull: number;
  /** Rows the sink refused because the reader was behind. */
  slowReader: number;
}

/**
 * Where a watcher's rows go: given a batch, returns false when it could not take it (the reader
 * is behind); the batch is then dropped and counted.
 */
export type TraceSink = (rows: TraceRow[], drops: TraceDrops) => boolean;

interface Watcher {
  watch: TraceWatch;
  sink: TraceSink;
  buffer: TraceRow[];
  tokens: number;
  refilledAt: number;
  drops: TraceDrops;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function preview(payload: Buffer, chars: number): { text?: string; hex?: string } {
  try {
    const text = utf8.decode(payload.subarray(0, chars * 4));
    return { text: text.length > chars ? text.slice(0, chars) : text };
  } catch {
    return { hex: payload.subarray(0, Math.ceil(chars / 2)).toString('hex') };
  }
}

/**
 * A row is bounded whatever the packet held: a client controls its topics, filters and properties
 * (up to mqttMessageMaxLength of them), so each string is cut and each list kept to its first items,
 * with the full count beside it.
 */
const ROW_STRING = 256;
const ROW_ITEMS = 32;
const short = (s: string): string => (s.length > ROW_STRING ? `${s.slice(0, ROW_STRING)}…` : s);
function few<T, R>(list: readonly T[], map: (item: T) => R): R[] {
  return (list.length > ROW_ITEMS ? list.slice(0, ROW_ITEMS) : list).map(map);
}

/** Properties as JSON, bounded: binary values in base64 (their start), user properties as pairs. */
function propertiesJson(p: Properties | undefined): Record<string, unknown> | undefined {
  if (!p) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (Buffer.isBuffer(v)) out[k] = v.subarray(0, ROW_STRING).toString('base64');
    else if (typeof v === 'string') out[k] = short(v);
    else if (k === 'userProperties' && Array.isArray(v)) {
      out[k] = few(v as [string, string][], ([a, b]) => [short(a), short(b)]);
      if (v.length > ROW_ITEMS) out.userPropertyCount = v.length;
    } else if (Array.isArray(v)) out[k] = few(v, (x) => x);
    else out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

/** The row of one packet: what matters to a person reading the exchange, never a password. */
export function traceRow(p: Packet, dir: 'in' | 'out', clientId: string, at: number, previewChars: number): TraceRow {
  const row: TraceRow = { at, dir, clientId, type: p.type };
  const props = 'properties' in p ? propertiesJson(p.properties) : undefined;
  switch (p.type) {
    case 'connect':
      Object.assign(row, { protocolVersion: p.protocolVersion, clientId: short(p.clientId || clientId), clean: p.clean, keepalive: p.keepalive });
      if (p.username !== undefined) row.username = short(p.username);
      if (p.will) row.will = { topic: short(p.will.topic), qos: p.will.qos, retain: p.will.retain };
      break;
    case 'connack':
      Object.assign(row, { sessionPresent: p.sessionPresent, reasonCode: p.reasonCode });
      break;
    case 'publish':
      Object.assign(row, { topic: short(p.topic), qos: p.qos, retain: p.retain, dup: p.dup, size: p.payload.length, ...preview(p.payload, previewChars) });
      if (p.packetId !== undefined) row.packetId = p.packetId;
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      Object.assign(row, { packetId: p.packetId, reasonCode: p.reasonCode ?? 0 });
      break;
    case 'subscribe':
      row.packetId = p.packetId;
      row.subscriptions = few(p.subscriptions, (s) => ({ filter: short(s.filter), qos: s.qos, noLocal: s.noLocal, retainAsPublished: s.retainAsPublished, retainHandling: s.retainHandling }));
      if (p.subscriptions.length > ROW_ITEMS) row.subscriptionCount = p.subscriptions.length;
      break;
    case 'suback':
      Object.assign(row, { packetId: p.packetId, reasonCodes: few(p.reasonCodes, (c) => c) });
      break;
    case 'unsubscribe':
      Object.assign(row, { packetId: p.packetId, filters: few(p.filters, short) });
      if (p.filters.length > ROW_ITEMS) row.filterCount = p.filters.length;
      break;
    case 'unsuback':
      row.packetId = p.packetId;
      if (p.reasonCodes) row.reasonCodes = few(p.reasonCodes, (c) => c);
      break;
    case 'disconnect':
    case 'auth':
      row.reasonCode = p.reasonCode ?? 0;
      break;
  }
  if (props) row.properties = props;
  return row;
}

/** Whether a packet is about the watched filter: a PUBLISH on a matching topic, a (UN)SUBSCRIBE of an overlapping filter. */
function aboutFilter(p: Packet, filter: string): boolean {
  if (p.type === 'publish') return p.topic !== '' && overlaps(filter, p.topic);
  if (p.type === 'subscribe') return p.subscriptions.some((s) => overlaps(filter, s.filter));
  if (p.type === 'unsubscribe') return p.filters.some((f) => overlaps(filter, f));
  return false;
}

/** The packets of one encoded write (normally one), read by the same framer as client bytes. */
function packetsOf(bytes: Buffer, version: ProtocolVersion): readonly Packet[] {
  return new PacketParser({ maxPacketSize: Number.MAX_SAFE_INTEGER, version }).push(bytes);
}

export class PacketTrace {
  /** Read by every connection for every packet: false while nobody watches. */
  active = false;
  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | undefined;
  readonly limits: TraceLimits;

  constructor(limits: Partial<TraceLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_TRACE_LIMITS, ...limits };
  }

  get watching(): number {
    return this.watchers.size;
  }

  /** Starts a watcher; throws when `maxWatchers` are already running. Rows reach `sink` every 100 ms. */
  watch(watch: TraceWatch, sink: TraceSink): { stop(): void; drops: TraceDrops } {
    if (this.watchers.size >= this.limits.maxWatchers) throw new Error(`at most ${this.limits.maxWatchers} traces at once`);
    const w: Watcher = { watch, sink, buffer: [], tokens: this.limits.rowsPerSecond, refilledAt: this.now(), drops: { rateLimited: 0, bufferFull: 0, slowReader: 0 } };
    this.watchers.add(w);
    this.active = true;
    if (!this.timer) {
      this.timer = setInterval(() => this.flush(), 100);
      this.timer.unref();
    }
    return {
      drops: w.drops,
      stop: () => {
        this.watchers.delete(w);
        this.active = this.watchers.size > 0;
        if (!this.active && this.timer) {
          clearInterval(this.timer);
          this.timer = undefined;
        }
      },
    };
  }

  /** A packet the broker decoded from `c`. */
  inbound(c: TracedConnection, p: Packet): void {
    try {
      this.offer(c, p, 'in');
    } catch {
      // Tracing never harms the connection it watches.
    }
  }

  /** Bytes the broker writes to `c` (one or more encoded packets). */
  outbound(c: TracedConnection, bytes: Buffer): void {
    // Decoding costs something: only when a watcher could want this connection's packets.
    let wanted = false;
    for (const w of this.watchers) if (w.watch.filter !== undefined || w.watch.clientId === c.channel.clientId) wanted = true;
    if (!wanted) return;
    try {
      for (const p of packetsOf(bytes, c.channel.version)) this.offer(c, p, 'out');
    } catch {
      // An undecodable write is the trace's problem, not the connection's.
    }
  }

  private offer(c: TracedConnection, p: Packet, dir: 'in' | 'out'): void {
    const clientId = p.type === 'connect' && p.clientId ? p.clientId : c.channel.clientId;
    let row: TraceRow | undefined;
    for (const w of this.watchers) {
      if (w.watch.clientId !== undefined && w.watch.clientId !== clientId) continue;
      if (w.watch.filter !== undefined && !aboutFilter(p, w.watch.filter)) continue;
      this.refill(w);
      if (w.tokens < 1) {
        w.drops.rateLimited++;
        continue;
      }
      if (w.buffer.length >= this.limits.bufferRows) {
        w.drops.bufferFull++;
        continue;
      }
      w.tokens--;
      row ??= traceRow(p, dir, clientId, this.now(), this.limits.previewChars);
      w.buffer.push(row);
    }
  }

  private refill(w: Watcher): void {
    const now = this.now();
    const rate = this.limits.rowsPerSecond;
    w.tokens = Math.min(rate, w.tokens + ((now - w.refilledAt) * rate) / 1000);
    w.refilledAt = now;
  }

  /** Hands each watcher its buffered rows (called every 100 ms while anyone watches). */
  flush(): void {
    for (const w of this.watchers) {
      if (w.buffer.length === 0) continue;
      const rows = w.buffer;
      w.buffer = [];
      if (!w.sink(rows, w.drops)) w.drops.slowReader += rows.length;
    }
  }
}
