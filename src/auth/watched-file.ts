// A configuration file (passwords, ACL, JWKS) that is reloaded when it changes, without a restart.
// fs.watch on the *directory* sees editors and `starling passwd` that replace the file by rename
// (a watch on the file itself would stay on the old inode); a periodic stat is the fallback for
// file systems where fs.watch is silent (NFS, some containers). A file that fails to parse keeps
// the previous good content and logs the error, so a typo never locks everyone out or lets
// everyone in.
import { readFileSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

/** A parse error that names the offending line; `file:line: message` when printed. */
export class FileFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'FileFormatError';
  }
}

export interface WatchedFileOptions<T> {
  path: string;
  /** What the file holds, for log lines ("password file", "ACL file"). */
  label: string;
  /** Turns the text into the value; throws (ideally FileFormatError) when the file is bad. */
  parse(text: string, path: string): T;
  log: Logger;
  /** How often the fallback stat runs. */
  pollIntervalMs: number;
  /** Called after each successful (re)load with the new value. */
  onLoad?(value: T): void;
}

/** Identity of one version of the file, for the polling fallback. */
const signature = (s: Stats): string => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

/** Debounce for fs.watch bursts (an editor's save is often several events). */
const WATCH_DEBOUNCE_MS = 30;

export class WatchedFile<T> {
  private value: T | undefined;
  private lastSignature = '';
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly opts: WatchedFileOptions<T>) {
    this.loadSync();
    this.startWatching();
  }

  /** The last good content, or undefined while the file has never loaded. */
  get current(): T | undefined {
    return this.value;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Re-reads the file now; resolves once the attempt (good or bad) is done. */
  reload(): Promise<void> {
    if (this.loading) {
      // A change arrived during a read: read once more afterwards so the last edit wins.
      this.again = true;
      return this.loading;
    }
    this.loading = this.loadAsync().finally(() => {
      this.loading = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.reload();
      }
    });
    return this.loading;
  }

  private loadSync(): void {
    const { path, label, log } = this.opts;
    try {
      const sig = signature(statSync(path));
      this.apply(readFileSync(path, 'utf8'), sig);
    } catch (err) {
      log.error({ err, file: path }, `${label} not loaded: ${(err as Error).message}`);
    }
  }

  private async loadAsync(): Promise<void> {
    const { path, label, log } = this.opts;
    try {
      const sig = signature(await stat(path));
      const text = await readFile(path, 'utf8');
      if (this.closed) return;
      this.apply(text, sig);
      log.info({ file: path }, `${label} reloaded`);
    } catch (err) {
      if (this.closed) return;
      const keeping = this.value === undefined ? 'nothing loaded yet' : 'keeping the previous version';
      log.error({ err, file: path }, `${label} not reloaded (${keeping}): ${(err as Error).message}`);
    }
  }

  private apply(text: string, sig: string): void {
    // The signature is recorded even when parsing fails, so the poller does not re-log the same
    // bad version every interval; the next edit changes it again.
    this.lastSignature = sig;
    const value = this.opts.parse(text, this.opts.path);
    this.value = value;
    this.opts.onLoad?.(value);
  }

  private startWatching(): void {
    const { path, pollIntervalMs } = this.opts;
    const name = basename(path);
    try {
      this.watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if (file !== null && file !== name) return;
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.reload(), WATCH_DEBOUNCE_MS);
        this.debounce.unref();
      });
      // A watcher error (directory removed) leaves the poller in charge.
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // No directory yet, or no inotify: polling alone.
    }
    this.poller = setInterval(() => void this.poll(), pollIntervalMs);
    this.poller.unref();
  }

  private async poll(): Promise<void> {
    try {
      const sig = signature(await stat(this.opts.path));
      if (sig !== this.lastSignature) await this.reload();
    } catch {
      // Missing file: nothing new to load; the error was logged when it went missing or at start.
    }
  }
}
