// `starling config`: the effective settings and where each came from, or the generated reference doc.
import type { Command } from 'commander';
import { renderConfigurationDoc } from '../config/doc.js';
import { configKeys, schema, type ConfigKey } from '../config/schema.js';
import { addConfigFlags, flagsFrom } from './config-flags.js';
import type { CliIO } from './io.js';
import { loadOrExit } from './start.js';

const show = (v: unknown): string => (Array.isArray(v) ? v.join(',') : String(v));
/** A secret (KeySpec.secret) is shown as set or not, never in clear: the output gets pasted into tickets. */
const shown = (key: ConfigKey, v: unknown, reveal: boolean): string => {
  const text = show(v);
  return (schema[key] as { secret?: boolean }).secret && text !== '' && !reveal ? '******' : text;
};

export function registerConfig(program: Command, io: CliIO): void {
  const cmd = program
    .command('config')
    .description('check a configuration and print the effective settings, secrets masked; exit 2 on errors, 1 on warnings (or --doc: the reference in Markdown)')
    .option('-c, --config <file>', 'key=value config file (also STARLING_CONFIG)')
    .option('--doc', 'print docs/configuration.md, generated from the schema')
    .option('--show-secrets', 'print passwords, tokens and keys in clear (they are masked by default)');
  const byAttribute = addConfigFlags(cmd);
  cmd.action((opts: Record<string, unknown>) => {
    if (opts.doc) {
      io.out(renderConfigurationDoc());
      return;
    }
    const loaded = loadOrExit(io, opts.config as string | undefined, flagsFrom(opts, byAttribute));
    if (!loaded) return;
    const reveal = Boolean(opts.showSecrets);
    const lines = configKeys.map((k) => `${k}=${shown(k, loaded.config[k], reveal)}${loaded.sources[k] === 'default' ? '' : `    # ${loaded.sources[k]}`}`);
    for (const w of loaded.warnings) lines.push(`# warning: ${w}`);
    io.out(lines.join('\n') + '\n');
    // Exit codes a script can act on: 2 = errors (start would refuse, printed above by loadOrExit), 1 = warnings.
    if (loaded.warnings.length > 0) {
      io.err(`starling config: ${loaded.warnings.length} warning(s):\n${loaded.warnings.map((w) => `  ${w}`).join('\n')}\n`);
      io.exit(1);
    }
  });
}
