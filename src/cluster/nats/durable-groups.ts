// Shared subscriptions in durable mode (persistence=nats): QoS 1/2 messages reach a shared group
// through one JetStream consumer per group (`group_<hash of group and filter>` on the stream
// `<P>_msgs`), pulled by every node that has a member of the group. JetStream gives each message to
// one puller, and gives it again to another once its acknowledgement wait runs out without an
// acknowledgement: so a message in flight to a node that dies reaches another member of the group
// (instead of being lost with a core NATS queue group). QoS 0 messages keep the core NATS queue
// groups (interest.ts).
//
// A node acknowledges a group message once it is routed to its local member (and stored for a
// persistent one). A message whose topic the group's filter matches but that finds no local member
// (the last one just left) is handed back at once (nak) for another node's member. A group nobody
// pulls from any more is deleted by the server after a while (inactive threshold), so it does not
// hold messages forever; a member that subscribes again starts from new messages.
//
// Duplicates: a node that dies after routing a group message but before its acknowledgement reached
// JetStream has it routed again to another member (at least once).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { ClusterSide } from '../../broker/cluster-link.js';
import type { LinkCounters } from './options.js';
import { decodeMessage } from './wire.js';
import { covers } from '../../topics/cover.js';
import type { MalformedMessages } from './malformed.js';

export interface DurableGroupsOptions {
  stream: string;
  broker: ClusterSide;
  log: Logger;
  /** How long a puller has to acknowledge a message before JetStream gives it to another. */
  ackWaitMs: number;
  counters?: Pick<LinkCounters, 'receivedShared'>;
  /** Where malformed messages of the stream are counted and logged (the link's). */
  malformed?: Pick<MalformedMessages, 'dropped'>;
}

/** A group consumer nobody pulls from is deleted by the server after this long. */
const GROUP_INACTIVE_NS = 300 * 1e9;
/** Messages one node asks for at once: small, so a node that dies holds few. */
const GROUP_BATCH = 32;

interface Pulling {
  messages?: ConsumerMessages;
  stopped: boolean;
  loop: Promise<void>;
  /** Resolves once the group's consumer exists (or this node gave up on it). */
  ready: Promise<void>;
  isReady: () => void;
}

export class DurableGroups {
  private readonly pulling = new Map<string, Pulling>();
  /** Group messages routed here; handed back for another node (no local member any more). */
  readonly counters = { routed: 0, handedBack: 0, redelivered: 0 };

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly opts: DurableGroupsOptions,
  ) {}

  /**
   * This node's first member of `group` on `filter` subscribed (present), or its last one left. With
   * `present`, resolves once the group's consumer exists, so a message published after the SUBACK
   * is not missed.
   */
  interest(group: string, filter: string, present: boolean): Promise<void> | undefined {
    const key = `${group}\0${filter}`;
    const had = this.pulling.get(key);
    if (!present) {
      if (!had) return undefined;
      this.pulling.delete(key);
      had.stopped = true;
      had.isReady();
      void had.messages?.close().catch(() => undefined);
      return undefined;
    }
    if (had) return had.ready;
    let isReady!: () => void;
    const ready = new Promise<void>((r) => (isReady = r));
    const p: Pulling = { stopped: false, loop: Promise.resolve(), ready, isReady };
    p.loop = this.pull(key, filter, p).finally(isReady);
    this.pulling.set(key, p);
    return ready;
  }

  private async pull(key: string, filter: string, p: Pulling): Promise<void> {
    const name = groupConsumerName(key);
    while (!p.stopped) {
      try {
        await this.ensure(name);
        const consumer = await this.js.consumers.get(this.opts.stream, name);
        if (p.stopped) return;
        p.messages = await consumer.consume({ max_messages: GROUP_BATCH });
        // Stopped while consume() was pending: nothing closed these messages, so close them here.
        if (p.stopped) return void (await p.messages.close().catch(() => undefined));
        p.isReady();
        for await (const m of p.messages) this.receive(key, filter, m);
      } catch (err) {
        if (p.stopped) return;
        this.opts.log.warn({ err, group: key.split('\0')[0] }, 'cluster: durable shared-group consumer interrupted; resuming');
      }
      // The consumer may have been deleted for inactivity; it is made again on the next round.
      if (!p.stopped) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Creates the group's consumer unless it exists (several nodes may race: any of them wins). */
  private async ensure(name: string): Promise<void> {
    const exists = await this.jsm.consumers.info(this.opts.stream, name).then(
      () => true,
      () => false,
    );
    if (exists) return;
    await this.jsm.consumers
      .add(this.opts.stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: this.opts.ackWaitMs * 1e6,
        max_ack_pending: 20_000,
        inactive_threshold: GROUP_INACTIVE_NS,
      })
      .catch((err: unknown) => this.opts.log.debug({ err }, 'cluster: group consumer not created here (another node did)'));
  }

  private receive(key: string, filter: string, m: JsMsg): void {
    let message;
    try {
      message = decodeMessage(m.headers, m.data).message;
    } catch (err) {
      if (this.opts.malformed) this.opts.malformed.dropped('durable', err);
      else this.opts.log.warn({ err }, 'cluster: malformed durable message dropped');
      m.ack();
      return;
    }
    if (m.info.redelivered) this.counters.redelivered++;
    if (!covers(filter, message.topic)) {
      m.ack();
      return;
    }
    Promise.resolve()
      .then(() => this.opts.broker.routeRemote(message, { shared: key }))
      .then(
        (routed) => {
          if (routed > 0) {
            this.counters.routed++;
            if (this.opts.counters) this.opts.counters.receivedShared++;
            m.ack();
          } else {
            this.counters.handedBack++;
            m.nak();
          }
        },
        (err: unknown) => {
          this.opts.log.error({ err, topic: message.topic }, 'cluster: routing a shared-group message failed');
          m.nak(1000);
        },
      );
  }

  async close(): Promise<void> {
    const all = [...this.pulling.values()];
    this.pulling.clear();
    for (const p of all) {
      p.stopped = true;
      await p.messages?.close().catch(() => undefined);
    }
    await Promise.race([Promise.allSettled(all.map((p) => p.loop)), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}

export const groupConsumerName = (key: string): string => `group_${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32)}`;
