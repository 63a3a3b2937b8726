// Faults that no connection owns. The fault barrier (docs/security.md) ends only the connection
// whose work threw; what escapes it reaches the process: a promise rejected with nobody to catch it,
// or an exception thrown from a callback outside any connection. Node's defaults end the process for
// both, writing a stack to standard error that a log collector reading JSON from standard output
// never sees.
//
// A stray rejection leaves no state half-changed (whatever awaited it simply never ran), so ending
// every client's connection for it would turn one bug into an outage: it is logged at error and the
// broker goes on. An uncaught exception may have stopped a change half-way, so the process is not
// trusted further: it is logged at fatal and the process exits 1 for its supervisor to restart it.
import type { Logger } from 'pino';
import { logLimited, OncePerWindow } from '../transport/log-limit.js';

/** How the process reports what escaped (injectable: tests drive it without a real process). */
export interface ProcessFaults {
  /** Registers both handlers; returns their remover. */
  onFault(handlers: { rejection(reason: unknown): void; exception(err: Error): void }): () => void;
}

export const processFaults: ProcessFaults = {
  onFault({ rejection, exception }) {
    const onRejection = (reason: unknown): void => rejection(reason);
    const onException = (err: Error): void => exception(err);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    return () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    };
  },
};

export const REJECTION_LINE = 'unhandled promise rejection (a bug: please report it with this line); the broker goes on';
export const EXCEPTION_LINE = 'uncaught exception (a bug: please report it with this line); exiting for the supervisor to restart the broker';

/**
 * Logs what escapes and keeps the broker running for a rejection, exits 1 for an exception. A bug a
 * client can trigger at will could otherwise flood the log: one rejection line per minute, saying
 * how many more came.
 */
export function guardProcess(faults: ProcessFaults, log: Logger, exit: (code: number) => void): () => void {
  const lines = new OncePerWindow(60_000, 1, 1);
  return faults.onFault({
    rejection(reason) {
      const err = reason instanceof Error ? reason : new Error(`rejected with ${describe(reason)}`);
      logLimited(lines, log, 'error', 'rejection', { err }, REJECTION_LINE, 'sinceLastLine');
    },
    exception(err) {
      log.fatal({ err }, EXCEPTION_LINE);
      exit(1);
    },
  });
}

/** What a non-Error rejection was, never throwing (a value's own toString may). */
function describe(reason: unknown): string {
  try {
    return `${typeof reason}: ${String(reason).slice(0, 200)}`;
  } catch {
    return typeof reason;
  }
}
