// One CLI flag per config key, generated from the schema, and the way back to loadConfig's flags.
import { Option, type Command } from 'commander';
import { configKeys, schema, type ConfigKey, type KeySpec } from '../config/schema.js';
import { flagName } from '../config/names.js';

/**
 * Adds `--mqtt-listeners <value>` and friends, grouped in --help like docs/configuration.md. With
 * `shown`, every flag is still accepted (a command that reads the broker's configuration reads it
 * as `start` does) but only those keys are listed in --help.
 */
export function addConfigFlags(cmd: Command, shown?: ReadonlySet<ConfigKey>): Map<string, ConfigKey> {
  const byAttribute = new Map<string, ConfigKey>();
  for (const key of configKeys) {
    const spec: KeySpec = schema[key];
    // Booleans may be given bare (`--mqtt-tls-allow-insecure-connection`) or with a value.
    const option = new Option(`${flagName(key)} ${spec.kind === 'bool' ? '[bool]' : '<value>'}`, spec.doc).helpGroup(`${spec.group} settings:`);
    if (spec.kind === 'enum' && spec.values) option.choices([...spec.values]);
    if (shown && !shown.has(key)) option.hideHelp();
    cmd.addOption(option);
    byAttribute.set(option.attributeName(), key);
  }
  return byAttribute;
}

/** Commander's parsed options → `{ key: text }` for loadConfig. */
export function flagsFrom(opts: Record<string, unknown>, byAttribute: Map<string, ConfigKey>): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const [attr, value] of Object.entries(opts)) {
    const key = byAttribute.get(attr);
    if (key === undefined || value === undefined) continue;
    flags[key] = value === true ? 'true' : String(value);
  }
  return flags;
}
