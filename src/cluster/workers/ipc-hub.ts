// The primary's half of `workers=N`: the worker processes share the listeners (Node's cluster
// module hands each accepted connection to one of them), and the hub makes them one broker. It is
// the in-machine counterpart of NATS in cluster mode, with the same rules:
//
//   fwd       a message goes to the workers whose plain interest matches its topic (a retained one
//             to every worker, which keeps its retained index), and once to each shared group: to
//             one worker with a member, round-robin, the publisher's own worker included (workers
//             leave shared groups out of local routing, as cluster nodes do).
//   claim     a client connected on one worker: every other worker closes its connection of that id
//             and gives up the session; with Clean Start 0 the session itself moves to the claimant.
//             Claims of one client id are handled one at a time, in arrival order.
//   hello     a worker (re)started: it is sent the retained messages of a worker already up, so a
//             restarted or added worker starts from the same retained state as the others.
//
// A message routed to the old worker while its session is being released would miss the session:
// the hub keeps what it sent there meanwhile and re-sends the messages that match the session's
// plain subscriptions to the new worker, for that session only. (Shared-group messages in that
// window are served by the old worker's other members, if any.)
import type { SessionTransfer } from '../../broker/cluster-link.js';
import { parseSharedFilter } from '../../protocol/topic.js';
import type { StoredMessage } from '../../store/ports.js';
import type { PrimaryMessage, WorkerMessage } from './ipc-wire.js';
import { TopicTrie } from '../../topics/trie.js';
import { isNodeLocalTopic } from '../retained-copy.js';
import { InterestRoutes } from './interest.js';
import { decodeFrame, type DecodedFrame } from '../batch-frame.js';

export interface HubLog {
  warn(obj: object, msg: string): void;
}

/** One claim in progress: the release asked of every other worker. */
interface Release {
  id: number;
  claimant: number;
  claimId: number;
  clientId: string;
  transfer: boolean;
  waiting: Set<number>;
  moved?: SessionTransfer;
  movedFrom?: number;
  /** Plain messages sent to each released worker while its answer was outstanding. */
  sentMeanwhile: Map<number, StoredMessage[]>;
  timer: NodeJS.Timeout;
}

interface Claim {
  worker: number;
  id: number;
  clientId: string;
  resume: boolean;
}

export interface HubOptions {
  log: HubLog;
  /** How long a claim waits for a worker's answer before going on without it. Default 5000 ms. */
  releaseTimeoutMs?: number;
  /**
   * How long a worker that died is waited for: its subscriptions stay in place and messages for it
   * are kept, and claims of its clients wait, until it is back. Default 15000 ms.
   */
  restartGraceMs?: number;
  /** Messages kept for a worker that is down, at most. Default 100,000 (and 64 MiB). */
  maxHeldMessages?: number;
}

/** A worker that died and is expected back. */
interface Down {
  held: Extract<PrimaryMessage, { t: 'msg' }>[];
  bytes: number;
  overflowed: boolean;
  timer: NodeJS.Timeout;
}

/** Session owners the hub remembers (see `own`). */
const MAX_OWNERS = 1_000_000;

/** What the hub counts since the primary started; shown in /metrics and $SYS (`shareCounters`). */
export interface HubCounters {
  /** Messages workers forwarded to the hub. */
  forwarded: number;
  /** Batch frames from a worker that did not decode (dropped whole). */
  malformed: number;
  /** Messages sent on to a worker (one forwarded message can go to several). */
  delivered: number;
  /** Client ids claimed (a client connected on a worker). */
  claims: number;
  /** Sessions moved from one worker to another. */
  sessionsMoved: number;
  /** Messages sent again to a moved session (routed to the old worker during the move). */
  resentAfterMove: number;
  /** Messages kept for a worker that was restarting. */
  heldForRestart: number;
  /** Messages for a restarting worker dropped: too many kept, or it did not come back in time. */
  droppedForRestart: number;
  /** Stale copies of a session a restarted worker was told to forget. */
  staleSessionsForgotten: number;
}

/**
 * The id the hub gives a QoS 0 message of a worker's frame (theirs do not cross, batch-frame.ts).
 * The hub only passes messages on: re-encoded into frames, a QoS 0 one's id is left out again and
 * the receiving worker gives its own; sent whole (a resend after a session moved, a message kept
 * for a restarting worker) it is delivered at once or dropped, never stored, acknowledged or
 * deduplicated. So one constant serves, instead of a new id string per message in the one process
 * every worker's traffic goes through.
 */
const HUB_QOS0_IDS = { next: (): string => 'hub' };

export class IpcHub {
  readonly counters: HubCounters = { forwarded: 0, malformed: 0, delivered: 0, claims: 0, sessionsMoved: 0, resentAfterMove: 0, heldForRestart: 0, droppedForRestart: 0, staleSessionsForgotten: 0 };
  /** The counters as last sent to the workers (JSON), '' to send them again. */
  private sharedCounters = '';
  private readonly live = new Set<number>();
  private readonly routes = new InterestRoutes();
  private readonly claims = new Map<string, Claim[]>();
  private readonly releases = new Map<number, Release>();
  private readonly dumps = new Map<number, { requester: number; timer: NodeJS.Timeout; then?: () => void }>();
  /** Which worker holds each client id's session, as far as the hub has seen. */
  private readonly owners = new Map<string, number>();
  /** Workers that died and are expected back. */
  private readonly down = new Map<number, Down>();
  /** Claims waiting for a worker that is down (it holds their sessions). */
  private readonly parked = new Map<number, Claim[]>();
  /** Interest a restarted worker announced since its hello (what it had before and did not, goes). */
  private readonly announced = new Map<number, Set<string>>();
  private nextId = 1;

  constructor(
    private readonly send: (worker: number, message: PrimaryMessage) => void,
    private readonly opts: HubOptions,
  ) {}

  /** Workers that said hello and have not gone. */
  workers(): number[] {
    return [...this.live].sort((a, b) => a - b);
  }

  /**
   * Sends the counters to every live worker when they changed since the last time (or a worker said
   * hello since), for its $SYS tree; the pool calls this on a timer (server/workers.ts).
   */
  shareCounters(): void {
    const text = JSON.stringify(this.counters);
    if (text === this.sharedCounters) return;
    this.sharedCounters = text;
    for (const w of this.live) this.send(w, { t: 'hubCounters', counters: { ...this.counters } });
  }

  receive(worker: number, m: WorkerMessage): void {
    switch (m.t) {
      case 'hello':
        return this.hello(worker, m.sessions ?? []);
      case 'synced':
        return this.synced(worker);
      case 'interest':
        return this.interest(worker, m.filter, m.group, m.present, m.ack);
      case 'fwd':
        return this.forward(worker, m.m);
      case 'claim':
        return this.claim({ worker, id: m.id, clientId: m.clientId, resume: m.resume });
      case 'released':
        return this.released(worker, m.id, m.transfer);
      case 'ended':
        // Only this worker's record: a later claim elsewhere already moved it on.
        if (this.owners.get(m.clientId) === worker) this.owners.delete(m.clientId);
        return;
      case 'dumped':
        return this.dumped(m.id, m.retained);
    }
  }

  /**
   * A batch frame of messages a worker forwarded (ipc-wire.ts): each routed as a `fwd`. A frame that
   * does not decode is counted and dropped whole; nothing of it is routed and nothing is thrown.
   */
  receiveFrame(worker: number, data: Uint8Array): void {
    let frame: DecodedFrame;
    try {
      // Views of `data`: each message is written into the outgoing frames at once (copied when kept, see hold).
      frame = decodeFrame(data, HUB_QOS0_IDS);
    } catch (err) {
      this.counters.malformed++;
      this.opts.log.warn({ err, worker }, 'workers: malformed batch from a worker ignored');
      return;
    }
    for (const m of frame.messages) this.forward(worker, m);
  }

  /**
   * A worker exited. With `comingBack` (it is being restarted) its interest stays and messages for it
   * are kept until it is back or `restartGraceMs` passes; otherwise its interest goes at once.
   */
  workerGone(worker: number, comingBack = false): void {
    this.live.delete(worker);
    for (const r of [...this.releases.values()]) {
      if (r.waiting.has(worker)) this.released(worker, r.id, undefined);
    }
    for (const [id, d] of [...this.dumps]) {
      if (d.requester === worker) {
        clearTimeout(d.timer);
        this.dumps.delete(id);
      }
    }
    if (comingBack && !this.down.has(worker)) {
      const timer = setTimeout(() => this.givenUp(worker), this.opts.restartGraceMs ?? 15_000);
      timer.unref();
      this.down.set(worker, { held: [], bytes: 0, overflowed: false, timer });
      return;
    }
    this.routes.forget(worker);
  }

  /** A dead worker did not come back in time: its interest goes, waiting claims go on without it. */
  private givenUp(worker: number): void {
    const d = this.down.get(worker);
    if (!d) return;
    this.down.delete(worker);
    if (d.held.length > 0) this.opts.log.warn({ worker, messages: d.held.length }, 'workers: a worker did not come back in time; messages kept for it are dropped');
    this.counters.droppedForRestart += d.held.length;
    if (!this.live.has(worker)) this.routes.forget(worker);
    this.unpark(worker);
  }

  // ---- start-up ------------------------------------------------------------------------------

  private hello(worker: number, sessions: string[]): void {
    // A worker that (re)started has no copy of the counters yet.
    this.sharedCounters = '';
    const restarted = this.down.get(worker);
    if (restarted) {
      // Back: keep routing on the interest it had until it has announced its own ('synced').
      clearTimeout(restarted.timer);
      this.down.delete(worker);
      this.announced.set(worker, new Set());
    } else {
      this.workerGone(worker);
      this.announced.delete(worker);
    }
    // A session another worker took over while this one was away is a stale copy here.
    for (const clientId of sessions) {
      const owner = this.owners.get(clientId);
      if (owner !== undefined && owner !== worker && (this.live.has(owner) || this.down.has(owner))) {
        this.counters.staleSessionsForgotten++;
        this.send(worker, { t: 'forget', clientId });
      } else this.own(clientId, worker);
    }
    const source = this.workers().find((w) => w !== worker);
    this.live.add(worker);
    // What was published for it while it was down follows the welcome (the link holds messages that
    // arrive before the welcome until it is applied).
    const held = restarted?.held ?? [];
    const deliverHeld = (): void => {
      for (const m of held) this.send(worker, m);
    };
    if (source === undefined) {
      this.send(worker, { t: 'welcome' });
      return deliverHeld();
    }
    const id = this.nextId++;
    const timer = setTimeout(() => {
      // The source did not answer: start from the local store rather than not at all.
      this.dumps.delete(id);
      this.opts.log.warn({ worker, source }, 'workers: no retained messages copied to a starting worker');
      this.send(worker, { t: 'welcome' });
      deliverHeld();
    }, this.opts.releaseTimeoutMs ?? 5000);
    timer.unref();
    this.dumps.set(id, { requester: worker, timer, then: deliverHeld });
    this.send(source, { t: 'dump', id });
  }

  private dumped(id: number, retained: StoredMessage[]): void {
    const d = this.dumps.get(id);
    if (!d) return;
    clearTimeout(d.timer);
    this.dumps.delete(id);
    this.send(d.requester, { t: 'welcome', retained });
    d.then?.();
  }

  /** A (re)started worker has announced its interest: drop what it had before and no longer has. */
  private synced(worker: number): void {
    const announced = this.announced.get(worker);
    this.announced.delete(worker);
    if (announced) this.routes.keepOnly(worker, announced);
    // Its sessions are loaded: the claims that waited for them go ahead.
    this.unpark(worker);
  }

  /** Sessions whose worker the hub remembers (what `ended` keeps from growing with sessions long gone). */
  get ownedSessions(): number {
    return this.owners.size;
  }

  /**
   * Records who holds a (persistent) session. Bounded: past MAX_OWNERS the oldest records go, which
   * only means a claim of such a client no longer waits for a restarting worker.
   */
  private own(clientId: string, worker: number): void {
    this.owners.delete(clientId);
    this.owners.set(clientId, worker);
    if (this.owners.size > MAX_OWNERS) this.owners.delete(this.owners.keys().next().value as string);
  }

  private unpark(worker: number): void {
    const waiting = this.parked.get(worker);
    if (!waiting) return;
    this.parked.delete(worker);
    for (const c of waiting) this.startClaim(c);
  }

  // ---- interest and routing -------------------------------------------------------------------

  private interest(worker: number, filter: string, group: string | undefined, present: boolean, ack?: number): void {
    if (present) this.announced.get(worker)?.add(group === undefined ? filter : `${group}\0${filter}`);
    this.routes.set(worker, filter, group, present);
    if (ack !== undefined) this.send(worker, { t: 'ack', id: ack });
  }

  private forward(origin: number, m: StoredMessage): void {
    if (isNodeLocalTopic(m.topic)) return;
    this.counters.forwarded++;
    for (const w of this.routes.plainFor(m, origin, this.live)) this.deliver(w, { t: 'msg', m });
    for (const [key, worker] of this.routes.sharedFor(m.topic)) this.deliver(worker, { t: 'msg', m, shared: key });
  }

  private deliver(worker: number, message: Extract<PrimaryMessage, { t: 'msg' }>): void {
    const down = this.down.get(worker);
    if (down) return this.hold(worker, down, message);
    this.counters.delivered++;
    if (message.shared === undefined) {
      for (const r of this.releases.values()) r.sentMeanwhile.get(worker)?.push(message.m);
    }
    this.send(worker, message);
  }

  /** Keeps a message for a worker that is being restarted (bounded). */
  private hold(worker: number, down: Down, message: Extract<PrimaryMessage, { t: 'msg' }>): void {
    const bytes = message.m.payload.length + message.m.topic.length;
    if (down.held.length >= (this.opts.maxHeldMessages ?? 100_000) || down.bytes + bytes > 64 * 1024 * 1024) {
      if (!down.overflowed) this.opts.log.warn({ worker }, 'workers: too many messages kept for a restarting worker; dropping the rest');
      down.overflowed = true;
      this.counters.droppedForRestart++;
      return;
    }
    // Its own payload: a decoded message's is a view of the IPC message it came in.
    down.held.push({ ...message, m: { ...message.m, payload: Buffer.from(message.m.payload) } });
    down.bytes += bytes;
    this.counters.heldForRestart++;
  }

  // ---- claims and moving sessions ----------------------------------------------------------------

  private claim(c: Claim): void {
    this.counters.claims++;
    const queue = this.claims.get(c.clientId);
    if (queue) {
      queue.push(c);
      return;
    }
    this.claims.set(c.clientId, [c]);
    this.startClaim(c);
  }

  private startClaim(c: Claim): void {
    // The session is on a worker that is being restarted: wait until it is back with it.
    const owner = this.owners.get(c.clientId);
    if (owner !== undefined && owner !== c.worker && (this.down.has(owner) || this.announced.has(owner))) {
      const list = this.parked.get(owner);
      if (list) list.push(c);
      else this.parked.set(owner, [c]);
      return;
    }
    const others = this.workers().filter((w) => w !== c.worker);
    if (others.length === 0) return this.finishClaim(c);
    const id = this.nextId++;
    const timer = setTimeout(() => {
      const r = this.releases.get(id);
      if (!r) return;
      this.opts.log.warn({ clientId: c.clientId, workers: [...r.waiting] }, 'workers: no answer to a takeover; going on without it');
      for (const w of [...r.waiting]) this.released(w, id, undefined);
    }, this.opts.releaseTimeoutMs ?? 5000);
    timer.unref();
    const release: Release = {
      id,
      claimant: c.worker,
      claimId: c.id,
      clientId: c.clientId,
      transfer: c.resume,
      waiting: new Set(others),
      sentMeanwhile: new Map(others.map((w) => [w, []])),
      timer,
    };
    this.releases.set(id, release);
    for (const w of others) this.send(w, { t: 'release', id, clientId: c.clientId, transfer: c.resume });
  }

  private released(worker: number, id: number, transfer: SessionTransfer | undefined): void {
    const r = this.releases.get(id);
    if (!r || !r.waiting.delete(worker)) return;
    if (transfer && !r.moved) {
      r.moved = transfer;
      r.movedFrom = worker;
    } else if (!transfer) r.sentMeanwhile.delete(worker);
    if (r.waiting.size > 0) return;
    clearTimeout(r.timer);
    this.releases.delete(id);
    const claim: Claim = { worker: r.claimant, id: r.claimId, clientId: r.clientId, resume: r.transfer };
    if (!r.moved) return this.finishClaim(claim);
    if (!this.live.has(r.claimant)) {
      // The claimant went away meanwhile: the session goes back where it came from, not nowhere.
      if (this.live.has(r.movedFrom!)) this.send(r.movedFrom!, { t: 'claimed', id: 0, transfer: r.moved });
      else this.opts.log.warn({ clientId: r.clientId }, 'workers: a session in transit was lost with both workers');
      return this.nextClaim(r.clientId);
    }

    // The claimant's interest covers the session from now on, before its own interest updates
    // (which repeat this) reach the hub, so nothing published meanwhile goes past it.
    const filters = new TopicTrie<true>();
    for (const sub of r.moved.state.subscriptions) {
      const shared = parseSharedFilter(sub.filter);
      if (shared) this.routes.set(r.claimant, shared.filter, shared.group, true);
      else {
        this.routes.set(r.claimant, sub.filter, undefined, true);
        filters.add(sub.filter, true);
      }
    }
    this.counters.sessionsMoved++;
    this.own(r.clientId, r.claimant);
    this.send(r.claimant, { t: 'claimed', id: r.claimId, transfer: r.moved });
    for (const m of r.sentMeanwhile.get(r.movedFrom!) ?? []) {
      let matches = false;
      filters.match(m.topic, () => (matches = true));
      if (!matches) continue;
      this.counters.resentAfterMove++;
      this.send(r.claimant, { t: 'msg', m, only: r.clientId });
    }
    this.nextClaim(r.clientId);
  }

  private finishClaim(c: Claim): void {
    if (c.resume) this.own(c.clientId, c.worker);
    else this.owners.delete(c.clientId);
    if (this.live.has(c.worker)) this.send(c.worker, { t: 'claimed', id: c.id });
    this.nextClaim(c.clientId);
  }

  private nextClaim(clientId: string): void {
    const queue = this.claims.get(clientId);
    if (!queue) return;
    queue.shift();
    const next = queue[0];
    if (next) this.startClaim(next);
    else this.claims.delete(clientId);
  }
}
