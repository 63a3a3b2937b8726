// Start-up failures an operator causes and can fix (a port in use, a data directory another broker
// holds, a certificate file that cannot be read) told as one line: what is wrong, and what to do.
// Anything not recognised here is a bug, and keeps its stack.
import { TLS_FILES_INVALID } from '../transport/tls-options.js';

export interface ExplainedFailure {
  /** The error code found on the error or one of its causes (EADDRINUSE, SQLITE_BUSY, …). */
  code: string;
  /** What went wrong, naming the listener or file (the error's own message). */
  problem: string;
  /** What to do about it. */
  fix: string;
}

type Coded = { code?: unknown; syscall?: unknown; path?: unknown; message?: unknown; cause?: unknown };

/** The error and its causes, outermost first (bounded: causes can be cyclic). */
function chain(err: unknown): Coded[] {
  const out: Coded[] = [];
  for (let e = err; e && typeof e === 'object' && out.length < 8; e = (e as Coded).cause) out.push(e as Coded);
  return out;
}

/** Where each configuration key was set (LoadedConfig.sources: `starling.conf:7`, `--log-level`, `default`). */
export type KeySources = Readonly<Record<string, string>>;

/** `key (from WHERE)`, so the fix says where to change it, as configuration errors do. */
const keyFrom = (key: string, sources: KeySources | undefined): string => {
  const where = sources?.[key];
  return where === undefined ? key : where === 'default' ? `${key} (not set: the development pair)` : `${key} (from ${where})`;
};

const FIXES: Record<string, (e: Coded, sources?: KeySources) => string | undefined> = {
  EADDRINUSE: () => 'stop the program that holds this port (`ss -ltnp` names it), or give the listener another port in mqttListeners',
  EACCES: (e) =>
    e.syscall === 'listen'
      ? 'ports below 1024 need privileges: use a port above 1023, or allow Node to bind them (setcap cap_net_bind_service=+ep "$(command -v node)")'
      : `let the user running Starling read ${typeof e.path === 'string' ? e.path : 'the file'}, or point the configuration elsewhere`,
  EADDRNOTAVAIL: () => 'use an address this machine has in mqttListeners (0.0.0.0 or [::] for every interface)',
  ENOENT: (e) => (typeof e.path === 'string' ? `${e.path} does not exist: correct the path in the configuration` : undefined),
  SQLITE_BUSY: () => 'stop the other broker that uses this data directory, or give this one its own dataDir',
  SQLITE_READONLY: () => 'make dataDir writable by the user running Starling, or set dataDir to a folder it can write',
  [TLS_FILES_INVALID]: (_e, sources) =>
    `${keyFrom('mqttTlsCertificateFilePath', sources)} and ${keyFrom('mqttTlsKeyFilePath', sources)} must be PEM files, the key the one the certificate was made for (\`starling certs\` makes a matching pair)`,
  SQLITE_CANTOPEN: () => 'make dataDir a folder the user running Starling can write, or set dataDir elsewhere',
};
FIXES.SQLITE_LOCKED = FIXES.SQLITE_BUSY;
FIXES.SQLITE_PERM = FIXES.SQLITE_READONLY;

/**
 * One line for an expected start-up failure, or undefined for anything else. `sources` (where each
 * key was set) lets a fix name the place to change.
 */
export function explainStartupError(err: unknown, sources?: KeySources): ExplainedFailure | undefined {
  const errors = chain(err);
  for (const e of errors) {
    if (typeof e.code !== 'string') continue;
    const fix = FIXES[e.code]?.(e, sources);
    if (fix) return { code: e.code, problem: String((errors[0].message as string | undefined) ?? e.message), fix };
  }
  return undefined;
}
