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
import type { SessionTransfer } from '../broker/cluster-link.js';
import { parseSharedFilter } from '../protocol/topic.js';
import type { StoredMessage } from '../store/ports.js';
import { TopicTrie } from '../topics/trie.js';
import type { PrimaryMessage, WorkerMessage } from './ipc-wire.js';
import { isNodeLocalTopic } from './retained.js';

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

interface Interest {
  plain: Set<string>;
  /** `group\0filter` */
  shared: Set<string>;
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
}

export class IpcHub {
  readonly counters = { forwarded: 0, delivered: 0, claims: 0, sessionsMoved: 0, resentAfterMove: 0 };
  private readonly plain = new TopicTrie<number>();
  /** Shared interest by filter; values are `worker\0group`. */
  private readonly shared = new TopicTrie<string>();
  private readonly interests = new Map<number, Interest>();
  private readonly turns = new Map<string, number>();
  private readonly live = new Set<number>();
  private readonly claims = new Map<string, Claim[]>();
  private readonly releases = new Map<number, Release>();
  private readonly dumps = new Map<number, { requester: number; timer: NodeJS.Timeout }>();
  private nextId = 1;

  constructor(
    private readonly send: (worker: number, message: PrimaryMessage) => void,
    private readonly opts: HubOptions,
  ) {}

  /** Workers that said hello and have not gone. */
  workers(): number[] {
    return [...this.live].sort((a, b) => a - b);
  }

  receive(worker: number, m: WorkerMessage): void {
    switch (m.t) {
      case 'hello':
        return this.hello(worker);
      case 'interest':
        return this.interest(worker, m.filter, m.group, m.present, m.ack);
      case 'fwd':
        return this.forward(worker, m.m);
      case 'claim':
        return this.claim({ worker, id: m.id, clientId: m.clientId, resume: m.resume });
      case 'released':
        return this.released(worker, m.id, m.transfer);
      case 'dumped':
        return this.dumped(m.id, m.retained);
    }
  }

  /** A worker exited: forget its interest, and stop waiting for its answers. */
  workerGone(worker: number): void {
    this.live.delete(worker);
    const interest = this.interests.get(worker);
    if (interest) {
      for (const filter of interest.plain) this.plain.remove(filter, worker);
      for (const key of interest.shared) {
        const [group, filter] = key.split('\0') as [string, string];
        this.shared.remove(filter, `${worker}\0${group}`);
      }
      this.interests.delete(worker);
    }
    for (const r of [...this.releases.values()]) {
      if (r.waiting.has(worker)) this.released(worker, r.id, undefined);
    }
    for (const [id, d] of [...this.dumps]) {
      if (d.requester === worker) {
        clearTimeout(d.timer);
        this.dumps.delete(id);
      }
    }
  }

  // ---- start-up ------------------------------------------------------------------------------

  private hello(worker: number): void {
    this.workerGone(worker);
    const source = this.workers().find((w) => w !== worker);
    this.live.add(worker);
    if (source === undefined) return this.send(worker, { t: 'welcome' });
    const id = this.nextId++;
    const timer = setTimeout(() => {
      // The source did not answer: start from the local store rather than not at all.
      this.dumps.delete(id);
      this.opts.log.warn({ worker, source }, 'workers: no retained messages copied to a starting worker');
      this.send(worker, { t: 'welcome' });
    }, this.opts.releaseTimeoutMs ?? 5000);
    timer.unref();
    this.dumps.set(id, { requester: worker, timer });
    this.send(source, { t: 'dump', id });
  }

  private dumped(id: number, retained: StoredMessage[]): void {
    const d = this.dumps.get(id);
    if (!d) return;
    clearTimeout(d.timer);
    this.dumps.delete(id);
    this.send(d.requester, { t: 'welcome', retained });
  }

  // ---- interest and routing -------------------------------------------------------------------

  private interestOf(worker: number): Interest {
    let i = this.interests.get(worker);
    if (!i) this.interests.set(worker, (i = { plain: new Set(), shared: new Set() }));
    return i;
  }

  private interest(worker: number, filter: string, group: string | undefined, present: boolean, ack?: number): void {
    this.setInterest(worker, filter, group, present);
    if (ack !== undefined) this.send(worker, { t: 'ack', id: ack });
  }

  private setInterest(worker: number, filter: string, group: string | undefined, present: boolean): void {
    const mine = this.interestOf(worker);
    if (group === undefined) {
      if (present) {
        mine.plain.add(filter);
        this.plain.add(filter, worker);
      } else {
        mine.plain.delete(filter);
        this.plain.remove(filter, worker);
      }
      return;
    }
    const key = `${group}\0${filter}`;
    if (present) {
      mine.shared.add(key);
      this.shared.add(filter, `${worker}\0${group}`);
    } else {
      mine.shared.delete(key);
      this.shared.remove(filter, `${worker}\0${group}`);
    }
  }

  private forward(origin: number, m: StoredMessage): void {
    if (isNodeLocalTopic(m.topic)) return;
    this.counters.forwarded++;
    const plain = new Set<number>();
    if (m.retain) {
      for (const w of this.live) if (w !== origin) plain.add(w);
    } else {
      this.plain.match(m.topic, (w) => {
        if (w !== origin) plain.add(w);
      });
    }
    for (const w of plain) this.deliver(w, { t: 'msg', m });

    const groups = new Map<string, number[]>();
    this.shared.match(m.topic, (value, filter) => {
      const [w, group] = value.split('\0') as [string, string];
      const key = `${group}\0${filter}`;
      const members = groups.get(key);
      if (members) members.push(Number(w));
      else groups.set(key, [Number(w)]);
    });
    for (const [key, members] of groups) {
      const turn = this.turns.get(key) ?? 0;
      this.turns.set(key, turn + 1);
      members.sort((a, b) => a - b);
      this.deliver(members[turn % members.length]!, { t: 'msg', m, shared: key });
    }
  }

  private deliver(worker: number, message: Extract<PrimaryMessage, { t: 'msg' }>): void {
    this.counters.delivered++;
    if (message.shared === undefined) {
      for (const r of this.releases.values()) r.sentMeanwhile.get(worker)?.push(message.m);
    }
    this.send(worker, message);
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
      if (shared) this.setInterest(r.claimant, shared.filter, shared.group, true);
      else {
        this.setInterest(r.claimant, sub.filter, undefined, true);
        filters.add(sub.filter, true);
      }
    }
    this.counters.sessionsMoved++;
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
