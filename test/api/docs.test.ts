// docs/library.md against the types: every export of the package root, every Broker member, every
// hook and every library option is described there, and the README points to it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../helpers/paths.js';
import * as api from '../../src/index.js';
import { HOOK_NAMES } from '../../src/api/hooks.js';

const doc = readFileSync(join(repoRoot, 'docs', 'library.md'), 'utf8');
const source = (path: string): ts.SourceFile => ts.createSourceFile(path, readFileSync(join(repoRoot, path), 'utf8'), ts.ScriptTarget.ES2022, true);

/** Names exported by src/index.ts, values and types. */
function exportedNames(): string[] {
  const names: string[] = [];
  for (const st of source('src/index.ts').statements) {
    if (ts.isExportDeclaration(st) && st.exportClause && ts.isNamedExports(st.exportClause)) {
      for (const e of st.exportClause.elements) names.push(e.name.text);
    }
  }
  return names;
}

/** Member names of an interface in src/api/types.ts. */
function members(name: string): string[] {
  const decl = source('src/api/types.ts').statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
  assert.ok(decl, `interface ${name} in src/api/types.ts`);
  return decl.members.map((m) => (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) ? m.name.text : '')).filter((n) => n !== '');
}

/** Described: the name in code, as itself, called, or followed by its type. */
const described = (name: string): boolean => new RegExp(`\`${name.replace(/[$]/g, '\\$&')}[\`(:<?]`).test(doc);

describe('docs/library.md', () => {
  it('describes every export of the package root', () => {
    const names = exportedNames();
    assert.ok(names.includes('createBroker') && names.includes('Hooks'), 'found the exports');
    // The runtime exports are the declared value exports, nothing more.
    assert.deepEqual(Object.keys(api).sort(), ['ConfigError', 'createBroker']);
    assert.deepEqual(names.filter((n) => !described(n)), []);
  });

  it('the hooks createBroker accepts are the Hooks of the types', () => {
    assert.deepEqual([...HOOK_NAMES].sort(), members('Hooks').sort());
  });

  it('describes every Broker member, every hook and every library option', () => {
    const missing = [...members('Broker'), ...members('Hooks'), ...members('BrokerOptions')].filter((n) => !described(n));
    assert.deepEqual(missing, []);
  });

  it('gives the stability promise and the Aedes migration, and the README links it', () => {
    assert.match(doc, /^## Stability$/m);
    assert.match(doc, /semantic\s+versioning/);
    assert.match(doc, /^## Moving from Aedes$/m);
    for (const aedes of ['preConnect', 'authenticate', 'authorizePublish', 'authorizeSubscribe', 'authorizeForward', 'published', 'clientReady', 'clientDisconnect', 'keepaliveTimeout', 'aedes.handle', 'aedes.publish', 'aedes.subscribe', 'aedes.close']) {
      assert.ok(doc.includes(aedes), `the migration guide covers ${aedes}`);
    }
    assert.match(readFileSync(join(repoRoot, 'README.md'), 'utf8'), /\]\(docs\/library\.md\)/);
  });
});
