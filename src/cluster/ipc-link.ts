// A worker's half of `workers=N` (the primary's is ipc-hub.ts): the ClusterLink the broker of each
// worker process talks to, over the IPC channel of Node's cluster module. What the broker forwards,
// its interest and its claims go to the hub; what the hub routes here goes to `ClusterSide`.
//
// Start-up: the worker's broker is open (its store recovered) before the link says hello, and its
// listeners open only after the hub's welcome, which carries the retained messages of a worker that
// is already up. Messages arriving before the welcome wait for it, so a retained message published
// meanwhile is applied after the copied state, not overwritten by it.
import type { ClusterLink, ClusterSide } from '../broker/cluster-link.js';
import type { StoredMessage } from '../store/ports.js';
import { isBatch, Outbox, type AdminAnswer, type AdminOp, type Batch, type PrimaryMessage, type WorkerMessage } from './ipc-wire.js';
import { isNodeLocalTopic, type LocalRetained } from './retained.js';

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
  return {
    send: (batch) => void send(batch),
    onMessage: (receive) => {
      process.on('message', receive);
      return () => void process.off('message', receive);
    },
  };
}

export class IpcClusterLink implements ClusterLink {
  private readonly outbox: Outbox<WorkerMessage>;
  private readonly waiting = new Map<number, () => void>();
  private readonly texts = new Map<number, (text: string) => void>();
  private readonly adminResults = new Map<number, (answer: AdminAnswer) => void>();
  private readonly detach: () => void;
  private nextId = 1;
  private early: PrimaryMessage[] | undefined = [];
  private welcomed!: () => void;
  private closed = false;

  private constructor(private readonly opts: IpcLinkOptions) {
    this.outbox = new Outbox((batch) => opts.channel.send(batch));
    this.detach = opts.channel.onMessage((m) => {
      if (!isBatch<PrimaryMessage>(m)) return;
      for (const message of m.starling) this.receive(message);
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

  interest(filter: string, group: string | undefined, present: boolean): void | Promise<void> {
    if (this.closed) return;
    const message: WorkerMessage = { t: 'interest', filter, present, ...(group !== undefined ? { group } : {}) };
    // New interest: the SUBACK waits until the hub has it, so a publish on another worker right
    // after the SUBACK is not missed.
    if (!present) return this.outbox.push(message);
    return this.ask((id) => ({ ...message, ack: id }));
  }

  forward(message: StoredMessage): void {
    if (this.closed || isNodeLocalTopic(message.topic)) return;
    this.outbox.push({ t: 'fwd', m: message });
  }

  claim(clientId: string, resume: boolean): Promise<void> | void {
    if (this.closed) return;
    return this.ask((id) => ({ t: 'claim', id, clientId, resume }));
  }

  /** Sends a request and resolves when the hub answers it (or after the timeout: never hangs a client). */
  private ask(make: (id: number) => WorkerMessage): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.waiting.delete(id)) return;
        this.opts.log.warn({ id }, 'workers: no answer from the primary in time');
        resolve();
      }, this.opts.timeoutMs ?? 10_000);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.outbox.push(make(id));
    });
  }

  /** The other workers' part of an admin question (nothing from those that do not answer in time). */
  askAdmin(op: AdminOp, clientId?: string, timeoutMs = 3000): Promise<AdminAnswer> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.adminResults.delete(id);
        resolve({ rows: [], kicked: false });
      }, timeoutMs);
      this.adminResults.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.outbox.push({ t: 'admin', id, op, ...(clientId !== undefined ? { clientId } : {}) });
    });
  }

  /** Metrics of every worker together, as Prometheus text (GET /metrics on any worker). */
  metricsText(timeoutMs = 3000): Promise<string> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.texts.delete(id);
        reject(new Error('workers: the primary did not answer for /metrics'));
      }, timeoutMs);
      this.texts.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      this.outbox.push({ t: 'metrics', id });
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

  private answered(id: number): void {
    const done = this.waiting.get(id);
    if (!done) return;
    this.waiting.delete(id);
    done();
  }

  // ---- from the hub -------------------------------------------------------------------------

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
        this.adminResults.get(m.id)?.({ rows: m.rows ?? [], kicked: m.kicked === true });
        this.adminResults.delete(m.id);
        return;
      case 'collect':
        return this.collect(m.id);
      case 'metricsText':
        this.texts.get(m.id)?.(m.text);
        this.texts.delete(m.id);
        return;
      case 'forget':
        return this.opts.broker.forgetSession(m.clientId);
      case 'dump':
        return this.outbox.push({ t: 'dumped', id: m.id, retained: this.opts.retained.list().filter((r) => !isNodeLocalTopic(r.topic)) });
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

  private replaceRetained(retained: StoredMessage[]): void {
    // Node-local topics ($SYS) describe each worker; they are neither copied nor replaced.
    const local = this.opts.retained;
    const incoming = new Map(retained.filter((m) => !isNodeLocalTopic(m.topic)).map((m) => [m.topic, m]));
    for (const m of local.list()) if (!incoming.has(m.topic) && !isNodeLocalTopic(m.topic)) local.delete(m.topic);
    for (const m of incoming.values()) if (local.get(m.topic)?.id !== m.id) local.set(m);
    this.opts.log.info({ retained: incoming.size }, 'workers: retained messages copied from a running worker');
  }

  private route(message: StoredMessage, shared: string | undefined, only: string | undefined): void {
    try {
      const done = this.opts.broker.routeRemote(message, shared, only);
      if (done instanceof Promise) done.catch((err: unknown) => this.opts.log.error({ err, topic: message.topic }, 'workers: routing a message failed'));
    } catch (err) {
      this.opts.log.error({ err, topic: message.topic }, 'workers: routing a message failed');
    }
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
    for (const done of this.waiting.values()) done();
    this.waiting.clear();
  }
}
