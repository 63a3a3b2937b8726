// createBroker and the Broker it returns: the library's whole surface over the server that
// `starling start` runs (src/server/server.ts), so both are the same broker.
import type { Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { loadConfigDetailed } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { startServer, type RunningServer } from '../server/server.js';
import { createLogger } from '../server/logger.js';
import { StreamTransport } from '../transport/stream-transport.js';
import type { ListenerInfo } from '../transport/transport.js';
import { clientRows, retainedMessages, sessionRows, subscriptionRows } from '../observe/introspect.js';
import { brokerHooks } from './hooks.js';
import { attachWebSocket } from './attach-websocket.js';
import { localSubscriptions, type LocalSubscriptions } from './local.js';
import { publicMessage, storedMessage } from './messages.js';
import type {
  AttachOptions,
  BrokerOptions,
  ClientSummary,
  Listener,
  MessageHandler,
  PublishOptions,
  QoS,
  RetainedMessage,
  SessionSummary,
  SubscriptionSummary,
} from './types.js';

const DEFAULT_HOOK_TIMEOUT_MS = 5_000;
/** Where option problems are said to come from, as `file:line` is for the configuration file. */
const WHERE = 'createBroker options';

/**
 * Set by `starling start`, which has logged the configuration's warnings already (not public: an
 * application's options are always checked and their warnings logged).
 */
export const WARNINGS_LOGGED = Symbol('starling.warningsLogged');

/** The stream listener every `handle(stream)` connection is reported under. */
const STREAM_LISTENER: ListenerInfo = { url: 'stream:', scheme: 'mqtt', host: '', port: 0 };

/**
 * Makes a broker from the same settings as the configuration file (checked by the same code, so a
 * bad value is a ConfigError naming it) and opens its store; nothing listens until `listen()`.
 */
export async function createBroker(options: BrokerOptions = {}): Promise<Broker> {
  if (typeof options !== 'object' || options === null) throw new TypeError('createBroker takes an options object');
  const { hooks, hookTimeoutMs, logger, ...settings } = options;
  const { config, warnings } = loadConfigDetailed({ env: {}, values: { entries: settings, where: () => WHERE, allowNoListeners: true } });
  // Worker processes are forked by `starling start`; an application's broker is the one in its process.
  if (config.workers !== 1) throw new ConfigError(`${WHERE}: workers: the library runs one broker in this process; workers=N is for starling start`);
  const timeoutMs = hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2_147_483_647) {
    throw new ConfigError(`${WHERE}: hookTimeoutMs: ${String(hookTimeoutMs)} is not a whole number of milliseconds, 1 or more`);
  }
  if (hooks !== undefined && (typeof hooks !== 'object' || hooks === null)) throw new TypeError('hooks is an object of functions');
  const log = logger ?? createLogger({ level: config.logLevel, pretty: config.logFormat === 'auto' ? undefined : config.logFormat === 'pretty' });
  if (!(options as Record<symbol, unknown>)[WARNINGS_LOGGED]) for (const w of warnings) log.warn(w);
  const server = await startServer(config, log, {
    deferListeners: true,
    ...(hooks ? { hooks: brokerHooks(hooks, { log, timeoutMs, now: () => Date.now(), limits: config }) } : {}),
  });
  return new Broker(server, config, log);
}

/** A running broker. Made by createBroker. */
export class Broker {
  readonly #server: RunningServer;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #local: LocalSubscriptions;
  readonly #detach = new Set<() => void>();
  #closing?: Promise<void>;

  /** @internal Use createBroker. */
  constructor(server: RunningServer, config: Config, log: Logger) {
    this.#server = server;
    this.#config = config;
    this.#log = log;
    this.#local = localSubscriptions(server.broker, log);
  }

  /** The open listeners (empty before `listen()`). */
  get listeners(): Listener[] {
    return this.#server.listeners.map((l) => ({ ...l }));
  }

  /** Opens the configured listeners (mqttListeners; none when it is empty); resolves when all are bound. */
  async listen(): Promise<Listener[]> {
    this.#open();
    await this.#server.listen();
    return this.listeners;
  }

  /**
   * Serves MQTT over WebSocket at `path` on the application's HTTP(S) server, beside its routes.
   * Returns a function that removes the endpoint (connections made through it stay open).
   */
  attachWebSocket(server: HttpServer, options: AttachOptions = {}): () => void {
    this.#open();
    const detach = attachWebSocket(server, options.path ?? this.#config.webSocketPath, this.#config, this.#log, (t) => this.#server.accept(t));
    const remove = (): void => {
      if (this.#detach.delete(remove)) detach();
    };
    this.#detach.add(remove);
    return remove;
  }

  /** Serves one MQTT connection over any Duplex stream (the connection limits apply). */
  handle(stream: Duplex, info: { remoteAddress?: string; remotePort?: number } = {}): void {
    if (typeof stream?.on !== 'function' || typeof stream.write !== 'function') throw new TypeError('handle needs a Duplex stream');
    if (this.#closing) {
      stream.destroy();
      return;
    }
    this.#server.accept(new StreamTransport(stream, STREAM_LISTENER, info));
  }

  /**
   * Publishes as a trusted local client (no ACL, no authorize hook, no interceptor); the topic is
   * checked as an MQTT PUBLISH's would be. Resolves once routed, and stored where QoS and sessions
   * make that necessary (as a client's PUBACK waits).
   */
  async publish(topic: string, payload: Buffer | Uint8Array | string, options: PublishOptions = {}): Promise<void> {
    this.#open();
    const b = this.#server.broker;
    const message = storedMessage({ topic, payload: payload as Buffer, qos: options.qos ?? 0, retain: options.retain ?? false, ...(options.properties ? { properties: options.properties } : {}) }, b.options, b.ids.next(), b.now());
    await b.publish(message);
  }

  /**
   * Subscribes a handler, as a trusted local client (no ACL, no authorize hook): it is called for
   * each matching message, in order, after the matching retained messages. Returns the function
   * that ends the subscription.
   */
  subscribe(filter: string, handler: MessageHandler, options: { qos?: QoS } = {}): () => void {
    this.#open();
    const qos = options.qos ?? 2;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError('qos must be 0, 1 or 2');
    return this.#local.subscribe(filter, handler, qos);
  }

  /** Connected clients, as GET /api/v1/clients lists them. */
  clients(): ClientSummary[] {
    return clientRows(this.#server.source);
  }

  /** Every session, connected or not. */
  sessions(): SessionSummary[] {
    return sessionRows(this.#server.source);
  }

  /** Subscriptions of every session, or of one client, as GET /api/v1/subscriptions lists them. */
  subscriptions(clientId?: string): SubscriptionSummary[] {
    return subscriptionRows(this.#server.source, clientId ?? null);
  }

  /** Unexpired retained messages matching `filter` (default `#`), by topic. */
  retained(filter = '#'): RetainedMessage[] {
    const source = this.#server.source;
    const now = source.now();
    return retainedMessages(source, filter).map((m) => ({
      ...publicMessage(m, now, true),
      receivedAt: new Date(m.createdAt),
      ...(m.expiresAt !== undefined ? { expiresAt: new Date(m.expiresAt) } : {}),
    }));
  }

  /**
   * Stops: no new connections, attached endpoints removed, in-process subscriptions ended, MQTT 5
   * clients told (DISCONNECT 0x8B Server shutting down), every store write finished, store closed.
   */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      for (const d of [...this.#detach]) d();
      this.#local.close();
      await this.#server.close();
    })());
  }

  #open(): void {
    if (this.#closing) throw new Error('the broker is closed');
  }
}
