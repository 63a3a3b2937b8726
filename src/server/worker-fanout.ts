// Questions one worker of `workers=N` cannot answer alone, asked of all of them through the primary:
// whichever worker an HTTP request reaches sends it to the primary, which asks the ready workers,
// gathers their answers (a worker that does not answer in time is left out rather than failing the
// request) and replies with the result.
//   metrics    GET /metrics: every worker's registry (prom-client JSON) added up with prom-client's
//              aggregator (counters and gauges summed, histograms merged), so a scrape describes
//              the whole broker, not the one process the connection happened to land on; the
//              primary's own part (the hub's counters) is added once.
//   admin      the admin API's clients, subscriptions and kick, from the other workers.
import { AggregatorRegistry } from 'prom-client';
import type { AdminAnswer, AdminOp, PrimaryMessage, WorkerMessage } from '../cluster/workers/index.js';

interface Collection {
  waiting: Set<number>;
  answers: unknown[];
  timer: NodeJS.Timeout;
  finish: (answers: unknown[]) => Promise<PrimaryMessage> | PrimaryMessage;
  requester: number;
}

export interface FanOutLog {
  warn(obj: object, msg: string): void;
}

export type FanOutMessage = Extract<WorkerMessage, { t: 'metrics' | 'collected' | 'admin' | 'adminAnswer' }>;

export const isFanOut = (m: WorkerMessage): m is FanOutMessage => m.t === 'metrics' || m.t === 'collected' || m.t === 'admin' || m.t === 'adminAnswer';

export class WorkerFanOut {
  private readonly collections = new Map<number, Collection>();
  private nextId = 1;

  constructor(
    private readonly send: (worker: number, message: PrimaryMessage) => void,
    private readonly ready: () => number[],
    private readonly log: FanOutLog,
    private readonly opts: { timeoutMs?: number; primaryMetrics?: () => Promise<unknown[]> } = {},
  ) {}

  receive(worker: number, m: FanOutMessage): void {
    switch (m.t) {
      case 'metrics':
        // Every worker, the asking one included (its registry is answered like the others').
        return this.start(worker, this.ready(), (id) => ({ t: 'collect', id }), async (parts) => ({
          t: 'metricsText',
          id: m.id,
          text: await AggregatorRegistry.aggregate([...parts, ...(this.opts.primaryMetrics ? [await this.opts.primaryMetrics()] : [])] as object[]).metrics(),
        }));
      case 'admin':
        // The other workers: the asking one answers for itself.
        return this.start(
          worker,
          this.ready().filter((w) => w !== worker),
          (id) => ({ t: 'adminAsk', id, op: m.op, ...(m.clientId !== undefined ? { clientId: m.clientId } : {}) }),
          (answers) => ({ t: 'adminResult', id: m.id, ...mergeAdmin(answers as AdminAnswer[]) }),
        );
      case 'collected':
        return this.answered(worker, m.id, m.json);
      case 'adminAnswer':
        return this.answered(worker, m.id, { rows: m.rows ?? [], kicked: m.kicked === true });
    }
  }

  private start(
    requester: number,
    workers: number[],
    ask: (id: number) => PrimaryMessage,
    finish: Collection['finish'],
  ): void {
    const id = this.nextId++;
    const timer = setTimeout(() => {
      const c = this.collections.get(id);
      if (c) this.log.warn({ workers: [...c.waiting] }, 'workers: no answer from some workers in time; left out');
      void this.finish(id);
    }, this.opts.timeoutMs ?? 2000);
    timer.unref();
    this.collections.set(id, { waiting: new Set(workers), answers: [], timer, finish, requester });
    for (const w of workers) this.send(w, ask(id));
    if (workers.length === 0) void this.finish(id);
  }

  private answered(worker: number, id: number, answer: unknown): void {
    const c = this.collections.get(id);
    if (!c || !c.waiting.delete(worker)) return;
    c.answers.push(answer);
    if (c.waiting.size === 0) void this.finish(id);
  }

  private async finish(id: number): Promise<void> {
    const c = this.collections.get(id);
    if (!c) return;
    this.collections.delete(id);
    clearTimeout(c.timer);
    this.send(c.requester, await c.finish(c.answers));
  }
}

function mergeAdmin(answers: AdminAnswer[]): AdminAnswer {
  return { rows: answers.flatMap((a) => a.rows ?? []), kicked: answers.some((a) => a.kicked === true) };
}

export type { AdminOp };
