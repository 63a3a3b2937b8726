// Server lifecycle: open the store and the broker, open every listener, accept connections,
// and shut down in order (stop accepting, tell clients, flush the store).
import { logLimited, OncePerWindow } from '../transport/log-limit.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { Broker } from '../broker/broker.js';
import type { BrokerOptions } from '../broker/options.js';
import type { BrokerHooks } from '../hooks/hooks.js';
import type { Store } from '../store/ports.js';
import { VolatileStore } from '../store/memory/volatile-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { openListener, type OpenListener } from '../transport/listeners.js';
import { ensureDevCertificates } from '../transport/dev-certs.js';
import { schemeNamed, usesCertificate } from '../transport/kinds.js';
import type { ListenerInfo, Transport } from '../transport/transport.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { Admission, SocketGate } from './admission.js';
import { Refusals, REFUSAL_DEADLINE_MS, REFUSALS_AT_ONCE } from './refusal.js';
import { WriteFlusher } from './flusher.js';
import { DeadlineWheel } from './deadlines.js';
import { createSecurity, type Security } from '../auth/security.js';
import type { FailureThrottle } from '../auth/throttle.js';
import { createAdminUsers } from '../auth/admin-users.js';
import { createMetrics, timedStore, type Metrics } from '../observe/metrics.js';
import { createHttpHandler } from '../observe/http.js';
import { localAdminAnswer, type AdminPeers } from '../observe/admin-api.js';
import { startSysPublisher } from '../observe/sys-topics.js';
import { PacketTrace } from '../observe/trace.js';
import { connectionsView } from './connections-view.js';
import { CleanupStack, runSteps, type StartupStep } from './startup.js';
import { listenerSpec, transportOptions } from './transport-options.js';
import { generateNodeId, startClusterLink, takeOwnPlace, type NatsAuth, type NatsClusterLink } from '../cluster/nats/index.js';
import { NatsStore, type NatsStoreOptions } from '../store/nats/nats-store.js';
import { nodeStorePrefix } from '../config/checks.js';
import type { ClusterLink } from '../broker/cluster-link.js';
import type { AdminSource } from '../observe/ports.js';
import type { MaybePromise } from '../protocol/maybe-promise.js';

export interface RunningServer {
  /** The open listeners (none before `listen()` when started with `deferListeners`). */
  readonly listeners: ListenerInfo[];
  /** Opens the configured listeners (once); with `deferListeners`, nothing listens before this. */
  listen(): Promise<ListenerInfo[]>;
  /** Serves one transport as a listener would (admission limits included): the library's `handle`. */
  accept(transport: Transport): void;
  /** What the admin API reads: the broker and the open connections (the library's introspection). */
  readonly source: AdminSource;
  readonly broker: Broker;
  /** Connections currently open. */
  readonly connections: ReadonlySet<Connection>;
  /** This process's metrics registry. */
  readonly metrics: Metrics;
  /** This process's answer to another worker's admin question (clients, subscriptions, kick). */
  adminAnswer(op: 'clients' | 'subscriptions' | 'kick', clientId?: string): { rows?: unknown[]; kicked?: boolean };
  /** The cluster link, when `clusterNatsUrl` is set (members, counters). */
  readonly cluster?: NatsClusterLink;
  /** Places held under maxConnections now: sockets from accept (handshakes, upgrades) and connections. */
  admitted(): number;
  /** The failed-login slow-down (what it would make an address wait now), for tests and diagnostics. */
  readonly loginThrottle: FailureThrottle;
  close(): Promise<void>;
  /**
   * Settles once the server closed itself because it must not go on: a durable cluster node whose
   * place another node took while it ran (cut off from NATS long enough to be counted lost). Its
   * sessions are the adopter's now and its store is fenced, so serving on would split them. The CLI
   * exits 1 then, for a supervisor to restart the node, which waits for the adoption and starts clean.
   */
  readonly failed: Promise<Error>;
}

/** A cluster link made for an open broker (the worker processes of `workers=N`). */
export type LinkFactory = (broker: Broker) => Promise<ClusterLink & { close(): MaybePromise<void> }>;

export interface ServerExtras {
  /** Replaces the store chosen by `persistence` (tests, cluster mode). */
  store?: Store;
  /** Override the configured hooks; as a function, made from them (the library adds its own to them). */
  hooks?: Partial<BrokerHooks> | ((configured: Partial<BrokerHooks>) => Partial<BrokerHooks>);
  /** Open no listener until `listen()` is called (the library's createBroker). */
  deferListeners?: boolean;
  /** Joins the other worker processes: called once the broker is open, before any listener opens. */
  link?: LinkFactory;
  /** Renders GET /metrics instead of this process's registry (a worker: every worker's together). */
  metricsText?: () => Promise<string>;
  /** A worker: the primary's hub counters as last heard, for the $SYS tree (`workers/hub/...`). */
  workersHub?: () => Readonly<Record<string, number>>;
  /** The other workers, for the admin API's clients, subscriptions and kick. */
  adminPeers?: AdminPeers;
  /** Where the development certificate lives; default `dataDir/certs` (workers share the primary's). */
  certsDir?: string;
  /** Where the server secret lives (src/auth/server-secret.ts); default `dataDir` (workers share the primary's). */
  secretDir?: string;
  /** Called before each start-up step (server/startup.ts) with its name; what it throws fails that step (tests). */
  beforeStep?: (step: string) => unknown;
}

export function brokerOptionsFrom(config: Config, store: Store, log: Logger): BrokerOptions {
  return {
    store,
    log,
    maxInflightMessages: config.maxInflightMessages,
    receiveMaximum: config.mqttReceiveMaximum,
    queue: {
      maxQueuedMessages: config.maxQueuedMessages,
      maxQueuedBytes: config.maxQueuedBytes,
      overflow: config.queueOverflowPolicy,
    },
    backPressureTimeoutMs: config.backPressureTimeoutSec * 1000,
    maxQueuedBytesTotal: config.maxQueuedBytesTotal,
    maxSessions: config.maxSessions,
    maxSessionBytesTotal: config.maxSessionBytesTotal,
    maxPacketSize: config.mqttMessageMaxLength,
    maxKeepAlive: config.mqttMaxKeepAliveSec,
    maxRetainedMessages: config.maxRetainedMessages,
    maxRetainedBytes: config.maxRetainedBytes,
    maxTopicLength: config.maxTopicLength,
    maxTopicLevels: config.maxTopicLevels,
    maxSubscriptionsPerClient: config.maxSubscriptionsPerClient,
    maxOutgoingBytes: config.maxOutgoingBytes,
    topicAliasMaximum: config.mqttTopicAliasMaximum,
    maxOutgoingTopicAliases: config.maxOutgoingTopicAliases,
    maxUserProperties: config.maxUserProperties,
    maxUserPropertyBytes: config.maxUserPropertyBytes,
    maxClientMemory: config.maxClientMemory,
    responseInformation: config.mqttResponseInformation,
  };
}

/** NATS credentials and TLS from the configuration, for the cluster link and the NATS store. */
export function natsAuth(config: Config): NatsAuth {
  const auth: NatsAuth = {};
  if (config.clusterNatsUser) auth.user = config.clusterNatsUser;
  if (config.clusterNatsPassword) auth.pass = config.clusterNatsPassword;
  if (config.clusterNatsToken) auth.token = config.clusterNatsToken;
  if (config.clusterNatsTlsCaFile || config.clusterNatsTlsCertFile) {
    auth.tls = {};
    if (config.clusterNatsTlsCaFile) auth.tls.caFile = config.clusterNatsTlsCaFile;
    if (config.clusterNatsTlsCertFile) auth.tls.certFile = config.clusterNatsTlsCertFile;
    if (config.clusterNatsTlsKeyFile) auth.tls.keyFile = config.clusterNatsTlsKeyFile;
  }
  return auth;
}

/** Where the store of node `nodeId` lives with persistence=nats (this node's, or a lost one's). */
function nodeStore(config: Config, nodeId: string): NatsStoreOptions {
  return {
    servers: natsServers(config),
    prefix: nodeStorePrefix(config.clusterSubjectPrefix, nodeId),
    replicas: config.clusterRetainedReplicas,
    name: `starling-store-${config.clusterNodeId}${nodeId === config.clusterNodeId ? '' : `-adopting-${nodeId}`}`,
    ...natsAuth(config),
  };
}

const natsServers = (config: Config): string[] => config.clusterNatsUrl.split(',').map((u) => u.trim()).filter((u) => u !== '');

/** The store `persistence` (and `persistenceSync`) ask for; exported for tests. */
export function openStore(config: Config): Store {
  if (config.persistence === 'memory') return new VolatileStore();
  // The node's sessions, queues and retained messages in JetStream, named after the node, so they
  // survive the loss of this machine (replicated with the NATS cluster).
  if (config.persistence === 'nats') return new NatsStore(nodeStore(config, config.clusterNodeId));
  mkdirSync(config.dataDir, { recursive: true });
  return new SqliteStore({ path: join(config.dataDir, 'starling.db'), synchronous: config.persistenceSync });
}

/** The broker as observation reads it (a view, so observe/ never holds the Broker class). */
function brokerView(broker: Broker, cluster?: NatsClusterLink, workersHub?: () => Readonly<Record<string, number>>) {
  return {
    ...(cluster ? { cluster } : {}),
    ...(workersHub ? { workersHub } : {}),
    stats: broker.stats,
    clients: broker.clients,
    sessions: broker.sessions,
    retained: broker.retained,
    queuedBytes: () => broker.queuedBytes(),
    sessionStateBytes: () => broker.sessionStateBytes(),
    options: broker.options,
    ids: broker.ids,
    now: () => broker.now(),
    route: (m: Parameters<Broker['route']>[0]) => broker.route(m),
  };
}

/** A listener URL whose scheme needs a certificate (mqtt+ssl, ws+ssl and their aliases). */
const usesTls = (url: string): boolean => {
  const scheme = schemeNamed(/^([^:]*):/.exec(url.trim())?.[1] ?? '');
  return scheme !== undefined && usesCertificate(scheme);
};

/**
 * The configuration with the development certificate in `certsDir` filled in, made there on first
 * run, when certificate TLS listeners have no certificate configured; otherwise as it is.
 */
export async function withDevCertificate(config: Config, certsDir: string): Promise<{ config: Config; devCertFile?: string }> {
  if (!config.mqttListeners.some(usesTls) || config.mqttTlsCertificateFilePath) return { config };
  const dev = await ensureDevCertificates(certsDir);
  return {
    devCertFile: dev.certFile,
    config: {
      ...config,
      mqttTlsCertificateFilePath: dev.certFile,
      mqttTlsKeyFilePath: dev.keyFile,
      mqttTlsTrustCertsFilePath: config.mqttTlsTrustCertsFilePath || dev.caFile,
    },
  };
}

export async function startServer(config: Config, log: Logger, extras: ServerExtras = {}): Promise<RunningServer> {
  const cleanups = new CleanupStack(log);
  // Set by the steps below, each before a later step reads it.
  let security!: Security;
  let store!: Store;
  let place: Awaited<ReturnType<typeof takeOwnPlace>> | undefined;
  let broker!: Broker;
  let tlsConfig!: Config;
  let cluster: NatsClusterLink | undefined;
  let workerLink: Awaited<ReturnType<LinkFactory>> | undefined;
  // Store latency is observed by wrapping the store; the metrics read the broker lazily.
  let observeStoreWrite: (seconds: number) => void = () => {};
  // The store opens before the metrics exist (they read the broker): its time is kept until then.
  let storeOpenSeconds: number | undefined;

  const connections = new Set<Connection>();
  const open: OpenListener[] = [];
  const listenerInfos = (): ListenerInfo[] => open.map((l) => l.info);
  const view = connectionsView(connections, listenerInfos);
  let ready = false;
  let admission!: Admission;
  let accept!: (t: Transport) => void;
  let metrics!: Metrics;
  let adminSource!: AdminSource & ReturnType<typeof brokerView>;
  let listening: Promise<ListenerInfo[]> | undefined;
  let listen!: () => Promise<ListenerInfo[]>;
  let closing: Promise<void> | undefined;
  // Stopping is start-up's clean-up stack unwound: sys, listeners, connections, links, broker, store, security.
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      ready = false;
      await cleanups.unwind();
    })());
  let fail!: (err: Error) => void;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  const placeLost = (adopter: string): void => {
    const err = new Error(`cluster: node ${config.clusterNodeId}'s place was taken by ${adopter}, which adopts its sessions`);
    log.fatal({ adopter }, 'cluster: another node adopted this node while it ran (it was cut off from NATS); closing, so its clients reconnect to the node that has their sessions, and a restart starts clean');
    close().then(
      () => fail(err),
      (closeErr: unknown) => {
        log.error({ err: closeErr }, 'closing after the place was lost failed');
        fail(err);
      },
    );
  };

  const steps: StartupStep[] = [
    {
      name: 'security',
      run: async () => {
        security = await createSecurity({ ...config, log, dataDir: extras.secretDir ?? config.dataDir });
        cleanups.push('security', () => security.close());
      },
    },
    {
      name: 'store',
      run: () => {
        store = timedStore(extras.store ?? openStore(config), (s) => observeStoreWrite(s), (s) => (storeOpenSeconds = s));
        // Closed by the broker once it is open; before that (recovery failed), here. Closing twice is a no-op.
        cleanups.push('store', () => store.close());
      },
    },
    {
      // A durable cluster node takes its own place before its store opens: while another node adopts
      // this one's sessions, it waits (cluster/nats/place.ts). Given up when the cluster link closes.
      name: 'place',
      run: async () => {
        if (config.persistence !== 'nats' || extras.store) return;
        const held = await takeOwnPlace({ servers: natsServers(config), auth: natsAuth(config), nodeId: config.clusterNodeId, prefix: config.clusterSubjectPrefix, replicas: config.clusterRetainedReplicas, heartbeatMs: config.clusterHeartbeatMs, log, onLost: placeLost });
        place = held;
        cleanups.push('place', () => held.stop());
      },
    },
    {
      name: 'broker',
      run: async () => {
        const options = brokerOptionsFrom(config, store, log);
        // Extras (tests, embedding) override the configured security hooks.
        const configured: Partial<BrokerHooks> = { ...security.hooks, authenticators: security.authenticators };
        options.hooks = { ...configured, ...(typeof extras.hooks === 'function' ? extras.hooks(configured) : extras.hooks) };
        broker = await Broker.open(options);
        cleanups.push('broker', () => broker.close());
        // Access is decided at SUBSCRIBE; a reloaded ACL must reach the subscriptions made before it.
        security.onAclReload(() => broker.reauthorizeAll());
      },
    },
    {
      // TLS listeners without a configured certificate get a development one made on first run.
      name: 'certificates',
      run: async () => {
        const dev = await withDevCertificate(config, extras.certsDir ?? join(config.dataDir, 'certs'));
        tlsConfig = dev.config;
        if (dev.devCertFile) log.warn({ cert: dev.devCertFile }, 'no TLS certificate configured: using a development certificate');
      },
    },
    {
      // Cluster mode: join the other nodes over NATS before any client can connect.
      name: 'cluster',
      run: async () => {
        if (!config.clusterNatsUrl) return;
        const link = await startClusterLink({
          servers: natsServers(config),
          auth: natsAuth(config),
          heartbeatMs: config.clusterHeartbeatMs,
          // With the node's state in JetStream, QoS 1/2 travel durably and lost nodes are adopted.
          ...(config.persistence === 'nats'
            ? {
                durable: {
                  replicas: config.clusterRetainedReplicas,
                  maxAgeSec: config.clusterStreamMaxAgeSec,
                  maxBytes: config.clusterStreamMaxBytes,
                  storeOf: (node: string) => nodeStore(config, node),
                },
              }
            : {}),
          nodeId: config.clusterNodeId || generateNodeId(),
          prefix: config.clusterSubjectPrefix,
          retainedReplicas: config.clusterRetainedReplicas,
          retainedPendingBytes: config.maxRetainedBytes,
          broker,
          retained: broker.localRetained(),
          log,
          ...(place ? { place } : {}),
        });
        cluster = link;
        cleanups.push('cluster', () => link.close());
        broker.attachCluster(link);
      },
    },
    {
      // The other processes of workers=N, once the broker is open and before any listener opens.
      name: 'workers',
      run: async () => {
        if (!extras.link) return;
        const link = await extras.link(broker);
        workerLink = link;
        cleanups.push('workers', () => link.close());
        broker.attachCluster(link);
      },
    },
    {
      name: 'connections',
      run: () => {
        admission = new Admission(config.maxConnections, config.maxConnectionsPerAddress);
        // A refusal holds a descriptor for up to a second; a few at once are enough to tell
        // well-behaved clients why, and a flood past them is destroyed at accept as before.
        const refusals = new Refusals({ maxPending: REFUSALS_AT_ONCE, deadlineMs: REFUSAL_DEADLINE_MS });
        const flusher = new WriteFlusher();
        const connectTimeoutMs = config.connectTimeoutSec * 1000;
        // TLS and WebSocket sockets take their place at accept, before the handshake or upgrade.
        // A flood of refused sockets is one warn line a minute per address (at most 100 a minute in
        // all), not a line each: the counts are in /metrics.
        const refusedLines = new OncePerWindow();
        const gate = new SocketGate(admission, connectTimeoutMs, {
          refused: (limit, socket, listener) => {
            broker.stats.refused(limit);
            logLimited(refusedLines, log, 'warn', socket.remoteAddress ?? '', { remote: socket.remoteAddress, listener: listener.url, limit }, 'connection refused at accept: connection limit reached');
          },
          timedOut: (socket, listener) => {
            broker.stats.limitHit('connectTimeout');
            log.info({ remote: socket.remoteAddress, listener: listener.url }, 'handshake or upgrade not done in time; closing');
          },
        });
        const trace = new PacketTrace();
        // One wheel for every connection's connect and keepalive deadline, and one options object and
        // close callback for them all: nothing per idle connection that could be shared.
        const deadlines = new DeadlineWheel<Connection>((c) => c.deadlineDue());
        const connectionOptions: ConnectionOptions = {
          maxPacketSize: config.mqttMessageMaxLength,
          connectTimeoutMs,
          maxPublishRate: config.maxPublishRate,
          maxBytesRate: config.maxPublishBytesRate,
          maxOutgoingBytes: config.maxOutgoingBytes,
          slowConsumerTimeoutMs: config.slowConsumerTimeoutSec * 1000,
          flusher,
          deadlines,
          log,
          trace,
        };
        const connectionClosed = (gone: Connection): void => {
          if (connections.delete(gone)) gone.place?.release();
        };
        accept = (t: Transport): void => {
          const admitted = gate.admit(t);
          if (typeof admitted === 'string') {
            broker.stats.refused(admitted);
            logLimited(refusedLines, log, 'warn', t.remoteAddress, { remote: t.remoteAddress, listener: t.listener.url, limit: admitted }, 'connection refused: connection limit reached');
            // Told why with a CONNACK (0x89 / 0x97, or 3 before MQTT 5), within a bounded budget.
            refusals.refuse(t, admitted);
            return;
          }
          const c = new Connection(t, broker, connectionOptions, connectionClosed);
          c.place = admitted.place;
          connections.add(c);
          // The connect timeout counts from accept: a handshake or upgrade already used part of it.
          c.start(admitted.since);
        };

        metrics = createMetrics({ ...brokerView(broker, cluster), connectedClients: () => view.connectedClients() });
        observeStoreWrite = (s) => metrics.observeStoreWrite(s);
        if (storeOpenSeconds !== undefined) metrics.observeStoreOpen(storeOpenSeconds);
        const adminUsers = createAdminUsers({ users: config.httpAdminUsers, passwordFile: config.mqttPasswordFile, log, throttle: security.throttle, gate: security.checkGate });
        if (adminUsers) cleanups.push('connections', () => adminUsers.close());
        adminSource = Object.assign(brokerView(broker), view);
        const http = createHttpHandler({
          consoleDir: config.httpConsoleEnabled ? undefined : null,
          webSocketPath: config.webSocketPath,
          metrics: extras.metricsText ? { contentType: metrics.contentType, render: extras.metricsText } : metrics,
          ready: () => ready,
          admin: { source: adminSource, token: config.httpAdminToken, users: adminUsers, trace, ...(extras.adminPeers ? { peers: extras.adminPeers } : {}) },
          listeners: listenerInfos,
          log,
        });
        // Stopping: refuse no one further, tell every client, and drop every deadline.
        cleanups.push('connections', () => {
          refusals.close();
          gate.close();
          for (const c of [...connections]) {
            if (c.channel.version === 5 && c.channel.state === 'connected') {
              c.channel.send({ type: 'disconnect', reasonCode: ReasonCode.ServerShuttingDown });
            }
            c.channel.end('abnormal', { reason: 'server shutting down' });
          }
          deadlines.clear();
        });

        listen = () =>
          (listening ??= (async () => {
            try {
              const transport = transportOptions(tlsConfig);
              for (const url of config.mqttListeners) {
                open.push(await openListener(listenerSpec(url), { transport, log, http, siblings: listenerInfos, gate }, accept));
              }
            } catch (err) {
              await Promise.all(open.splice(0).map((l) => l.close()));
              listening = undefined;
              throw err;
            }
            ready = true;
            return listenerInfos();
          })());
      },
    },
    {
      // Stop accepting first; open connections are told by the step below it in the stack.
      name: 'listeners',
      run: async () => {
        cleanups.push('listeners', async () => {
          ready = false;
          await Promise.all(open.splice(0).map((l) => l.close()));
        });
        if (!extras.deferListeners) await listen();
      },
    },
    {
      name: 'sys',
      run: () => {
        const sys = startSysPublisher(brokerView(broker, cluster, extras.workersHub), config.sysIntervalSec, { log });
        cleanups.push('sys', () => sys.stop());
      },
    },
  ];
  await runSteps(steps, cleanups, extras.beforeStep);

  return {
    get listeners() {
      return listenerInfos();
    },
    listen,
    accept,
    source: adminSource,
    broker,
    connections,
    metrics,
    adminAnswer: (op, clientId) => localAdminAnswer(adminSource, op, clientId),
    cluster,
    loginThrottle: security.throttle,
    admitted: () => admission.open,
    close,
    failed,
  };
}
