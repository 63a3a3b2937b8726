// createBroker and the Broker it returns: the library's whole surface over the server that
// `starling start` runs (src/server/server.ts), so both are the same broker.
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { loadConfigDetailed } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { startServer, type RunningServer } from '../server/server.js';
import { createLogger } from '../server/logger.js';
import { webSocketOptions } from '../server/transport-options.js';
import { StreamTransport } from '../transport/stream-transport.js';
import type { ListenerInfo } from '../transport/transport.js';
import { byClientId, bySubscription, clientRows, retainedMessages, sessionRows, subscriptionRows } from '../observe/introspect.js';
import { brokerHooks, checkHooks } from './hooks.js';
import { attachWebSocket } from './attach-websocket.js';
import { localSubscriptions, type LocalSubscriptions } from './local.js';
import { publicMessage, storedMessage } from './messages.js';
import type {
  AttachOptions,
  Broker,
  BrokerOptions,
  ClientSummary,
  Listener,
  MessageHandler,
  PublishOptions,
  QoS,
  RetainedMessage,
  SessionSummary,
  StreamInfo,
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
  if (hooks !== undefined) checkHooks(hooks);
  const log = logger ?? createLogger({ level: config.logLevel, pretty: config.logFormat === 'auto' ? undefined : config.logFormat === 'pretty' });
  if (!(options as Record<symbol, unknown>)[WARNINGS_LOGGED]) for (const w of warnings) log.warn(w);
  const server = await startServer(config, log, {
    deferListeners: true,
    ...(hooks ? { hooks: brokerHooks(hooks, { log, timeoutMs, now: () => Date.now(), limits: config }) } : {}),
  });
  return new StarlingBroker(server, config, log);
}

/** The Broker of types.ts; not exported from the package (createBroker makes it). */
class StarlingBroker implements Broker {
  readonly #server: RunningServer;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #local: LocalSubscriptions;
  readonly #detach = new Set<() => void>();
  #closing?: Promise<void>;

  constructor(server: RunningServer, config: Config, log: Logger) {
    this.#server = server;
    this.#config = config;
    this.#log = log;
    this.#local = localSubscriptions(server.broker, log);
  }

  get listeners(): Listener[] {
    return this.#server.listeners.map((l) => ({ ...l }));
  }

  async listen(): Promise<Listener[]> {
    this.#open();
    await this.#server.listen();
    return this.listeners;
  }

  attachWebSocket(server: HttpServer | HttpsServer, options: AttachOptions = {}): () => void {
    this.#open();
    const detach = attachWebSocket(server, options.path ?? this.#config.webSocketPath, webSocketOptions(this.#config), this.#log, (t) => this.#server.accept(t));
    const remove = (): void => {
      if (this.#detach.delete(remove)) detach();
    };
    this.#detach.add(remove);
    return remove;
  }

  handle(stream: Duplex, info: StreamInfo = {}): void {
    if (typeof stream?.on !== 'function' || typeof stream.write !== 'function') throw new TypeError('handle needs a Duplex stream');
    if (this.#closing) {
      stream.destroy();
      return;
    }
    this.#server.accept(new StreamTransport(stream, STREAM_LISTENER, info));
  }

  async publish(topic: string, payload: Buffer | Uint8Array | string, options: PublishOptions = {}): Promise<void> {
    this.#open();
    const b = this.#server.broker;
    const message = storedMessage({ topic, payload: payload as Buffer, qos: options.qos ?? 0, retain: options.retain ?? false, ...(options.properties ? { properties: options.properties } : {}) }, b.options, b.ids.next(), b.now());
    await b.route(message);
  }

  subscribe(filter: string, handler: MessageHandler, options: { qos?: QoS } = {}): () => void {
    this.#open();
    const qos = options.qos ?? 2;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError('qos must be 0, 1 or 2');
    return this.#local.subscribe(filter, handler, qos);
  }

  disconnect(clientId: string): boolean {
    return this.#server.source.kick(clientId);
  }

  clients(): ClientSummary[] {
    return clientRows(this.#server.source).sort(byClientId);
  }

  sessions(): SessionSummary[] {
    return sessionRows(this.#server.source).sort(byClientId);
  }

  subscriptions(clientId?: string): SubscriptionSummary[] {
    return subscriptionRows(this.#server.source, clientId ?? null).sort(bySubscription);
  }

  retained(filter = '#'): RetainedMessage[] {
    const source = this.#server.source;
    const now = source.now();
    return retainedMessages(source, filter).map((m) => ({
      ...publicMessage(m, now, true),
      receivedAt: new Date(m.createdAt),
      ...(m.expiresAt !== undefined ? { expiresAt: new Date(m.expiresAt) } : {}),
    }));
  }

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
