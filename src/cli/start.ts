// `starling start`: load the configuration, make the logger, start the server, print where to
// connect, and shut down cleanly on SIGINT/SIGTERM (a second signal forces the exit).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { LISTENER_KINDS, clientUrl } from '../transport/kinds.js';
import { loadConfigDetailed, type LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { ListenerInfo } from '../transport/transport.js';
import { packageVersion } from '../observe/package-info.js';
import { addConfigFlags, flagsFrom } from './config-flags.js';
import type { CliIO, StartedServer } from './io.js';
import { guardProcess } from './process-faults.js';
import { explainStartupError, type KeySources } from './startup-errors.js';
import { runWorker, startWorkerPool, workerCount, workerNumber } from '../server/workers.js';
import { startupStepOf } from '../server/startup.js';

const ANONYMOUS =
  'anonymous access is on: any client that reaches a listener can connect, publish and subscribe without credentials; ' +
  'set mqttAuthenticationEnabled=true with a password file or tokens (docs/security.md)';

/**
 * A failed start as one line when it is one the operator can fix (the stack only at debug), with
 * the stack when it is not. Returns the line for standard error.
 */
function logStartFailure(log: Logger, err: unknown, sources: KeySources, given: Record<string, unknown> = {}): string {
  // Which start-up step failed (server/startup.ts): store, broker, cluster, listeners, ...
  const step = startupStepOf(err);
  const fields = step ? { ...given, step } : given;
  const known = explainStartupError(err, sources);
  if (!known) {
    log.error({ ...fields, err }, 'start-up failed');
    return (err as Error).message;
  }
  log.error({ ...fields, code: known.code, problem: known.problem, fix: known.fix }, `start-up failed: ${known.problem}; ${known.fix}`);
  log.debug({ ...fields, err }, 'start-up failure in detail');
  return `${known.problem}; ${known.fix}`;
}

/** The web console's address: on the first ws:// listener, else the first ws+ssl:// one. */
function consoleUrl(config: Config, listeners: readonly ListenerInfo[]): string | undefined {
  const web = listeners.find((l) => l.scheme === 'ws') ?? listeners.find((l) => l.scheme === 'ws+ssl');
  if (!web || !config.httpConsoleEnabled) return undefined;
  const url = new URL(clientUrl(web, config.webSocketPath));
  return `${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}/`;
}

/** The start-up summary for a person at a terminal: one line per listener. */
function banner(config: Config, listeners: readonly ListenerInfo[], workers: number): string {
  const urls = listeners.map((l) => clientUrl(l, config.webSocketPath));
  const width = Math.max(0, ...urls.map((u) => u.length));
  const lines = listeners.map((l, i) => `  ${urls[i].padEnd(width)}  ${LISTENER_KINDS[l.scheme].label}${l.origins ? `; browser pages from: ${l.origins.join(', ')}` : ''}\n`);
  const web = consoleUrl(config, listeners);
  if (web) lines.push(`Web console at ${web}\n`);
  if (workers > 1) lines.push(`Running ${workers} worker processes that act as one broker\n`);
  if (!config.mqttAuthenticationEnabled) lines.push(`Warning: ${ANONYMOUS}\n`);
  return lines.join('');
}

/** Loads the config for a command; on a ConfigError prints it and exits 2, returning undefined. */
export function loadOrExit(io: CliIO, file: string | undefined, flags: Record<string, string>): LoadedConfig | undefined {
  try {
    return loadConfigDetailed({ file: file ?? (io.env.STARLING_CONFIG || undefined), env: io.env, flags });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`starling: configuration error:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
    io.exit(2);
    return undefined;
  }
}

export function registerStart(program: Command, io: CliIO): void {
  const cmd = program
    .command('start')
    .description('start the broker')
    .option('-c, --config <file>', 'key=value config file (also STARLING_CONFIG)');
  const byAttribute = addConfigFlags(cmd);

  cmd.action(async (opts: Record<string, unknown>) => {
    const file = (opts.config as string | undefined) ?? (io.env.STARLING_CONFIG || undefined);
    const loaded = loadOrExit(io, opts.config as string | undefined, flagsFrom(opts, byAttribute));
    if (!loaded) return;
    const { config, warnings } = loaded;
    const terminal = io.terminal ?? { out: false, err: false };
    const pretty = config.logFormat === 'auto' ? terminal.out : config.logFormat === 'pretty';
    const log = io.createLogger({ level: config.logLevel, pretty });
    if (io.faults) guardProcess(io.faults, log, io.exit);
    // The log in words on the terminal already tells a person everything; otherwise the human lines
    // go to standard error, and only when that is a terminal: standard output carries the log alone.
    const logOnTerminal = pretty && terminal.out;
    const human = terminal.err && !logOnTerminal;

    // A worker process of `workers=N` runs its broker and answers to the primary, not to signals.
    const worker = workerNumber();
    if (worker !== undefined) {
      for (const w of warnings) log.warn(w);
      try {
        await runWorker(config, log, worker);
      } catch (err) {
        logStartFailure(log, err, loaded.sources, { worker });
        io.exit(1);
      }
      return;
    }

    const version = packageVersion();
    const configFile = file === undefined ? undefined : resolve(file);
    const from = configFile ? `config ${configFile}` : 'no config file (defaults, STARLING_* variables and flags)';
    log.info({ version, config: configFile ?? null, node: process.version }, `Starling ${version} starting; ${from}`);
    if (human) io.err(`Starling ${version}; ${from}\n`);
    for (const w of warnings) log.warn(w);
    if (!config.mqttAuthenticationEnabled) log.warn({ anonymous: true }, ANONYMOUS);

    const workers = workerCount(config);
    let server: StartedServer & { kill?(): void };
    try {
      server = workers > 1 ? await startWorkerPool(config, log) : await io.startServer(config, log);
    } catch (err) {
      const line = logStartFailure(log, err, loaded.sources);
      if (!logOnTerminal) io.err(`starling: ${line}\n`);
      io.exit(1);
      return;
    }

    const web = consoleUrl(config, server.listeners);
    log.info(
      { listeners: server.listeners.map((l) => clientUrl(l, config.webSocketPath)), ...(web ? { console: web } : {}), ...(workers > 1 ? { workers } : {}) },
      `ready${web ? `; web console at ${web}` : ''}${workers > 1 ? `; ${workers} worker processes act as one broker` : ''}`,
    );
    if (human) io.err(banner(config, server.listeners, workers));
    let stopping = false;
    const removers: Array<() => void> = [];
    const onSignal = (signal: 'SIGINT' | 'SIGTERM') => (): void => {
      if (stopping) {
        io.err(`starling: second ${signal}, exiting without finishing the shutdown\n`);
        server.kill?.();
        io.exit(signal === 'SIGINT' ? 130 : 143);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down (send the signal again to force)');
      server.close().then(
        () => {
          for (const r of removers) r();
          log.info('stopped');
          io.exit(0);
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          io.exit(1);
        },
      );
    };
    removers.push(io.onSignal('SIGINT', onSignal('SIGINT')), io.onSignal('SIGTERM', onSignal('SIGTERM')));
    // A server that closed itself (its cluster place was taken) has already logged why and shut
    // down; exit 1 so a supervisor (systemd Restart=on-failure, a container restart policy) starts it again.
    void server.failed?.then((err) => {
      if (stopping) return;
      stopping = true;
      for (const r of removers) r();
      if (!logOnTerminal) io.err(`starling: ${err.message}\n`);
      io.exit(1);
    });
  });
}
