// Prometheus metrics, one Registry per broker (never prom-client's global default, so two brokers
// in one process, as in tests, do not mix). Counters mirror the broker's own BrokerStats totals at
// scrape time rather than being incremented on the hot path: the publish path pays nothing.
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/ports.js';
import { protocolName, type MetricsSource, type SessionView, type StatsView } from './ports.js';

export interface MetricsOptions {
  /** Node.js process metrics (CPU, memory, GC, event-loop lag) on this registry. Default true. */
  defaultMetrics?: boolean;
  /** Buckets for the store write latency histogram, seconds. */
  storeBuckets?: number[];
}

export interface Metrics {
  readonly registry: Registry;
  /** Content-Type of `render()`'s text (Prometheus text exposition format 0.0.4). */
  readonly contentType: string;
  /** The exposition text for GET /metrics. */
  render(): Promise<string>;
  /** Records one store write (one batch of ops applied atomically) that took `seconds`. */
  observeStoreWrite(seconds: number): void;
  /** Records the store's start-up read (open and load everything recovery needs), once per start. */
  observeStoreOpen(seconds: number): void;
}

const P = 'starling_';

/** Session-derived totals, computed once per scrape however many gauges read them. */
interface SessionTotals {
  online: number;
  offline: number;
  subscriptions: number;
  queued: number;
  inflight: number;
}

function sessionTotals(sessions: Iterable<SessionView>): SessionTotals {
  const t: SessionTotals = { online: 0, offline: 0, subscriptions: 0, queued: 0, inflight: 0 };
  for (const s of sessions) {
    if (s.online) t.online++;
    else t.offline++;
    t.subscriptions += s.subscriptions.size;
    t.queued += s.queuedCount;
    t.inflight += s.inflight.size;
  }
  return t;
}

export function createMetrics(source: MetricsSource, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  // Worked out once per scrape: prom-client calls every collect() of one scrape (metrics() and
  // getMetricsAsJSON() alike) in one synchronous run, so the totals are kept until that run ends.
  // Until 2026-12-08 they were kept for 100 ms, and a scrape right after another (a second
  // Prometheus, an operator's refresh) was shown the sessions as the first one found them.
  let totals: SessionTotals | undefined;
  const sessions = (): SessionTotals => {
    if (!totals) {
      totals = sessionTotals(source.sessions.values());
      queueMicrotask(() => (totals = undefined));
    }
    return totals;
  };

  /** A counter whose value is read from the broker's stats at scrape time. */
  const mirrored = (name: string, help: string, read: (s: StatsView) => number): void => {
    new Counter({
      name: P + name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(Math.max(0, read(source.stats)));
      },
    });
  };

  new Gauge({
    name: P + 'connections',
    help: 'Connected MQTT clients by listener and protocol version.',
    labelNames: ['listener', 'protocol'] as const,
    registers,
    collect() {
      this.reset();
      if (!source.connectedClients) return;
      const counts = new Map<string, { listener: string; protocol: string; n: number }>();
      for (const c of source.connectedClients()) {
        const key = `${c.listener}\0${c.protocolVersion}`;
        const e = counts.get(key);
        if (e) e.n++;
        else counts.set(key, { listener: c.listener, protocol: protocolName(c.protocolVersion), n: 1 });
      }
      for (const e of counts.values()) this.set({ listener: e.listener, protocol: e.protocol }, e.n);
    },
  });
  new Gauge({
    name: P + 'sessions',
    help: 'Sessions held by the broker, by whether a connection is attached.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const t = sessions();
      this.set({ state: 'online' }, t.online);
      this.set({ state: 'offline' }, t.offline);
    },
  });
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name: P + name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  gauge('subscriptions', 'Subscriptions over all sessions.', () => sessions().subscriptions);
  gauge('queued_messages', 'QoS 1/2 deliveries waiting for room in an in-flight window, all sessions.', () => sessions().queued);
  gauge('inflight_messages', 'QoS 1/2 deliveries sent and not yet acknowledged, all sessions.', () => sessions().inflight);
  gauge('session_state_bytes', 'Bytes of client ids and subscription filters (UTF-8), wills and inbound QoS 2 ids (20 each) all sessions hold together, connected and offline, against maxSessionBytesTotal.', () => source.sessionStateBytes?.() ?? 0);
  gauge('queued_bytes', 'Bytes held by all sessions\' queues and in-flight windows together (topic in UTF-8 + payload per entry), against maxQueuedBytesTotal.', () => source.queuedBytes?.() ?? 0);
  gauge('retained_messages', 'Retained messages held, the $SYS tree\'s own included.', () => source.retained.size);
  gauge('retained_bytes', 'Bytes of retained messages held (topic in UTF-8 + payload + properties), the $SYS tree\'s own included, against maxRetainedBytes.', () => source.retained.bytes);

  mirrored('connections_accepted_total', 'Connections that completed CONNECT.', (s) => s.connectionsTotal);
  // Mosquitto's meaning of messages/received|sent: packets of any type, not application messages.
  mirrored('messages_received_total', 'MQTT packets of any type received from clients (CONNECT, PUBLISH, PUBACK, PINGREQ, ...); PUBLISH alone is publish_received_total.', (s) => s.messagesReceived);
  mirrored('messages_sent_total', 'MQTT packets of any type sent to clients (CONNACK, PUBLISH, PUBACK, PINGRESP, ...); PUBLISH alone is publish_sent_total.', (s) => s.messagesSent);
  mirrored('publish_received_total', 'PUBLISH packets received from clients.', (s) => s.publishReceived);
  mirrored('publish_sent_total', 'PUBLISH packets sent to clients.', (s) => s.publishSent);
  mirrored('bytes_received_total', 'Bytes received from clients.', (s) => s.bytesReceived);
  mirrored('bytes_sent_total', 'Bytes sent to clients.', (s) => s.bytesSent);
  mirrored('auth_failures_total', 'Failed authentications.', (s) => s.authFailures);
  mirrored('connections_refused_total', 'Connections refused at accept time by a connection limit (limit_hits_total tells which).', (s) => s.connectionsRefused ?? 0);
  mirrored('slow_consumers_disconnected_total', 'Connections closed because their outgoing buffer stayed full.', (s) => s.slowConsumersDisconnected ?? 0);
  mirrored('connection_faults_total', 'Connections ended because something threw while serving them (the fault barrier; see the error log).', (s) => s.connectionFaults ?? 0);
  mirrored('wills_published_total', 'Will messages published.', (s) => s.willsPublished);

  const byLabel = (name: string, help: string, label: string, read: (s: StatsView) => Readonly<Record<string, number>> | undefined): void =>
    labelledCounter(registers, name, help, label, () => read(source.stats));
  byLabel('messages_dropped_total', 'Messages dropped, by reason.', 'reason', (s) => s.drops);
  byLabel('limit_hits_total', 'Times a configured limit refused, closed or throttled a client, by limit.', 'limit', (s) => s.limits);

  // Cluster mode: membership and what crossed the link, read from the link's counters at scrape time.
  const cluster = source.cluster;
  if (cluster) {
    const counter = (key: string): number => (cluster.counters as Partial<Record<string, number>>)[key] ?? 0;
    new Gauge({
      name: P + 'cluster_members',
      help: 'Live cluster nodes as this node sees them, this one included.',
      registers,
      collect() {
        this.set(cluster.members().length);
      },
    });
    new Gauge({
      name: P + 'cluster_members_incompatible',
      help: 'Live cluster nodes that speak another version of the cluster protocol (another Starling version): no message crosses between them and this node.',
      registers,
      collect() {
        this.set(cluster.incompatible?.().length ?? 0);
      },
    });
    const kinds: ReadonlyArray<[direction: string, kind: string, key: string]> = [
      ['out', 'plain', 'forwarded'],
      ['out', 'retained', 'forwardedRetained'],
      ['out', 'shared', 'forwardedShared'],
      ['in', 'plain', 'received'],
      ['in', 'retained', 'receivedRetained'],
      ['in', 'shared', 'receivedShared'],
    ];
    new Counter({
      name: P + 'cluster_messages_total',
      help: 'Messages sent to (out) and received from (in) other nodes, by kind.',
      labelNames: ['direction', 'kind'] as const,
      registers,
      collect() {
        this.reset();
        for (const [direction, kind, key] of kinds) this.inc({ direction, kind }, counter(key));
      },
    });
    new Counter({
      name: P + 'cluster_errors_total',
      help: 'Cluster link problems: failed forwards, messages dropped while NATS was unreachable, malformed messages, retained writes to the JetStream bucket that failed or were dropped waiting for it.',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        this.reset();
        for (const kind of ['publishErrors', 'droppedDisconnected', 'malformed']) this.inc({ kind }, counter(kind));
        this.inc({ kind: 'retainedWrites' }, cluster.state?.retainedWriteFailures ?? 0);
      },
    });
    new Counter({
      name: P + 'cluster_durable_total',
      help: 'persistence=nats: stream copies a session had already had, dropped (duplicatesDropped); QoS 1 messages in flight in a moved or adopted session, resent with DUP (resent).',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ kind: 'duplicatesDropped' }, counter('durableDuplicates'));
        this.inc({ kind: 'resent' }, counter('durableResent'));
      },
    });
    new Counter({
      name: P + 'cluster_shared_total',
      help: 'Shared-group messages (QoS 1/2) that reached a node whose last member of the group had left: passed on to another node of the group (handedOn), or dropped because that node had none either (lost).',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ kind: 'handedOn' }, counter('sharedHandedOn'));
        this.inc({ kind: 'lost' }, counter('sharedLost'));
      },
    });
  }

  const storeWrites = new Histogram({
    name: P + 'store_write_seconds',
    help: 'Time to apply one batch of store operations durably.',
    buckets: options.storeBuckets ?? [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  // Observed once per start, yet a histogram like the write one (not a gauge), so it aggregates
  // across workers and nodes; its buckets are start-up sized (a large store reads back in seconds).
  const storeOpens = new Histogram({
    name: P + 'store_open_seconds',
    help: 'Time to open the store and read back what it holds at start-up (observed once per start).',
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observeStoreWrite: (seconds) => storeWrites.observe(seconds),
    observeStoreOpen: (seconds) => storeOpens.observe(seconds),
  };
}

/**
 * workers=N: the hub's counters (cluster/workers/ipc-hub.ts, in the primary), in a registry of their
 * own that the primary adds to the workers' registries when it answers /metrics (server/worker-fanout.ts).
 */
export function workersHubRegistry(counters: () => Readonly<Record<string, number>>): Registry {
  const registry = new Registry();
  labelledCounter(
    [registry],
    'workers_hub_total',
    'workers=N: what the hub in the primary passed between workers, by kind (forwarded, delivered, claims, sessionsMoved, resentAfterMove, heldForRestart, droppedForRestart, staleSessionsForgotten, malformed).',
    'kind',
    counters,
  );
  return registry;
}

/** A counter with one sample per key of a record read at scrape time (`label` names the key). */
function labelledCounter(registers: Registry[], name: string, help: string, label: string, read: () => Readonly<Record<string, number>> | undefined): void {
  new Counter({
    name: P + name,
    help,
    labelNames: [label],
    registers,
    collect() {
      this.reset();
      for (const [key, n] of Object.entries(read() ?? {})) this.inc({ [label]: key }, Math.max(0, n));
    },
  });
}

/**
 * Wraps a store so each `apply` is timed into `observe` (e.g. `metrics.observeStoreWrite`) and
 * `open` into `observeOpen`. Failed writes are timed too: a slow failure is still a slow store.
 */
export function timedStore(store: Store, observe: (seconds: number) => void, observeOpen?: (seconds: number) => void): Store {
  return {
    get durable() {
      return store.durable;
    },
    get keepsNothing() {
      return store.keepsNothing;
    },
    async open() {
      const started = performance.now();
      const snapshot = await store.open();
      observeOpen?.((performance.now() - started) / 1000);
      return snapshot;
    },
    close: () => store.close(),
    apply(ops) {
      const started = performance.now();
      const done = (): void => observe((performance.now() - started) / 1000);
      return store.apply(ops).then(
        () => done(),
        (err: unknown) => {
          done();
          throw err;
        },
      );
    },
  };
}
