// Loading the configuration: defaults < config file < environment (STARLING_*) < CLI flags.
// Every problem is collected with where it came from, so one run shows them all.
import { readFileSync } from 'node:fs';
import { configKeys, defaultConfig, schema, type Config, type ConfigKey, type KeySpec } from './schema.js';
import { ConfigError, closest, didYouMean } from './errors.js';
import { ENV_PREFIX, envName, flagName, keyFromFlag } from './names.js';
import { parseBool, parseDuration, parseEnum, parseInt10, parseList, parseSize, unquote } from './values.js';
import { checkConfig } from './checks.js';

export interface LoadOptions {
  /** Path of a key=value config file. */
  file?: string;
  /** Environment to read STARLING_* variables from; process.env when omitted. */
  env?: NodeJS.ProcessEnv;
  /** CLI flags by key (`mqttListeners`) or flag spelling (`mqtt-listeners`, `--mqtt-listeners`). */
  flags?: Record<string, string>;
  /**
   * Typed values by key, as the library's createBroker takes them (`{ maxQueuedMessages: 500 }`),
   * applied last; each goes through the same parser as its text would. `where` names them in errors.
   */
  values?: { entries: Record<string, unknown>; where: (key: string) => string; allowNoListeners?: boolean };
}

export interface LoadedConfig {
  config: Config;
  /** Where each value came from: `default`, `starling.conf:7`, `STARLING_LOG_LEVEL`, `--log-level`. */
  sources: Record<ConfigKey, string>;
  /** Not fatal, worth a log line at start-up. */
  warnings: string[];
}

/** STARLING_* variables that are not settings: the config file's path, the test runner's build folder. */
// STARLING_WORKER_NUMBER: set by the primary of `workers=N` on each worker process (src/server/workers.ts).
const RESERVED_ENV = new Set(['STARLING_CONFIG', 'STARLING_DIST', 'STARLING_WORKER_NUMBER']);

/** Parses one textual value for a key; throws a user-facing Error. Empty text means the default. */
export function parseValue(key: ConfigKey, text: string): Config[ConfigKey] {
  const spec: KeySpec = schema[key];
  const raw = unquote(text.trim()).trim();
  if (raw === '') return (Array.isArray(spec.default) ? [...spec.default] : spec.default) as Config[ConfigKey];
  switch (spec.kind) {
    case 'string':
    case 'path':
      return (spec.item ? spec.item(raw) : raw) as Config[ConfigKey];
    case 'int':
      return parseInt10(raw, spec.min, spec.max);
    case 'duration':
      return parseDuration(raw, spec.min, spec.max);
    case 'size':
      return parseSize(raw, spec.min, spec.max);
    case 'bool':
      return parseBool(raw);
    case 'enum':
      return parseEnum(raw, spec.values ?? []) as Config[ConfigKey];
    case 'list': {
      const items = parseList(raw).map((i) => (spec.values ? parseEnum(i, spec.values) : spec.item ? spec.item(i) : i));
      return items as Config[ConfigKey];
    }
  }
}

/** Loads and checks the configuration; throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions = {}): Config {
  return loadConfigDetailed(opts).config;
}

export function loadConfigDetailed(opts: LoadOptions = {}): LoadedConfig {
  const config = defaultConfig() as Record<ConfigKey, unknown>;
  const sources = Object.fromEntries(configKeys.map((k) => [k, 'default'])) as Record<ConfigKey, string>;
  const problems: string[] = [];
  const warnings: string[] = [];

  const apply = (key: ConfigKey, text: string, where: string): void => {
    try {
      config[key] = parseValue(key, text);
      sources[key] = where;
    } catch (err) {
      problems.push(`${where}: ${key}: ${(err as Error).message}`);
    }
  };

  if (opts.file !== undefined) readFile(opts.file, apply, problems, warnings);

  const env = opts.env ?? process.env;
  const envNames = configKeys.map(envName);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const i = envNames.indexOf(name);
    if (i >= 0) apply(configKeys[i], value, name);
    else if (!RESERVED_ENV.has(name)) {
      // Unknown STARLING_* variables are ignored; only near-misses of a setting are worth a word.
      const near = closest(name, envNames);
      if (near) warnings.push(`${name} is not a Starling setting and is ignored (did you mean ${near}?)`);
    }
  }

  for (const [name, value] of Object.entries(opts.flags ?? {})) {
    const key = (name in schema ? name : keyFromFlag(name)) as ConfigKey;
    if (!(key in schema)) {
      problems.push(`${name.startsWith('-') ? name : flagName(name)}: unknown option${didYouMean(flagName(keyFromFlag(name)), configKeys.map(flagName))}`);
      continue;
    }
    apply(key, value, flagName(key));
  }

  if (opts.values) applyValues(opts.values, apply, (key, value, where) => {
    config[key] = value;
    sources[key] = where;
  }, problems);

  const typed = config as Config;
  if (problems.length === 0) checkConfig(typed, sources, problems, warnings, { allowNoListeners: opts.values?.allowNoListeners });
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: typed, sources, warnings };
}

function readFile(file: string, apply: (key: ConfigKey, text: string, where: string) => void, problems: string[], warnings: string[]): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(`cannot read config file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    return;
  }
  const seen = new Map<string, number>();
  // A BOM from Windows editors, CRLF line ends and trailing spaces (as in the quickstart) are all tolerated.
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((line, i) => {
      const where = `${file}:${i + 1}`;
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      const eq = t.indexOf('=');
      if (eq < 0) {
        problems.push(`${where}: expected key=value, got "${t.length > 60 ? t.slice(0, 60) + '…' : t}"`);
        return;
      }
      const name = t.slice(0, eq).trim();
      // Values may contain "=" (PSK secrets, URLs): only the first one separates.
      const value = t.slice(eq + 1);
      if (!(name in schema)) {
        problems.push(`${where}: unknown setting "${name}"${didYouMean(name, configKeys)}`);
        return;
      }
      const previous = seen.get(name);
      if (previous !== undefined) warnings.push(`${where}: ${name} is also set on line ${previous}; the later line wins`);
      seen.set(name, i + 1);
      apply(name as ConfigKey, value, where);
    });
}

/**
 * Typed values: a number, boolean or string becomes the text the file would hold and is parsed as
 * that text is; a list is parsed item by item (an empty list is empty, not the default).
 */
function applyValues(
  values: NonNullable<LoadOptions['values']>,
  apply: (key: ConfigKey, text: string, where: string) => void,
  set: (key: ConfigKey, value: unknown, where: string) => void,
  problems: string[],
): void {
  for (const [name, value] of Object.entries(values.entries)) {
    const where = values.where(name);
    if (value === undefined) continue;
    if (!(name in schema)) {
      problems.push(`${where}: unknown setting "${name}"${didYouMean(name, configKeys)}`);
      continue;
    }
    const key = name as ConfigKey;
    const spec: KeySpec = schema[key];
    if (spec.kind === 'list' && Array.isArray(value)) {
      const items: string[] = [];
      if (!value.every((item) => typeof item === 'string')) {
        problems.push(`${where}: ${key}: every item must be a string`);
        continue;
      }
      for (const item of value as string[]) {
        if (item.trim() === '') continue;
        try {
          items.push(...(parseValue(key, item) as string[]));
        } catch (err) {
          problems.push(`${where}: ${key}: ${(err as Error).message}`);
        }
      }
      set(key, items, where);
      continue;
    }
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') apply(key, String(value), where);
    else problems.push(`${where}: ${key}: expected ${spec.kind === 'list' ? 'an array of strings or a comma-separated string' : `a ${spec.kind === 'bool' ? 'boolean' : ['int', 'duration', 'size'].includes(spec.kind) ? 'number' : 'string'}`}`);
  }
}
