// The process logger: pino, human-readable through pino-pretty on a terminal, one JSON object
// per line otherwise (for log shippers).
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { LISTENER_KINDS, schemeNamed } from '../transport/kinds.js';

export interface LoggerOptions {
  /** pino level: fatal, error, warn, info, debug, trace, silent. Default info. */
  level?: string;
  /** Human-readable lines; default: when stdout is a terminal. */
  pretty?: boolean;
  /** Where lines go; default stdout. Tests pass a stream to read them back. */
  destination?: DestinationStream | NodeJS.WritableStream;
}

/** What every line carries and the terminal does not need repeated. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** Who a line is about is always shown, even when the message happens to contain the same word. */
const IDENTITY = new Set(['clientId', 'username', 'remote']);

/**
 * A listener URL or scheme in its configured spelling (`mqtt+ssl://h:8883`, `ws+ssl`) as a client
 * dials it (`mqtts://h:8883`, `wss://`), the spelling the `listening on` line uses; undefined for
 * anything else. Without it the terminal line repeats the listener in the other spelling.
 */
function dialSpelling(value: string): string | undefined {
  const m = /^([a-z+]+)(:\/\/.*)?$/.exec(value);
  const scheme = m ? schemeNamed(m[1]!) : undefined;
  return scheme ? `${LISTENER_KINDS[scheme].dial}${m![2] ?? '://'}` : undefined;
}

const plain = /^[\w.:/@[\]+-]+$/;
/** One field as key=value: simple strings as they are, anything else as JSON (control characters escaped). */
const show = (value: unknown): string => (typeof value === 'string' && plain.test(value) ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value));

/**
 * A log record as ONE terminal line: the message, then its fields as key=value, leaving out the
 * fields the message already says (`listening on ws://…` need not repeat url, host and port; nor
 * `listening on mqtts://…` the listener as configured, mqtt+ssl://…, and its scheme). An
 * error shows its message; its stack only when the logger runs at debug or trace.
 */
export function terminalLine(record: Record<string, unknown>, withStacks: boolean): string {
  const msg = String(record.msg ?? '');
  const says = (text: string): boolean => text.length > 1 && msg.includes(text);
  const said = (v: unknown): boolean =>
    Array.isArray(v)
      ? v.length > 0 && v.every(said)
      : typeof v === 'number'
        ? says(String(v))
        : typeof v === 'string' && (says(v) || says(dialSpelling(v) ?? ''));
  const parts = [msg];
  let stack = '';
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || value === undefined || value === null || (!IDENTITY.has(key) && said(value))) continue;
    if (key === 'err' && value && typeof value === 'object') {
      const e = value as { message?: string; stack?: string };
      parts.push(`err=${show(e.message ?? '')}`);
      if (withStacks && e.stack) stack = `\n${e.stack}`;
      continue;
    }
    parts.push(`${key}=${show(value)}`);
  }
  return parts.join('  ') + stack;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const usePretty = opts.pretty ?? process.stdout.isTTY === true;
  if (usePretty) {
    // pino-pretty as a stream in this thread, synchronous: lines are never lost on exit and
    // the start-up messages appear in order with what the CLI prints. One record, one line.
    const withStacks = level === 'debug' || level === 'trace';
    const stream = pretty({
      destination: opts.destination ?? 1,
      sync: true,
      colorize: opts.destination === undefined && process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      hideObject: true,
      messageFormat: (record) => terminalLine(record, withStacks),
    });
    return pino({ level }, stream);
  }
  return pino({ level }, (opts.destination as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: true }));
}
