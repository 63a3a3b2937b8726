// The $SYS tree, in the layout Mosquitto users and their dashboards know: `$SYS/broker/...` topics
// published as retained QoS 0 messages through the broker's own publish path, so they follow the
// same routing, ACL-free delivery and retained semantics as any message. Topics beginning with '$'
// are not matched by filters beginning with a wildcard [MQTT-4.7.2-1], so `#` subscribers never
// see them; a client asks for `$SYS/#` explicitly.
//
// Like Mosquitto, a value is published only when it changed; `uptime` is published every interval
// and last, so a reader can take it as the end of one consistent sample.
import type { StoredMessage } from '../store/ports.js';
import { catchLater } from '../protocol/maybe-promise.js';
import { messageBytes } from '../session/message.js';
import { LOAD_WINDOWS, LoadAverage } from './load-average.js';
import type { LogView, SysSource } from './ports.js';
import { packageVersion } from './package-info.js';

export const SYS_PREFIX = '$SYS/broker/';

export interface SysOptions {
  /** Published at `$SYS/broker/version` as "starling version X"; default: package.json's. */
  version?: string;
  log?: LogView;
  /** Bytes of JS heap in use; injectable for tests. */
  heapUsed?: () => number;
  /**
   * Whether `broker.route` counts the $SYS messages themselves in `stats.messagesReceived`.
   * Starling's Broker does not (messagesReceived counts packets from clients); for a source that
   * does, they are subtracted again so `messages/received` reports client traffic only.
   */
  publishCounted?: boolean;
}

/** Load averages published under `$SYS/broker/load/<name>/{1min,5min,15min}`. */
const LOADS: ReadonlyArray<[name: string, read: (s: SysSource, own: number) => number]> = [
  ['messages/received', (s, own) => s.stats.messagesReceived - own],
  ['messages/sent', (s) => s.stats.messagesSent],
  ['publish/received', (s) => s.stats.publishReceived],
  ['publish/sent', (s) => s.stats.publishSent],
  ['publish/dropped', (s) => totalDrops(s)],
  ['bytes/received', (s) => s.stats.bytesReceived],
  ['bytes/sent', (s) => s.stats.bytesSent],
  ['connections', (s) => s.stats.connectionsTotal],
];

function totalDrops(s: SysSource): number {
  let n = 0;
  for (const v of Object.values(s.stats.drops)) n += v;
  return n;
}

const RETAINED_COUNT = 'retained messages/count';
const RETAINED_BYTES = 'retained messages/bytes';

/**
 * Sets `retained messages/count` and `/bytes` to what the retained index holds once this sample is
 * published: the tree's values are retained messages too, each new topic one more and each changed
 * value replacing the one before. Until 2026-12-08 they were the index as it stood before the
 * sample, which left out whatever the sample added: at the first sample after a start, the whole
 * tree (66 topics), so a reader that takes the $SYS topics it holds from the count (the console's
 * dashboard, which shows the clients' retained messages) saw max(0, 1 - 66) = 0 instead of 1.
 */
function retainedAfter(s: SysSource, v: Map<string, string>): void {
  let count = s.retained.size;
  let bytes = s.retained.bytes;
  for (const [key, value] of v) {
    const topic = SYS_PREFIX + key;
    const held = s.retained.get(topic);
    if (held) bytes -= messageBytes(held);
    else count++;
    // The two figures' own values are added below, once known.
    bytes += Buffer.byteLength(topic, 'utf8') + (key === RETAINED_COUNT || key === RETAINED_BYTES ? 0 : Buffer.byteLength(value, 'utf8'));
  }
  const countText = String(count);
  bytes += countText.length;
  // The bytes figure is one of the messages it counts: the total that includes its own digits
  // (x = bytes + digits(x); reached in at most three steps, as the digits change at most once).
  let total = bytes;
  for (let i = 0; i < 4 && total !== bytes + String(total).length; i++) total = bytes + String(total).length;
  v.set(RETAINED_COUNT, countText);
  v.set(RETAINED_BYTES, String(total));
}

/** Computes the tree's values and remembers what was last published. Pure apart from its clock input. */
export class SysTree {
  private readonly version: string;
  private readonly heapUsed: () => number;
  private readonly publishCounted: boolean;
  private readonly published = new Map<string, string>();
  private readonly loads = new Map<string, LoadAverage>(LOADS.map(([name]) => [name, new LoadAverage()]));
  private lastSampleAt: number | undefined;
  private maxClients = 0;
  private maxHeap = 0;
  /** $SYS messages published so far (subtracted from messagesReceived when publishCounted). */
  private own = 0;

  constructor(options: SysOptions = {}) {
    this.version = options.version ?? packageVersion();
    this.heapUsed = options.heapUsed ?? (() => process.memoryUsage().heapUsed);
    this.publishCounted = options.publishCounted ?? false;
  }

  /** Every topic (without the `$SYS/broker/` prefix) and its current value; `uptime` comes last. */
  read(s: SysSource, now: number): Map<string, string> {
    const own = this.publishCounted ? this.own : 0;
    const connected = s.clients.size;
    this.maxClients = Math.max(this.maxClients, connected);
    let subscriptions = 0;
    let inflight = 0;
    let queued = 0;
    for (const session of s.sessions.values()) {
      subscriptions += session.subscriptions.size;
      inflight += session.inflight.size;
      queued += session.queuedCount;
    }
    const heap = this.heapUsed();
    this.maxHeap = Math.max(this.maxHeap, heap);

    const v = new Map<string, string>();
    v.set('version', `starling version ${this.version}`);
    v.set('clients/connected', String(connected));
    // Mosquitto's total counts every session, connected or not; disconnected the persistent rest.
    v.set('clients/total', String(Math.max(s.sessions.size, connected)));
    v.set('clients/disconnected', String(Math.max(0, s.sessions.size - connected)));
    v.set('clients/maximum', String(this.maxClients));
    v.set('messages/received', String(s.stats.messagesReceived - own));
    v.set('messages/sent', String(s.stats.messagesSent));
    v.set('messages/inflight', String(inflight));
    v.set('messages/queued', String(queued));
    if (s.queuedBytes) v.set('messages/queued/bytes', String(s.queuedBytes()));
    if (s.sessionStateBytes) v.set('sessions/state/bytes', String(s.sessionStateBytes()));
    v.set('publish/messages/received', String(s.stats.publishReceived));
    v.set('publish/messages/sent', String(s.stats.publishSent));
    v.set('publish/messages/dropped', String(totalDrops(s)));
    // Each reason on its own (queueFull, queueRefused, backPressureTimeout, slowConsumer, ...), from
    // its first drop on: a quiet broker publishes (and a cluster replicates) no row of zeros.
    for (const [reason, n] of Object.entries(s.stats.drops)) if (n > 0) v.set(`publish/messages/dropped/${reason}`, String(n));
    v.set('clients/faults', String(s.stats.connectionFaults ?? 0));
    v.set('bytes/received', String(s.stats.bytesReceived));
    v.set('bytes/sent', String(s.stats.bytesSent));
    v.set('subscriptions/count', String(subscriptions));
    // Set once the sample is complete (retainedAfter): the tree's own values count in them.
    v.set(RETAINED_COUNT, '');
    v.set(RETAINED_BYTES, '');
    // Each configured limit's hits, as /metrics starling_limit_hits_total{limit} has them.
    for (const [limit, n] of Object.entries(s.stats.limits ?? {})) v.set(`limits/${limit}`, String(n));
    v.set('heap/current', String(heap));
    v.set('heap/maximum', String(this.maxHeap));
    if (s.cluster) {
      // Cluster membership as this node sees it (each node publishes its own $SYS tree).
      const members = s.cluster.members();
      const c = s.cluster.counters as Partial<Record<string, number>>;
      v.set('cluster/node', s.cluster.nodeId);
      v.set('cluster/nodes', String(members.length));
      v.set('cluster/members', members.join(','));
      v.set('cluster/incompatible', String(s.cluster.incompatible?.().length ?? 0));
      // Each message goes out once as plain or retained; the copy to the shared-group space is the
      // same message, so it is not counted again.
      v.set('cluster/messages/forwarded', String((c.forwarded ?? 0) + (c.forwardedRetained ?? 0)));
      v.set('cluster/messages/received', String((c.received ?? 0) + (c.receivedRetained ?? 0) + (c.receivedShared ?? 0)));
      // persistence=nats: stream copies dropped because the session had them; QoS 1 resent after a move.
      v.set('cluster/durable/duplicates', String(c.durableDuplicates ?? 0));
      v.set('cluster/durable/resent', String(c.durableResent ?? 0));
      // A shared-group message whose chosen node had no member left: passed on once, or lost.
      v.set('cluster/shared/handedOn', String(c.sharedHandedOn ?? 0));
      v.set('cluster/shared/lost', String(c.sharedLost ?? 0));
    }
    // workers=N: the hub's counters, as the primary last sent them (ipc-hub.ts HubCounters).
    for (const [kind, n] of Object.entries(s.workersHub?.() ?? {})) v.set(`workers/hub/${kind}`, String(n));

    const elapsed = this.lastSampleAt === undefined ? 0 : (now - this.lastSampleAt) / 1000;
    this.lastSampleAt = now;
    for (const [name, readCounter] of LOADS) {
      const load = this.loads.get(name)!;
      load.sample(readCounter(s, own), elapsed);
      for (const w of LOAD_WINDOWS) v.set(`load/${name}/${w.name}`, load.get(w.name).toFixed(2));
    }
    v.set('uptime', `${Math.max(0, Math.floor((now - s.stats.startedAt) / 1000))} seconds`);
    retainedAfter(s, v);
    return v;
  }

  /**
   * Full topics and payloads to publish now: those whose value changed since last published, and
   * `uptime` always (last). Counts them as published.
   */
  changes(s: SysSource, now: number): Array<[topic: string, payload: string]> {
    const out: Array<[string, string]> = [];
    for (const [key, value] of this.read(s, now)) {
      if (key !== 'uptime' && this.published.get(key) === value) continue;
      this.published.set(key, value);
      out.push([SYS_PREFIX + key, value]);
    }
    this.own += out.length;
    return out;
  }
}

export interface SysPublisher {
  /** Publishes what changed now (also called by the interval timer). */
  tick(): void;
  stop(): void;
}

/**
 * Publishes the $SYS tree at once and then every `intervalSec` seconds (fractions allowed);
 * 0 or less publishes nothing and returns a no-op. The timer does not keep the process alive.
 */
export function startSysPublisher(broker: SysSource, intervalSec: number, options: SysOptions = {}): SysPublisher {
  if (!(intervalSec > 0)) return { tick: () => {}, stop: () => {} };
  const tree = new SysTree(options);
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    try {
      const now = broker.now();
      for (const [topic, value] of tree.changes(broker, now)) {
        const message: StoredMessage = {
          id: broker.ids.next(),
          topic,
          payload: Buffer.from(value, 'utf8'),
          qos: 0,
          retain: true,
          createdAt: now,
        };
        const done = broker.route(message);
        catchLater(done, (err) => options.log?.error({ err, topic }, '$SYS publish failed'));
      }
    } catch (err) {
      // Observation must never take the broker down; the next tick tries again.
      options.log?.error({ err }, '$SYS update failed');
    }
  };
  tick();
  const timer = setInterval(tick, intervalSec * 1000);
  timer.unref();
  return {
    tick,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
