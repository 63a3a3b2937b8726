// GET /metrics under `workers=N`: whichever worker a scrape reaches asks the primary, which collects
// every ready worker's registry (prom-client JSON) and adds them up with prom-client's aggregator
// (counters and gauges summed, histograms merged), so a scrape describes the whole broker and not
// the one process the connection happened to land on. A worker that does not answer in time is
// left out rather than failing the scrape.
import { AggregatorRegistry } from 'prom-client';
import type { PrimaryMessage, WorkerMessage } from '../cluster/ipc-wire.js';

interface Collection {
  requester: number;
  requestId: number;
  waiting: Set<number>;
  parts: object[];
  timer: NodeJS.Timeout;
}

export interface CollectorLog {
  warn(obj: object, msg: string): void;
}

export class MetricsCollector {
  private readonly collections = new Map<number, Collection>();
  private nextId = 1;

  constructor(
    private readonly send: (worker: number, message: PrimaryMessage) => void,
    private readonly ready: () => number[],
    private readonly log: CollectorLog,
    private readonly timeoutMs = 2000,
  ) {}

  receive(worker: number, m: Extract<WorkerMessage, { t: 'metrics' | 'collected' }>): void {
    if (m.t === 'metrics') return this.start(worker, m.id);
    const c = this.collections.get(m.id);
    if (!c || !c.waiting.delete(worker)) return;
    c.parts.push(m.json);
    if (c.waiting.size === 0) void this.finish(m.id);
  }

  private start(requester: number, requestId: number): void {
    const id = this.nextId++;
    const workers = this.ready();
    const timer = setTimeout(() => {
      const c = this.collections.get(id);
      if (c) this.log.warn({ workers: [...c.waiting] }, 'workers: no metrics from some workers in time; left out of this scrape');
      void this.finish(id);
    }, this.timeoutMs);
    timer.unref();
    this.collections.set(id, { requester, requestId, waiting: new Set(workers), parts: [], timer });
    for (const w of workers) this.send(w, { t: 'collect', id });
    if (workers.length === 0) void this.finish(id);
  }

  private async finish(id: number): Promise<void> {
    const c = this.collections.get(id);
    if (!c) return;
    this.collections.delete(id);
    clearTimeout(c.timer);
    const text = await AggregatorRegistry.aggregate(c.parts).metrics();
    this.send(c.requester, { t: 'metricsText', id: c.requestId, text });
  }
}
