// Keeps docs/conformance.md honest: every test it cites exists, carries the statement ID in its name,
// and every statement ID named by a conformance test is listed in the document.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

type Version = '3.1.1' | '5.0';

interface Row {
  version: Version;
  id: string;
  status: string;
  refs: Array<{ path: string; fragment: string }>;
  line: number;
}

const ID = /MQTT-\d+\.\d+\.\d+-\d+/g;

/** The first argument of every it(...) in a TypeScript test file, as written (template parts raw). */
function testNames(source: string): string[] {
  const names: string[] = [];
  const re = /\bit\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g;
  for (const m of source.matchAll(re)) names.push(m[2].replace(/\\(['"`\\])/g, '$1'));
  return names;
}

/** Statement IDs a test name claims, split by version: after the first "MQTT 5" they are 5.0 IDs. */
function claims(name: string, file: string): Array<{ version: Version; id: string }> {
  const allV5 = /11-mqtt5-properties|12-shared/.test(file);
  const cut = allV5 ? 0 : name.indexOf('MQTT 5');
  const out: Array<{ version: Version; id: string }> = [];
  for (const m of name.matchAll(ID)) {
    const v5 = allV5 || (cut >= 0 && (m.index ?? 0) > cut);
    out.push({ version: v5 ? '5.0' : '3.1.1', id: m[0] });
  }
  return out;
}

function parseDoc(text: string): Row[] {
  const rows: Row[] = [];
  let version: Version | undefined;
  text.split('\n').forEach((line, i) => {
    if (line.startsWith('## MQTT 3.1.1')) version = '3.1.1';
    else if (line.startsWith('## MQTT 5.0')) version = '5.0';
    else if (line.startsWith('## ')) version = undefined;
    const m = /^\| \[(MQTT-\d+\.\d+\.\d+-\d+)\] \| (.*) \| (.*) \| (.*) \|$/.exec(line);
    if (!m || !version) return;
    const refs = m[4]
      .split('<br>')
      .map((s) => s.trim())
      .filter((s) => s.length > 0 && s !== '—')
      .map((s) => {
        const r = /^`([^`]+)` › (.+)$/.exec(s);
        assert.ok(r, `docs/conformance.md:${i + 1}: test reference "${s}" is not \`area/file\` › name`);
        return { path: r[1], fragment: r[2].replace(/…$/, '').trim() };
      });
    rows.push({ version, id: m[1], status: m[3].trim(), refs, line: i + 1 });
  });
  return rows;
}

const idPattern = (id: string): RegExp => new RegExp(`${id.replace(/\./g, '\\.')}(?![0-9])`);

describe('docs/conformance.md', () => {
  let cached: Row[] | undefined;
  const load = (): Row[] => (cached ??= parseDoc(readFileSync(join(repoRoot, 'docs', 'conformance.md'), 'utf8')));
  const namesByPath = new Map<string, string[]>();
  const namesOf = (path: string): string[] | undefined => {
    if (!namesByPath.has(path)) {
      const file = join(repoRoot, 'test', `${path}.test.ts`);
      namesByPath.set(path, existsSync(file) ? testNames(readFileSync(file, 'utf8')) : []);
    }
    const names = namesByPath.get(path)!;
    return names.length > 0 ? names : undefined;
  };

  it('lists the statements of both specifications, each once per version', () => {
    const rows = load();
    assert.ok(rows.filter((r) => r.version === '3.1.1').length >= 130, 'the MQTT 3.1.1 statements');
    assert.ok(rows.filter((r) => r.version === '5.0').length >= 240, 'the MQTT 5.0 statements');
    const seen = new Set<string>();
    for (const r of rows) {
      const key = `${r.version} ${r.id}`;
      assert.ok(!seen.has(key), `docs/conformance.md:${r.line}: ${key} listed twice`);
      seen.add(key);
    }
  });

  it('every cited test exists and names the statement it is cited for', () => {
    const rows = load();
    for (const r of rows) {
      if (r.status.startsWith('tested')) assert.ok(r.refs.length > 0, `docs/conformance.md:${r.line}: ${r.id} is "${r.status}" but cites no test`);
      for (const ref of r.refs) {
        const names = namesOf(ref.path);
        assert.ok(names, `docs/conformance.md:${r.line}: no tests in test/${ref.path}.test.ts`);
        const hit = names.find((n) => n.replace(/\s+/g, ' ').includes(ref.fragment) && idPattern(r.id).test(n));
        assert.ok(hit, `docs/conformance.md:${r.line}: no test in ${ref.path} named "…${ref.fragment}…" with ${r.id}`);
      }
    }
  });

  it('every statement ID a conformance test names is in the document, under its version', () => {
    const rows = load();
    const listed = new Set(rows.map((r) => `${r.version} ${r.id}`));
    const dir = join(repoRoot, 'test', 'conformance');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.test.ts'))) {
      for (const name of testNames(readFileSync(join(dir, f), 'utf8'))) {
        for (const c of claims(name, f)) {
          assert.ok(listed.has(`${c.version} ${c.id}`), `${f}: "${name}" names ${c.id} (MQTT ${c.version}), which docs/conformance.md does not list`);
        }
      }
    }
  });

  it('a statement a conformance test names is not marked untested', () => {
    const rows = load();
    const dir = join(repoRoot, 'test', 'conformance');
    const named = new Set<string>();
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.test.ts'))) {
      for (const name of testNames(readFileSync(join(dir, f), 'utf8'))) for (const c of claims(name, f)) named.add(`${c.version} ${c.id}`);
    }
    for (const r of rows) {
      if (named.has(`${r.version} ${r.id}`)) {
        assert.ok(r.status.startsWith('tested'), `docs/conformance.md:${r.line}: ${r.id} (MQTT ${r.version}) has a test but status "${r.status}"`);
      }
    }
  });
});
