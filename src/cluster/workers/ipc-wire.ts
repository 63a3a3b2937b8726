// What the worker processes of `workers=N` and their primary say to each other over the IPC channel
// Node's cluster module opens (with `serialization: 'advanced'`, so Buffers, Maps and undefined
// cross intact). Each side sends the messages of one event-loop turn as one batch, in order.
import type { StoredMessage } from '../../store/ports.js';
import type { SessionTransfer } from '../../broker/cluster-link.js';

/** What the admin API asks of the other workers (src/server/worker-fanout.ts). */
export type AdminOp = 'clients' | 'subscriptions' | 'kick';

/** Rows (clients or subscriptions, as the admin API shows them) and whether a kick found its client. */
export interface AdminAnswer {
  rows?: unknown[];
  kicked?: boolean;
}

/** Worker → primary. */
export type WorkerMessage =
  /**
   * The worker's broker is open (with `sessions`, the client ids of the sessions it recovered); the
   * reply is `welcome`, with the retained messages to start from.
   */
  | { t: 'hello'; sessions?: string[] }
  /** The worker has announced all its interest after its hello. */
  | { t: 'synced' }
  /** Local interest in `filter` (with a share `group`) started or ended; `ack` asks for an `ack`. */
  | { t: 'interest'; filter: string; group?: string; present: boolean; ack?: number }
  /** A message published on this worker. */
  | { t: 'fwd'; m: StoredMessage }
  /** A client connected here: the other workers close it and (with `resume`) hand over its session. */
  | { t: 'claim'; id: number; clientId: string; resume: boolean }
  /** The answer to `release`. */
  | { t: 'released'; id: number; transfer?: SessionTransfer }
  /** The answer to `dump`: every retained message this worker holds. */
  | { t: 'dumped'; id: number; retained: StoredMessage[] }
  /** GET /metrics on this worker: the primary answers with every worker's metrics together. */
  | { t: 'metrics'; id: number }
  /** The answer to `collect`: this worker's registry as prom-client JSON. */
  | { t: 'collected'; id: number; json: unknown[] }
  /** The admin API on this worker needs the other workers' part. */
  | { t: 'admin'; id: number; op: AdminOp; clientId?: string }
  /** The answer to `adminAsk`. */
  | ({ t: 'adminAnswer'; id: number } & AdminAnswer);

/** Primary → worker. */
export type PrimaryMessage =
  /** `retained` is undefined when no other worker was up to copy it from (keep the local store's). */
  | { t: 'welcome'; retained?: StoredMessage[] }
  | { t: 'ack'; id: number }
  /** A message from another worker (or this one, for a shared group) to route here. */
  | { t: 'msg'; m: StoredMessage; shared?: string; only?: string }
  | { t: 'release'; id: number; clientId: string; transfer: boolean }
  /** The answer to `claim`: the session to adopt, if another worker held one. */
  | { t: 'claimed'; id: number; transfer?: SessionTransfer }
  | { t: 'dump'; id: number }
  /** This worker's copy of a session is stale (another worker took the client over): drop it. */
  | { t: 'forget'; clientId: string }
  /** Send your metrics (for an aggregated /metrics). */
  | { t: 'collect'; id: number }
  /** The answer to `metrics`: the exposition text of all workers together. */
  | { t: 'metricsText'; id: number; text: string }
  /** The admin API of another worker asks: answer for this worker. */
  | { t: 'adminAsk'; id: number; op: AdminOp; clientId?: string }
  /** The answer to `admin`: the other workers' part. */
  | ({ t: 'adminResult'; id: number } & AdminAnswer);

/** One IPC message: the batch of one turn. */
export interface Batch<T> {
  starling: T[];
}

export function isBatch<T>(x: unknown): x is Batch<T> {
  return typeof x === 'object' && x !== null && Array.isArray((x as Batch<T>).starling);
}

/**
 * Collects messages during a turn and sends them as one batch from setImmediate, so a burst of
 * publishes costs one IPC write (and one structured clone) per turn, not one per message.
 */
export class Outbox<T> {
  private pending: T[] = [];
  private scheduled = false;

  constructor(private readonly send: (batch: Batch<T>) => void) {}

  push(message: T): void {
    this.pending.push(message);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = { starling: this.pending };
    this.pending = [];
    this.send(batch);
  }
}
