// Certificate rotation without restart: every mqttTlsCertRefreshCheckDurationSec the files are
// read again and, when their bytes changed, handed to the server. New connections get the new
// material; open ones keep the session they negotiated.
import type { Logger } from 'pino';
import { sameFiles, type TlsFiles } from './tls-options.js';

export interface ReloadOptions {
  intervalSec: number;
  listener: string;
  log: Logger;
  read(): TlsFiles;
  /** Applies changed files; throws when they are not usable (half-written, key not matching). */
  apply(files: TlsFiles): void;
}

/** Starts the periodic check; returns the function that stops it. */
export function watchTlsFiles(current: TlsFiles, opts: ReloadOptions): () => void {
  if (opts.intervalSec <= 0) return () => {};
  let last = current;
  const timer = setInterval(() => {
    let files: TlsFiles;
    try {
      files = opts.read();
    } catch (err) {
      opts.log.warn({ listener: opts.listener, err: (err as Error).message }, 'cannot read TLS files; keeping the current ones');
      return;
    }
    if (sameFiles(files, last)) return;
    try {
      opts.apply(files);
      last = files;
      opts.log.info({ listener: opts.listener }, 'TLS files changed: new connections use the new ones');
    } catch (err) {
      // Keep `last` so a file still being written is retried next time.
      opts.log.warn({ listener: opts.listener, err: (err as Error).message }, 'changed TLS files are not usable; keeping the current ones');
    }
  }, opts.intervalSec * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
