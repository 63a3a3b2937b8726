// `starling start`: load the configuration, make the logger, start the server, print where to
// connect, and shut down cleanly on SIGINT/SIGTERM (a second signal forces the exit).
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { clientUrl } from '../config/listener-url.js';
import { loadConfigDetailed, type LoadedConfig } from '../config/load.js';
import type { ListenerScheme } from '../transport/transport.js';
import { addConfigFlags, flagsFrom } from './config-flags.js';
import type { CliIO, StartedServer } from './io.js';
import { runWorker, startWorkerPool, workerCount, workerNumber } from '../server/workers.js';

const WHAT: Record<ListenerScheme, string> = {
  mqtt: 'MQTT over TCP',
  'mqtt+ssl': 'MQTT over TLS',
  'mqtt+ssl+psk': 'MQTT over TLS-PSK',
  ws: 'MQTT over WebSocket',
  'ws+ssl': 'MQTT over secure WebSocket',
};

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
    const loaded = loadOrExit(io, opts.config as string | undefined, flagsFrom(opts, byAttribute));
    if (!loaded) return;
    const { config, warnings } = loaded;
    const log = io.createLogger({ level: config.logLevel, pretty: config.logFormat === 'auto' ? undefined : config.logFormat === 'pretty' });
    for (const w of warnings) log.warn(w);

    // A worker process of `workers=N` runs its broker and answers to the primary, not to signals.
    const worker = workerNumber();
    if (worker !== undefined) {
      try {
        await runWorker(config, log, worker);
      } catch (err) {
        log.error({ err, worker }, 'worker start-up failed');
        io.exit(1);
      }
      return;
    }

    const workers = workerCount(config);
    let server: StartedServer & { kill?(): void };
    try {
      server = workers > 1 ? await startWorkerPool(config, log) : await io.startServer(config, log);
    } catch (err) {
      log.error({ err }, 'start-up failed');
      io.err(`starling: ${(err as Error).message}\n`);
      io.exit(1);
      return;
    }

    for (const l of server.listeners) io.out(`Starling listening on ${clientUrl(l, config.webSocketPath)}  (${WHAT[l.scheme]})\n`);
    if (workers > 1) io.out(`Running ${workers} worker processes that act as one broker\n`);
    // The console lives on the WebSocket listeners' HTTP side.
    const web = server.listeners.find((l) => l.scheme === 'ws') ?? server.listeners.find((l) => l.scheme === 'ws+ssl');
    if (web && config.httpConsoleEnabled) {
      const url = new URL(clientUrl(web, config.webSocketPath));
      io.out(`Web console at ${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}/\n`);
    }

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
  });
}
