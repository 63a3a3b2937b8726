// Shared fixtures for the transport tests: a logger whose lines can be read back, configs built
// the way users write them, echo servers, bounded waits, and development certificates.
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Transport, TransportHandlers } from '../../src/transport/transport.js';
import { generateDevCertificates, type DevCertificateFiles } from '../../src/transport/dev-certs.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger writing JSON lines into `lines`. */
export function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** A Config from flags as a user would write them; nothing from the real environment. */
export const configWith = (flags: Record<string, string> = {}): Config =>
  loadConfig({ env: {}, flags: { persistence: 'memory', mqttListeners: 'mqtt://127.0.0.1:0', ...flags } });

/** Polls until `check` is true; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, label: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the first emission of `event`, rejects after `timeoutMs`. */
export function once<T = unknown>(emitter: { once(event: string, fn: (value: T) => void): unknown }, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

export interface Accepted {
  transports: Transport[];
  closed: Array<Error | undefined>;
  accept(t: Transport): void;
}

/** An accept callback that echoes every chunk back and records transports and closes. */
export function echoServer(extra: Partial<TransportHandlers> = {}): Accepted {
  const a: Accepted = {
    transports: [],
    closed: [],
    accept(t) {
      a.transports.push(t);
      t.start({
        data: (chunk) => {
          t.write(chunk);
          extra.data?.(chunk);
        },
        drain: () => extra.drain?.(),
        close: (err) => {
          a.closed.push(err);
          extra.close?.(err);
        },
      });
    },
  };
  return a;
}

/** Two independent sets of development certificates in a temporary directory. */
export async function certificateFixture(): Promise<{ dir: string; a: DevCertificateFiles; b: DevCertificateFiles; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-certs-'));
  const [a, b] = await Promise.all([generateDevCertificates(join(dir, 'a')), generateDevCertificates(join(dir, 'b'))]);
  return { dir, a, b, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A valid MQTT 3.1.1 CONNECT (client id "t"), for first-bytes tests. */
export const CONNECT_BYTES = Buffer.from([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x74]);
