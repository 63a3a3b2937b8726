// The layering of docs/ARCHITECTURE.md, enforced: each src/ folder may import only the folders
// listed for it. Ports (the transport and store contracts) may be imported as types from anywhere,
// and shared tables (the listener kinds) as values too.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { repoRoot as root } from '../helpers/paths.js';

const src = join(root, 'src');

/** Which layers each layer may depend on (besides itself). */
const allowed: Record<string, readonly string[]> = {
  protocol: [],
  topics: [],
  config: ['protocol'],
  store: ['protocol'],
  session: ['protocol', 'store'],
  hooks: ['protocol', 'store'],
  auth: ['protocol', 'topics', 'hooks'],
  router: ['protocol', 'topics', 'store', 'session'],
  channel: ['protocol', 'store', 'session', 'hooks', 'router'],
  broker: ['protocol', 'topics', 'store', 'session', 'hooks', 'router', 'channel'],
  // The transport is handed its own options by the server (transport/options.ts), never the Config.
  transport: ['protocol'],
  observe: ['protocol', 'topics', 'config', 'store', 'session', 'hooks', 'router', 'channel', 'broker', 'transport'],
  // The transport only for its rate-limited log lines (transport/log-limit.ts).
  cluster: ['protocol', 'topics', 'store', 'session', 'router', 'broker', 'transport'],
  server: ['protocol', 'topics', 'config', 'store', 'session', 'hooks', 'auth', 'router', 'channel', 'broker', 'transport', 'observe', 'cluster'],
  api: ['protocol', 'topics', 'config', 'store', 'session', 'hooks', 'auth', 'router', 'channel', 'broker', 'transport', 'observe', 'server', 'cluster'],
  cli: ['protocol', 'topics', 'config', 'store', 'session', 'hooks', 'auth', 'router', 'channel', 'broker', 'transport', 'observe', 'server', 'cluster', 'api'],
};
/** Contracts any layer may import types from. */
const ports = new Set(['transport/transport.ts', 'store/ports.ts']);
/** Tables any layer may import values from: leaves that import nothing from src/ themselves. */
const tables = new Set(['transport/kinds.ts']);

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const importRe = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'(\.[^']+)'/gm;

describe('architecture', () => {
  it('imports point down the layers only', () => {
    const violations: string[] = [];
    const all = files(src);
    assert.ok(all.length > 20, 'found the sources');
    for (const file of all) {
      const layer = relative(src, file).split('/')[0];
      const may = allowed[layer];
      if (!may) {
        if (!file.endsWith('index.ts')) violations.push(`${relative(root, file)}: folder ${layer} has no layer rule`);
        continue;
      }
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(importRe)) {
        const target = relative(src, resolve(dirname(file), m[3])).replace(/\.js$/, '.ts');
        const targetLayer = target.split('/')[0];
        if (targetLayer === layer || may.includes(targetLayer)) continue;
        if (m[2] && ports.has(target)) continue;
        if (tables.has(target)) continue;
        violations.push(`${relative(root, file)} imports ${target}`);
      }
    }
    assert.deepEqual(violations, []);
  });

  it('shared tables import nothing from src/', () => {
    for (const table of tables) {
      const text = readFileSync(join(src, table), 'utf8');
      assert.deepEqual([...text.matchAll(importRe)].map((m) => m[3]), [], `${table} is a leaf`);
    }
  });

  it('the transport never reads the Config: it is handed its own options', () => {
    const transport = files(join(src, 'transport')).filter((f) => /from\s+'\.\.\/config\//.test(readFileSync(f, 'utf8')));
    assert.deepEqual(transport.map((f) => relative(root, f)), []);
  });
});
