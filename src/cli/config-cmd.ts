// `starling config`: the effective settings and where each came from, or the generated reference doc.
import type { Command } from 'commander';
import { renderConfigurationDoc } from '../config/doc.js';
import { configKeys } from '../config/schema.js';
import { addConfigFlags, flagsFrom } from './config-flags.js';
import type { CliIO } from './io.js';
import { loadOrExit } from './start.js';

const show = (v: unknown): string => (Array.isArray(v) ? v.join(',') : String(v));

export function registerConfig(program: Command, io: CliIO): void {
  const cmd = program
    .command('config')
    .description('check a configuration and print the effective settings (or --doc: the reference in Markdown)')
    .option('-c, --config <file>', 'key=value config file (also STARLING_CONFIG)')
    .option('--doc', 'print docs/configuration.md, generated from the schema');
  const byAttribute = addConfigFlags(cmd);
  cmd.action((opts: Record<string, unknown>) => {
    if (opts.doc) {
      io.out(renderConfigurationDoc());
      return;
    }
    const loaded = loadOrExit(io, opts.config as string | undefined, flagsFrom(opts, byAttribute));
    if (!loaded) return;
    const lines = configKeys.map((k) => `${k}=${show(loaded.config[k])}${loaded.sources[k] === 'default' ? '' : `    # ${loaded.sources[k]}`}`);
    for (const w of loaded.warnings) lines.push(`# warning: ${w}`);
    io.out(lines.join('\n') + '\n');
  });
}
