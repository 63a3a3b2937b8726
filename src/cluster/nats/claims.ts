// Client-id claims between nodes: a client that connects on one node is closed on every other
// [MQTT-3.1.4-2], and with Clean Start 0 its session is brought over from the node that held it
// (session-move.ts), or, with durable delivery, from the adopter of a node that is lost.
//
//   claim    <p>.claim.<token>   {clientId, at}; with a reply subject when the session is wanted
//   answer   the reply subject   the session in parts, or "nothing here"
import { createInbox, headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { AnswerCollector, answerParts, sendAnswer } from './session-move.js';
import type { DurableChannel } from './durable.js';
import type { ClusterSubjects } from './subjects.js';
import { decodeClaim, encodeClaim, H } from './wire.js';
import type { Callback } from './interest.js';
import { MISSED_BEATS } from './members.js';
import type { ClusterLinkOptions, LinkCounters } from './options.js';
import type { MaybePromise } from '../../protocol/maybe-promise.js';
import type { MalformedMessages } from './malformed.js';

/** How long this node remembers its own claims, to settle two connects of one client id at once. */
const CLAIM_MEMORY_MS = 10_000;
/**
 * Characters of the client ids remembered at most: a client id may be 64 KiB, and clients that
 * connect and leave with new long ids at a fast rate would otherwise make this node hold all of the
 * last ten seconds' (a 1,000 connects a second of 64 KiB ids: 640 MiB). Past it the oldest claims are
 * forgotten first (a race of two connects older than that is then settled as if it had no rival here).
 */
const CLAIM_MEMORY_CHARS = 4 * 1024 * 1024;

/** What claims need to know of the link they belong to. */
export interface ClaimingNode {
  /** Live node ids, this one included. */
  members(): string[];
  /** Nodes no longer counted live whose loss has not been handled yet (no adoption started). */
  unswept(): string[];
  /** NATS is reachable now (otherwise no session is asked for: nobody could answer). */
  readonly connected: boolean;
  /** The link is closing. */
  readonly closed: boolean;
  /** Durable delivery and adoption, with persistence=nats. */
  readonly durable: DurableChannel | undefined;
}

export class Claims {
  private readonly ownClaims = new Map<string, number>();
  /** Characters of the client ids in ownClaims. */
  private ownClaimChars = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: ClusterSubjects,
    private readonly opts: Required<Pick<ClusterLinkOptions, 'nodeId' | 'broker' | 'log' | 'heartbeatMs'>> & ClusterLinkOptions,
    private readonly counters: LinkCounters,
    private readonly malformed: MalformedMessages,
    private readonly node: ClaimingNode,
  ) {}

  /** See ClusterLink.claim: tell the other nodes, and with `resume` bring the session here. */
  claim(clientId: string, resume: boolean, retry = false): MaybePromise<void> {
    if (this.node.closed) return;
    const at = Date.now();
    this.forgetClaim(clientId);
    this.ownClaims.set(clientId, at);
    this.ownClaimChars += clientId.length;
    // Insertion order is claim order: forget from the front what is too old to race with anything,
    // and what is over the bound on the ids' characters.
    for (const [id, t] of this.ownClaims) {
      if (at - t <= CLAIM_MEMORY_MS && this.ownClaimChars <= CLAIM_MEMORY_CHARS) break;
      this.forgetClaim(id);
    }
    const h = headers();
    h.set(H.origin, this.opts.nodeId);
    const others = new Set(this.node.members().filter((n) => n !== this.opts.nodeId));
    // Clean Start 0 with other nodes up: ask them for the session (session-move.ts).
    const ask = resume && others.size > 0 && this.node.connected;
    const collector = ask ? new AnswerCollector(others, (why) => this.malformedAnswer(why)) : undefined;
    const inbox = collector ? createInbox() : undefined;
    const sub = inbox ? this.nc.subscribe(inbox, { callback: (err, m) => void (err || collector!.receive(m)) }) : undefined;
    try {
      this.nc.publish(this.subjects.claim(clientId), encodeClaim({ clientId, at }), { headers: h, ...(inbox ? { reply: inbox } : {}) });
      this.counters.claimsSent++;
    } catch (err) {
      this.counters.publishErrors++;
      this.opts.log.warn({ err, clientId }, 'cluster: publishing a takeover claim failed');
      sub?.unsubscribe();
      return;
    }
    // Nobody to ask, but a lost node's adoption by this node may be bringing the session here.
    if (!collector) return resume && !retry && this.node.durable ? this.afterAdoptions(clientId, []) : undefined;
    return this.awaitSession(clientId, collector, sub!, retry);
  }

  private async awaitSession(clientId: string, collector: AnswerCollector, sub: Subscription, retry: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.opts.moveTimeoutMs ?? 3000)));
    await Promise.race([collector.finished, late]);
    clearTimeout(timer);
    const durable = this.node.durable;
    // A node that answers late may be busy (an adoption's store writes) rather than gone: with
    // durable delivery, wait on while it still heartbeats (bounded), or its answer, the session,
    // would reach a closed inbox and be lost.
    const silent = collector.silent();
    if (durable && silent.length > 0 && !retry) {
      await Promise.race([collector.finished, Promise.all(silent.map((node) => this.whenLost(node)))]);
    }
    sub.unsubscribe();
    if (collector.session) {
      if (durable) await durable.importMoved(collector.session);
      else this.opts.broker.importSession(collector.session);
      this.counters.sessionsMovedIn++;
      this.opts.log.info({ clientId }, 'cluster: session moved here from another node');
      return;
    }
    if (!retry) return this.afterAdoptions(clientId, collector.silent());
  }

  /**
   * With durable delivery the session may be in a lost node's store: nodes that did not answer
   * (`silent`) may be gone with it (wait until they count as lost, then for their adoption), and a
   * node that is lost already may be adopted right now, by this node (then the session is here once
   * that is done) or by another (which has it then, so ask again, once).
   */
  private async afterAdoptions(clientId: string, silent: string[]): Promise<void> {
    const durable = this.node.durable;
    if (!durable) return;
    const waits = [
      ...silent.map((node) => this.whenLost(node).then((lost) => (lost ? durable.adopt(node) : undefined))),
      ...this.node.unswept().map((node) => durable.adopt(node)),
      ...durable.pending(),
    ];
    if (waits.length === 0) return;
    await Promise.all(waits);
    if (this.node.closed) return;
    const again = this.claim(clientId, true, true);
    if (again) await again;
  }

  /** Resolves true once `node` has missed its heartbeats (bounded by three periods and a bit). */
  private async whenLost(node: string): Promise<boolean> {
    const deadline = Date.now() + this.opts.heartbeatMs * (MISSED_BEATS + 1) + 1000;
    while (Date.now() < deadline && !this.node.closed) {
      if (!this.node.members().includes(node)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  private forgetClaim(clientId: string): void {
    if (this.ownClaims.delete(clientId)) this.ownClaimChars -= clientId.length;
  }

  private malformedAnswer(why: string): void {
    this.malformed.dropped('claim answer', why);
  }

  /** A claim from another node (the subscription's callback). */
  readonly onClaim: Callback = (err, m) => {
    if (err) return void this.opts.log.warn({ err }, 'cluster: claim subscription error');
    if (m.headers?.get(H.origin) === this.opts.nodeId) return;
    let claim;
    try {
      claim = decodeClaim(m.data);
    } catch (e) {
      return void this.malformed.dropped('claim', e);
    }
    this.counters.claimsReceived++;
    // Two connects of one client id on two nodes at nearly the same time: the later claim wins on
    // both nodes (ties broken by node id), so exactly one connection stays [MQTT-3.1.4-3].
    const mine = this.ownClaims.get(claim.clientId);
    const origin = m.headers?.get(H.origin) ?? '';
    if (mine !== undefined && (mine > claim.at || (mine === claim.at && this.opts.nodeId > origin))) {
      this.counters.claimsIgnored++;
      if (m.reply) this.answer(m.reply, undefined);
      return;
    }
    // The client is now the other node's: close it here and give up its session, to that node when
    // it asked for it (Clean Start 0), or end it (Clean Start 1) [MQTT-3.1.4-2] [MQTT-3.1.2-4].
    const reply = m.reply;
    const transfer = reply !== undefined && reply !== '';
    const durable = this.node.durable;
    (durable ? durable.release(claim.clientId, transfer) : this.opts.broker.releaseSession(claim.clientId, transfer)).then(
      (moved) => {
        if (!reply) return;
        if (moved) this.counters.sessionsMovedOut++;
        this.answer(reply, moved);
      },
      (err: unknown) => {
        this.opts.log.error({ err, clientId: claim.clientId }, 'cluster: giving up a session failed');
        if (reply) this.answer(reply, undefined);
      },
    );
  };

  private answer(reply: string, moved: Parameters<typeof answerParts>[0]): void {
    try {
      sendAnswer(this.nc, reply, this.opts.nodeId, answerParts(moved, this.nc.info?.max_payload ?? 1024 * 1024));
    } catch (err) {
      this.counters.publishErrors++;
      this.opts.log.warn({ err }, 'cluster: answering a claim failed');
    }
  }
}
