// One MQTT connection of the load generator: handshake, the receive path (latency, sequence
// checks, immediate PUBACKs, one write per received chunk) and the send primitive (a batch of
// stamped copies of a pre-encoded PUBLISH in one write).
import { Histogram } from './histogram.js';
import { openConn, type RawConn, type Target } from './conn.js';
import { WireScanner, stamp, type PublishTemplate, type WireHandler, type WireVersion } from './wire.js';

/** Counters every client of a worker adds to; the window counters are zeroed by `reset`. */
export class WorkerStats {
  readonly latency = new Histogram();
  windowStart = process.hrtime.bigint();
  received = 0;
  sent = 0;
  acked = 0;
  totalReceived = 0;
  duplicates = 0;
  gaps = 0;
  dropped = 0;
  forgiven = 0;
  /** Called once per received chunk that held messages (the closed-loop pacer pumps again). */
  onReceive: (() => void) | undefined;

  reset(): void {
    this.latency.reset();
    this.windowStart = process.hrtime.bigint();
    this.received = 0;
    this.sent = 0;
    this.acked = 0;
  }
}

const HANDSHAKE_TIMEOUT_MS = 30_000;
/** Bytes waiting in user space beyond which a publisher pauses until `drain`. */
const WRITE_BUFFER_LIMIT = 16 * 1024;

type Waiter<T> = { resolve: (v: T) => void; reject: (e: Error) => void };

export class BenchClient implements WireHandler {
  conn: RawConn | undefined;
  /** Publishing side. */
  private tmpl: PublishTemplate | undefined;
  /** The template repeated, so a batch starts as one copy instead of one per message. */
  private repeated: Buffer | undefined;
  qos = 0;
  /** Protocol level of this client's packets (see wire.ts). */
  protocol: WireVersion = 4;
  seq = 0;
  sent = 0;
  acked = 0;
  inflight = 0;
  lastWriteAt = 0;
  /** Called when a PUBACK frees window space or the connection drained (the pacer pumps again). */
  onProgress: ((c: BenchClient) => void) | undefined;
  /** The pacer's bookkeeping: this client is in its ready queue. */
  ready = false;
  /** Receiving side: whether it subscribes, and how many distinct messages it got. */
  subscribed = false;
  unique = 0;
  /** Next expected sequence number by publisher number (publishers are numbered densely from 0). */
  private expected = new Float64Array(0);

  private scanner: WireScanner | undefined;
  private nextId = 0;
  private nowSec = 0;
  private nowNs = 0;
  private acks: number[] = [];
  private closing = false;
  private attempt = 0;
  private connackWaiter: Waiter<boolean> | undefined;
  private subackWaiter: Waiter<number> | undefined;

  get template(): PublishTemplate | undefined {
    return this.tmpl;
  }

  set template(t: PublishTemplate | undefined) {
    this.tmpl = t;
    this.repeated = undefined;
  }

  constructor(
    readonly index: number,
    private readonly stats: WorkerStats,
  ) {}

  /** Connects, sends CONNECT (and SUBSCRIBE); resolves with CONNACK's session-present flag. */
  async open(target: Target, localAddress: string | undefined, connect: Buffer, subscribe: Buffer | undefined): Promise<boolean> {
    const attempt = ++this.attempt;
    const work = this.handshake(attempt, target, localAddress, connect, subscribe);
    work.catch(() => {}); // a handshake that loses the race below must not become an unhandled rejection
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`handshake took over ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS);
    });
    try {
      return await Promise.race([work, timeout]);
    } catch (err) {
      this.attempt++; // a connection that opens after this is closed at once
      this.close(undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async handshake(attempt: number, target: Target, localAddress: string | undefined, connect: Buffer, subscribe: Buffer | undefined): Promise<boolean> {
    this.closing = false;
    this.inflight = 0;
    this.scanner = new WireScanner(this, this.protocol === 5);
    const conn = await openConn(target, localAddress, { data: (c) => this.data(c), drain: () => this.onProgress?.(this), close: () => this.lost(conn) });
    if (attempt !== this.attempt) {
      conn.close();
      throw new Error('handshake abandoned');
    }
    this.conn = conn;
    const acked = new Promise<boolean>((resolve, reject) => (this.connackWaiter = { resolve, reject }));
    this.write(connect);
    const sessionPresent = await acked;
    if (subscribe) {
      const granted = new Promise<number>((resolve, reject) => (this.subackWaiter = { resolve, reject }));
      this.write(subscribe);
      const code = await granted;
      if (code >= 0x80) throw new Error(`subscription refused (0x${code.toString(16)})`);
    }
    return sessionPresent;
  }

  write(bytes: Buffer): void {
    this.lastWriteAt = Date.now();
    this.conn?.write(bytes);
  }

  /** Connected, and its writes are reaching the kernel (nothing much piling up in user space). */
  get writable(): boolean {
    return this.conn !== undefined && this.conn.buffered < WRITE_BUFFER_LIMIT;
  }

  /** Sends `n` stamped messages in one write. */
  sendBatch(n: number): void {
    const t = this.tmpl!;
    const len = t.bytes.length;
    if (this.repeated === undefined || this.repeated.length < len * n) {
      this.repeated = Buffer.concat(Array.from({ length: Math.max(n, 64) }, () => t.bytes));
    }
    const buf = Buffer.allocUnsafe(len * n);
    this.repeated.copy(buf, 0, 0, len * n);
    const [sec, nsec] = process.hrtime();
    const qos1 = this.qos === 1;
    for (let k = 0; k < n; k++) {
      const at = k * len;
      let id = 0;
      if (qos1) {
        this.nextId = (this.nextId % 65535) + 1;
        id = this.nextId;
      }
      stamp(buf, t, at, sec, nsec, this.index, this.seq++, id);
    }
    this.sent += n;
    this.stats.sent += n;
    if (qos1) this.inflight += n;
    this.write(buf);
  }

  /** Sends `last` (DISCONNECT) if given, then closes; a close we asked for is not counted as dropped. */
  close(last: Buffer | undefined): void {
    this.closing = true;
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    if (last) conn.write(last);
    // Give a DISCONNECT a moment to leave before the socket goes.
    if (last) setTimeout(() => conn.close(), 100);
    else conn.close();
  }

  get connected(): boolean {
    return this.conn !== undefined;
  }

  // --- receive path

  private data(chunk: Buffer): void {
    // One clock read per chunk: every message in it arrived at the same moment.
    const [s, ns] = process.hrtime();
    this.nowSec = s;
    this.nowNs = ns;
    const before = this.stats.totalReceived;
    this.scanner!.push(chunk);
    if (this.stats.totalReceived !== before) this.stats.onReceive?.();
    const n = this.acks.length;
    if (n > 0) {
      const buf = Buffer.allocUnsafe(4 * n);
      for (let k = 0; k < n; k++) {
        buf[4 * k] = 0x40;
        buf[4 * k + 1] = 2;
        buf.writeUInt16BE(this.acks[k], 4 * k + 2);
      }
      this.acks.length = 0;
      this.write(buf);
    }
  }

  publish(buf: Buffer, at: number, len: number, qos: number, packetId: number): void {
    if (qos > 0) this.acks.push(packetId);
    if (len < 16) return;
    const st = this.stats;
    st.latency.record((this.nowSec - buf.readUInt32BE(at)) * 1e6 + (this.nowNs - buf.readUInt32BE(at + 4)) / 1e3);
    st.received++;
    st.totalReceived++;
    const publisher = buf.readUInt32BE(at + 8);
    const seq = buf.readUInt32BE(at + 12);
    if (publisher >= this.expected.length) {
      const grown = new Float64Array(Math.max(publisher + 1, this.expected.length * 2));
      grown.set(this.expected);
      this.expected = grown;
    }
    const expected = this.expected[publisher];
    if (seq < expected) {
      st.duplicates++;
      return;
    }
    if (seq > expected) st.gaps += seq - expected;
    this.expected[publisher] = seq + 1;
    this.unique++;
  }

  puback(): void {
    this.inflight--;
    this.acked++;
    this.stats.acked++;
    this.onProgress?.(this);
  }

  connack(sessionPresent: boolean, code: number): void {
    const w = this.connackWaiter;
    this.connackWaiter = undefined;
    if (!w) return;
    if (code === 0) w.resolve(sessionPresent);
    else w.reject(new Error(`CONNACK return code ${code}`));
  }

  suback(_packetId: number, granted: number): void {
    const w = this.subackWaiter;
    this.subackWaiter = undefined;
    w?.resolve(granted);
  }

  pingresp(): void {}

  private lost(conn: RawConn): void {
    if (conn !== this.conn) return; // an older connection of this client
    if (!this.closing) this.stats.dropped++;
    this.conn = undefined;
    this.failWaiters(new Error('connection closed by the broker'));
  }

  private failWaiters(err: Error): void {
    this.connackWaiter?.reject(err);
    this.subackWaiter?.reject(err);
    this.connackWaiter = undefined;
    this.subackWaiter = undefined;
  }
}
