// What the worker processes of `workers=N` and their primary say to each other over the IPC channel
// Node's cluster module opens (with `serialization: 'advanced'`, so Buffers, Maps and undefined
// cross intact). Each side sends the messages of one event-loop turn as one batch, in order; the
// messages to route in it as binary batch frames, as cluster nodes send them over NATS.
import type { StoredMessage } from '../../store/ports.js';
import type { SessionTransfer } from '../../broker/cluster-link.js';
import { FrameWriter } from '../batch-frame.js';

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
  /** A message published on this worker (the link sends these as frames; see Outbox). */
  | { t: 'fwd'; m: StoredMessage }
  /** A client connected here: the other workers close it and (with `resume`) hand over its session. */
  | { t: 'claim'; id: number; clientId: string; resume: boolean }
  /** The session of this client id ended here: the primary forgets that this worker holds it. */
  | { t: 'ended'; clientId: string }
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
  | ({ t: 'adminResult'; id: number } & AdminAnswer)
  /** The hub's counters (ipc-hub.ts HubCounters), sent when they changed, for this worker's $SYS tree. */
  | { t: 'hubCounters'; counters: Record<string, number> };

/**
 * One IPC message: the batch of one turn, in order. Messages to route (`fwd` one way, `msg` without
 * `only` the other) travel as binary frames (../batch-frame.ts: each run of them one frame, encoded as
 * it is pushed); everything else as the objects above.
 */
export interface Batch<T> {
  starling: (T | Uint8Array)[];
}

export function isBatch<T>(x: unknown): x is Batch<T> {
  return typeof x === 'object' && x !== null && Array.isArray((x as Batch<T>).starling);
}

/** Whether an item of a batch is a frame of messages (the rest are control messages). */
export const isFrame = (x: unknown): x is Uint8Array => x instanceof Uint8Array;

/**
 * Collects messages during a turn and sends them as one batch from setImmediate, so a burst of
 * publishes costs one IPC write per turn, not one per message; the messages to route are encoded
 * into a binary frame as they come (no structured clone of each).
 */
export class Outbox<T> {
  private pending: (T | Uint8Array)[] = [];
  private scheduled = false;
  /** The run of messages being written (its buffer kept; each run is copied out as a frame). */
  private readonly frame: FrameWriter;

  constructor(
    private readonly send: (batch: Batch<T>) => void,
    origin = 'ipc',
  ) {
    this.frame = new FrameWriter(origin);
  }

  push(item: T): void {
    // After the messages before it, before those after it.
    if (this.frame.entries > 0) this.pending.push(this.frame.finish());
    this.pending.push(item);
    this.schedule();
  }

  /** A message to route, into the turn's current frame. Throws if its properties cannot be encoded. */
  message(m: StoredMessage, shared?: string): void {
    this.frame.append(m, shared);
    this.schedule();
  }

  flush(): void {
    this.scheduled = false;
    if (this.frame.entries > 0) this.pending.push(this.frame.finish());
    if (this.pending.length === 0) return;
    const items = this.pending;
    this.pending = [];
    this.send({ starling: items });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
}

/** The primary's outbox to one worker: a `msg` for all its sessions (no `only`) goes into a frame. */
export class PrimaryOutbox extends Outbox<PrimaryMessage> {
  constructor(send: (batch: Batch<PrimaryMessage>) => void) {
    super(send, 'primary');
  }

  override push(m: PrimaryMessage): void {
    if (m.t === 'msg' && m.only === undefined) this.message(m.m, m.shared);
    else super.push(m);
  }
}
