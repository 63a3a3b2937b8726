// Server lifecycle: open the store and the broker, open every listener, accept connections,
// and shut down in order (stop accepting, tell clients, flush the store).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { Broker } from '../broker/broker.js';
import type { BrokerOptions } from '../broker/options.js';
import type { BrokerHooks } from '../hooks/hooks.js';
import type { Store } from '../store/ports.js';
import { MemoryStore } from '../store/memory/memory-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { openListener, type OpenListener } from '../transport/listeners.js';
import { ensureDevCertificates } from '../transport/dev-certs.js';
import type { ListenerInfo, Transport } from '../transport/transport.js';
import { Connection } from './connection.js';
import { ReasonCode } from '../protocol/reason-codes.js';

export interface RunningServer {
  readonly listeners: ListenerInfo[];
  readonly broker: Broker;
  /** Connections currently open. */
  readonly connections: ReadonlySet<Connection>;
  close(): Promise<void>;
}

export interface ServerExtras {
  /** Replaces the store chosen by `persistence` (tests, cluster mode). */
  store?: Store;
  hooks?: Partial<BrokerHooks>;
}

export function brokerOptionsFrom(config: Config, store: Store, log: Logger): BrokerOptions {
  return {
    store,
    log,
    maxInflightMessages: config.maxInflightMessages,
    queue: {
      maxQueuedMessages: config.maxQueuedMessages,
      maxQueuedBytes: config.maxQueuedBytes,
      overflow: config.queueOverflowPolicy,
    },
    maxPacketSize: config.mqttMessageMaxLength,
    maxKeepAlive: config.mqttMaxKeepAliveSec,
    maxRetainedMessages: config.maxRetainedMessages,
  };
}

function openStore(config: Config): Store {
  if (config.persistence === 'memory') return new MemoryStore();
  mkdirSync(config.dataDir, { recursive: true });
  return new SqliteStore({ path: join(config.dataDir, 'starling.db') });
}

const usesTls = (url: string): boolean => /^(mqtt\+ssl|mqtts|ws\+ssl|wss):/i.test(url.trim());

export async function startServer(config: Config, log: Logger, extras: ServerExtras = {}): Promise<RunningServer> {
  const store = extras.store ?? openStore(config);
  const options = brokerOptionsFrom(config, store, log);
  if (extras.hooks) options.hooks = extras.hooks;
  const broker = await Broker.open(options);

  // TLS listeners without a configured certificate get a development one made on first run.
  let tlsConfig = config;
  if (config.mqttListeners.some(usesTls) && !config.mqttTlsCertificateFilePath) {
    const dev = await ensureDevCertificates(join(config.dataDir, 'certs'));
    log.warn({ cert: dev.certFile }, 'no TLS certificate configured: using a development certificate');
    tlsConfig = {
      ...config,
      mqttTlsCertificateFilePath: dev.certFile,
      mqttTlsKeyFilePath: dev.keyFile,
      mqttTlsTrustCertsFilePath: config.mqttTlsTrustCertsFilePath || dev.caFile,
    };
  }

  const connections = new Set<Connection>();
  const accept = (t: Transport): void => {
    const c = new Connection(
      t,
      broker,
      { maxPacketSize: config.mqttMessageMaxLength, connectTimeoutMs: config.connectTimeoutSec * 1000, log },
      (gone) => connections.delete(gone),
    );
    connections.add(c);
    c.start();
  };

  const open: OpenListener[] = [];
  try {
    for (const url of config.mqttListeners) {
      open.push(await openListener(url, { config: tlsConfig, log }, accept));
    }
  } catch (err) {
    await Promise.all(open.map((l) => l.close()));
    await broker.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    listeners: open.map((l) => l.info),
    broker,
    connections,
    close: () =>
      (closing ??= (async () => {
        await Promise.all(open.map((l) => l.close()));
        for (const c of [...connections]) {
          if (c.channel.version === 5 && c.channel.state === 'connected') {
            c.channel.send({ type: 'disconnect', reasonCode: ReasonCode.ServerShuttingDown });
          }
          c.channel.end('abnormal');
        }
        await broker.close();
      })()),
  };
}
