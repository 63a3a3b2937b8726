// What the CLI needs from the outside world, injectable so tests drive it without a real process.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ListenerInfo } from '../transport/transport.js';
import { createLogger, type LoggerOptions } from '../server/logger.js';
import { createBroker, WARNINGS_LOGGED } from '../api/broker.js';
import type { BrokerOptions } from '../api/types.js';
import { processFaults, type ProcessFaults } from './process-faults.js';

export interface StartedServer {
  listeners: readonly ListenerInfo[];
  close(): Promise<void>;
  /** Settles if the server closed itself and must be restarted (RunningServer.failed). */
  failed?: Promise<Error>;
}

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Ends the process (tests record the code instead). */
  exit(code: number): void;
  /** Registers a signal handler; returns its remover. */
  onSignal(signal: 'SIGINT' | 'SIGTERM', handler: () => void): () => void;
  env: NodeJS.ProcessEnv;
  /** Whether stdout and stderr are terminals (the human start-up lines go to stderr only then). */
  terminal?: { out: boolean; err: boolean };
  startServer(config: Config, log: Logger): Promise<StartedServer>;
  createLogger(opts: LoggerOptions): Logger;
  /** Where faults no connection owns are reported (the real process; tests may leave it out). */
  faults?: ProcessFaults;
}

export const processIO = (): CliIO => ({
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  exit: (code) => process.exit(code),
  onSignal: (signal, handler) => {
    process.on(signal, handler);
    return () => void process.off(signal, handler);
  },
  env: process.env,
  terminal: { out: process.stdout.isTTY === true, err: process.stderr.isTTY === true },
  startServer: startBroker,
  createLogger,
  faults: processFaults,
});

/**
 * `starling start` runs the broker an application gets from createBroker, with the configuration
 * it loaded (checked again by createBroker, which is cheap; its warnings were logged already).
 */
async function startBroker(config: Config, log: Logger): Promise<StartedServer> {
  const broker = await createBroker({ ...config, logger: log, [WARNINGS_LOGGED]: true } as BrokerOptions);
  try {
    await broker.listen();
  } catch (err) {
    await broker.close();
    throw err;
  }
  return broker;
}
