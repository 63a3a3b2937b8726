// The process logger: pino, human-readable through pino-pretty on a terminal, one JSON object
// per line otherwise (for log shippers).
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LoggerOptions {
  /** pino level: fatal, error, warn, info, debug, trace, silent. Default info. */
  level?: string;
  /** Human-readable lines; default: when stdout is a terminal. */
  pretty?: boolean;
  /** Where lines go; default stdout. Tests pass a stream to read them back. */
  destination?: DestinationStream | NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const usePretty = opts.pretty ?? process.stdout.isTTY === true;
  if (usePretty) {
    // pino-pretty as a stream in this thread, synchronous: lines are never lost on exit and
    // the start-up messages appear in order with what the CLI prints.
    const stream = pretty({
      destination: opts.destination ?? 1,
      sync: true,
      colorize: opts.destination === undefined && process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
    });
    return pino({ level }, stream);
  }
  return pino({ level }, (opts.destination as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: true }));
}
