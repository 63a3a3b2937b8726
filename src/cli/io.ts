// What the CLI needs from the outside world, injectable so tests drive it without a real process.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ListenerInfo } from '../transport/transport.js';
import { createLogger, type LoggerOptions } from '../server/logger.js';
import { startServer } from '../server/server.js';

export interface StartedServer {
  listeners: readonly ListenerInfo[];
  close(): Promise<void>;
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
  startServer,
  createLogger,
});
