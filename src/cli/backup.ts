// `starling backup --config CONF OUT` (online, while the broker runs) and `starling restore
// --config CONF BACKUP` (with the broker stopped). The data directory is found as `start` finds it:
// the same config file, environment and flags, a relative dataDir taken from the working directory.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Config, ConfigKey } from '../config/schema.js';
import { backupStore, restoreStore, type StoreSummary } from '../store/sqlite/backup.js';
import { addConfigFlags, flagsFrom } from './config-flags.js';
import type { CliIO } from './io.js';
import { loadOrExit } from './start.js';

const summary = (s: StoreSummary): string => `schema version ${s.schemaVersion}: ${s.sessions} sessions, ${s.retained} retained messages, ${s.queued} queued messages`;

/** The SQLite store of `config`, or why there is none. */
function storePath(config: Config): string {
  if (config.persistence !== 'sqlite') {
    throw new Error(`persistence=${config.persistence}: there is no SQLite store to ${config.persistence === 'nats' ? 'back up here (the state is in NATS JetStream: back up the NATS servers)' : 'back up (memory keeps nothing)'}`);
  }
  return join(config.dataDir, 'starling.db');
}

/**
 * The keys that decide which database is meant, the only ones --help lists; every other flag is
 * accepted, so that start's command line works as it is, but left out so that these can be found.
 */
const STORE_KEYS: ReadonlySet<ConfigKey> = new Set(['dataDir', 'persistence']);

/** Stores of worker processes 2..N of `workers=N` (src/server/workers.ts), which have their own. */
function workerStores(dataDir: string): Array<[string, string]> {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir)
    .filter((d) => /^worker-\d+$/.test(d) && existsSync(join(dataDir, d, 'starling.db')))
    .map((d) => [d, join(dataDir, d, 'starling.db')]);
}

function command(program: Command, name: string, description: string, arg: string): { cmd: Command; byAttribute: Map<string, ConfigKey> } {
  const cmd = program
    .command(`${name} <${arg}>`)
    .description(description)
    .option('-c, --config <file>', 'key=value config file, as given to start (also STARLING_CONFIG)')
    .addHelpText('after', '\nEvery flag of `starling start` is accepted too (the configuration is read as start reads it).\n');
  return { cmd, byAttribute: addConfigFlags(cmd, STORE_KEYS) };
}

export function registerBackup(program: Command, io: CliIO): void {
  const backup = command(program, 'backup', 'copy the database while the broker runs (SQLite backup API) into a new file OUT', 'out');
  backup.cmd.action(async (out: string, opts: Record<string, unknown>) => {
    const loaded = loadOrExit(io, opts.config as string | undefined, flagsFrom(opts, backup.byAttribute));
    if (!loaded) return;
    try {
      const db = storePath(loaded.config);
      io.out(`backed up ${db} to ${out} (${summary(await backupStore(db, out))})\n`);
      for (const [worker, file] of workerStores(loaded.config.dataDir)) {
        io.out(`backed up ${file} to ${out}.${worker} (${summary(await backupStore(file, `${out}.${worker}`))})\n`);
      }
      io.exit(0);
    } catch (err) {
      io.err(`starling backup: ${(err as Error).message}\n`);
      io.exit(1);
    }
  });

  const restore = command(program, 'restore', 'replace the database with a backup; the broker must be stopped (the old files are kept beside it)', 'backup');
  restore.cmd.action((from: string, opts: Record<string, unknown>) => {
    const loaded = loadOrExit(io, opts.config as string | undefined, flagsFrom(opts, restore.byAttribute));
    if (!loaded) return;
    try {
      const db = storePath(loaded.config);
      const r = restoreStore(db, from);
      io.out(`restored ${from} to ${db} (${summary(r)})${r.previous ? `; the previous database is kept as ${r.previous}` : ''}\n`);
      if (workerStores(loaded.config.dataDir).length > 0) {
        io.out(`note: the stores of worker processes 2..N (${loaded.config.dataDir}/worker-N) were left as they are; restore each with --data-dir ${loaded.config.dataDir}/worker-N\n`);
      }
      io.exit(0);
    } catch (err) {
      io.err(`starling restore: ${(err as Error).message}\n`);
      io.exit(1);
    }
  });
}
