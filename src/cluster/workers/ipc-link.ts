// A worker's half of `workers=N` (the primary's is ipc-hub.ts): the ClusterLink the broker of each
// worker process talks to, over the IPC channel of Node's cluster module. What the broker forwards,
// its interest and its claims go to the hub; what the hub routes here goes to `ClusterSide`.
//
// Start-up: the worker's broker is open (its store recovered) before the link says hello, and its
// listeners open only after the hub's welcome, which carries the retained messages of a worker that
// is already up. Messages arriving before the welcome wait for it, so a retained message published
// meanwhile is applied after the copied state, not overwritten by it.
import type { ClusterLink, ClusterSide } from '../../broker/cluster-link.js';
import type { StoredMessage } from '../../store/ports.js';
import { MessageIds } from '../../session/message.js';
import { decodeFrame, type DecodedFrame } from '../batch-frame.js';
import { isBatch, isFrame, Outbox, type AdminAnswer, type AdminOp, type Batch, type PrimaryMessage, type WorkerMessage } from './ipc-wire.js';
import { isNodeLocalTopic, reconcile, type LocalRetained } from '../retained-copy.js';
import { routeQuietly } from '../route-quietly.js';
import type { MaybePromise } from '../../protocol/maybe-promise.js';

export interface IpcChannel {
  send(batch: Batch<WorkerMessage>): void;
  /** Registers the receiver of the primary's batches; returns a function that removes it. */
  onMessage(receive: (message: unknown) => void): () => void;
}

export interface IpcLinkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface IpcLinkOptions {
  channel: IpcChannel;
  broker: ClusterSide;
  retained: LocalRetained;
  log: IpcLinkLog;
  /** This worker's answer to another worker's admin question. */
  admin?: (op: AdminOp, clientId?: string) => AdminAnswer;
  /** This worker's metrics as prom-client JSON, for the primary's aggregated /metrics. */
  metrics?: () => Promise<unknown[]>;
  /** Client ids of the sessions the broker recovered, told to the hub at hello. */
  sessions?: () => string[];
  /** Bound on the hub's answers (welcome, interest acks, claims). Default 10000 ms. */
  timeoutMs?: number;
}

/** The IPC channel of a cluster worker process. */
export function processChannel(): IpcChannel {
  if (!process.send) throw new Error('workers: this process has no IPC channel to the primary');
  const send = process.send.bind(process);
  // A failed write (the primary has gone) is not an 'error' event that would end this worker with a
  // stack trace: the channel's 'disconnect' stops the worker in order (server/workers.ts).
  const ignore = (): void => {};
  return {
    send: (batch) => void send(batch, undefined, undefined, ignore),
    onMessage: (receive) => {
      process.on('message', receive);
      return () => void process.off('message', receive);
    },
  };
}

export class IpcClusterLink implements ClusterLink {
  /** Frames from the primary that did not decode (dropped whole). */
  readonly counters = { malformed: 0 };
  /** The primary's hub counters as last heard (BrokerView.workersHub): shown in $SYS, not summed in /metrics. */
  workersHub: Readonly<Record<string, number>> = {};
  private readonly outbox: Outbox<WorkerMessage>;
  /** Ids for the QoS 0 messages of the hub's frames (batch-frame.ts: theirs do not cross). */
  private readonly ids = new MessageIds();
  /** Requests to the primary awaiting their answer, by id: how to settle each, and its fallback. */
  private readonly waiting = new Map<number, { settle: (answer: unknown) => void; fallback: () => void }>();
  private readonly detach: () => void;
  private nextId = 1;
  private early: PrimaryMessage[] | undefined = [];
  private welcomed!: () => void;
  private closed = false;

  private constructor(private readonly opts: IpcLinkOptions) {
    this.outbox = new Outbox((batch) => opts.channel.send(batch));
    this.detach = opts.channel.onMessage((m) => {
      if (!isBatch<PrimaryMessage>(m)) return;
      for (const item of m.starling) {
        if (isFrame(item)) this.receiveFrame(item);
        else this.receive(item);
      }
    });
  }

  /** Says hello to the hub and resolves once the retained state it sent is applied. */
  static async start(opts: IpcLinkOptions): Promise<IpcClusterLink> {
    const link = new IpcClusterLink(opts);
    const welcome = new Promise<void>((resolve) => (link.welcomed = resolve));
    link.outbox.push({ t: 'hello', sessions: opts.sessions?.() ?? [] });
    link.outbox.flush();
    const ms = opts.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`workers: the primary did not answer within ${ms} ms`)), ms)));
    try {
      await Promise.race([welcome, late]);
    } catch (err) {
      link.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return link;
  }

  // ---- ClusterLink ------------------------------------------------------------------------

  interest(filter: string, group: string | undefined, present: boolean): MaybePromise<void> {
    if (this.closed) return;
    const message: WorkerMessage = { t: 'interest', filter, present, ...(group !== undefined ? { group } : {}) };
    // New interest: the SUBACK waits until the hub has it, so a publish on another worker right
    // after the SUBACK is not missed.
    if (!present) return this.outbox.push(message);
    return this.ask((id) => ({ ...message, ack: id }));
  }

  forward(message: StoredMessage): void {
    if (this.closed || isNodeLocalTopic(message.topic)) return;
    try {
      this.outbox.message(message);
    } catch (err) {
      this.opts.log.warn({ err, topic: message.topic }, 'workers: forwarding a message failed');
    }
  }

  claim(clientId: string, resume: boolean): Promise<void> | void {
    if (this.closed) return;
    return this.ask((id) => ({ t: 'claim', id, clientId, resume }));
  }

  sessionEnded(clientId: string): void {
    if (!this.closed) this.outbox.push({ t: 'ended', clientId });
  }

  private ask(make: (id: number) => WorkerMessage): Promise<void> {
    return this.request<void>(make, this.opts.timeoutMs ?? 10_000, (resolve) => {
      this.opts.log.warn({}, 'workers: no answer from the primary in time');
      resolve();
    });
  }

  /** The other workers' part of an admin question (nothing from those that do not answer in time). */
  askAdmin(op: AdminOp, clientId?: string, timeoutMs = 3000): Promise<AdminAnswer> {
    const message = (id: number): WorkerMessage => ({ t: 'admin', id, op, ...(clientId !== undefined ? { clientId } : {}) });
    return this.request<AdminAnswer>(message, timeoutMs, (resolve) => resolve({ rows: [], kicked: false }));
  }

  /** Metrics of every worker together, as Prometheus text (GET /metrics on any worker). */
  metricsText(timeoutMs = 3000): Promise<string> {
    return this.request<string>((id) => ({ t: 'metrics', id }), timeoutMs, (_, reject) => reject(new Error('workers: the primary did not answer for /metrics')));
  }

  /**
   * Sends a request and settles with the primary's answer, or as `late` says after `timeoutMs` (or
   * at close): a client or an HTTP request never hangs on a primary that does not answer.
   */
  private request<T>(make: (id: number) => WorkerMessage, timeoutMs: number, late: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const fallback = (): void => {
        clearTimeout(timer);
        this.waiting.delete(id);
        late(resolve, reject);
      };
      const timer = setTimeout(fallback, timeoutMs);
      this.waiting.set(id, {
        settle: (answer) => {
          clearTimeout(timer);
          this.waiting.delete(id);
          resolve(answer as T);
        },
        fallback,
      });
      this.outbox.push(make(id));
    });
  }

  private collect(id: number): void {
    const read = this.opts.metrics;
    if (!read) return this.outbox.push({ t: 'collected', id, json: [] });
    read().then(
      (json) => this.outbox.push({ t: 'collected', id, json }),
      (err: unknown) => {
        this.opts.log.warn({ err }, 'workers: collecting metrics failed');
        this.outbox.push({ t: 'collected', id, json: [] });
      },
    );
  }

  private answered(id: number, answer?: unknown): void {
    this.waiting.get(id)?.settle(answer);
  }

  // ---- from the hub -------------------------------------------------------------------------

  /** A frame of messages from the hub: all routed, in order, or none if it does not decode. */
  private receiveFrame(data: Uint8Array): void {
    if (this.closed) return;
    let frame: DecodedFrame;
    try {
      // Payloads of messages that may be queued copied: a view would hold the whole IPC read buffer
      // while the message is queued (a QoS 0 one is written out or dropped in this turn).
      frame = decodeFrame(data, this.ids, true);
    } catch (err) {
      this.counters.malformed++;
      return void this.opts.log.warn({ err }, 'workers: malformed batch from the primary ignored');
    }
    const { messages, shared } = frame;
    for (let i = 0; i < messages.length; i++) {
      const key = shared?.[i];
      if (this.early) this.early.push(key === undefined ? { t: 'msg', m: messages[i] } : { t: 'msg', m: messages[i], shared: key });
      else this.route(messages[i], key, undefined);
    }
  }

  private receive(m: PrimaryMessage): void {
    if (this.closed) return;
    if (this.early && m.t !== 'welcome') {
      this.early.push(m);
      return;
    }
    switch (m.t) {
      case 'welcome':
        return this.welcome(m.retained);
      case 'ack':
        return this.answered(m.id);
      case 'msg':
        return this.route(m.m, m.shared, m.only);
      case 'release':
        return this.release(m.id, m.clientId, m.transfer);
      case 'claimed':
        // Adopted synchronously, before any message behind it in the batch is routed.
        if (m.transfer) this.opts.broker.importSession(m.transfer);
        return this.answered(m.id);
      case 'adminAsk':
        return this.outbox.push({ t: 'adminAnswer', id: m.id, ...(this.opts.admin?.(m.op, m.clientId) ?? {}) });
      case 'adminResult':
        return this.answered(m.id, { rows: m.rows ?? [], kicked: m.kicked === true });
      case 'collect':
        return this.collect(m.id);
      case 'metricsText':
        return this.answered(m.id, m.text);
      case 'forget':
        return this.opts.broker.forgetSession(m.clientId);
      case 'dump':
        return this.outbox.push({ t: 'dumped', id: m.id, retained: this.opts.retained.list().filter((r) => !isNodeLocalTopic(r.topic)) });
      case 'hubCounters':
        this.workersHub = m.counters;
        return;
    }
  }

  private welcome(retained: StoredMessage[] | undefined): void {
    if (!this.early) return;
    if (retained) this.replaceRetained(retained);
    const early = this.early;
    this.early = undefined;
    this.welcomed();
    // The broker announces its interest as soon as it is attached to this link, right after the
    // welcome resolves start(); 'synced' follows it, so the hub can drop what it no longer has.
    setImmediate(() => this.closed || this.outbox.push({ t: 'synced' }));
    for (const m of early) this.receive(m);
  }

  /**
   * The running worker's retained messages become this one's, as a cluster node takes the retained
   * bucket's (`reconcile`: $SYS stays each worker's own, expired ones are not taken). Messages that
   * arrived meanwhile wait in `early` and are applied after this, so there are no newer live ones.
   */
  private replaceRetained(retained: StoredMessage[]): void {
    const r = reconcile(this.opts.retained, { created: false, write: () => {} }, retained, new Set(), Date.now());
    this.opts.log.info({ retained: retained.length, ...r }, 'workers: retained messages copied from a running worker');
  }

  private route(message: StoredMessage, shared: string | undefined, only: string | undefined): void {
    routeQuietly(this.opts.broker, this.opts.log, message, shared === undefined && only === undefined ? undefined : { shared, only });
  }

  private release(id: number, clientId: string, transfer: boolean): void {
    this.opts.broker.releaseSession(clientId, transfer).then(
      (moved) => this.outbox.push({ t: 'released', id, ...(moved ? { transfer: moved } : {}) }),
      (err: unknown) => {
        this.opts.log.error({ err, clientId }, 'workers: giving up a session failed');
        this.outbox.push({ t: 'released', id });
      },
    );
  }

  close(): void {
    if (this.closed) return;
    this.outbox.flush();
    this.closed = true;
    this.detach();
    for (const w of [...this.waiting.values()]) w.fallback();
  }
}
