// The broker's collaborators (src/broker/*) wired as Broker wires them, without a channel or a
// socket: the unit tests of test/broker/ drive one of them and read the state of the others.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { QoS } from '../../src/protocol/constants.js';
import { allowAll, type BrokerHooks } from '../../src/hooks/hooks.js';
import { SubscriptionIndex } from '../../src/router/subscriptions.js';
import { MessageIds } from '../../src/session/message.js';
import { Session, type QueueLimits, type SessionOutlet } from '../../src/session/session.js';
import type { Delivery } from '../../src/session/delivery.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store, StoredMessage, SubscriptionRecord } from '../../src/store/ports.js';
import type { BrokerClient, ConnectRequest } from '../../src/channel/context.js';
import { defaultBrokerLimits } from '../../src/broker/options.js';
import { BrokerStats } from '../../src/broker/stats.js';
import { StoreWrites } from '../../src/broker/writes.js';
import { Queues } from '../../src/broker/queues.js';
import { RetainedService } from '../../src/broker/retained-service.js';
import { Pipeline } from '../../src/broker/pipeline.js';
import { Sessions } from '../../src/broker/sessions.js';
import { BrokerClusterSide } from '../../src/broker/cluster-side.js';
import type { Logger } from 'pino';
import { silentLog as silent } from './channel.js';

export interface PartsOptions {
  store?: Store;
  queue?: Partial<QueueLimits>;
  maxInflightMessages?: number;
  maxRetainedMessages?: number;
  maxRetainedBytes?: number;
  /** maxQueuedBytesTotal (0 = no limit, the default here) and maxSessions (0 = no limit). */
  maxQueuedBytesTotal?: number;
  maxSessions?: number;
  backPressureTimeoutMs?: number;
  /** Where the collaborators log (silent unless given; captureLog collects lines). */
  log?: Logger;
  hooks?: Partial<BrokerHooks>;
  now?: () => number;
}

export type BrokerParts = Awaited<ReturnType<typeof brokerParts>>;

/** Opens the store (its snapshot is returned) and wires every collaborator to it. */
export async function brokerParts(opts: PartsOptions = {}) {
  const store = opts.store ?? new MemoryStore();
  const silentLog = opts.log ?? silent;
  const now = opts.now ?? Date.now;
  const stats = new BrokerStats();
  const ids = new MessageIds();
  const hooks: BrokerHooks = { ...allowAll, ...opts.hooks };
  const writes = new StoreWrites(store, silentLog);
  const snapshot = await writes.open();
  const queue = { ...defaultBrokerLimits.queue, ...opts.queue } as QueueLimits;
  const queueOptions = { queue, maxInflightMessages: opts.maxInflightMessages ?? 100, backPressureTimeoutMs: opts.backPressureTimeoutMs ?? 60_000, maxQueuedBytesTotal: opts.maxQueuedBytesTotal ?? 0 };
  const queues = new Queues(queueOptions, writes, stats, hooks, silentLog, now);
  const retainedOptions = {
    maxRetainedMessages: opts.maxRetainedMessages ?? 1000,
    maxRetainedBytes: opts.maxRetainedBytes ?? 0,
    retainedSweep: { intervalMs: 60_000, maxScanPerTick: 1000 },
  };
  const retained = new RetainedService(retainedOptions, writes, queues, stats, ids, silentLog, now);
  const subscriptions = new SubscriptionIndex();
  const pipeline = new Pipeline(subscriptions, retained, queues, writes, stats, now);
  const sessions = new Sessions(subscriptions, queues, writes, hooks, stats, ids, silentLog, now, (m) => pipeline.route(m), opts.maxSessions ?? 0);
  const cluster = new BrokerClusterSide(sessions, pipeline, writes, now);
  const close = async (): Promise<void> => {
    sessions.close();
    queues.close();
    retained.stop();
    await writes.close();
  };
  return { store, snapshot, stats, ids, hooks, writes, queues, retained, subscriptions, pipeline, sessions, cluster, close };
}

/** A fresh SQLite file, removed after the test file. */
export function sqlitePath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-parts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'starling.db');
}

export const sqliteStore = (path: string): SqliteStore => new SqliteStore({ path });

export interface Written {
  topic: string;
  payload: string;
  qos: QoS;
  retain: boolean;
  packetId?: number;
  dup: boolean;
}

/** A session's outlet that records each PUBLISH and PUBREL it is asked to write. */
export class RecordingOutlet implements SessionOutlet {
  writable = true;
  readonly written: Written[] = [];
  readonly pubrels: number[] = [];
  deliver({ message, qos, retain, packetId, dup }: Delivery): void {
    const w: Written = { topic: message.topic, payload: message.payload.toString(), qos, retain, dup: dup ?? false };
    if (packetId !== undefined) w.packetId = packetId;
    this.written.push(w);
  }
  pubrel(packetId: number): void {
    this.pubrels.push(packetId);
  }
}

/** A connection as the registry sees it; counts its takeovers. */
export class FakeClient implements BrokerClient {
  session?: Session;
  readonly takeovers: Array<boolean | undefined> = [];
  constructor(readonly clientId: string) {}
  takenOver(elsewhere?: boolean): void {
    this.takeovers.push(elsewhere);
  }
}

export function connectRequest(clientId: string, extra: Partial<ConnectRequest> = {}): ConnectRequest {
  return { clientId, protocolVersion: 5, clean: true, expiryInterval: 0, ...extra };
}

/** Connects `clientId` through Sessions and attaches a recording outlet, as a channel does after CONNACK. */
export async function online(
  parts: BrokerParts,
  clientId: string,
  extra: Partial<ConnectRequest> = {},
  receiveMaximum = 65_535,
): Promise<{ client: FakeClient; session: Session; outlet: RecordingOutlet; sessionPresent: boolean }> {
  const client = new FakeClient(clientId);
  const { session, sessionPresent } = await parts.sessions.connect(client, connectRequest(clientId, extra));
  const outlet = new RecordingOutlet();
  parts.queues.attach(session, outlet, receiveMaximum);
  return { client, session, outlet, sessionPresent };
}

export function message(ids: MessageIds, topic: string, payload: string, extra: Partial<StoredMessage> = {}): StoredMessage {
  return { id: ids.next(), topic, payload: Buffer.from(payload), qos: 1, retain: false, createdAt: Date.now(), ...extra };
}

export function subscription(filter: string, qos: QoS = 1, extra: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return { filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, ...extra };
}
